//! The dashboard's recent forecasts: the last completed prediction runs where a setup succeeded,
//! each with a link to its Forecast panel.

use std::time::Duration;

use chap_scheduler_api::{RunState, RunView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use super::forecast_href;
use crate::api::{self, ApiError, RunFilter};
use crate::clock::format_utc;
use crate::components::runs::short_id;
use crate::components::time::Time;
use crate::paths::app_path;

/// The flow whose runs forecast.
const PREDICTION_FLOW: &str = "dhis2-chap-prediction";
/// Runs listed.
const SHOWN: usize = 5;
/// Completed runs asked for: other flows' runs are skipped, so more than are shown.
const ASKED: u32 = 25;
const REFRESH: Duration = Duration::from_secs(10);

/// Setups that succeeded in a run (its summary's `succeeded`).
fn succeeded(run: &RunView) -> u64 {
    run.summary
        .as_ref()
        .and_then(|s| s.get("succeeded"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// The runs that forecast something, newest first.
fn with_forecasts(runs: Vec<RunView>) -> Vec<RunView> {
    runs.into_iter()
        .filter(|r| r.flow_name == PREDICTION_FLOW && succeeded(r) > 0)
        .take(SHOWN)
        .collect()
}

/// "Recent forecasts" on the dashboard.
#[component]
pub fn RecentForecasts() -> impl IntoView {
    let runs = RwSignal::new(None::<Result<Vec<RunView>, ApiError>>);
    let load = move || {
        spawn_local(async move {
            let filter = RunFilter {
                states: vec![RunState::Completed],
                limit: Some(ASKED),
                ..Default::default()
            };
            let result = api::list_runs(&filter)
                .await
                .map(|page| with_forecasts(page.items));
            runs.try_set(Some(result));
        });
    };
    load();
    if let Ok(handle) = set_interval_with_handle(load, REFRESH) {
        on_cleanup(move || handle.clear());
    }
    view! {
        <section class="panel" aria-labelledby="recent-forecasts-heading">
            <h2 id="recent-forecasts-heading">"Recent forecasts"</h2>
            {move || match runs.get() {
                None => ().into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty" data-testid="no-recent-forecasts">
                        "No prediction run has completed in the last 30 days."
                    </p>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <ul class="recent-forecasts" data-testid="recent-forecasts">
                        {list.into_iter().map(recent_item).collect_view()}
                    </ul>
                }
                .into_any(),
            }}
        </section>
    }
}

fn recent_item(run: RunView) -> impl IntoView {
    let at = run.ended_at.unwrap_or(run.state_at);
    // The link's name is text: it says the time in UTC; the visible time follows the viewer's clock.
    let when = format_utc(at);
    let setups = match succeeded(&run) {
        1 => "1 setup".to_owned(),
        n => format!("{n} setups"),
    };
    // Every item's link says "Forecast": its name tells them apart in a list of links.
    let name = format!("Forecast of run {} ({when})", short_id(run.id));
    view! {
        <li data-run-id=run.id.to_string()>
            <a href=forecast_href(run.id, None) class="forecast-link" aria-label=name>
                "Forecast"
            </a>
            " of "
            <a href=app_path(&format!("/runs/{}", run.id))>{run.deployment_name}</a>
            " "
            <span class="muted small">
                <Time at /> {format!(" · {setups}")}
            </span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(flow: &str, summary: Option<Value>) -> RunView {
        serde_json::from_value(json!({
            "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "deployment_id": null,
            "deployment_name": "d",
            "flow_name": flow,
            "parameters": {},
            "state": "COMPLETED",
            "state_message": null,
            "state_at": "2026-05-07T10:00:00Z",
            "late": false,
            "expected_start_at": "2026-05-07T10:00:00Z",
            "started_at": null,
            "ended_at": null,
            "attempt": 1,
            "max_attempts": 1,
            "triggered_by": "admin",
            "schedule_id": null,
            "retry_of": null,
            "summary": summary,
            "created_at": "2026-05-07T10:00:00Z"
        }))
        .expect("a run view")
    }

    #[test]
    fn only_prediction_runs_where_a_setup_succeeded_are_listed() {
        let runs = vec![
            run(
                PREDICTION_FLOW,
                Some(json!({ "succeeded": 2, "skipped": 1 })),
            ),
            run(
                PREDICTION_FLOW,
                Some(json!({ "succeeded": 0, "skipped": 3 })),
            ),
            run(PREDICTION_FLOW, None),
            run("other-flow", Some(json!({ "succeeded": 1 }))),
        ];
        let kept = with_forecasts(runs);
        assert_eq!(kept.len(), 1);
        assert_eq!(succeeded(&kept[0]), 2);
    }
}
