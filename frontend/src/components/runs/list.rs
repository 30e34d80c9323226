//! `/runs`: the run list with its filters, and the run table the deployment page shows too.

use std::time::Duration;

use chap_scheduler_api::{RunState, RunView};
use chrono::NaiveDate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use uuid::Uuid;

use super::{every, run_duration, state_label, ErrorNotice, LateMarker, RunStateBadge};
use crate::api::{self, RunFilter};
use crate::clock::{end_of, parse_day, start_of};
use crate::components::form::LoadMore;
use crate::components::time::{use_zone, zone_name, Precision, Time};
use crate::components::{set_document_title, LoadingNotice};
use crate::paths::app_path;

/// Runs per page of the list.
const PAGE_SIZE: u32 = 50;
/// The list refreshes its first page this often.
const LIST_REFRESH: Duration = Duration::from_secs(5);

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

/// `/runs`: filters by state, deployment and days (on the viewer's clock), newest first, "Load more", refreshed
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
    let zone = use_zone();

    let filter = move |cursor: Option<String>| RunFilter {
        states: state_filter.get_untracked().into_iter().collect(),
        deployment_id: deployment_filter.get_untracked(),
        since: from_filter
            .get_untracked()
            .map(|d| start_of(d, zone.get_untracked())),
        until: to_filter
            .get_untracked()
            .and_then(|d| end_of(d, zone.get_untracked())),
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
        // A day starts at another instant on another clock.
        zone.track();
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
                <DayFilter id="run-from-filter" label="From" day=from_filter />
                <DayFilter id="run-to-filter" label="To" day=to_filter />
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
    let zone = use_zone();
    // The label says which clock the day is on: `From (GMT+5:45)`, `From (UTC)`.
    let label = move || format!("{label} ({})", zone_name(zone.get()));
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
    let href = app_path(&format!("/runs/{}", run.id));
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
            <td>
                <Time at=run.expected_start_at precision=Precision::Second />
            </td>
            <td>{duration}</td>
            <td class="wide-only">{format!("{} / {}", run.attempt, run.max_attempts)}</td>
            <td class="wide-only">{run.triggered_by}</td>
        </tr>
    }
}
