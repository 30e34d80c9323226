//! The numbers the forecast view derives from chap's quantiles: a value at any quantile level, the
//! chance of exceeding a threshold, changes in %, and the chart's axis ticks. Plain functions, tested
//! on the host (`math_tests.rs`).

/// Quantile levels closer than this are the same (chap writes 0.1 as 0.09999… at times).
const SAME: f64 = 1e-9;

/// The index of the level nearest to `level` (the lower one on a tie).
pub fn nearest_level(levels: &[f64], level: f64) -> Option<usize> {
    levels
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| (*a - level).abs().total_cmp(&(*b - level).abs()))
        .map(|(i, _)| i)
}

/// The (level, value) pairs that have a value, by level, with values made non-decreasing: a
/// distribution's quantiles cannot fall as the level rises, so a dip is read as rounding noise.
fn cdf_points(levels: &[f64], values: &[Option<f64>]) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = levels
        .iter()
        .zip(values)
        .filter_map(|(l, v)| v.filter(|v| v.is_finite()).map(|v| (*l, v)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut highest = f64::NEG_INFINITY;
    for point in &mut points {
        highest = highest.max(point.1);
        point.1 = highest;
    }
    points
}

/// The value at `level`: the quantile itself when chap gave it, else interpolated linearly between
/// the nearest levels below and above that have values; `None` outside them.
pub fn value_at(levels: &[f64], values: &[Option<f64>], level: f64) -> Option<f64> {
    let points = cdf_points(levels, values);
    if let Some(&(_, v)) = points.iter().find(|(l, _)| (l - level).abs() < SAME) {
        return Some(v);
    }
    let upper = points.iter().position(|(l, _)| *l > level)?;
    let (l0, v0) = *points.get(upper.checked_sub(1)?)?;
    let (l1, v1) = points[upper];
    Some(v0 + (v1 - v0) * (level - l0) / (l1 - l0))
}

/// How likely a value exceeds a threshold, as far as the quantiles tell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exceedance {
    /// The threshold lies below the lowest quantile: the chance is more than this.
    MoreThan(f64),
    /// Interpolated between two quantiles.
    About(f64),
    /// The threshold lies above the highest quantile: the chance is less than this.
    LessThan(f64),
}

impl Exceedance {
    /// A number to sort by: a bound sorts just past the value it bounds.
    pub fn sort_key(self) -> f64 {
        match self {
            Exceedance::MoreThan(p) => p + 1e-6,
            Exceedance::About(p) => p,
            Exceedance::LessThan(p) => p - 1e-6,
        }
    }

    /// "> 90 %", "37 %", "< 10 %".
    pub fn label(self) -> String {
        let percent = |p: f64| format!("{:.0} %", (p * 100.0).clamp(0.0, 100.0));
        match self {
            Exceedance::MoreThan(p) => format!("> {}", percent(p)),
            Exceedance::About(p) => percent(p),
            Exceedance::LessThan(p) => format!("< {}", percent(p)),
        }
    }
}

/// The chance that the value exceeds `threshold`, from the quantiles' distribution function
/// interpolated linearly; beyond the outer quantiles only a bound is known.
pub fn exceedance(levels: &[f64], values: &[Option<f64>], threshold: f64) -> Option<Exceedance> {
    if !threshold.is_finite() {
        return None;
    }
    let points = cdf_points(levels, values);
    let (&(first_level, first_value), &(last_level, last_value)) =
        (points.first()?, points.last()?);
    if threshold < first_value {
        return Some(Exceedance::MoreThan(1.0 - first_level));
    }
    if threshold > last_value {
        return Some(Exceedance::LessThan(1.0 - last_level));
    }
    // The last point at or below the threshold; the next one (if any) lies above it.
    let below = points.iter().rposition(|(_, v)| *v <= threshold)?;
    let (l0, v0) = points[below];
    let cdf = match points.get(below + 1) {
        Some(&(l1, v1)) => l0 + (l1 - l0) * (threshold - v0) / (v1 - v0),
        None => l0,
    };
    Some(Exceedance::About(1.0 - cdf))
}

/// `to` against `from` in % (`None` without a base, or from zero).
pub fn change_percent(from: Option<f64>, to: Option<f64>) -> Option<f64> {
    let (from, to) = (from?, to?);
    (from != 0.0 && from.is_finite() && to.is_finite()).then(|| (to - from) / from.abs() * 100.0)
}

/// "+12 %", "−5 %", "0 %" (whole percent; a minus sign, not a hyphen).
pub fn change_label(percent: f64) -> String {
    let rounded = percent.round();
    if rounded == 0.0 {
        "0 %".to_owned()
    } else if rounded > 0.0 {
        format!("+{rounded:.0} %")
    } else {
        format!("\u{2212}{:.0} %", -rounded)
    }
}

/// A value as the tables show it: whole numbers from 100 up, one decimal below, thousands
/// separated (`1,234`, `56.7`).
pub fn format_value(value: f64) -> String {
    let text = if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("\u{2212}", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    let grouped = group_digits(whole);
    if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction}")
    }
}

/// `1,000`: a count, thousands separated.
pub fn format_count(n: usize) -> String {
    group_digits(&n.to_string())
}

/// Digits with a comma every three from the right.
fn group_digits(digits: &str) -> String {
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

/// `q0.1`, `q0.25`: a quantile level as the headers name it.
pub fn level_label(level: f64) -> String {
    let text = format!("{level:.3}");
    format!("q{}", text.trim_end_matches('0').trim_end_matches('.'))
}

/// A value axis: its ends and the ticks between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Bottom of the axis (the first tick).
    pub low: f64,
    /// Top of the axis (the last tick).
    pub high: f64,
    /// Tick values, ascending, evenly spaced at 1, 2 or 5 × a power of ten.
    pub ticks: Vec<f64>,
}

/// About `target` ticks covering `min..=max`. Counts start at zero: when every value is positive and
/// the lowest is under half the highest, the axis starts at 0.
pub fn value_axis(min: f64, max: f64, target: usize) -> Axis {
    let (mut min, mut max) = if min.is_finite() && max.is_finite() && min <= max {
        (min, max)
    } else {
        (0.0, 1.0)
    };
    if min >= 0.0 && min <= max / 2.0 {
        min = 0.0;
    }
    if max - min < f64::EPSILON * max.abs().max(1.0) {
        // One value: give it room above and below.
        let pad = if max == 0.0 { 1.0 } else { max.abs() / 2.0 };
        max += pad;
        if min != 0.0 {
            min -= pad;
        }
    }
    let raw_step = (max - min) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude);
    let first = (min / step).floor();
    let last = (max / step).ceil();
    let ticks: Vec<f64> = (0..=(last - first) as i64)
        .map(|i| (first + i as f64) * step)
        // -0.0 would print as "-0".
        .map(|t| if t == 0.0 { 0.0 } else { t })
        .collect();
    Axis {
        low: first * step,
        high: last * step,
        ticks,
    }
}

/// Every how many periods a label fits on an axis `width` px wide when a label needs `label_width`
/// px (1: every period).
pub fn label_stride(periods: usize, width: f64, label_width: f64) -> usize {
    if periods == 0 || label_width <= 0.0 {
        return 1;
    }
    let fit = (width / label_width).floor().max(1.0) as usize;
    periods.div_ceil(fit).max(1)
}

#[cfg(test)]
#[path = "math_tests.rs"]
mod tests;
