//! What a prediction run forecast (issue 14 §2): on the run page a tab per succeeded setup with the
//! overview of its org units, the chart of the chosen one with its numbers, and the CSV download;
//! on the dashboard the recent runs with a forecast.
//!
//! Addresses: `/runs/<id>#forecast` scrolls to the forecast, `?setup=<setup id>` chooses the tab
//! (the report's setup lines link there).

use std::collections::HashMap;
use std::sync::Arc;

use chap_scheduler_api::{ForecastArtifact, RunForecast};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use uuid::Uuid;

use crate::api;
use crate::components::runs::short_id;
use crate::paths::app_path;

mod chart;
mod download;
mod math;
mod numbers;
mod overview;
mod recent;
mod rows;
mod series;
mod tabs;

use chart::ForecastChart;
use download::CsvDownload;
use numbers::NumbersTable;
use overview::{Headings, OverviewTable};
pub use recent::RecentForecasts;
use rows::{overview_rows, sort_rows, Levels};
use series::org_unit_series;
use tabs::{tab_id, SetupTabs, PANEL_ID};

/// The id of the forecast panel: the fragment that links to it.
pub const ANCHOR: &str = "forecast";
/// The id of the chosen org unit's heading, scrolled to when a row is chosen.
const CHART_HEADING: &str = "forecast-chart-heading";

/// The address of a run's forecast (of one setup, when given), for a plain link.
pub fn forecast_href(run_id: Uuid, setup_id: Option<i64>) -> String {
    app_path(&match setup_id {
        Some(setup) => format!("/runs/{run_id}?setup={setup}#{ANCHOR}"),
        None => format!("/runs/{run_id}#{ANCHOR}"),
    })
}

/// Brings the element with this id into view: to the top of the window (like following a link to
/// it), or only as far as needed.
fn scroll_to(id: &str, to_top: bool) {
    let id = id.to_owned();
    // After the browser has laid out what was just drawn.
    request_animation_frame(move || {
        let element = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&id));
        if let Some(element) = element {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(if to_top {
                web_sys::ScrollLogicalPosition::Start
            } else {
                web_sys::ScrollLogicalPosition::Nearest
            });
            element.scroll_into_view_with_scroll_into_view_options(&options);
        }
    });
}

/// The run page's Forecast panel, once the run has finished and only when it forecast something.
#[component]
pub fn ForecastPanel(run_id: Uuid, terminal: Signal<bool>) -> impl IntoView {
    let forecasts = LocalResource::new(move || {
        // Setups store their forecasts as they finish; the panel waits for the whole run.
        let finished = terminal.get();
        async move {
            if finished {
                api::run_forecasts(run_id).await
            } else {
                Ok(Vec::new())
            }
        }
    });
    move || {
        forecasts.get().map(|result| match result {
            Ok(list) if list.is_empty() => ().into_any(),
            Ok(list) => view! { <ForecastTabs run_id forecasts=list /> }.into_any(),
            Err(e) => view! {
                <section class="panel" id=ANCHOR aria-labelledby="forecast-heading">
                    <h2 id="forecast-heading">"Forecast"</h2>
                    <p class="form-error" role="alert">
                        {format!("The forecast could not be loaded: {e}")}
                    </p>
                </section>
            }
            .into_any(),
        })
    }
}

/// The tabs and the chosen setup's forecast.
#[component]
fn ForecastTabs(run_id: Uuid, forecasts: Vec<RunForecast>) -> impl IntoView {
    let forecasts: Vec<Arc<ForecastArtifact>> = forecasts
        .into_iter()
        .map(|f| Arc::new(f.forecast))
        .collect();
    let setups: Vec<(i64, String)> = forecasts
        .iter()
        .map(|f| (f.setup_id, f.setup_name.clone()))
        .collect();
    let ids: Arc<Vec<i64>> = Arc::new(setups.iter().map(|(id, _)| *id).collect());
    let query = use_query_map();
    let wanted = {
        let ids = Arc::clone(&ids);
        Memo::new(move |_| {
            query
                .with(|q| q.get("setup"))
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|id| ids.contains(id))
        })
    };
    let first = ids.first().copied().unwrap_or_default();
    let chosen = RwSignal::new(wanted.get_untracked().unwrap_or(first));
    // Choosing the tab already shown changes nothing (its panel keeps its sorting and filter).
    let choose = move |id: i64| {
        if chosen.get_untracked() != id {
            chosen.set(id);
        }
    };
    // A link to another setup of this run (the report's) chooses its tab.
    Effect::new(move |_| {
        if let Some(id) = wanted.get() {
            choose(id);
        }
    });
    // A tab chosen here goes into the address (replacing it), so that it can be shared; not the
    // first tab shown, which keeps the address the page was opened with.
    let navigate = use_navigate();
    Effect::new(move |ran_before: Option<()>| {
        let id = chosen.get();
        if ran_before.is_some() && wanted.get_untracked() != Some(id) {
            navigate(
                &format!("/runs/{run_id}?setup={id}"),
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    });
    if web_sys::window().and_then(|w| w.location().hash().ok()) == Some(format!("#{ANCHOR}")) {
        scroll_to(ANCHOR, true);
    }
    // Previous runs' forecasts, fetched once each.
    let previous_runs = StoredValue::new(HashMap::<Uuid, Vec<RunForecast>>::new());
    let panel = move || {
        let id = chosen.get();
        forecasts
            .iter()
            .find(|f| f.setup_id == id)
            .map(|f| view! { <SetupForecast run_id forecast=Arc::clone(f) previous_runs /> })
    };
    view! {
        <section class="panel forecast-panel" id=ANCHOR aria-labelledby="forecast-heading">
            <h2 id="forecast-heading">"Forecast"</h2>
            <SetupTabs setups chosen=chosen.into() on_choose=choose />
            <div
                class="forecast-tabpanel"
                role="tabpanel"
                id=PANEL_ID
                aria-labelledby=move || tab_id(chosen.get())
            >
                {panel}
            </div>
        </section>
    }
}

/// The previous run's forecast of `setup_id`, from the cache or the API (`None` when that run or
/// its forecast is gone).
async fn previous_forecast(
    cache: StoredValue<HashMap<Uuid, Vec<RunForecast>>>,
    run_id: Uuid,
    setup_id: i64,
) -> Option<Arc<ForecastArtifact>> {
    let find = |list: &Vec<RunForecast>| {
        list.iter()
            .find(|f| f.forecast.setup_id == setup_id)
            .map(|f| Arc::new(f.forecast.clone()))
    };
    if let Some(found) = cache.try_with_value(|c| c.get(&run_id).map(find)).flatten() {
        return found;
    }
    let list = api::run_forecasts(run_id).await.ok()?;
    let found = find(&list);
    cache.try_update_value(|c| {
        c.insert(run_id, list);
    });
    found
}

/// One setup's forecast: what it is, the CSV, the chart of the chosen org unit and the overview.
#[component]
fn SetupForecast(
    run_id: Uuid,
    forecast: Arc<ForecastArtifact>,
    previous_runs: StoredValue<HashMap<Uuid, Vec<RunForecast>>>,
) -> impl IntoView {
    let previous = RwSignal::new(None::<Arc<ForecastArtifact>>);
    if let Some(previous_run) = forecast.previous_run_id {
        let setup = forecast.setup_id;
        spawn_local(async move {
            let found = previous_forecast(previous_runs, previous_run, setup).await;
            previous.try_set(found);
        });
    }
    let rows = {
        let forecast = Arc::clone(&forecast);
        Memo::new(move |_| overview_rows(&forecast, previous.get().as_deref()))
    };
    // The chart starts on the row the default order puts first.
    let top = {
        let mut initial = overview_rows(&forecast, None);
        sort_rows(&mut initial, None);
        initial.into_iter().next().map(|r| r.id)
    };
    let chosen = RwSignal::new(top);
    let choose = move |id: String| {
        if chosen.with_untracked(|c| c.as_deref() != Some(id.as_str())) {
            chosen.set(Some(id));
        }
        scroll_to(CHART_HEADING, false);
    };
    let headings = Headings {
        last_period: forecast.observed_periods.last().cloned(),
        next_period: forecast.forecast_periods.first().cloned(),
        interval: Levels::of(&forecast.quantiles).outer_label(&forecast.quantiles),
        thresholds: forecast.thresholds.is_some(),
        previous: forecast.previous_run_id.is_some(),
    };
    let chart = {
        let forecast = Arc::clone(&forecast);
        move || {
            let id = chosen.get()?;
            let name = forecast
                .org_units
                .iter()
                .find(|ou| ou.id == id)
                .map_or_else(|| id.clone(), |ou| ou.name.clone());
            let series = org_unit_series(&forecast, previous.get().as_deref(), &id);
            Some(view! {
                <h3 class="chart-heading" id=CHART_HEADING data-ou=id.clone()>
                    {name.clone()}
                </h3>
                <ForecastChart series=series.clone() name=name.clone() target=forecast.target.clone() />
                <NumbersTable series name />
            })
        }
    };
    let facts = format!(
        "{} per {}, {} org units, prediction {}",
        forecast.target,
        forecast.period_type,
        forecast.org_units.len(),
        forecast.prediction_id
    );
    let previous_link = forecast.previous_run_id.map(|id| {
        view! {
            <p class="small" data-testid="previous-forecast">
                "Previous forecast: run "
                <a class="run-id" href=forecast_href(id, Some(forecast.setup_id))>
                    {short_id(id)}
                </a>
            </p>
        }
    });
    let no_thresholds = forecast.thresholds.is_none().then(|| {
        view! {
            <p class="muted small">
                "No thresholds: the run did not fetch chap's seasonal thresholds (an import with an \
                 outbreak indicator does)."
            </p>
        }
    });
    view! {
        <div class="setup-forecast-head">
            <p class="muted" data-testid="forecast-facts">{facts}</p>
            <CsvDownload run_id setup_id=forecast.setup_id />
        </div>
        {previous_link}
        {chart}
        <h3>"Org units"</h3>
        {no_thresholds}
        <OverviewTable
            rows
            headings
            setup_id=forecast.setup_id
            chosen=chosen.into()
            on_choose=choose
        />
    }
}
