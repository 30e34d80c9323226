//! One org unit's series for the chart and its numbers table: the observed periods, then the
//! forecast periods, each with what is known of it.

use chap_scheduler_api::ForecastArtifact;

use super::rows::{median, Levels};

/// What is known of one period of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodPoint {
    /// DHIS2 period id.
    pub period: String,
    /// The observation sent to chap.
    pub observed: Option<f64>,
    /// chap's value at each quantile level (empty for a period that was not forecast).
    pub quantiles: Vec<Option<f64>>,
    /// The median forecast.
    pub median: Option<f64>,
    /// The outer (≈ 80 %) interval.
    pub outer: Option<(f64, f64)>,
    /// The inner (50 %) interval.
    pub inner: Option<(f64, f64)>,
    /// chap's seasonal threshold.
    pub threshold: Option<f64>,
    /// The previous run's median forecast of this period.
    pub previous: Option<f64>,
}

impl PeriodPoint {
    /// Every value drawn for the period (for the value axis).
    pub fn drawn_values(&self) -> impl Iterator<Item = f64> + '_ {
        let pair = |p: Option<(f64, f64)>| p.into_iter().flat_map(|(l, h)| [l, h]);
        self.observed
            .into_iter()
            .chain(self.median)
            .chain(pair(self.outer))
            .chain(pair(self.inner))
            .chain(self.threshold)
            .chain(self.previous)
            .filter(|v| v.is_finite())
    }
}

/// The chart's periods for one org unit.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgUnitSeries {
    /// Observed periods first, then the forecast ones.
    pub points: Vec<PeriodPoint>,
    /// Which quantiles make the intervals.
    pub levels: Levels,
    /// The forecast's quantile levels, ascending.
    pub quantile_levels: Vec<f64>,
    /// Whether thresholds were fetched for the run (a column of the numbers table).
    pub has_thresholds: bool,
    /// Whether a previous run's forecast is known (a column of the numbers table).
    pub has_previous: bool,
}

impl OrgUnitSeries {
    /// Index of the first forecast period (the number of observed-only periods).
    pub fn forecast_start(&self) -> usize {
        self.points
            .iter()
            .position(|p| !p.quantiles.is_empty())
            .unwrap_or(self.points.len())
    }
}

/// The series of org unit `id` in `forecast`, with `previous` (the same setup's forecast of the
/// previous run) drawn where it forecast one of these periods.
pub fn org_unit_series(
    forecast: &ForecastArtifact,
    previous: Option<&ForecastArtifact>,
    id: &str,
) -> OrgUnitSeries {
    let levels = Levels::of(&forecast.quantiles);
    let observed = forecast.observed.get(id);
    let rows = forecast.forecast.get(id);
    let thresholds = forecast.thresholds.as_ref().and_then(|t| t.get(id));
    let previous_median = |period: &str| {
        let p = previous?;
        let at = p.forecast_periods.iter().position(|x| x == period)?;
        median(&p.quantiles, p.forecast.get(id)?.get(at)?)
    };
    let mut points: Vec<PeriodPoint> = forecast
        .observed_periods
        .iter()
        .enumerate()
        .map(|(i, period)| PeriodPoint {
            period: period.clone(),
            observed: observed.and_then(|v| v.get(i).copied().flatten()),
            quantiles: Vec::new(),
            median: None,
            outer: None,
            inner: None,
            threshold: None,
            previous: previous_median(period),
        })
        .collect();
    for (i, period) in forecast.forecast_periods.iter().enumerate() {
        let values: Vec<Option<f64>> = rows
            .and_then(|r| r.get(i))
            .cloned()
            .unwrap_or_else(|| vec![None; forecast.quantiles.len()]);
        let pair = |levels: Option<(usize, usize)>| {
            let (l, h) = levels?;
            Some((values.get(l).copied()??, values.get(h).copied()??))
        };
        let point = PeriodPoint {
            period: period.clone(),
            observed: None,
            median: median(&forecast.quantiles, &values),
            outer: pair(levels.outer),
            inner: pair(levels.inner),
            threshold: thresholds.and_then(|t| t.get(i).copied().flatten()),
            previous: previous_median(period),
            quantiles: values,
        };
        // A forecast period that was also observed (not expected) keeps one column.
        match points.iter_mut().find(|p| p.period == *period) {
            Some(existing) => {
                let observed = existing.observed;
                *existing = PeriodPoint { observed, ..point };
            }
            None => points.push(point),
        }
    }
    OrgUnitSeries {
        points,
        levels,
        quantile_levels: forecast.quantiles.clone(),
        has_thresholds: forecast.thresholds.is_some(),
        has_previous: previous.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chap_scheduler_api::ForecastOrgUnit;

    use super::*;

    fn forecast(periods: [&str; 2]) -> ForecastArtifact {
        ForecastArtifact {
            setup_id: 1,
            setup_name: "s".into(),
            period_type: "month".into(),
            target: "disease_cases".into(),
            org_units: vec![ForecastOrgUnit {
                id: "A".into(),
                name: "alpha".into(),
            }],
            quantiles: vec![0.1, 0.5, 0.9],
            forecast_periods: periods.iter().map(|p| p.to_string()).collect(),
            forecast: BTreeMap::from([(
                "A".into(),
                vec![
                    vec![Some(1.0), Some(2.0), Some(3.0)],
                    vec![Some(4.0), None, Some(6.0)],
                ],
            )]),
            observed_periods: vec!["202603".into(), "202604".into(), "202605".into()],
            observed: BTreeMap::from([("A".into(), vec![Some(7.0), None, Some(9.0)])]),
            thresholds: Some(BTreeMap::from([("A".into(), vec![Some(2.5), None])])),
            prediction_id: 1,
            previous_run_id: None,
        }
    }

    #[test]
    fn the_series_runs_through_the_observed_periods_into_the_forecast_ones() {
        let current = forecast(["202606", "202607"]);
        let previous = forecast(["202605", "202606"]);
        let s = org_unit_series(&current, Some(&previous), "A");
        let periods: Vec<&str> = s.points.iter().map(|p| p.period.as_str()).collect();
        assert_eq!(periods, ["202603", "202604", "202605", "202606", "202607"]);
        assert_eq!(s.forecast_start(), 3);
        let observed: Vec<Option<f64>> = s.points.iter().map(|p| p.observed).collect();
        assert_eq!(observed, [Some(7.0), None, Some(9.0), None, None]);
        assert_eq!(s.points[3].median, Some(2.0));
        assert_eq!(s.points[3].outer, Some((1.0, 3.0)));
        assert_eq!(s.points[3].inner, None, "no q0.25/q0.75");
        assert_eq!(s.points[3].threshold, Some(2.5));
        // chap gave no median for 202607: it is interpolated from q0.1 and q0.9.
        assert_eq!(s.points[4].median, Some(5.0));
        assert_eq!(s.points[4].threshold, None);
        // The previous run forecast 202605 (now observed) and 202606.
        let previous: Vec<Option<f64>> = s.points.iter().map(|p| p.previous).collect();
        assert_eq!(previous, [None, None, Some(2.0), Some(5.0), None]);
        assert!(s.has_thresholds && s.has_previous);
        let drawn: Vec<f64> = s.points[3].drawn_values().collect();
        assert_eq!(drawn, [2.0, 1.0, 3.0, 2.5, 5.0]);
    }

    #[test]
    fn an_unknown_org_unit_has_periods_but_no_values() {
        let s = org_unit_series(&forecast(["202606", "202607"]), None, "Z");
        assert_eq!(s.points.len(), 5);
        assert!(s.points.iter().all(|p| p.drawn_values().next().is_none()));
        assert!(!s.has_previous);
    }
}
