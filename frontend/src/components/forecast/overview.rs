//! The overview of a setup's org units: one row each with the next period's forecast, sortable by
//! every column and filtered by name. Only the first rows are drawn until the user asks for all, so
//! a national run (1,000 org units) stays quick. On a phone each row is a card (`data-label` names
//! its values).

use std::sync::Arc;

use leptos::prelude::*;

use super::math::{change_label, format_count, format_value};
use super::rows::{name_matches, sort_rows, Column, OverviewRow, SortBy};

/// Rows drawn before "Show all".
const FIRST_ROWS: usize = 50;

/// What the headers say, and which optional columns there are.
#[derive(Debug, Clone, PartialEq)]
pub struct Headings {
    /// The last observed period, e.g. "202604".
    pub last_period: Option<String>,
    /// The next (first forecast) period.
    pub next_period: Option<String>,
    /// "80 % interval (q0.1–q0.9)" or the levels chap gave.
    pub interval: Option<String>,
    /// The run fetched thresholds.
    pub thresholds: bool,
    /// A previous run's forecast of the setup is known.
    pub previous: bool,
}

/// The header of each column; `None` for a column the setup does not have.
#[derive(Debug, Clone, PartialEq)]
struct Labels {
    last: String,
    median: String,
    change: String,
    interval: Option<String>,
    above: Option<String>,
    since_last: Option<String>,
}

impl Labels {
    fn of(h: Headings) -> Labels {
        let with_period = |name: &str, period: Option<String>| match period {
            Some(p) => format!("{name} ({p})"),
            None => name.to_owned(),
        };
        Labels {
            last: with_period("Last observed", h.last_period),
            median: with_period("Median", h.next_period),
            change: "Change".to_owned(),
            interval: h.interval,
            above: h.thresholds.then(|| "Above threshold".to_owned()),
            since_last: h.previous.then(|| "Since last run".to_owned()),
        }
    }
}

fn value_cell(value: Option<f64>, label: &str) -> AnyView {
    let label = label.to_owned();
    match value {
        Some(v) => view! { <td class="num" data-label=label data-value=v>{format_value(v)}</td> }
            .into_any(),
        None => view! { <td class="num" data-label=label>"—"</td> }.into_any(),
    }
}

fn change_cell(change: Option<f64>, label: &str) -> AnyView {
    let label = label.to_owned();
    match change {
        Some(c) => view! { <td class="num" data-label=label data-value=c>{change_label(c)}</td> }
            .into_any(),
        None => view! { <td class="num" data-label=label>"—"</td> }.into_any(),
    }
}

/// A column header that sorts the table by its column; `aria-sort` tells which one does.
#[component]
fn SortHeader(column: Column, label: String, sort: RwSignal<Option<SortBy>>) -> impl IntoView {
    let state = move || {
        sort.get()
            .filter(|s| s.column == column)
            .map(|s| s.ascending)
    };
    let choose = move |_| {
        let ascending = match state() {
            Some(ascending) => !ascending,
            // Names A to Z first; numbers largest first (what to look at).
            None => column == Column::Name,
        };
        sort.set(Some(SortBy { column, ascending }));
    };
    view! {
        <th
            scope="col"
            class:num=column != Column::Name
            aria-sort=move || state().map(|up| if up { "ascending" } else { "descending" })
        >
            <button type="button" class="sort-button" on:click=choose>
                {label}
                <span class="sort-mark" aria-hidden="true">
                    {move || match state() {
                        Some(true) => "▲",
                        Some(false) => "▼",
                        None => "↕",
                    }}
                </span>
            </button>
        </th>
    }
}

/// "6 of 6 org units", "3 of 5 matching org units (1,000 in all)".
fn count_line(drawn: usize, matched: usize, total: usize) -> String {
    if matched == total {
        format!(
            "{} of {} org units",
            format_count(drawn),
            format_count(total)
        )
    } else {
        format!(
            "{} of {} matching org units ({} in all)",
            format_count(drawn),
            format_count(matched),
            format_count(total),
        )
    }
}

/// The overview table; `chosen` is the org unit in the chart, `on_choose` hears a row's click.
#[component]
pub fn OverviewTable(
    rows: Memo<Vec<OverviewRow>>,
    headings: Headings,
    setup_id: i64,
    chosen: Signal<Option<String>>,
    on_choose: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let sort = RwSignal::new(None::<SortBy>);
    let filter = RwSignal::new(String::new());
    let show_all = RwSignal::new(false);
    let matching = Memo::new(move |_| {
        let filter = filter.get();
        let mut matching: Vec<OverviewRow> = rows.with(|rows| {
            rows.iter()
                .filter(|r| name_matches(&r.name, &filter))
                .cloned()
                .collect()
        });
        sort_rows(&mut matching, sort.get());
        matching
    });
    let limit = move || {
        if show_all.get() {
            usize::MAX
        } else {
            FIRST_ROWS
        }
    };
    let labels = Arc::new(Labels::of(headings));
    let header = |column, label: &str| {
        let label = label.to_owned();
        view! { <SortHeader column label sort /> }
    };
    let headers = view! {
        <tr>
            {header(Column::Name, "Org unit")}
            {header(Column::LastObserved, &labels.last)}
            {header(Column::Median, &labels.median)}
            {header(Column::Change, &labels.change)}
            {labels.interval.as_deref().map(|l| header(Column::Interval, l))}
            {labels.above.as_deref().map(|l| header(Column::Above, l))}
            {labels.since_last.as_deref().map(|l| header(Column::SinceLast, l))}
        </tr>
    };
    let body = move || {
        matching.with(|rows| {
            rows.iter()
                .take(limit())
                .map(|row| overview_row(row, &labels, chosen, on_choose))
                .collect_view()
        })
    };
    let filter_id = format!("forecast-filter-{setup_id}");
    view! {
        <div class="overview-controls">
            <div class="field inline">
                <label for=filter_id.clone()>"Filter by name"</label>
                <input
                    type="search"
                    id=filter_id
                    autocomplete="off"
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(event_target_value(&ev))
                />
            </div>
            <p class="muted small" data-testid="overview-count">
                {move || {
                    let matched = matching.with(Vec::len);
                    count_line(matched.min(limit()), matched, rows.with(Vec::len))
                }}
            </p>
            {move || match sort.get() {
                None => view! {
                    <p class="muted small">
                        "Highest chance above the threshold first, then the largest rise."
                    </p>
                }
                .into_any(),
                Some(_) => view! {
                    <button type="button" class="button secondary" on:click=move |_| sort.set(None)>
                        "Back to the default order"
                    </button>
                }
                .into_any(),
            }}
        </div>
        <div class="table-scroll">
            <table class="runs-table overview-table" data-testid="forecast-overview">
                <caption class="visually-hidden">
                    "Org units of the forecast; choose one to see its chart."
                </caption>
                <thead>{headers}</thead>
                <tbody>{body}</tbody>
            </table>
        </div>
        <Show when=move || matching.with(Vec::is_empty)>
            <p class="empty" data-testid="overview-empty">
                "No org unit matches the filter."
            </p>
        </Show>
        <Show when=move || { matching.with(Vec::len) > FIRST_ROWS }>
            <button
                type="button"
                class="button secondary load-more"
                data-testid="overview-show-all"
                on:click=move |_| show_all.update(|all| *all = !*all)
            >
                {move || {
                    if show_all.get() {
                        format!("Show the first {FIRST_ROWS}")
                    } else {
                        format!("Show all {}", format_count(matching.with(Vec::len)))
                    }
                }}
            </button>
        </Show>
    }
}

/// One org unit's row; a click (or the name's button) chooses it for the chart.
fn overview_row(
    row: &OverviewRow,
    labels: &Labels,
    chosen: Signal<Option<String>>,
    on_choose: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = row.id.clone();
    let is_chosen = {
        let id = id.clone();
        move || chosen.with(|c| c.as_deref() == Some(id.as_str()))
    };
    let pressed = is_chosen.clone();
    let interval = labels.interval.as_deref().map(|label| {
        let label = label.to_owned();
        match row.interval {
            Some((low, high)) => view! {
                <td class="num" data-label=label data-low=low data-high=high>
                    {format!("{}\u{2013}{}", format_value(low), format_value(high))}
                </td>
            }
            .into_any(),
            None => view! { <td class="num" data-label=label>"—"</td> }.into_any(),
        }
    });
    let above = labels.above.as_deref().map(|label| {
        let label = label.to_owned();
        match row.above {
            Some(above) => view! {
                <td class="num" data-label=label data-value=above.sort_key()>{above.label()}</td>
            }
            .into_any(),
            None => view! { <td class="num" data-label=label>"—"</td> }.into_any(),
        }
    });
    view! {
        <tr data-ou=id.clone() class:chosen=is_chosen on:click=move |_| on_choose(id.clone())>
            <th scope="row">
                <button
                    type="button"
                    class="link-button"
                    aria-pressed=move || pressed().to_string()
                >
                    {row.name.clone()}
                </button>
            </th>
            {value_cell(row.last_observed, &labels.last)}
            {value_cell(row.median, &labels.median)}
            {change_cell(row.change, &labels.change)}
            {interval}
            {above}
            {labels.since_last.as_deref().map(|l| change_cell(row.since_last, l))}
        </tr>
    }
}
