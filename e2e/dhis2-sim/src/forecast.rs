//! What chap computes from a finished job: prediction entries (quantiles per org unit and period)
//! and outbreak thresholds per (period, location), seeded so every answer is reproducible.
//!
//! The median of a cell is `5 + u × 95` with `u` from the seed, the prediction id, the org unit and
//! the period; quantile `q` is `median × (0.5 + q)`. A threshold is `median × (0.6 + 0.8 × v)`
//! with `v` from the seed, the dataset id, the location and the period, so some forecast cells lie
//! above their threshold and some below.

use serde::Serialize;

use crate::periods::Period;
use crate::scenario::{Cell, ErrorAnswer, SetupBehaviour};
use crate::state::Job;
use crate::world::{format_value, hash};

/// One cell of `POST /v1/analytics/thresholds`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    pub period: String,
    pub location: String,
    pub value: Option<f64>,
}

fn unit(value: u64) -> f64 {
    (value >> 11) as f64 / (1u64 << 53) as f64
}

fn round2(value: f64) -> f64 {
    format_value(value, 2).parse().unwrap_or(0.0)
}

/// The generated median of a forecast cell (weekly ids padded or not give the same value).
fn median(seed: u64, prediction_id: i64, org_unit: &str, period: &str) -> f64 {
    let period = Period::parse(period).map_or_else(|| period.to_string(), |p| p.to_string());
    5.0 + unit(hash(seed, &[&prediction_id.to_string(), org_unit, &period])) * 95.0
}

/// Whether two period ids name the same period (`2026W01` = `2026W1`).
fn same_period(a: &str, b: &str) -> bool {
    a == b || Period::parse(a).is_some_and(|p| Period::parse(b) == Some(p))
}

fn same_quantile(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The entry for a cell and quantile: `None` when the model does not produce the quantile,
/// `Some(None)` for a `null` value.
pub(crate) fn entry(
    seed: u64,
    job: &Job,
    behaviour: &SetupBehaviour,
    org_unit: &str,
    period: &str,
    quantile: f64,
) -> Option<Option<f64>> {
    if let Some(produced) = &behaviour.entry_quantiles {
        if !produced.iter().any(|&q| same_quantile(q, quantile)) {
            return None;
        }
    }
    let chosen = behaviour.entry_overrides.iter().find(|o| {
        o.org_unit == org_unit
            && o.period.as_deref().is_none_or(|p| same_period(p, period))
            && o.quantile.is_none_or(|q| same_quantile(q, quantile))
    });
    if let Some(chosen) = chosen {
        return Some(chosen.value);
    }
    let median = median(seed, job.prediction_id, org_unit, period);
    Some(Some(round2(median * (0.5 + quantile))))
}

fn listed(cells: &[Cell], org_unit: &str, period: &str) -> bool {
    cells
        .iter()
        .any(|c| c.org_unit == org_unit && same_period(&c.period, period))
}

/// The thresholds of a job's dataset, one per (period, location) in request order, or the setup's
/// scenario error.
pub(crate) fn thresholds(
    seed: u64,
    job: &Job,
    behaviour: &SetupBehaviour,
    periods: &[String],
    locations: &[String],
) -> Result<Vec<Threshold>, ErrorAnswer> {
    if let Some(error) = &behaviour.thresholds {
        return Err(error.clone());
    }
    let mut out = Vec::with_capacity(periods.len() * locations.len());
    for period in periods {
        for location in locations {
            if listed(&behaviour.threshold_missing, location, period) {
                continue;
            }
            let value = if listed(&behaviour.threshold_null, location, period) {
                None
            } else if let Some(fixed) = behaviour.threshold {
                Some(fixed)
            } else {
                let median = median(seed, job.prediction_id, location, period);
                let canonical =
                    Period::parse(period).map_or_else(|| period.clone(), |p| p.to_string());
                let spread = unit(hash(
                    seed,
                    &[
                        "threshold",
                        &job.dataset_id.to_string(),
                        location,
                        &canonical,
                    ],
                ));
                Some(round2(median * (0.6 + 0.8 * spread)))
            };
            out.push(Threshold {
                period: period.clone(),
                location: location.clone(),
                value,
            });
        }
    }
    Ok(out)
}
