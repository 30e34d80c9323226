//! The build-request transform (reference §2.4 step e) and the org-unit GeoJSON features (step d).
//!
//! Decisions where the reference is ambiguous:
//! - Values that parse but are not finite (`NaN`, `inf`) count as non-numeric: JSON cannot carry them.
//! - Periods and org units go to chap exactly as DHIS2 returned them (decision 1); the prediction name
//!   uses the setup's `startPeriod` as chap stores it and the resolved end as a DHIS2 canonical id.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::analytics::AnalyticsTable;
use super::model::{CovariateSource, Observation, OrgUnit, PredictionRequest};
use super::periods::PeriodId;

/// Dataset type sent to chap (chap normalises it to `prediction`).
pub const DATASET_TYPE: &str = "forecasting";

/// Observations built from analytics rows, with what was dropped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuiltObservations {
    /// One per usable row, in row order.
    pub observations: Vec<Observation>,
    /// Rows whose data element is not a covariate source.
    pub dropped_unknown_dx: usize,
    /// Short rows and rows without a numeric value.
    pub dropped_non_numeric: usize,
}

impl BuiltObservations {
    /// "built N observations" or "built N observations (X dropped: unknown dx, Y dropped: non-numeric value)".
    pub fn summary(&self) -> String {
        let n = self.observations.len();
        if self.dropped_unknown_dx == 0 && self.dropped_non_numeric == 0 {
            format!("built {n} observations")
        } else {
            format!(
                "built {n} observations ({} dropped: unknown dx, {} dropped: non-numeric value)",
                self.dropped_unknown_dx, self.dropped_non_numeric
            )
        }
    }
}

/// Maps analytics rows to chap observations; no de-duplication, filling or sorting.
pub fn build_observations(
    table: &AnalyticsTable,
    sources: &[CovariateSource],
) -> BuiltObservations {
    into_observations(table.clone(), sources)
}

/// [`build_observations`] consuming the table: period and org-unit ids move into the observations and
/// each row is freed as it is read, so the rows and the observations are not both held in full
/// (300k rows at national scale).
pub fn into_observations(table: AnalyticsTable, sources: &[CovariateSource]) -> BuiltObservations {
    let covariate: HashMap<&str, &str> = sources
        .iter()
        .map(|s| (s.data_element_id.as_str(), s.covariate.as_str()))
        .collect();
    let mut built = BuiltObservations {
        observations: Vec::with_capacity(table.rows.len()),
        dropped_unknown_dx: 0,
        dropped_non_numeric: table.short_rows,
    };
    for row in table.rows {
        let Some(feature) = covariate.get(row.dx.as_str()) else {
            built.dropped_unknown_dx += 1;
            continue;
        };
        let value = row
            .value
            .as_deref()
            .map(str::trim)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite());
        match value {
            Some(value) => built.observations.push(Observation {
                feature_name: (*feature).to_string(),
                org_unit: row.ou,
                period: row.pe,
                value,
            }),
            None => built.dropped_non_numeric += 1,
        }
    }
    built
}

/// The GeoJSON feature of one org unit; `None` when it has no geometry.
pub fn org_unit_feature(ou: &OrgUnit) -> Option<Value> {
    let geometry = ou.geometry.clone().filter(|g| !g.is_null())?;
    let mut properties = Map::new();
    properties.insert("id".into(), json!(ou.id));
    properties.insert("level".into(), json!(ou.level));
    properties.insert("displayName".into(), json!(ou.display_name));
    if let Some(code) = ou.code.as_deref().filter(|c| !c.is_empty()) {
        properties.insert("code".into(), json!(code));
    }
    if let Some(parent) = ou
        .parent
        .as_ref()
        .and_then(|p| p.id.as_deref())
        .filter(|p| !p.is_empty())
    {
        properties.insert("parent".into(), json!(parent));
        properties.insert("parentGraph".into(), json!(parent));
    }
    Some(json!({
        "type": "Feature",
        "id": ou.id,
        "geometry": geometry,
        "properties": properties,
    }))
}

/// A FeatureCollection of the org units that have a geometry (the others are dropped silently).
pub fn feature_collection(org_units: &[OrgUnit]) -> Value {
    let features: Vec<Value> = org_units.iter().filter_map(org_unit_feature).collect();
    json!({ "type": "FeatureCollection", "features": features })
}

/// `"<setup name> (<configured model name>) <startPeriod>-<endPeriod>"`.
pub fn prediction_name(
    setup_name: &str,
    model_name: &str,
    start_period: &str,
    end: &PeriodId,
) -> String {
    format!(
        "{setup_name} ({model_name}) {start_period}-{}",
        end.canonical()
    )
}

/// The body of the run call; `name` must be non-empty and `n_periods` positive.
pub fn build_request(
    name: String,
    geojson: Value,
    observations: Vec<Observation>,
    n_periods: u32,
) -> Result<PredictionRequest, String> {
    if name.trim().is_empty() {
        return Err("the prediction name is empty".into());
    }
    if n_periods == 0 {
        return Err("nPeriods must be > 0".into());
    }
    Ok(PredictionRequest {
        name,
        geojson,
        provided_data: observations,
        n_periods,
        dataset_type: DATASET_TYPE.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::dhis2_chap_prediction::model::{AnalyticsResponse, IdRef};

    fn sources() -> Vec<CovariateSource> {
        [
            ("population", "POP1"),
            ("rainfall", "RAIN1"),
            ("disease_cases", "DISEASE1"),
        ]
        .iter()
        .map(|(c, d)| CovariateSource {
            covariate: (*c).into(),
            data_element_id: (*d).into(),
        })
        .collect()
    }

    fn table(rows: Value) -> AnalyticsTable {
        let resp: AnalyticsResponse = serde_json::from_value(json!({ "rows": rows })).unwrap();
        AnalyticsTable::from_response(&resp).unwrap()
    }

    #[test]
    fn each_numeric_row_becomes_one_observation() {
        let built = build_observations(
            &table(json!([
                ["POP1", "202301", "OU1", "1000"],
                ["RAIN1", "202301", "OU1", "120.5"],
                ["DISEASE1", "202301", "OU1", "42"]
            ])),
            &sources(),
        );
        assert_eq!(built.observations.len(), 3);
        let names: std::collections::BTreeSet<&str> = built
            .observations
            .iter()
            .map(|o| o.feature_name.as_str())
            .collect();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["disease_cases", "population", "rainfall"]
        );
        assert_eq!(built.observations[0].value, 1000.0);
        assert_eq!(built.observations[1].value, 120.5);
        assert_eq!(built.summary(), "built 3 observations");
    }

    #[test]
    fn unknown_elements_and_non_numeric_values_are_dropped_and_counted() {
        let built = build_observations(
            &table(json!([
                ["POP1", "202301", "OU1", "1000"],
                ["UNKNOWN", "202301", "OU1", "1"],
                ["RAIN1", "202301", "OU1", ""],
                ["RAIN1", "202302", "OU1", "not a number"],
                ["RAIN1", "202303", "OU1", null],
                ["RAIN1", "202304", "OU1", "NaN"],
                ["POP1"]
            ])),
            &sources(),
        );
        assert_eq!(built.observations.len(), 1);
        assert_eq!(built.observations[0].feature_name, "population");
        assert_eq!(
            (built.dropped_unknown_dx, built.dropped_non_numeric),
            (1, 5)
        );
        assert_eq!(
            built.summary(),
            "built 1 observations (1 dropped: unknown dx, 5 dropped: non-numeric value)"
        );
    }

    #[test]
    fn periods_and_org_units_pass_verbatim_as_dhis2_returned_them() {
        let built = build_observations(
            &table(json!([
                ["POP1", "2024W1", "OU1", "5"],
                ["POP1", "2024W01", "OU2", "6"]
            ])),
            &sources(),
        );
        let periods: Vec<&str> = built
            .observations
            .iter()
            .map(|o| o.period.as_str())
            .collect();
        assert_eq!(periods, ["2024W1", "2024W01"]);
    }

    #[test]
    fn the_serialised_body_has_no_legacy_keys() {
        let built = build_observations(
            &table(json!([["POP1", "202301", "OU1", "1000"]])),
            &sources(),
        );
        let body = build_request(
            "test (m) 202301-202412".into(),
            feature_collection(&[]),
            built.observations,
            3,
        )
        .unwrap();
        let v = serde_json::to_value(&body).unwrap();
        assert!(v.get("providedData").is_some() && v.get("nPeriods").is_some());
        assert_eq!(v["type"], "forecasting");
        assert!(
            v["providedData"][0].get("featureName").is_some()
                && v["providedData"][0].get("orgUnit").is_some()
        );
        for legacy in [
            "dataSources",
            "dataToBeFetched",
            "configuredModelWithDataSourceId",
        ] {
            assert!(v.get(legacy).is_none(), "{legacy}");
        }
        assert!(build_request(" ".into(), json!({}), vec![], 3).is_err());
        assert!(build_request("n".into(), json!({}), vec![], 0).is_err());
    }

    #[test]
    fn a_feature_carries_id_level_name_code_and_parent() {
        let polygon = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]});
        let ou = OrgUnit {
            id: "OU1".into(),
            display_name: Some("Region 1".into()),
            level: Some(2),
            code: Some("R1".into()),
            parent: Some(IdRef {
                id: Some("PARENT".into()),
            }),
            geometry: Some(polygon.clone()),
        };
        let f = org_unit_feature(&ou).unwrap();
        assert_eq!(
            f,
            json!({"type": "Feature", "id": "OU1", "geometry": polygon, "properties": {
                "id": "OU1", "level": 2, "displayName": "Region 1", "code": "R1",
                "parent": "PARENT", "parentGraph": "PARENT"}})
        );
    }

    #[test]
    fn a_feature_without_code_or_parent_omits_them_but_keeps_display_name() {
        let ou = OrgUnit {
            id: "OU2".into(),
            display_name: None,
            level: None,
            code: Some(String::new()),
            parent: None,
            geometry: Some(json!({"type": "MultiPolygon", "coordinates": []})),
        };
        let props = org_unit_feature(&ou).unwrap()["properties"].clone();
        assert_eq!(
            props,
            json!({"id": "OU2", "level": null, "displayName": null})
        );
    }

    #[test]
    fn org_units_without_geometry_are_dropped_silently() {
        let with = OrgUnit {
            id: "A".into(),
            display_name: None,
            level: None,
            code: None,
            parent: None,
            geometry: Some(json!({"type": "Point", "coordinates": [0, 0]})),
        };
        let without = OrgUnit {
            id: "B".into(),
            geometry: None,
            ..with.clone()
        };
        let fc = feature_collection(&[with, without]);
        assert_eq!(fc["type"], "FeatureCollection");
        assert_eq!(fc["features"].as_array().unwrap().len(), 1);
        assert_eq!(
            feature_collection(&[]),
            json!({"type": "FeatureCollection", "features": []})
        );
    }

    #[test]
    fn the_prediction_name_spans_start_to_end() {
        let end = PeriodId::parse("202412").unwrap();
        assert_eq!(
            prediction_name("test", "chapkit-ewars-model", "202301", &end),
            "test (chapkit-ewars-model) 202301-202412"
        );
        let week = PeriodId::parse("2025W01").unwrap();
        assert_eq!(
            prediction_name("w", "m", "2024W01", &week),
            "w (m) 2024W01-2025W1"
        );
    }
}
