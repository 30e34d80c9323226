//! `/`: running and late counts, runs per day by state for the last 14 days (inline SVG bars), the
//! next scheduled runs, the late slots (`late_slots`), the recent forecasts (`forecast`), and the most
//! recent failures with the step that failed. Refreshes every 10 s.

use std::collections::HashMap;
use std::time::Duration;

use chap_scheduler_api::{
    DayStats, RunState, RunStats, RunView, ScheduleSource, ScheduleView, TaskRunView,
};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use crate::api::{self, ApiError, RunFilter};
use crate::clock::{format_duration, format_utc, now};
use crate::components::forecast::RecentForecasts;
use crate::components::late_slots::LateSlotsPanel;
use crate::components::runs::{state_label, RunStateBadge};
use crate::components::schedules::describe_timing;
use crate::components::time::Time;
use crate::components::{set_document_title, LoadingNotice};
use crate::paths::app_path;
use crate::tz;

/// Days in the chart.
const DAYS: u32 = 14;
const REFRESH: Duration = Duration::from_secs(10);
/// Scheduled runs listed.
const UPCOMING: usize = 5;

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
    let failures = RwSignal::new(None::<Result<Vec<Failure>, ApiError>>);
    // The failed step of each run shown; a finished run's steps never change.
    let failed_steps = StoredValue::new(HashMap::<Uuid, Option<TaskRunView>>::new());
    let upcoming = RwSignal::new(None::<Result<Vec<Upcoming>, ApiError>>);
    let load = move || {
        spawn_local(async move {
            let result = upcoming_runs().await;
            upcoming.try_set(Some(result));
        });
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
            let result = match api::list_runs(&filter).await {
                Ok(page) => Ok(with_failed_steps(page.items, failed_steps).await),
                Err(e) => Err(e),
            };
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
                        <a class="counter" href=app_path("/runs?state=RUNNING") data-testid="running-count">
                            <span class="counter-value">{s.running}</span>
                            <span class="counter-label">"running now"</span>
                        </a>
                        <a class="counter" href=app_path("/runs?state=SCHEDULED") data-testid="late-count">
                            <span class="counter-value">{s.late}</span>
                            <span class="counter-label">"late"</span>
                        </a>
                    </div>
                    <RunsPerDayChart days=s.days />
                }
                .into_any(),
            }}
        </section>
        <section class="panel" aria-labelledby="upcoming-heading">
            <h2 id="upcoming-heading">"Upcoming scheduled runs"</h2>
            {move || match upcoming.get() {
                None => view! { <LoadingNotice /> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty" data-testid="no-upcoming">
                        "Nothing is scheduled. Add a schedule on a deployment's page."
                    </p>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <ul class="upcoming" data-testid="upcoming">
                        {list.into_iter().map(upcoming_item).collect_view()}
                    </ul>
                }
                .into_any(),
            }}
        </section>
        <LateSlotsPanel />
        <RecentForecasts />
        <section class="panel" aria-labelledby="failures-heading">
            <h2 id="failures-heading">"Recent failures"</h2>
            {move || match failures.get() {
                None => view! { <LoadingNotice /> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty" data-testid="no-failures">"No failed runs in the last 30 days."</p>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <ul class="failures" data-testid="failures">
                        {list.into_iter().map(failure_item).collect_view()}
                    </ul>
                    <p><a href=app_path("/runs?state=FAILED")>"All failed runs"</a></p>
                }
                .into_any(),
            }}
        </section>
    }
}

/// A failed or crashed run with the step that failed, if one did.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    run: RunView,
    step: Option<TaskRunView>,
}

/// Looks up the failed step of each run not seen before (one request each, then remembered).
async fn with_failed_steps(
    runs: Vec<RunView>,
    known: StoredValue<HashMap<Uuid, Option<TaskRunView>>>,
) -> Vec<Failure> {
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        let cached = known.try_with_value(|k| k.get(&run.id).cloned()).flatten();
        let step = match cached {
            Some(step) => step,
            None => {
                let Ok(detail) = api::get_run(run.id).await else {
                    out.push(Failure { run, step: None });
                    continue;
                };
                let step = detail
                    .task_runs
                    .into_iter()
                    .find(|t| matches!(t.state, RunState::Failed | RunState::Crashed));
                known.try_update_value(|k| {
                    k.insert(run.id, step.clone());
                });
                step
            }
        };
        out.push(Failure { run, step });
    }
    out
}

fn failure_item(f: Failure) -> impl IntoView {
    let run = f.run;
    let when = run.ended_at.unwrap_or(run.state_at);
    let step = f.step.map(|t| {
        let name = match t.label {
            Some(label) => format!("{} ({label})", t.name),
            None => t.name,
        };
        view! {
            <p class="small">
                "Failed step: " <strong data-testid="failed-step">{name}</strong>
                {t.error.map(|e| view! { " — " <span class="step-error">{e}</span> })}
            </p>
        }
    });
    let message = run
        .state_message
        .map(|m| view! { <p class="small muted">{m}</p> });
    view! {
        <li data-run-id=run.id.to_string()>
            <RunStateBadge state=run.state />
            " "
            <a href=app_path(&format!("/runs/{}", run.id))>{run.deployment_name}</a>
            " "
            <span class="muted small">
                <Time at=when zone=true />
            </span>
            {step}
            {message}
        </li>
    }
}

/// A slot due soon: the next one of an active `own` schedule, or the next one of a setup a `chap`
/// schedule follows; only of deployments that are not paused.
#[derive(Debug, Clone, PartialEq)]
struct Upcoming {
    at: DateTime<Utc>,
    deployment_id: Uuid,
    deployment_name: String,
    /// The setup, for a slot of a `chap` schedule.
    setup_name: Option<String>,
    timezone: String,
    /// How the schedule repeats, in words.
    timing: String,
}

/// The soonest `limit` slots: own schedules' next fire times merged with the setup slots of
/// `chap` schedules. `live` names the deployments that are not paused.
fn upcoming_slots(
    schedules: Vec<ScheduleView>,
    live: &HashMap<Uuid, String>,
    limit: usize,
) -> Vec<Upcoming> {
    let mut slots: Vec<Upcoming> = schedules
        .into_iter()
        .filter(|s| s.active)
        .filter_map(|s| Some((live.get(&s.deployment_id)?.clone(), s)))
        .flat_map(|(deployment_name, s)| {
            let slot = |at, setup_name| Upcoming {
                at,
                deployment_id: s.deployment_id,
                deployment_name: deployment_name.clone(),
                setup_name,
                timezone: s.timezone.clone(),
                timing: describe_timing(&s),
            };
            match s.source {
                ScheduleSource::Own => s
                    .next_fire_at
                    .map(|at| slot(at, None))
                    .into_iter()
                    .collect(),
                ScheduleSource::Chap => s
                    .setup_slots
                    .iter()
                    .map(|setup| slot(setup.fire_at, Some(setup.setup_name.clone())))
                    .collect::<Vec<_>>(),
            }
        })
        .collect();
    slots.sort_by_key(|u| u.at);
    slots.truncate(limit);
    slots
}

/// The soonest [`UPCOMING`] slots across every deployment.
async fn upcoming_runs() -> Result<Vec<Upcoming>, ApiError> {
    let (schedules, deployments) =
        futures::join!(api::list_all_schedules(), api::list_deployments());
    let live: HashMap<Uuid, String> = deployments?
        .into_iter()
        .filter(|d| !d.paused)
        .map(|d| (d.id, d.name))
        .collect();
    Ok(upcoming_slots(schedules?, &live, UPCOMING))
}

fn upcoming_item(u: Upcoming) -> impl IntoView {
    let wait = (u.at - now()).num_seconds().max(0) as f64;
    let setup = u.setup_name.map(|name| {
        view! { <span data-testid="upcoming-setup">{format!(" — setup {name}")}</span> }
    });
    view! {
        <li>
            <a href=app_path(&format!("/deployments/{}", u.deployment_id))>{u.deployment_name}</a>
            {setup}
            " · "
            <time datetime=u.at.to_rfc3339() title=format_utc(u.at)>
                {tz::format_in(u.at, &u.timezone)}
            </time>
            " "
            <span class="muted small">
                {format!("in {} · {}", format_duration(wait), u.timing)}
            </span>
        </li>
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use uuid::Uuid;

    use super::upcoming_slots;
    use crate::components::schedules::tests::{chap_schedule, schedule};

    #[test]
    fn upcoming_runs_merge_own_schedules_with_chap_setup_slots_soonest_first() {
        let (live, paused) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let deployments = HashMap::from([(live, "Weekly forecast".to_owned())]);
        let mut inactive = schedule(live, Some("2026-12-01T00:30:00Z"));
        inactive.active = false;
        let schedules = vec![
            schedule(live, Some("2026-12-01T09:00:00Z")),
            chap_schedule(
                live,
                &[
                    (1, "Malaria monthly", "2026-12-01T06:00:00Z"),
                    (2, "Malaria weekly", "2026-12-02T06:00:00Z"),
                ],
            ),
            // A paused deployment's and an inactive schedule's slots are not upcoming.
            schedule(paused, Some("2026-12-01T01:00:00Z")),
            inactive,
            schedule(live, None),
        ];
        let slots = upcoming_slots(schedules.clone(), &deployments, 5);
        let seen: Vec<(String, Option<&str>)> = slots
            .iter()
            .map(|u| (u.at.format("%d %H:%M").to_string(), u.setup_name.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("01 06:00".to_owned(), Some("Malaria monthly")),
                ("01 09:00".to_owned(), None),
                ("02 06:00".to_owned(), Some("Malaria weekly")),
            ]
        );
        assert_eq!(slots[0].deployment_name, "Weekly forecast");
        assert_eq!(slots[0].timing, "Follows chap's setups");
        assert_eq!(upcoming_slots(schedules, &deployments, 2).len(), 2);
    }
}
