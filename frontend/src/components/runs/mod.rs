//! `/runs` (the run list) and `/runs/:id` (one run: state, steps, logs, report, cancel/retry),
//! with what both show: a run's state badge, its duration, errors.

use std::time::Duration;

use chap_scheduler_api::{RunState, RunView};
use leptos::prelude::*;
use uuid::Uuid;

use crate::clock::{format_duration, now};

mod detail;
mod list;
mod output;
mod summary;

pub use detail::RunDetailPage;
pub use list::{RunTable, RunsPage};

/// Calls `tick` every `every` until the calling component is gone.
fn every(every: Duration, tick: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(tick, every) {
        on_cleanup(move || handle.clear());
    }
}

/// "Awaiting retry" for `AWAITING_RETRY`.
pub fn state_label(state: RunState) -> &'static str {
    match state {
        RunState::Scheduled => "Scheduled",
        RunState::Pending => "Pending",
        RunState::Running => "Running",
        RunState::Completed => "Completed",
        RunState::Failed => "Failed",
        RunState::Crashed => "Crashed",
        RunState::Cancelled => "Cancelled",
        RunState::Cancelling => "Cancelling",
        RunState::AwaitingRetry => "Awaiting retry",
    }
}

/// A run's (or step's) state as a coloured label.
#[component]
pub fn RunStateBadge(state: RunState) -> impl IntoView {
    let class = format!("state-badge state-{}", state.as_str().to_ascii_lowercase());
    view! { <span class=class data-state=state.as_str()>{state_label(state)}</span> }
}

/// "Late" next to a run that should have started more than 15 s ago.
#[component]
fn LateMarker() -> impl IntoView {
    view! {
        <span class="late-marker" title="Should have started more than 15 s ago">
            "Late"
        </span>
    }
}

/// How long a run took, or has been running so far.
fn run_duration(run: &RunView) -> Option<String> {
    let start = run.started_at?;
    let end = run.ended_at.unwrap_or_else(now);
    Some(format_duration(
        (end - start).num_milliseconds().max(0) as f64 / 1000.0,
    ))
}

/// An error the page shows in place of its content.
#[component]
fn ErrorNotice(message: String) -> impl IntoView {
    view! {
        <p class="form-error" role="alert">
            {message}
        </p>
    }
}

/// The first 8 hex digits of a run's id: enough to tell runs apart on a page.
pub fn short_id(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_id_is_the_first_eight_hex_digits() {
        let id: Uuid = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
            .parse()
            .expect("a uuid");
        assert_eq!(short_id(id), "0190a1b2");
    }
}
