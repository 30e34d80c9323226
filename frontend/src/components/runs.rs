//! `/runs` (the run list) and `/runs/:id` (one run: state, steps, logs, report, cancel/retry).

use std::time::Duration;

use chap_scheduler_api::{
    ArtifactKind, ArtifactView, LogView, RunDetail, RunState, RunView, StateChangeView, TaskRunView,
};
use chrono::{DateTime, NaiveDate, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use leptos_router::NavigateOptions;
use uuid::Uuid;

use crate::api::{self, ApiError, RunFilter};
use crate::clock::{end_of, format_duration, format_time, now, parse_day, start_of};
use crate::components::form::LoadMore;
use crate::components::shell::use_can_operate;
use crate::components::{set_document_title, LoadingNotice};
use crate::markdown;

/// Runs per page of the list.
const PAGE_SIZE: u32 = 50;
/// The list refreshes its first page this often.
const LIST_REFRESH: Duration = Duration::from_secs(5);
/// An unfinished run's detail refreshes this often.
const DETAIL_REFRESH: Duration = Duration::from_secs(2);
/// The log tail asks for new lines this often.
const LOG_POLL: Duration = Duration::from_secs(1);
/// Lines kept in the log tail; older ones are dropped.
const MAX_LOG_LINES: usize = 5000;

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

// ---------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------

/// The list's address for these filters, so that a reload or a shared link shows the same runs.
fn runs_path(
    state: Option<RunState>,
    deployment: Option<Uuid>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> String {
    let pairs: Vec<String> = [
        ("state", state.map(|s| s.as_str().to_owned())),
        ("deployment_id", deployment.map(|d| d.to_string())),
        ("from", from.map(|d| d.to_string())),
        ("to", to.map(|d| d.to_string())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect();
    if pairs.is_empty() {
        "/runs".to_owned()
    } else {
        format!("/runs?{}", pairs.join("&"))
    }
}

/// `/runs`: filters by state, deployment and days (UTC), newest first, "Load more", refreshed
/// every 5 s. The filters live in the address (`?state=FAILED&deployment_id=…&from=…&to=…`).
#[component]
pub fn RunsPage() -> impl IntoView {
    set_document_title("Runs");
    let query = use_query_map();
    let navigate = use_navigate();
    let state_filter = RwSignal::new(
        query.with_untracked(|q| q.get("state").and_then(|s| s.parse::<RunState>().ok())),
    );
    let deployment_filter = RwSignal::new(
        query.with_untracked(|q| q.get("deployment_id").and_then(|s| s.parse::<Uuid>().ok())),
    );
    let from_filter = RwSignal::new(
        query.with_untracked(|q| q.get("from").and_then(|d| parse_day(&d).ok().flatten())),
    );
    let to_filter = RwSignal::new(
        query.with_untracked(|q| q.get("to").and_then(|d| parse_day(&d).ok().flatten())),
    );
    let range_error = Memo::new(move |_| match (from_filter.get(), to_filter.get()) {
        (Some(from), Some(to)) if from > to => Some("The first day is after the last day."),
        _ => None,
    });
    let runs = RwSignal::new(Vec::<RunView>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let loading_more = RwSignal::new(false);
    // Bumped on every filter change so that answers for the old filters are ignored.
    let generation = StoredValue::new(0u64);
    // "Load more" was used: refreshes then keep the older pages below the fresh first page.
    let paged_on = StoredValue::new(false);
    let deployments = LocalResource::new(api::list_deployments);

    let filter = move |cursor: Option<String>| RunFilter {
        states: state_filter.get_untracked().into_iter().collect(),
        deployment_id: deployment_filter.get_untracked(),
        since: from_filter.get_untracked().map(start_of),
        until: to_filter.get_untracked().and_then(end_of),
        limit: Some(PAGE_SIZE),
        cursor,
    };
    let fetch_first_page = move || {
        if range_error.get_untracked().is_some() {
            return;
        }
        let request = filter(None);
        let asked_in = generation.get_value();
        spawn_local(async move {
            let result = api::list_runs(&request).await;
            if generation.try_get_value() != Some(asked_in) {
                return;
            }
            match result {
                Ok(page) => {
                    if paged_on.get_value() {
                        // Keep the pages loaded with "Load more": the fresh first page replaces
                        // its own runs and the older ones stay below it.
                        runs.update(|old| {
                            let mut fresh = page.items;
                            for run in old.drain(..) {
                                if !fresh.iter().any(|f| f.id == run.id) {
                                    fresh.push(run);
                                }
                            }
                            *old = fresh;
                        });
                    } else {
                        runs.set(page.items);
                        next_cursor.set(page.next_cursor);
                    }
                    error.set(None);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            loaded.set(true);
        });
    };
    Effect::new(move |ran: Option<()>| {
        let path = runs_path(
            state_filter.get(),
            deployment_filter.get(),
            from_filter.get(),
            to_filter.get(),
        );
        // The first run's filters came from the address: it needs no rewrite.
        if ran.is_some() {
            navigate(
                &path,
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
        generation.update_value(|g| *g += 1);
        if range_error.get().is_some() {
            loaded.set(true);
            runs.set(Vec::new());
            next_cursor.set(None);
            return;
        }
        paged_on.set_value(false);
        loaded.set(false);
        runs.set(Vec::new());
        next_cursor.set(None);
        fetch_first_page();
    });
    every(LIST_REFRESH, fetch_first_page);

    let load_more = move |()| {
        let Some(cursor) = next_cursor.get_untracked() else {
            return;
        };
        loading_more.set(true);
        let request = filter(Some(cursor));
        let asked_in = generation.get_value();
        spawn_local(async move {
            let result = api::list_runs(&request).await;
            loading_more.try_set(false);
            if generation.try_get_value() != Some(asked_in) {
                return;
            }
            match result {
                Ok(page) => {
                    paged_on.set_value(true);
                    runs.update(|r| {
                        for run in page.items {
                            if !r.iter().any(|x| x.id == run.id) {
                                r.push(run);
                            }
                        }
                    });
                    next_cursor.set(page.next_cursor);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };

    let deployment_options = move || {
        deployments.get().and_then(Result::ok).map(|list| {
            list.into_iter()
                .map(|d| {
                    let id = d.id;
                    view! {
                        <option
                            value=id.to_string()
                            selected=move || deployment_filter.get() == Some(id)
                        >
                            {d.name}
                        </option>
                    }
                })
                .collect_view()
        })
    };

    view! {
        <section class="page">
            <h1>"Runs"</h1>
            <form class="filters" on:submit=|ev| ev.prevent_default()>
                <div class="field">
                    <label for="run-state-filter">"State"</label>
                    <select
                        id="run-state-filter"
                        on:change=move |ev| {
                            state_filter.set(event_target_value(&ev).parse::<RunState>().ok())
                        }
                    >
                        <option value="" selected=move || state_filter.get().is_none()>
                            "Any state"
                        </option>
                        {RunState::ALL
                            .into_iter()
                            .map(|s| {
                                view! {
                                    <option
                                        value=s.as_str()
                                        selected=move || state_filter.get() == Some(s)
                                    >
                                        {state_label(s)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="run-deployment-filter">"Deployment"</label>
                    <select
                        id="run-deployment-filter"
                        on:change=move |ev| {
                            deployment_filter.set(event_target_value(&ev).parse::<Uuid>().ok())
                        }
                    >
                        <option value="" selected=move || deployment_filter.get().is_none()>
                            "Any deployment"
                        </option>
                        {deployment_options}
                    </select>
                </div>
                <DayFilter id="run-from-filter" label="From (UTC)" day=from_filter />
                <DayFilter id="run-to-filter" label="To (UTC)" day=to_filter />
            </form>
            <p class="muted small filters-help">
                "Without a first day, runs of the last 30 days are listed."
            </p>
            {move || range_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            {move || error.get().map(|message| view! { <ErrorNotice message /> })}
            <Show when=move || loaded.get() fallback=|| view! { <LoadingNotice /> }>
                <Show
                    when=move || runs.with(|r| !r.is_empty())
                    fallback=|| {
                        view! {
                            <p class="empty" data-testid="runs-empty">
                                "No runs match these filters."
                            </p>
                        }
                    }
                >
                    <RunTable runs=runs.into() />
                </Show>
                <LoadMore
                    more=Signal::derive(move || next_cursor.with(Option::is_some))
                    loading=loading_more
                    on_load=Callback::new(load_more)
                />
            </Show>
        </section>
    }
}

/// A labelled date input bound to an optional day; emptied, it drops the bound.
#[component]
fn DayFilter(
    id: &'static str,
    label: &'static str,
    day: RwSignal<Option<NaiveDate>>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                type="date"
                prop:value=move || day.get().map(|d| d.to_string()).unwrap_or_default()
                on:change=move |ev| day.set(parse_day(&event_target_value(&ev)).ok().flatten())
            />
        </div>
    }
}

/// The runs as a table (scrolls sideways on narrow screens).
#[component]
pub fn RunTable(runs: Signal<Vec<RunView>>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="runs-table" data-testid="runs-table">
                <thead>
                    <tr>
                        <th scope="col">"State"</th>
                        <th scope="col">"Deployment"</th>
                        <th scope="col">"Expected start"</th>
                        <th scope="col">"Duration"</th>
                        <th scope="col" class="wide-only">
                            "Attempt"
                        </th>
                        <th scope="col" class="wide-only">
                            "Triggered by"
                        </th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || runs.get()
                        key=|run| (run.id, run.state, run.state_at, run.late)
                        let:run
                    >
                        <RunRow run />
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// One run in the table; its deployment name links to the run.
#[component]
fn RunRow(run: RunView) -> impl IntoView {
    let href = format!("/runs/{}", run.id);
    let duration = run_duration(&run).unwrap_or_else(|| "—".to_owned());
    view! {
        <tr data-run-id=run.id.to_string()>
            <td>
                <RunStateBadge state=run.state />
                {run.late.then(|| view! { " " <LateMarker /> })}
            </td>
            <td>
                <a href=href>{run.deployment_name}</a>
                <span class="muted small">{run.flow_name}</span>
            </td>
            <td>{format_time(run.expected_start_at)}</td>
            <td>{duration}</td>
            <td class="wide-only">{format!("{} / {}", run.attempt, run.max_attempts)}</td>
            <td class="wide-only">{run.triggered_by}</td>
        </tr>
    }
}

// ---------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------

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

/// One run, refreshed every 2 s until it finishes.
#[component]
fn RunDetailView(id: Uuid) -> impl IntoView {
    set_document_title("Run");
    let detail = RwSignal::new(None::<Result<RunDetail, ApiError>>);
    let fetch = move || {
        spawn_local(async move {
            let result = api::get_run(id).await;
            detail.try_set(Some(result));
        });
    };
    fetch();
    every(DETAIL_REFRESH, move || {
        let finished = detail.with_untracked(|d| {
            matches!(d, Some(Ok(d)) if d.run.state.is_terminal())
                || matches!(d, Some(Err(ApiError::Status { status: 404, .. })))
        });
        if !finished {
            fetch();
        }
    });
    let terminal =
        Memo::new(move |_| detail.with(|d| matches!(d, Some(Ok(d)) if d.run.state.is_terminal())));

    move || match detail.get() {
        None => view! { <LoadingNotice /> }.into_any(),
        Some(Err(ApiError::Status { status: 404, .. })) => {
            set_document_title("Run not found");
            view! {
                <section class="page">
                    <h1>"Run not found"</h1>
                    <p>"There is no run with this id. It may have been removed by retention."</p>
                    <p>
                        <a href="/runs">"All runs"</a>
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
            <RunSummary run=d.run.clone() on_change=fetch />
            <RunFacts run=d.run.clone() />
            <StepTimeline steps=d.task_runs.clone() />
            <section class="panel" aria-labelledby="logs-heading">
                <h2 id="logs-heading">"Logs"</h2>
                <LogTail run_id=id terminal=terminal.into() />
            </section>
            <RunReport run_id=id terminal=terminal.into() />
            <StateHistory history=d.history.clone() />
        }
        .into_any(),
    }
}

/// Title, state, message and the Cancel/Retry buttons.
#[component]
fn RunSummary(run: RunView, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    set_document_title(&format!("Run of {}", run.deployment_name));
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
    let retry = move |_| {
        busy.set(true);
        action_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::retry_run(id).await {
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

    view! {
        <section class="page run-summary">
            <p class="breadcrumb">
                <a href="/runs">"Runs"</a>
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
                            view! {
                                <button
                                    type="button"
                                    class="button primary"
                                    on:click=retry.clone()
                                    disabled=busy
                                >
                                    "Retry"
                                </button>
                            }
                        })}
                </div>
                {move || action_error.get().map(|message| view! { <ErrorNotice message /> })}
            </Show>
        </section>
    }
}

/// Flow, trigger, times, attempts and parameters.
#[component]
fn RunFacts(run: RunView) -> impl IntoView {
    let parameters =
        serde_json::to_string_pretty(&run.parameters).unwrap_or_else(|_| "{}".to_owned());
    let duration = run_duration(&run).unwrap_or_else(|| "—".to_owned());
    let time_or_dash = |t: Option<DateTime<Utc>>| t.map_or_else(|| "—".to_owned(), format_time);
    view! {
        <section class="panel" aria-labelledby="facts-heading">
            <h2 id="facts-heading">"Details"</h2>
            <dl class="facts">
                <dt>"Flow"</dt>
                <dd>{run.flow_name.clone()}</dd>
                <dt>"Triggered by"</dt>
                <dd>{run.triggered_by.clone()}</dd>
                <dt>"Expected start"</dt>
                <dd>{format_time(run.expected_start_at)}" UTC"</dd>
                <dt>"Started"</dt>
                <dd>{time_or_dash(run.started_at)}</dd>
                <dt>"Ended"</dt>
                <dd>{time_or_dash(run.ended_at)}</dd>
                <dt>"Duration"</dt>
                <dd>{duration}</dd>
                <dt>"Attempt"</dt>
                <dd>{format!("{} of {}", run.attempt, run.max_attempts)}</dd>
                {run
                    .retry_of
                    .map(|of| {
                        view! {
                            <dt>"Retry of"</dt>
                            <dd>
                                <a href=format!("/runs/{of}")>{of.to_string()}</a>
                            </dd>
                        }
                    })}
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
                                <time>{format_time(h.at)}</time>
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

/// The run's log, polled every second (`EventSource` cannot send the bearer token the stream
/// needs), with a lowest-level filter and a follow mode that keeps the newest line in view.
#[component]
fn LogTail(run_id: Uuid, terminal: Signal<bool>) -> impl IntoView {
    let level = RwSignal::new("info".to_owned());
    let follow = RwSignal::new(true);
    let lines = RwSignal::new(Vec::<LogView>::new());
    let error = RwSignal::new(None::<String>);
    let after = StoredValue::new(None::<i64>);
    let in_flight = StoredValue::new(false);
    // Finished run and nothing more to read: stop asking.
    let drained = StoredValue::new(false);
    let generation = StoredValue::new(0u64);
    let log_ref = NodeRef::<leptos::html::Ol>::new();

    let poll = move || {
        if in_flight.get_value() || drained.get_value() {
            return;
        }
        in_flight.set_value(true);
        let asked_in = generation.get_value();
        let since = after.get_value();
        let min_level = level.get_untracked();
        let finished = terminal.get_untracked();
        spawn_local(async move {
            let result = api::run_logs(run_id, since, Some(&min_level)).await;
            if generation.try_get_value() != Some(asked_in) {
                return;
            }
            in_flight.set_value(false);
            match result {
                Ok(page) => {
                    error.set(None);
                    if page.items.is_empty() {
                        if finished {
                            drained.set_value(true);
                        }
                        return;
                    }
                    let last = page.items.last().map(|l| l.id);
                    after.set_value(page.next_after.or(last));
                    lines.update(|l| {
                        l.extend(page.items);
                        if l.len() > MAX_LOG_LINES {
                            l.drain(..l.len() - MAX_LOG_LINES);
                        }
                    });
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    poll();
    every(LOG_POLL, poll);

    let change_level = move |ev| {
        level.set(event_target_value(&ev));
        generation.update_value(|g| *g += 1);
        after.set_value(None);
        in_flight.set_value(false);
        drained.set_value(false);
        lines.set(Vec::new());
        poll();
    };

    Effect::new(move |_| {
        lines.track();
        if follow.get() {
            if let Some(list) = log_ref.get() {
                list.set_scroll_top(list.scroll_height());
            }
        }
    });

    view! {
        <div class="log-controls">
            <div class="field inline">
                <label for="log-level">"Lowest level"</label>
                <select id="log-level" on:change=change_level>
                    <option value="debug">"Debug"</option>
                    <option value="info" selected>
                        "Info"
                    </option>
                    <option value="warning">"Warning"</option>
                    <option value="error">"Error"</option>
                </select>
            </div>
            <label class="checkbox">
                <input type="checkbox" id="log-follow" bind:checked=follow />
                " Follow"
            </label>
        </div>
        {move || error.get().map(|message| view! { <ErrorNotice message /> })}
        <ol class="log-tail" node_ref=log_ref tabindex="0" aria-label="Log lines" data-testid="log-lines">
            <For each=move || lines.get() key=|line| line.id let:line>
                <li class=format!("log-line log-{}", line.level)>
                    <time>{line.at.format("%H:%M:%S").to_string()}</time>
                    " "
                    <span class="log-level">{line.level.to_string()}</span>
                    " "
                    <span class="log-message">{line.message.clone()}</span>
                </li>
            </For>
        </ol>
        <Show when=move || lines.with(Vec::is_empty)>
            <p class="empty muted">"No log lines at this level yet."</p>
        </Show>
    }
}

/// The run's report (markdown rendered with raw HTML escaped) and other artifacts.
#[component]
fn RunReport(run_id: Uuid, terminal: Signal<bool>) -> impl IntoView {
    let artifacts = LocalResource::new(move || {
        // Fetch again when the run finishes: that is when the report is written.
        terminal.track();
        api::run_artifacts(run_id)
    });
    move || {
        artifacts.get().map(|result| match result {
            Ok(list) if list.is_empty() => ().into_any(),
            Ok(list) => view! {
                <section class="panel" aria-labelledby="report-heading">
                    <h2 id="report-heading">"Report"</h2>
                    {list.into_iter().map(artifact_view).collect_view()}
                </section>
            }
            .into_any(),
            Err(e) => view! { <ErrorNotice message=e.to_string() /> }.into_any(),
        })
    }
}

fn artifact_view(artifact: ArtifactView) -> impl IntoView {
    if artifact.kind == ArtifactKind::Markdown {
        // Safe: `markdown::render` escapes raw HTML and drops script-capable link targets.
        view! {
            <div
                class="report"
                data-testid="report"
                data-key=artifact.key
                inner_html=markdown::render(&artifact.content)
            ></div>
        }
        .into_any()
    } else {
        view! {
            <pre class="code" data-key=artifact.key>
                {artifact.content}
            </pre>
        }
        .into_any()
    }
}
