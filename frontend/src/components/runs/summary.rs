//! The head of a run's page: its title and state, the run it retried and the runs that retried it,
//! and the operator's buttons (cancel, retry, retry only the failed setups).

use chap_scheduler_api::{RunState, RunView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use serde_json::Value;
use uuid::Uuid;

use super::{short_id, ErrorNotice, LateMarker, RunStateBadge};
use crate::api;
use crate::components::set_document_title;
use crate::components::shell::use_can_operate;
use crate::paths::app_path;

/// The prediction setups that failed in a run: its summary's `failed_setup_ids` (none for other
/// flows and for runs that did not get that far).
fn failed_setup_ids(summary: Option<&Value>) -> Vec<i64> {
    summary
        .and_then(|s| s.get("failed_setup_ids"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// Title, state, message, the links to related runs and the operator's buttons.
#[component]
pub(super) fn RunSummary(
    run: RunView,
    /// The runs that retried this one, oldest first.
    retried_by: Vec<Uuid>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    set_document_title(&format!("Run of {}", run.deployment_name));
    view! {
        <section class="page run-summary">
            <p class="breadcrumb">
                <a href=app_path("/runs")>"Runs"</a>
                " / "
            </p>
            <h1>
                {run.deployment_name.clone()}
                " "
                <RunStateBadge state=run.state />
                {run.late.then(|| view! { " " <LateMarker /> })}
            </h1>
            {run
                .state_message
                .clone()
                .map(|m| view! { <p class="state-message" data-testid="state-message">{m}</p> })}
            <RelatedRuns retry_of=run.retry_of retried_by />
            <RunActions run on_change />
        </section>
    }
}

/// "Retry of <id>" and "Retried by <ids>", each id a link to that run.
#[component]
fn RelatedRuns(retry_of: Option<Uuid>, retried_by: Vec<Uuid>) -> impl IntoView {
    let retried = (!retried_by.is_empty()).then(|| {
        let links = retried_by
            .into_iter()
            .enumerate()
            .map(|(i, id)| view! { {(i > 0).then_some(", ")} <RunLink id /> })
            .collect_view();
        view! { <span data-testid="retried-by">"Retried by " {links}</span> }
    });
    let parent = retry_of.map(|id| {
        view! { <span data-testid="retry-of">"Retry of " <RunLink id /></span> }
    });
    (parent.is_some() || retried.is_some())
        .then(|| view! { <p class="related-runs">{parent} {retried}</p> })
}

/// A link to a run, named by its short id (the whole id on hover).
#[component]
fn RunLink(id: Uuid) -> impl IntoView {
    view! {
        <a class="run-id" href=app_path(&format!("/runs/{id}")) title=id.to_string()>
            {short_id(id)}
        </a>
    }
}

/// Cancel while it runs; once finished, retry it (unless it completed) and retry only the
/// prediction setups that failed (when some did). A retry opens the new run.
#[component]
fn RunActions(run: RunView, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let can_operate = use_can_operate();
    let navigate = use_navigate();
    let busy = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    let id = run.id;

    let cancel = move |_| {
        busy.set(true);
        action_error.set(None);
        spawn_local(async move {
            match api::cancel_run(id).await {
                Ok(_) => on_change(),
                Err(e) => {
                    action_error.try_set(Some(e.to_string()));
                }
            }
            busy.try_set(false);
        });
    };
    let retry = move |failed_setups_only: bool| {
        busy.set(true);
        action_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            let result = if failed_setups_only {
                api::retry_failed_setups(id).await
            } else {
                api::retry_run(id).await
            };
            match result {
                Ok(new_run) => navigate(&format!("/runs/{}", new_run.id), Default::default()),
                Err(e) => {
                    action_error.try_set(Some(e.to_string()));
                }
            }
            busy.try_set(false);
        });
    };
    let cancellable = !run.state.is_terminal() && run.state != RunState::Cancelling;
    let retryable = run.state.is_terminal() && run.state != RunState::Completed;
    let failed = failed_setup_ids(run.summary.as_ref());
    // A run can complete with some setups failed: those alone can still be retried.
    let failed_retryable = run.state.is_terminal() && !failed.is_empty();
    let failed_hint = match failed.as_slice() {
        [one] => format!("Runs setup {one} again with the same parameters"),
        many => format!(
            "Runs setups {} again with the same parameters",
            many.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };

    view! {
        <Show when=move || can_operate.get()>
            <div class="actions">
                {cancellable
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="button danger"
                                on:click=cancel
                                disabled=busy
                            >
                                "Cancel run"
                            </button>
                        }
                    })}
                {retryable
                    .then(|| {
                        let retry = retry.clone();
                        view! {
                            <button
                                type="button"
                                class="button primary"
                                on:click=move |_| retry(false)
                                disabled=busy
                            >
                                "Retry"
                            </button>
                        }
                    })}
                {failed_retryable
                    .then(|| {
                        let retry = retry.clone();
                        view! {
                            <button
                                type="button"
                                class="button secondary"
                                title=failed_hint.clone()
                                on:click=move |_| retry(true)
                                disabled=busy
                            >
                                "Retry failed setups"
                            </button>
                        }
                    })}
            </div>
            {move || action_error.get().map(|message| view! { <ErrorNotice message /> })}
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_failed_setups_come_from_the_summary() {
        let summary =
            json!({ "succeeded": 1, "failed": 2, "skipped": 0, "failed_setup_ids": [3, 7] });
        assert_eq!(failed_setup_ids(Some(&summary)), [3, 7]);
        let none_failed =
            json!({ "succeeded": 2, "failed": 0, "skipped": 1, "failed_setup_ids": [] });
        assert!(failed_setup_ids(Some(&none_failed)).is_empty());
        // A summary written before the ids were recorded, or none at all.
        assert!(failed_setup_ids(Some(&json!({ "failed": 1 }))).is_empty());
        assert!(failed_setup_ids(None).is_empty());
    }
}
