//! `/`: runs per day by state for the last 14 days (inline SVG bars), running and late counts, and
//! the most recent failures. Refreshes every 10 s.

use std::time::Duration;

use chap_scheduler_api::{DayStats, RunState, RunStats, RunView};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError, RunFilter};
use crate::components::runs::{state_label, RunTable};
use crate::components::{set_document_title, LoadingNotice};

/// Days in the chart.
const DAYS: u32 = 14;
const REFRESH: Duration = Duration::from_secs(10);

/// Bar segments bottom-up; states not listed are counted as "other".
const CHART_STATES: [RunState; 6] = [
    RunState::Completed,
    RunState::Failed,
    RunState::Crashed,
    RunState::Cancelled,
    RunState::Running,
    RunState::Scheduled,
];

/// `/`.
#[component]
pub fn DashboardPage() -> impl IntoView {
    set_document_title("Dashboard");
    let stats = RwSignal::new(None::<Result<RunStats, ApiError>>);
    let failures = RwSignal::new(None::<Result<Vec<RunView>, ApiError>>);
    let load = move || {
        spawn_local(async move {
            let result = api::run_stats(DAYS).await;
            stats.try_set(Some(result));
        });
        spawn_local(async move {
            let filter = RunFilter {
                states: vec![RunState::Failed, RunState::Crashed],
                limit: Some(5),
                ..Default::default()
            };
            let result = api::list_runs(&filter).await.map(|p| p.items);
            failures.try_set(Some(result));
        });
    };
    load();
    if let Ok(handle) = set_interval_with_handle(load, REFRESH) {
        on_cleanup(move || handle.clear());
    }

    view! {
        <section class="page">
            <h1>"Dashboard"</h1>
            {move || match stats.get() {
                None => view! { <LoadingNotice /> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(s)) => view! {
                    <div class="counters">
                        <a class="counter" href="/runs?state=RUNNING" data-testid="running-count">
                            <span class="counter-value">{s.running}</span>
                            <span class="counter-label">"running now"</span>
                        </a>
                        <a class="counter" href="/runs?state=SCHEDULED" data-testid="late-count">
                            <span class="counter-value">{s.late}</span>
                            <span class="counter-label">"late"</span>
                        </a>
                    </div>
                    <RunsPerDayChart days=s.days />
                }
                .into_any(),
            }}
        </section>
        <section class="panel" aria-labelledby="failures-heading">
            <h2 id="failures-heading">"Recent failures"</h2>
            {move || match failures.get() {
                None => view! { <LoadingNotice /> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty" data-testid="no-failures">"No failed runs in the last 30 days."</p>
                }
                .into_any(),
                Some(Ok(list)) => {
                    let runs = RwSignal::new(list);
                    view! {
                        <RunTable runs=runs.into() />
                        <p><a href="/runs?state=FAILED">"All failed runs"</a></p>
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

/// Stacked bars, one per day, with a legend and a text table for screen readers.
#[component]
fn RunsPerDayChart(days: Vec<DayStats>) -> impl IntoView {
    const BAR: f64 = 24.0;
    const GAP: f64 = 8.0;
    const HEIGHT: f64 = 140.0;
    let count = |d: &DayStats, s: RunState| d.counts.get(s.as_str()).copied().unwrap_or(0);
    let total = |d: &DayStats| d.counts.values().sum::<u64>();
    let max = days.iter().map(total).max().unwrap_or(0).max(1) as f64;
    let width = days.len() as f64 * (BAR + GAP);
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = i as f64 * (BAR + GAP);
            let mut y = HEIGHT;
            let mut segments = Vec::new();
            let listed: u64 = CHART_STATES.iter().map(|s| count(d, *s)).sum();
            let other = total(d) - listed;
            for (class, n) in CHART_STATES
                .iter()
                .map(|s| {
                    (
                        format!("bar-{}", s.as_str().to_ascii_lowercase()),
                        count(d, *s),
                    )
                })
                .chain(std::iter::once(("bar-other".to_owned(), other)))
            {
                if n == 0 {
                    continue;
                }
                let h = n as f64 / max * HEIGHT;
                y -= h;
                segments.push(view! {
                    <rect class=class x=x y=y width=BAR height=h />
                });
            }
            let label = d.date.format("%d").to_string();
            view! {
                <g>
                    {segments}
                    <text class="bar-label" x=x + BAR / 2.0 y=HEIGHT + 14.0 text-anchor="middle">
                        {label}
                    </text>
                </g>
            }
        })
        .collect_view();
    let rows = days
        .iter()
        .map(|d| {
            let parts: Vec<String> = d
                .counts
                .iter()
                .map(|(state, n)| {
                    let name = state
                        .parse::<RunState>()
                        .map(state_label)
                        .unwrap_or(state.as_str());
                    format!("{name} {n}")
                })
                .collect();
            view! {
                <tr>
                    <th scope="row">{d.date.format("%Y-%m-%d").to_string()}</th>
                    <td>{total(d)}</td>
                    <td>{if parts.is_empty() { "—".to_owned() } else { parts.join(", ") }}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid="runs-chart">
            <figcaption>"Runs per day by state, last 14 days (UTC)"</figcaption>
            <svg
                viewBox=format!("0 0 {width} {}", HEIGHT + 20.0)
                role="img"
                aria-label="Runs per day by state; the table below has the numbers"
                preserveAspectRatio="xMinYMin meet"
            >
                {bars}
            </svg>
            <ul class="legend">
                {CHART_STATES
                    .iter()
                    .map(|s| {
                        let class = format!("swatch bar-{}", s.as_str().to_ascii_lowercase());
                        view! {
                            <li>
                                <span class=class></span>
                                {state_label(*s)}
                            </li>
                        }
                    })
                    .collect_view()}
                <li>
                    <span class="swatch bar-other"></span>
                    "Other"
                </li>
            </ul>
            <details>
                <summary>"Numbers"</summary>
                <table class="runs-table">
                    <thead>
                        <tr>
                            <th scope="col">"Day"</th>
                            <th scope="col">"Runs"</th>
                            <th scope="col">"By state"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </figure>
    }
}
