//! The chart's text alternative: every period of the chosen org unit with its observation, each
//! quantile, the threshold and the previous run's median.

use leptos::prelude::*;

use super::math::{format_value, level_label};
use super::series::OrgUnitSeries;

/// A cell of a value, "—" when there is none; the exact value in `data-value` for the tests.
fn value_cell(value: Option<f64>) -> AnyView {
    match value {
        Some(v) => view! { <td class="num" data-value=v>{format_value(v)}</td> }.into_any(),
        None => view! { <td class="num">"—"</td> }.into_any(),
    }
}

/// A cell that does not apply to the period (a forecast of an observed one, and the reverse).
fn blank_cell() -> AnyView {
    view! { <td class="num"></td> }.into_any()
}

/// The numbers of the chart, in a disclosure under it.
#[component]
pub fn NumbersTable(series: OrgUnitSeries, name: String) -> impl IntoView {
    let quantile_headers = series
        .quantile_levels
        .iter()
        .map(|q| view! { <th scope="col" class="num">{level_label(*q)}</th> })
        .collect_view();
    let (has_thresholds, has_previous) = (series.has_thresholds, series.has_previous);
    let levels = series.quantile_levels.len();
    let start = series.forecast_start();
    let rows = series
        .points
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let forecast = i >= start;
            let observed = if forecast && p.observed.is_none() {
                blank_cell()
            } else {
                value_cell(p.observed)
            };
            let quantiles: Vec<AnyView> = if forecast {
                p.quantiles.into_iter().map(value_cell).collect()
            } else {
                (0..levels).map(|_| blank_cell()).collect()
            };
            let threshold = has_thresholds.then(|| {
                if forecast {
                    value_cell(p.threshold)
                } else {
                    blank_cell()
                }
            });
            view! {
                <tr data-period=p.period.clone()>
                    <th scope="row">{p.period.clone()}</th>
                    {observed}
                    {quantiles}
                    {threshold}
                    {has_previous.then(|| value_cell(p.previous))}
                </tr>
            }
        })
        .collect_view();
    view! {
        <details class="forecast-numbers" data-testid="forecast-numbers">
            <summary>{format!("Numbers of the chart for {name}")}</summary>
            <div class="table-scroll">
                <table class="runs-table numbers-table">
                    <thead>
                        <tr>
                            <th scope="col">"Period"</th>
                            <th scope="col" class="num">
                                "Observed"
                            </th>
                            {quantile_headers}
                            {has_thresholds
                                .then(|| view! { <th scope="col" class="num">"Threshold"</th> })}
                            {has_previous
                                .then(|| {
                                    view! { <th scope="col" class="num">"Previous run's median"</th> }
                                })}
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </details>
    }
}
