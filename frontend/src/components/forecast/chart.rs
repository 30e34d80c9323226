//! The chart of one org unit, inline SVG: the observed history and the median forecast as lines,
//! the 50 % and 80 % intervals shaded, the threshold, and the previous run's median dashed. The
//! viewBox is as wide as the chart is on screen, so text keeps its size on a phone (which draws only
//! the last 12 observed periods). Values show under the chart on hover and when a point has keyboard
//! focus (arrow keys move along the periods).

use std::sync::Arc;

use leptos::ev::KeyboardEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::math::{format_value, label_stride, value_axis, Axis};
use super::series::{OrgUnitSeries, PeriodPoint};

const MIN_WIDTH: f64 = 280.0;
const MAX_WIDTH: f64 = 960.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 30.0;
/// Width of one character of an axis label (11 px text), for thinning the period labels.
const CHAR_WIDTH: f64 = 6.6;
/// Narrower than this, the chart draws only the recent history.
const NARROW: f64 = 560.0;
/// Observed periods a narrow chart draws.
const NARROW_HISTORY: usize = 12;

/// Where things go: the plot area and the value axis.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    width: f64,
    height: f64,
    /// The series index of the first period drawn.
    first: usize,
    /// Periods drawn.
    periods: usize,
    axis: Axis,
}

/// The first period drawn: on a narrow chart only the last [`NARROW_HISTORY`] observed periods,
/// so that the forecast keeps some room (the numbers table has them all).
fn first_drawn(width: f64, series: &OrgUnitSeries) -> usize {
    if width >= NARROW {
        0
    } else {
        series.forecast_start().saturating_sub(NARROW_HISTORY)
    }
}

impl Frame {
    fn new(width: f64, series: &OrgUnitSeries) -> Frame {
        let first = first_drawn(width, series);
        let (min, max) = series.points[first..]
            .iter()
            .flat_map(PeriodPoint::drawn_values)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let height = if width < 480.0 { 240.0 } else { 300.0 };
        Frame {
            width,
            height,
            first,
            periods: series.points.len() - first,
            axis: value_axis(min, max, if height < 300.0 { 4 } else { 5 }),
        }
    }

    /// Horizontal room of one period.
    fn step(&self) -> f64 {
        (self.width - LEFT - RIGHT) / self.periods.max(1) as f64
    }

    /// The middle of the `k`th period drawn.
    fn x(&self, k: usize) -> f64 {
        LEFT + (k as f64 + 0.5) * self.step()
    }

    /// The middle of the series' period `i`, when it is drawn.
    fn x_of(&self, i: usize) -> Option<f64> {
        i.checked_sub(self.first)
            .filter(|k| *k < self.periods)
            .map(|k| self.x(k))
    }

    fn y(&self, value: f64) -> f64 {
        let span = (self.axis.high - self.axis.low).max(f64::EPSILON);
        let bottom = self.height - BOTTOM;
        bottom - (value - self.axis.low) / span * (bottom - TOP)
    }
}

/// A line through the values, broken where one is missing.
fn line_path(frame: &Frame, values: &[Option<f64>]) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let command = if pen_down { 'L' } else { 'M' };
                d.push_str(&format!("{command}{:.1} {:.1} ", frame.x(i), frame.y(*v)));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_end().to_owned()
}

/// A shaded band between the low and high values, one shape per run of periods that have both; a
/// single period is a box a half period wide.
fn band_path(frame: &Frame, bands: &[Option<(f64, f64)>]) -> String {
    let mut d = String::new();
    let mut run: Vec<(usize, f64, f64)> = Vec::new();
    let flush = |run: &mut Vec<(usize, f64, f64)>, d: &mut String| {
        match run.as_slice() {
            [] => {}
            [(i, low, high)] => {
                let (x, half) = (frame.x(*i), frame.step() / 4.0);
                d.push_str(&format!(
                    "M{:.1} {:.1} H{:.1} V{:.1} H{:.1} Z ",
                    x - half,
                    frame.y(*high),
                    x + half,
                    frame.y(*low),
                    x - half
                ));
            }
            _ => {
                for (k, (i, _, high)) in run.iter().enumerate() {
                    let command = if k == 0 { 'M' } else { 'L' };
                    d.push_str(&format!(
                        "{command}{:.1} {:.1} ",
                        frame.x(*i),
                        frame.y(*high)
                    ));
                }
                for (i, low, _) in run.iter().rev() {
                    d.push_str(&format!("L{:.1} {:.1} ", frame.x(*i), frame.y(*low)));
                }
                d.push_str("Z ");
            }
        }
        run.clear();
    };
    for (i, band) in bands.iter().enumerate() {
        match band {
            Some((low, high)) => run.push((i, *low, *high)),
            None => flush(&mut run, &mut d),
        }
    }
    flush(&mut run, &mut d);
    d.trim_end().to_owned()
}

/// A level per period (the threshold): a flat stroke across each period that has one.
fn step_path(frame: &Frame, values: &[Option<f64>]) -> String {
    let half = frame.step() / 2.0;
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let y = frame.y((*v)?);
            Some(format!(
                "M{:.1} {y:.1} H{:.1}",
                frame.x(i) - half,
                frame.x(i) + half
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An axis tick's label: whole numbers without decimals.
fn tick_label(value: f64) -> String {
    let text = format_value(value);
    match text.strip_suffix(".0") {
        Some(whole) => whole.to_owned(),
        None => text,
    }
}

/// The values of a period in words, for the readout and a point's accessible name.
fn describe(point: &PeriodPoint, series: &OrgUnitSeries) -> String {
    let mut parts = Vec::new();
    if let Some(v) = point.observed {
        parts.push(format!("observed {}", format_value(v)));
    }
    if let Some(v) = point.median {
        parts.push(format!("median forecast {}", format_value(v)));
    }
    let levels = &series.levels;
    let interval = |label: Option<String>, band: Option<(f64, f64)>| {
        Some(format!(
            "{} {}\u{2013}{}",
            label?.to_lowercase(),
            format_value(band?.0),
            format_value(band?.1)
        ))
    };
    parts.extend(interval(
        levels.outer_label(&series.quantile_levels),
        point.outer,
    ));
    parts.extend(interval(
        levels.inner_label(&series.quantile_levels),
        point.inner,
    ));
    if let Some(v) = point.threshold {
        parts.push(format!("threshold {}", format_value(v)));
    }
    if let Some(v) = point.previous {
        parts.push(format!("previous run's median {}", format_value(v)));
    }
    if parts.is_empty() {
        parts.push("no values".to_owned());
    }
    format!("{}: {}", point.period, parts.join(", "))
}

/// Moves keyboard focus to the point of period `index` in the same chart.
fn focus_point(from: &web_sys::Element, index: usize) {
    let target = from
        .closest("svg")
        .ok()
        .flatten()
        .and_then(|svg| {
            svg.query_selector(&format!("[data-index=\"{index}\"]"))
                .ok()
                .flatten()
        })
        .and_then(|el| el.dyn_into::<web_sys::SvgElement>().ok());
    if let Some(target) = target {
        let _ = target.focus();
    }
}

/// Whether keyboard focus is on a point of a chart (its readout then stays when the mouse leaves).
fn point_has_focus() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .is_some_and(|el| el.has_attribute("data-index"))
}

/// The chart of one org unit, with its legend and the readout of the period pointed at.
#[component]
pub fn ForecastChart(series: OrgUnitSeries, name: String, target: String) -> impl IntoView {
    let series = Arc::new(series);
    let figure = NodeRef::<leptos::html::Figure>::new();
    let width = RwSignal::new(640.0);
    let measure = move || {
        if let Some(el) = figure.get_untracked() {
            let w = f64::from(el.client_width()).clamp(MIN_WIDTH, MAX_WIDTH);
            if (w - width.get_untracked()).abs() >= 1.0 {
                width.set(w);
            }
        }
    };
    Effect::new(move |_| {
        if figure.get().is_some() {
            measure();
        }
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());
    let frame = {
        let series = Arc::clone(&series);
        Memo::new(move |_| Frame::new(width.get(), &series))
    };

    // The period pointed at (hover) or focused, as a series index. A drawn period with a value
    // has a focusable point; the first forecast one is the chart's tab stop until another is chosen.
    let active = RwSignal::new(None::<usize>);
    let first_target = series
        .points
        .iter()
        .enumerate()
        .skip(series.forecast_start())
        .find(|(_, p)| p.median.is_some())
        .map(|(i, _)| i);
    let tab_stop = move || active.get().or(first_target);

    let label = {
        let series = Arc::clone(&series);
        move || {
            let start = series.forecast_start();
            let drawn = start - frame.with(|f| f.first.min(start));
            let history = if drawn == start {
                format!("{start} observed periods")
            } else {
                format!("the last {drawn} of {start} observed periods")
            };
            let forecast: Vec<&str> = series.points[start..]
                .iter()
                .map(|p| p.period.as_str())
                .collect();
            format!(
                "{target} in {name}: {history}, then the forecast for {}. The table under the \
                 chart has the numbers.",
                match forecast.as_slice() {
                    [] => "no period".to_owned(),
                    [one] => (*one).to_owned(),
                    [first, .., last] => format!("{first} to {last}"),
                }
            )
        }
    };
    let drawing = {
        let series = Arc::clone(&series);
        move || frame.with(|frame| drawing(frame, &series, active, tab_stop))
    };
    let readout = {
        let series = Arc::clone(&series);
        move || match active.get().and_then(|i| series.points.get(i)) {
            Some(point) => describe(point, &series),
            None => "Point at the chart, or tab to it and use the arrow keys, to read a period's \
                     values."
                .to_owned(),
        }
    };
    view! {
        <figure class="forecast-chart" node_ref=figure data-testid="forecast-chart">
            <svg
                viewBox=move || frame.with(|f| format!("0 0 {:.0} {:.0}", f.width, f.height))
                role="img"
                aria-label=label
                on:mouseleave=move |_| {
                    if !point_has_focus() {
                        active.set(None);
                    }
                }
            >
                {drawing}
            </svg>
            <p class="chart-readout" data-testid="chart-readout" aria-live="polite">
                {readout}
            </p>
            {legend(&series)}
        </figure>
    }
}

/// A period label centred under its period, unless it would run off an edge of the chart.
fn period_label(frame: &Frame, k: usize, text: String) -> impl IntoView {
    let (x, half) = (frame.x(k), text.len() as f64 * CHAR_WIDTH / 2.0);
    let (x, anchor) = if x + half > frame.width - 1.0 {
        (frame.width - 1.0, "end")
    } else {
        (x, "middle")
    };
    view! {
        <text class="tick period-label" x=x y=frame.height - BOTTOM + 18.0 text-anchor=anchor>
            {text}
        </text>
    }
}

/// Everything inside the SVG for one width.
fn drawing(
    frame: &Frame,
    series: &OrgUnitSeries,
    active: RwSignal<Option<usize>>,
    tab_stop: impl Fn() -> Option<usize> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let first = frame.first;
    let points = &series.points[first..];
    let bottom = frame.height - BOTTOM;
    let observed: Vec<Option<f64>> = points.iter().map(|p| p.observed).collect();
    let median: Vec<Option<f64>> = points.iter().map(|p| p.median).collect();
    let outer: Vec<Option<(f64, f64)>> = points.iter().map(|p| p.outer).collect();
    let inner: Vec<Option<(f64, f64)>> = points.iter().map(|p| p.inner).collect();
    let threshold: Vec<Option<f64>> = points.iter().map(|p| p.threshold).collect();
    let previous: Vec<Option<f64>> = points.iter().map(|p| p.previous).collect();
    let count = |v: &[Option<f64>]| v.iter().flatten().count();

    let grid = frame
        .axis
        .ticks
        .iter()
        .map(|t| {
            let y = frame.y(*t);
            view! {
                <line class="grid" x1=LEFT x2=frame.width - RIGHT y1=y y2=y />
                <text class="tick" x=LEFT - 6.0 y=y + 4.0 text-anchor="end">
                    {tick_label(*t)}
                </text>
            }
        })
        .collect_view();
    let longest = points.iter().map(|p| p.period.len()).max().unwrap_or(6);
    let stride = label_stride(
        points.len(),
        frame.width - LEFT - RIGHT,
        longest as f64 * CHAR_WIDTH + 10.0,
    );
    let period_labels = points
        .iter()
        .enumerate()
        .filter(|(k, _)| (points.len() - 1 - k).is_multiple_of(stride))
        .map(|(k, p)| period_label(frame, k, p.period.clone()))
        .collect_view();
    // The forecast's side of the chart, shaded, with a word on which side it is.
    let start = series.forecast_start().saturating_sub(first);
    let region = (start < points.len()).then(|| {
        let x = LEFT + start as f64 * frame.step();
        let (word_x, anchor) = if frame.width - RIGHT - x >= 8.0 * CHAR_WIDTH + 4.0 {
            (x + 4.0, "start")
        } else {
            (x - 4.0, "end")
        };
        view! {
            <rect class="forecast-region" x=x y=TOP width=frame.width - RIGHT - x height=bottom - TOP />
            {(start > 0).then(|| view! { <line class="forecast-start" x1=x x2=x y1=TOP - 6.0 y2=bottom /> })}
            <text class="tick" x=word_x y=TOP - 6.0 text-anchor=anchor>
                "forecast"
            </text>
        }
    });
    let hits = (0..points.len())
        .map(|k| {
            view! {
                <rect
                    class="hit"
                    x=frame.x(k) - frame.step() / 2.0
                    y=TOP
                    width=frame.step()
                    height=bottom - TOP
                    on:mouseenter=move |_| active.set(Some(first + k))
                    on:click=move |_| active.set(Some(first + k))
                />
            }
        })
        .collect_view();
    let guide = {
        let frame = frame.clone();
        move || {
            let x = frame.x_of(active.get()?)?;
            Some(view! { <line class="guide" x1=x x2=x y1=TOP y2=bottom /> })
        }
    };
    // The focusable points, in series indexes, and the keys that move between them.
    let targets: Arc<Vec<usize>> = Arc::new(
        points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.observed.or(p.median).is_some())
            .map(|(k, _)| first + k)
            .collect(),
    );
    let marks = targets
        .iter()
        .filter_map(|&i| {
            let p = &series.points[i];
            let (kind, value) = match (p.observed, p.median) {
                (Some(v), _) => ("observed", v),
                (None, Some(v)) => ("median", v),
                (None, None) => return None,
            };
            let targets = Arc::clone(&targets);
            let on_keydown = move |ev: KeyboardEvent| {
                let at = targets.iter().position(|t| *t == i).unwrap_or(0);
                let next = match ev.key().as_str() {
                    "ArrowRight" => targets.get(at + 1),
                    "ArrowLeft" => at.checked_sub(1).and_then(|a| targets.get(a)),
                    "Home" => targets.first(),
                    "End" => targets.last(),
                    _ => return,
                };
                ev.prevent_default();
                if let (Some(&next), Some(el)) = (next, ev.target()) {
                    active.set(Some(next));
                    if let Ok(el) = el.dyn_into::<web_sys::Element>() {
                        focus_point(&el, next);
                    }
                }
            };
            Some(view! {
                <circle
                    class=format!("point {kind}")
                    data-series=kind
                    data-index=i
                    data-period=p.period.clone()
                    data-value=value
                    cx=frame.x(i - first)
                    cy=frame.y(value)
                    r="3.5"
                    tabindex=move || if tab_stop() == Some(i) { "0" } else { "-1" }
                    aria-label=describe(p, series)
                    on:focus=move |_| active.set(Some(i))
                    on:mouseenter=move |_| active.set(Some(i))
                    on:keydown=on_keydown
                />
            })
        })
        .collect_view();
    view! {
        <g class="axis">{region} {grid} {period_labels}</g>
        <path class="band band80" data-series="band80" d=band_path(frame, &outer) />
        <path class="band band50" data-series="band50" d=band_path(frame, &inner) />
        <path class="threshold" data-series="threshold" data-points=count(&threshold) d=step_path(frame, &threshold) />
        <path class="previous" data-series="previous" data-points=count(&previous) d=line_path(frame, &previous) />
        <path class="line observed" data-series="observed" data-points=count(&observed) d=line_path(frame, &observed) />
        <path class="line median" data-series="median" data-points=count(&median) d=line_path(frame, &median) />
        {hits}
        {guide}
        {marks}
    }
}

/// The legend: only the series the chart has.
fn legend(series: &OrgUnitSeries) -> impl IntoView {
    let points = &series.points;
    let has = |f: fn(&PeriodPoint) -> bool| points.iter().any(f);
    let levels = &series.levels;
    let q = &series.quantile_levels;
    let items: Vec<(&str, String)> = [
        has(|p| p.observed.is_some()).then(|| ("observed", "Observed".to_owned())),
        has(|p| p.median.is_some()).then(|| ("median", "Median forecast".to_owned())),
        levels
            .outer_label(q)
            .filter(|_| has(|p| p.outer.is_some()))
            .map(|l| ("band80", l)),
        levels
            .inner_label(q)
            .filter(|_| has(|p| p.inner.is_some()))
            .map(|l| ("band50", l)),
        has(|p| p.threshold.is_some()).then(|| ("threshold", "Threshold".to_owned())),
        has(|p| p.previous.is_some()).then(|| ("previous", "Previous run's median".to_owned())),
    ]
    .into_iter()
    .flatten()
    .collect();
    view! {
        <ul class="legend forecast-legend">
            {items
                .into_iter()
                .map(|(key, text)| {
                    view! {
                        <li data-series=key>
                            <span class=format!("key key-{key}") aria-hidden="true"></span>
                            {text}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;
