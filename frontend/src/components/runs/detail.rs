//! `/runs/:id`: one run, with its forecast, details, steps, log, report, the notifications sent about it and
//! its state history.

use std::time::Duration;

use chap_scheduler_api::{RunDetail, RunView, StateChangeView, TaskRunView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use super::output::{LogTail, RunReport};
use super::summary::RunSummary;
use super::{every, run_duration, ErrorNotice, RunStateBadge};
use crate::api::{self, ApiError};
use crate::clock::format_duration;
use crate::components::forecast::ForecastPanel;
use crate::components::notifications::RunDeliveries;
use crate::components::time::{Precision, Time, TimeOr};
use crate::components::{set_document_title, LoadingNotice};
use crate::paths::app_path;

/// An unfinished run's detail refreshes at least this often (its steps; state changes come at once).
const DETAIL_REFRESH: Duration = Duration::from_secs(10);
/// While log lines arrive, the detail refreshes at most this often (in ms), for the steps.
const STEPS_REFRESH_MS: f64 = 2000.0;

/// `/runs/:id`.
#[component]
pub fn RunDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<Uuid>().ok())
    });
    move || match id.get() {
        Some(id) => view! { <RunDetailView id /> }.into_any(),
        None => {
            set_document_title("Run not found");
            view! {
                <section class="page">
                    <h1>"Run not found"</h1>
                    <p>"This address does not name a run."</p>
                </section>
            }
            .into_any()
        }
    }
}

/// One run: refreshed when the log stream reports a new state, when new log lines arrive (at most
/// every 2 s, for the steps) and every 10 s, until it finishes.
#[component]
fn RunDetailView(id: Uuid) -> impl IntoView {
    set_document_title("Run");
    let detail = RwSignal::new(None::<Result<RunDetail, ApiError>>);
    let fetched_at = StoredValue::new(0.0_f64);
    let fetch = move || {
        fetched_at.try_set_value(js_sys::Date::now());
        spawn_local(async move {
            let result = api::get_run(id).await;
            detail.try_set(Some(result));
        });
    };
    fetch();
    let finished = move || {
        detail.with_untracked(|d| {
            matches!(d, Some(Ok(d)) if d.run.state.is_terminal())
                || matches!(d, Some(Err(ApiError::Status { status: 404, .. })))
        })
    };
    every(DETAIL_REFRESH, move || {
        if !finished() {
            fetch();
        }
    });
    let on_state = Callback::new(move |_: RunView| fetch());
    // New lines: the steps probably moved. Refresh now, or once the last refresh is old enough.
    let refresh_due = StoredValue::new(false);
    let on_lines = Callback::new(move |()| {
        if finished() || refresh_due.get_value() {
            return;
        }
        let wait = STEPS_REFRESH_MS - (js_sys::Date::now() - fetched_at.get_value());
        if wait <= 0.0 {
            fetch();
            return;
        }
        refresh_due.set_value(true);
        set_timeout(
            move || {
                if refresh_due.try_set_value(false).is_none() {
                    fetch();
                }
            },
            Duration::from_millis(wait as u64),
        );
    });
    let terminal =
        Memo::new(move |_| detail.with(|d| matches!(d, Some(Ok(d)) if d.run.state.is_terminal())));
    // Once the run was shown, its log, report and deliveries stay: they follow the run themselves,
    // and rebuilding them with every refresh would restart the log stream.
    let shown = Memo::new(move |was: Option<&bool>| {
        was.copied().unwrap_or(false) || detail.with(|d| matches!(d, Some(Ok(_))))
    });

    view! {
        {move || match detail.get() {
            None => view! { <LoadingNotice /> }.into_any(),
            Some(Err(ApiError::Status { status: 404, .. })) => {
                set_document_title("Run not found");
                view! {
                    <section class="page">
                        <h1>"Run not found"</h1>
                        <p>"There is no run with this id. It may have been removed by retention."</p>
                        <p>
                            <a href=app_path("/runs")>"All runs"</a>
                        </p>
                    </section>
                }
                    .into_any()
            }
            Some(Err(e)) => view! {
                <section class="page">
                    <h1>"Run"</h1>
                    <ErrorNotice message=e.to_string() />
                </section>
            }
            .into_any(),
            Some(Ok(d)) => view! {
                <RunSummary run=d.run.clone() retried_by=d.retried_by.clone() on_change=fetch />
                <RunFacts run=d.run.clone() />
                <StepTimeline steps=d.task_runs.clone() />
            }
            .into_any(),
        }}
        <Show when=move || shown.get()>
            <ForecastPanel run_id=id terminal=terminal.into() />
            <section class="panel" aria-labelledby="logs-heading">
                <h2 id="logs-heading">"Logs"</h2>
                <LogTail run_id=id on_state on_lines />
            </section>
            <RunReport run_id=id terminal=terminal.into() />
            <RunDeliveries run_id=id terminal=terminal.into() />
            {move || {
                detail
                    .with(|d| match d {
                        Some(Ok(d)) => Some(d.history.clone()),
                        _ => None,
                    })
                    .map(|history| view! { <StateHistory history /> })
            }}
        </Show>
    }
}

/// Flow, trigger, times, attempts and parameters.
#[component]
fn RunFacts(run: RunView) -> impl IntoView {
    let parameters =
        serde_json::to_string_pretty(&run.parameters).unwrap_or_else(|_| "{}".to_owned());
    let duration = run_duration(&run).unwrap_or_else(|| "—".to_owned());
    view! {
        <section class="panel" aria-labelledby="facts-heading">
            <h2 id="facts-heading">"Details"</h2>
            <dl class="facts">
                <dt>"Flow"</dt>
                <dd>{run.flow_name.clone()}</dd>
                <dt>"Triggered by"</dt>
                <dd>{run.triggered_by.clone()}</dd>
                <dt>"Expected start"</dt>
                <dd>
                    <Time at=run.expected_start_at precision=Precision::Second zone=true />
                </dd>
                <dt>"Started"</dt>
                <dd>
                    <TimeOr at=run.started_at none="—" precision=Precision::Second />
                </dd>
                <dt>"Ended"</dt>
                <dd>
                    <TimeOr at=run.ended_at none="—" precision=Precision::Second />
                </dd>
                <dt>"Duration"</dt>
                <dd>{duration}</dd>
                <dt>"Attempt"</dt>
                <dd>{format!("{} of {}", run.attempt, run.max_attempts)}</dd>
            </dl>
            <h3>"Parameters"</h3>
            <pre class="code" data-testid="run-parameters">{parameters}</pre>
        </section>
    }
}

/// The steps in order with state, duration and error.
#[component]
fn StepTimeline(steps: Vec<TaskRunView>) -> impl IntoView {
    let empty = steps.is_empty();
    view! {
        <section class="panel" aria-labelledby="steps-heading">
            <h2 id="steps-heading">"Steps"</h2>
            {empty.then(|| view! { <p class="empty">"No steps have started yet."</p> })}
            <ol class="timeline" data-testid="steps">
                {steps
                    .into_iter()
                    .map(|step| {
                        let duration = step
                            .duration_seconds
                            .map(format_duration)
                            .unwrap_or_else(|| "running".to_owned());
                        view! {
                            <li class="step">
                                <div class="step-head">
                                    <RunStateBadge state=step.state />
                                    " "
                                    <strong>{step.name}</strong>
                                    {step
                                        .label
                                        .map(|l| view! { " " <span class="muted">{l}</span> })}
                                    <span class="step-duration">{duration}</span>
                                </div>
                                {(step.attempts > 1)
                                    .then(|| {
                                        view! {
                                            <p class="muted small">
                                                {format!("{} attempts", step.attempts)}
                                            </p>
                                        }
                                    })}
                                {step.error.map(|e| view! { <p class="step-error">{e}</p> })}
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </section>
    }
}

/// Every state the run went through.
#[component]
fn StateHistory(history: Vec<StateChangeView>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="history-heading">
            <h2 id="history-heading">"State history"</h2>
            <ol class="history" data-testid="history">
                {history
                    .into_iter()
                    .map(|h| {
                        view! {
                            <li>
                                <Time at=h.at precision=Precision::Second />
                                " "
                                <RunStateBadge state=h.state />
                                {h.message.map(|m| view! { " " <span>{m}</span> })}
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </section>
    }
}
