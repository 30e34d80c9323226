//! The forecast artifact of a succeeded setup (issue 14 §1): what chap predicted (every quantile per
//! org unit and forecast period), the last up to 24 input periods of the predicted variable as the run
//! sent them to chap, and chap's seasonal thresholds when the import fetched them. Built from what the
//! run holds anyway; the observations are taken from the request body before it is sent and dropped.

use std::collections::{BTreeMap, HashMap};

use chap_scheduler_api::{ForecastArtifact, ForecastOrgUnit};
use serde_json::Value;

use super::import::values::{dhis2_period, Thresholds};
use super::model::{PredictionEntry, PredictionRequest, PredictionSetup};
use super::periods::PeriodId;

/// Input periods kept as history.
pub const OBSERVED_PERIODS: usize = 24;

/// Quantiles closer than this are the same (chap writes 0.1 as 0.09999… at times).
const SAME: f64 = 1e-9;

/// What the artifact keeps of the request: org unit names and the recent observations of the target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    names: HashMap<String, String>,
    periods: Vec<String>,
    values: BTreeMap<String, Vec<Option<f64>>>,
}

fn canonical(raw: &str) -> String {
    PeriodId::parse(raw)
        .map(|p| p.canonical())
        .unwrap_or_else(|_| raw.to_string())
}

/// Takes the names and the observations of `target` in the last [`OBSERVED_PERIODS`] of `periods`.
pub fn observed(body: &PredictionRequest, target: &str, periods: &[PeriodId]) -> Observed {
    let recent: Vec<String> = periods
        .iter()
        .skip(periods.len().saturating_sub(OBSERVED_PERIODS))
        .map(PeriodId::canonical)
        .collect();
    let index: HashMap<&str, usize> = recent
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let mut values: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for obs in body
        .provided_data
        .iter()
        .filter(|o| o.feature_name == target)
    {
        if let Some(&i) = index.get(canonical(&obs.period).as_str()) {
            values
                .entry(obs.org_unit.clone())
                .or_insert_with(|| vec![None; recent.len()])[i] = Some(obs.value);
        }
    }
    let names = body.geojson["features"]
        .as_array()
        .map(|features| {
            features
                .iter()
                .filter_map(|f| {
                    let id = f["id"].as_str()?;
                    let name = f["properties"]["displayName"].as_str()?;
                    Some((id.to_string(), name.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Observed {
        names,
        periods: recent,
        values,
    }
}

/// The sorted distinct values, equal within [`SAME`].
fn distinct_quantiles(entries: &[PredictionEntry]) -> Vec<f64> {
    let mut all: Vec<f64> = entries.iter().map(|e| e.quantile).collect();
    all.sort_by(f64::total_cmp);
    all.dedup_by(|a, b| (*a - *b).abs() < SAME);
    all
}

/// The artifact of a setup's forecast.
pub fn build(
    setup: &PredictionSetup,
    observed: Observed,
    entries: &[PredictionEntry],
    thresholds: Option<&Thresholds>,
    (prediction_id, previous_run_id): (i64, Option<uuid::Uuid>),
) -> ForecastArtifact {
    let quantiles = distinct_quantiles(entries);
    let mut periods: Vec<String> = entries.iter().map(|e| dhis2_period(&e.period)).collect();
    periods.sort();
    periods.dedup();
    let period_index: HashMap<&str, usize> = periods
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let mut ids: Vec<String> = setup.org_units.clone();
    for e in entries {
        if !ids.contains(&e.org_unit) {
            ids.push(e.org_unit.clone());
        }
    }
    let empty = || vec![vec![None; quantiles.len()]; periods.len()];
    let mut forecast: BTreeMap<String, Vec<Vec<Option<f64>>>> = BTreeMap::new();
    for e in entries {
        let Some(&p) = period_index.get(dhis2_period(&e.period).as_str()) else {
            continue;
        };
        let Some(q) = quantiles.iter().position(|q| (q - e.quantile).abs() < SAME) else {
            continue;
        };
        forecast.entry(e.org_unit.clone()).or_insert_with(empty)[p][q] = e.value;
    }
    let thresholds = thresholds.map(|t| {
        ids.iter()
            .map(|ou| {
                let row = periods
                    .iter()
                    .map(|p| t.get(&(p.clone(), ou.clone())).copied().flatten())
                    .collect();
                (ou.clone(), row)
            })
            .collect()
    });
    let org_units = ids
        .iter()
        .map(|id| ForecastOrgUnit {
            id: id.clone(),
            name: observed
                .names
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.clone()),
        })
        .collect();
    ForecastArtifact {
        setup_id: setup.id,
        setup_name: setup.name.clone(),
        period_type: setup.period_type.clone().unwrap_or_default(),
        target: setup.configured_model.model_template.target.clone(),
        org_units,
        quantiles,
        forecast_periods: periods,
        forecast,
        observed_periods: observed.periods,
        observed: observed.values,
        thresholds,
        prediction_id,
        previous_run_id,
    }
}

/// The artifact as stored.
pub fn to_json(artifact: &ForecastArtifact) -> String {
    serde_json::to_string(artifact).unwrap_or_else(|_| Value::Null.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::dhis2_chap_prediction::model::parse_setup_listing;
    use serde_json::json;

    fn setup(org_units: &[String]) -> PredictionSetup {
        let listing = parse_setup_listing(json!([{
            "id": 7, "name": "national", "backtestId": 1, "startPeriod": "202001", "periodType": "month",
            "orgUnits": org_units,
            "configuredModel": { "id": 1, "name": "m",
                "modelTemplate": { "name": "t", "displayName": "T", "target": "disease_cases",
                    "supportedPeriodType": "month" } },
            "covariateSources": [{ "covariate": "disease_cases", "dataElementId": "CASES" }]
        }]))
        .unwrap();
        listing.into_iter().next().unwrap().unwrap()
    }

    #[test]
    fn a_national_scale_forecast_stays_under_two_megabytes() {
        let ous: Vec<String> = (0..1000).map(|i| format!("OrgUnit{i:05}")).collect();
        let periods: Vec<PeriodId> = (1..=12)
            .flat_map(|m| [format!("2024{m:02}"), format!("2025{m:02}")])
            .map(|p| PeriodId::parse(&p).unwrap())
            .collect();
        let mut periods = periods;
        periods.sort_by_key(PeriodId::canonical);
        let mut names = HashMap::new();
        let mut values = BTreeMap::new();
        for (i, ou) in ous.iter().enumerate() {
            names.insert(ou.clone(), format!("District number {i} of the country"));
            values.insert(
                ou.clone(),
                (0..24).map(|p| Some(1000.0 + f64::from(p) * 3.7)).collect(),
            );
        }
        let observed = Observed {
            names,
            periods: periods.iter().map(PeriodId::canonical).collect(),
            values,
        };
        let mut entries = Vec::new();
        let mut thresholds = Thresholds::new();
        for ou in &ous {
            for period in ["202601", "202602", "202603"] {
                for q in [0.1, 0.25, 0.5, 0.75, 0.9] {
                    entries.push(PredictionEntry {
                        org_unit: ou.clone(),
                        period: period.into(),
                        quantile: q,
                        value: Some(1_234.567_891 * q),
                    });
                }
                thresholds.insert((dhis2_period(period), ou.clone()), Some(2000.5));
            }
        }
        let artifact = build(
            &setup(&ous),
            observed,
            &entries,
            Some(&thresholds),
            (3, None),
        );
        let json = to_json(&artifact);
        assert!(json.len() < 2 * 1024 * 1024, "{} bytes", json.len());
        assert_eq!(artifact.forecast_periods, ["202601", "202602", "202603"]);
        assert_eq!(artifact.forecast.len(), 1000);
        assert_eq!(
            artifact.forecast["OrgUnit00000"][0][2],
            Some(1_234.567_891 * 0.5)
        );
        assert_eq!(artifact.observed_periods.len(), 24);
        assert_eq!(
            artifact.thresholds.unwrap()["OrgUnit00999"],
            vec![Some(2000.5); 3]
        );
        assert_eq!(
            artifact.org_units[1].name,
            "District number 1 of the country"
        );
    }

    #[test]
    fn quantiles_equal_within_rounding_are_one_and_unknown_org_units_keep_their_id() {
        let entries = vec![
            PredictionEntry {
                org_unit: "X".into(),
                period: "202605".into(),
                quantile: 0.1,
                value: Some(1.0),
            },
            PredictionEntry {
                org_unit: "X".into(),
                period: "202605".into(),
                quantile: 1.0 - 0.9,
                value: Some(1.0),
            },
            PredictionEntry {
                org_unit: "X".into(),
                period: "202605".into(),
                quantile: 0.9,
                value: None,
            },
        ];
        let artifact = build(&setup(&[]), Observed::default(), &entries, None, (1, None));
        assert_eq!(artifact.quantiles.len(), 2);
        assert_eq!(artifact.org_units[0].name, "X");
        assert_eq!(artifact.forecast["X"][0], vec![Some(1.0), None]);
        assert!(artifact.thresholds.is_none());
    }
}
