//! The one owner of the run tables (`flow_runs`, `flow_run_states`, `task_runs`, `logs`, `artifacts`,
//! `run_checkpoints`, `flow_states`): nothing else in the service reads or writes them. Every write made while an
//! attempt executes presents its [`Lease`] and is refused, in the same transaction, when the attempt no
//! longer owns the run.

mod artifacts;
mod batch;
mod checkpoints;
mod create;
mod few;
mod flow_states;
mod gauges;
mod lease;
pub mod logs;
mod queries;
mod queue;
pub mod retention;
pub mod runs;
mod steps;
mod views;

pub use artifacts::{forecast_contents, list_artifacts};
pub use checkpoints::{checkpoint, put_checkpoint};
pub use create::{by_idempotency_key, insert_in_free_slot, run_inserts, NewRun};
pub use flow_states::{flow_state, FlowState};
pub use gauges::{run_gauges, RunGauges};
pub use lease::{beat, hold, lease_state, Lease};
pub use logs::{logs_after, LogLine, LogSink};
pub use queries::{
    deployment_has_unfinished_runs, list_runs, run_stats, unfinished_run_referring, RunFilter,
};
pub use queue::{
    claim, count_active, deployment_with_active, due_runs, end_attempt, fill_slots_in, free_slots,
    hand_back, lease_of, mark_enqueued, pending_count, pending_runs, promote, promote_due_in,
    silent_runs, slots_in, Claimed, Found, Pick, Slots,
};
pub use runs::{finish, finish_in, transition, Finish, Transition};
pub use steps::{start_step, steps_so_far, StepEnd, StepStart};
pub use views::{
    get, history_and_steps, retried_by, state_change_view, state_of, task_view, view,
    LATE_AFTER_SECONDS,
};

/// The last of `items` for each key, in the order the keys first appear: what a batch writes when a
/// later entry replaces an earlier one of the same key.
fn last_per_key<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<(K, &T)> {
    let mut last: Vec<(K, &T)> = Vec::new();
    for item in items {
        let k = key(item);
        match last.iter_mut().find(|(seen, _)| *seen == k) {
            Some(earlier) => earlier.1 = item,
            None => last.push((k, item)),
        }
    }
    last
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_later_item_replaces_an_earlier_of_its_key_where_the_key_first_appeared() {
        let items = [("a", 1), ("b", 2), ("a", 3)];
        let last: Vec<_> = super::last_per_key(&items, |i| i.0)
            .into_iter()
            .map(|(k, i)| (k, i.1))
            .collect();
        assert_eq!(last, [("a", 3), ("b", 2)]);
    }
}
