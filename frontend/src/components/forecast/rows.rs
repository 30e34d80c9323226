//! The overview table's rows: per org unit, the last observation, the next period's median and
//! interval, the chance above the threshold and the changes; their orders and the name filter. Plain
//! data, tested on the host (`rows_tests.rs`).

use std::cmp::Ordering;

use chap_scheduler_api::ForecastArtifact;

use super::math::{change_percent, exceedance, level_label, nearest_level, value_at, Exceedance};

/// Which quantiles the view reads: the median and the nearest available to the 80 % and 50 %
/// intervals (indexes into the forecast's `quantiles`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Nearest to q0.1 and q0.9.
    pub outer: Option<(usize, usize)>,
    /// q0.25 and q0.75 when chap gave them (within 0.01), and they differ from the outer pair.
    pub inner: Option<(usize, usize)>,
}

impl Levels {
    /// The levels of `quantiles` (ascending).
    pub fn of(quantiles: &[f64]) -> Levels {
        let pair = |low: f64, high: f64| {
            let (l, h) = (
                nearest_level(quantiles, low)?,
                nearest_level(quantiles, high)?,
            );
            (l < h).then_some((l, h))
        };
        let outer = pair(0.1, 0.9);
        let exact = |level: f64| {
            nearest_level(quantiles, level).filter(|&i| (quantiles[i] - level).abs() <= 0.01)
        };
        let inner = match (exact(0.25), exact(0.75)) {
            (Some(l), Some(h)) if l < h && Some((l, h)) != outer => Some((l, h)),
            _ => None,
        };
        Levels { outer, inner }
    }

    /// "80 % interval (q0.1–q0.9)", or "Interval (q0.05–q0.95)" when chap gave other levels.
    pub fn outer_label(&self, quantiles: &[f64]) -> Option<String> {
        let (l, h) = self.outer?;
        let (low, high) = (*quantiles.get(l)?, *quantiles.get(h)?);
        let name = if (low - 0.1).abs() < 1e-6 && (high - 0.9).abs() < 1e-6 {
            "80 % interval"
        } else {
            "Interval"
        };
        Some(format!(
            "{name} ({}\u{2013}{})",
            level_label(low),
            level_label(high)
        ))
    }

    /// "50 % interval (q0.25–q0.75)".
    pub fn inner_label(&self, quantiles: &[f64]) -> Option<String> {
        let (l, h) = self.inner?;
        let (low, high) = (*quantiles.get(l)?, *quantiles.get(h)?);
        Some(format!(
            "50 % interval ({}\u{2013}{})",
            level_label(low),
            level_label(high)
        ))
    }
}

/// The median of one period's quantile values.
pub fn median(quantiles: &[f64], values: &[Option<f64>]) -> Option<f64> {
    value_at(quantiles, values, 0.5)
        .or_else(|| nearest_level(quantiles, 0.5).and_then(|i| values.get(i).copied().flatten()))
}

/// One org unit's line of the overview.
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewRow {
    /// DHIS2 id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The last observation that has a value.
    pub last_observed: Option<f64>,
    /// The next period's median.
    pub median: Option<f64>,
    /// Median against the last observation, in %.
    pub change: Option<f64>,
    /// The next period's interval (the outer levels).
    pub interval: Option<(f64, f64)>,
    /// The chance the next period's value exceeds its threshold.
    pub above: Option<Exceedance>,
    /// The median against the previous run's median of the same period, in %.
    pub since_last: Option<f64>,
}

/// The rows of a forecast, in its org unit order; `previous` is the same setup's forecast of the
/// previous run, when known.
pub fn overview_rows(
    forecast: &ForecastArtifact,
    previous: Option<&ForecastArtifact>,
) -> Vec<OverviewRow> {
    let levels = Levels::of(&forecast.quantiles);
    let next_period = forecast.forecast_periods.first();
    // Where the previous run forecast the same period, if it did.
    let previous_at = previous.and_then(|p| {
        let at = p
            .forecast_periods
            .iter()
            .position(|x| Some(x) == next_period)?;
        Some((p, at))
    });
    forecast
        .org_units
        .iter()
        .map(|ou| {
            let next: &[Option<f64>] = forecast
                .forecast
                .get(&ou.id)
                .and_then(|rows| rows.first())
                .map_or(&[], Vec::as_slice);
            let last_observed = forecast
                .observed
                .get(&ou.id)
                .and_then(|values| values.iter().rev().find_map(|v| *v));
            let median = median(&forecast.quantiles, next);
            let interval = levels
                .outer
                .and_then(|(l, h)| Some((next.get(l).copied()??, next.get(h).copied()??)));
            let threshold = forecast
                .thresholds
                .as_ref()
                .and_then(|t| t.get(&ou.id))
                .and_then(|row| row.first().copied().flatten());
            let above = threshold.and_then(|t| exceedance(&forecast.quantiles, next, t));
            let previous_median = previous_at.and_then(|(p, at)| {
                let values = p.forecast.get(&ou.id)?.get(at)?;
                self::median(&p.quantiles, values)
            });
            OverviewRow {
                id: ou.id.clone(),
                name: ou.name.clone(),
                last_observed,
                median,
                change: change_percent(last_observed, median),
                interval,
                above,
                since_last: change_percent(previous_median, median),
            }
        })
        .collect()
}

/// A column of the overview, as it sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Name, A to Z ignoring case.
    Name,
    /// Last observation.
    LastObserved,
    /// Next period's median.
    Median,
    /// Median against the last observation.
    Change,
    /// The interval, by its upper end (how high it may go).
    Interval,
    /// Chance above the threshold.
    Above,
    /// Change since the previous run.
    SinceLast,
}

impl Column {
    /// The number a row sorts by in this column (`None` for the name and for missing values).
    fn key(self, row: &OverviewRow) -> Option<f64> {
        match self {
            Column::Name => None,
            Column::LastObserved => row.last_observed,
            Column::Median => row.median,
            Column::Change => row.change,
            Column::Interval => row.interval.map(|(_, high)| high),
            Column::Above => row.above.map(Exceedance::sort_key),
            Column::SinceLast => row.since_last,
        }
    }
}

/// An order the user chose: a column, ascending or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortBy {
    /// The column.
    pub column: Column,
    /// Smallest (or A) first.
    pub ascending: bool,
}

/// Missing values last, whichever the direction.
fn by_key(a: Option<f64>, b: Option<f64>, ascending: bool) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) if ascending => a.total_cmp(&b),
        (Some(a), Some(b)) => b.total_cmp(&a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn by_name(a: &OverviewRow, b: &OverviewRow) -> Ordering {
    a.name
        .to_lowercase()
        .cmp(&b.name.to_lowercase())
        .then_with(|| a.id.cmp(&b.id))
}

/// Sorts the rows: by the chosen column (then by name), or by default the ones to look at first on
/// top — the highest chance above the threshold, then the largest rise against the last observation.
pub fn sort_rows(rows: &mut [OverviewRow], sort: Option<SortBy>) {
    match sort {
        None => rows.sort_by(|a, b| {
            by_key(Column::Above.key(a), Column::Above.key(b), false)
                .then_with(|| by_key(a.change, b.change, false))
                .then_with(|| by_name(a, b))
        }),
        Some(SortBy {
            column: Column::Name,
            ascending,
        }) => rows.sort_by(|a, b| {
            let order = by_name(a, b);
            if ascending {
                order
            } else {
                order.reverse()
            }
        }),
        Some(SortBy { column, ascending }) => rows.sort_by(|a, b| {
            by_key(column.key(a), column.key(b), ascending).then_with(|| by_name(a, b))
        }),
    }
}

/// Whether a row's name contains `filter`, ignoring case (an empty filter keeps every row).
pub fn name_matches(name: &str, filter: &str) -> bool {
    let filter = filter.trim();
    filter.is_empty() || name.to_lowercase().contains(&filter.to_lowercase())
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
