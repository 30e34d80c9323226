//! The run state machine: which transitions are allowed.

pub use chap_scheduler_api::RunState;
use RunState::*;

/// The states a run may move to `to` from.
pub fn predecessors(to: RunState) -> &'static [RunState] {
    match to {
        Scheduled => &[],
        // From RUNNING: a stopping worker hands its run back.
        Pending => &[Scheduled, AwaitingRetry, Running],
        Running => &[Pending],
        // Not from CANCELLING: an accepted cancel always ends CANCELLED.
        Completed | Failed => &[Running],
        Crashed => &[Running],
        Cancelling => &[Running],
        Cancelled => &[Scheduled, Pending, AwaitingRetry, Running, Cancelling],
        AwaitingRetry => &[Running, Crashed],
    }
}

/// Whether `from → to` is allowed.
pub fn can_transition(from: RunState, to: RunState) -> bool {
    predecessors(to).contains(&from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_never_change_except_a_crash_retrying() {
        for from in RunState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in RunState::ALL {
                let allowed = can_transition(from, to);
                assert_eq!(
                    allowed,
                    from == Crashed && to == AwaitingRetry,
                    "{from} → {to}"
                );
            }
        }
    }

    #[test]
    fn the_happy_path_and_the_cancel_paths_are_allowed() {
        for (a, b) in [
            (Scheduled, Pending),
            (Pending, Running),
            (Running, Completed),
            (Running, AwaitingRetry),
            (AwaitingRetry, Pending),
            (Running, Cancelling),
            (Cancelling, Cancelled),
            (Pending, Cancelled),
            (Running, Crashed),
        ] {
            assert!(can_transition(a, b), "{a} → {b}");
        }
        for (a, b) in [
            (Scheduled, Running),
            (Pending, Completed),
            (Completed, Running),
            (Failed, Pending),
            (Cancelling, Completed),
            (Cancelling, Failed),
            (Cancelling, AwaitingRetry),
        ] {
            assert!(!can_transition(a, b), "{a} → {b}");
        }
    }
}
