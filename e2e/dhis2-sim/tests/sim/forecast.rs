//! chap's results of a finished job: the prediction record, entry controls and thresholds; and the
//! setups' `quantileTargets` in both forms.

use dhis2_sim::{Cell, EndpointGroup, EntryOverride, ErrorAnswer, Scenario, ValueType};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{finished_prediction, start, Client};

const THRESHOLDS: &str = "/v1/analytics/thresholds";
const PERIODS: [&str; 3] = ["202605", "202606", "202607"];

fn cell(org_unit: &str, period: &str) -> Cell {
    Cell {
        org_unit: org_unit.into(),
        period: period.into(),
    }
}

async fn medians(client: &Client, prediction: i64) -> Vec<(String, String, f64)> {
    let (status, entries) = client
        .chap(&format!(
            "/v1/analytics/prediction-entry/{prediction}?quantiles=0.5"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["orgUnit"].as_str().unwrap().to_string(),
                e["period"].as_str().unwrap().to_string(),
                e["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn thresholds_body(dataset: i64) -> Value {
    json!({"datasetId": dataset, "periodIds": PERIODS, "strategy": "seasonal", "locations": ["OU1", "OU2"]})
}

#[tokio::test]
async fn a_finished_prediction_names_its_dataset_and_unknown_ones_are_404() {
    let (sim, client) = start(Scenario::fixture()).await;
    let (status, missing) = client.chap("/v1/crud/predictions/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing, json!({"detail": "Prediction not found"}));
    let first = finished_prediction(&client, 1, "202604").await;
    let second = finished_prediction(&client, 1, "202604").await;
    assert_eq!((first, second), (1, 2));
    let (status, info) = client.chap("/v1/crud/predictions/2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["id"], 2);
    assert_eq!(info["name"], "run");
    assert_eq!(info["nPeriods"], 3);
    assert_eq!(
        info["datasetId"], 102,
        "one dataset per job, numbered from 101"
    );
    assert_eq!(info["modelId"], "chapkit-ewars-model");
    assert_eq!(info["backtestId"], 7);
    assert_eq!(info["metaData"], json!({}));
    assert!(info["created"].is_string());
    assert_eq!(sim.dataset_id(1), Some(101));
    assert_eq!(sim.count_status(EndpointGroup::Predictions, 200), 1);
    let (status, _) = client.chap("/v1/crud/predictions/not-a-number").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn thresholds_straddle_the_forecast_medians_and_are_reproducible() {
    let (sim, client) = start(Scenario::fixture()).await;
    let prediction = finished_prediction(&client, 1, "202604").await;
    let (status, cells) = client.post_chap(THRESHOLDS, &thresholds_body(101)).await;
    assert_eq!(status, StatusCode::OK, "{cells}");
    let cells = cells.as_array().unwrap();
    assert_eq!(cells.len(), 6, "one per (period, location)");
    assert_eq!(cells[0]["period"], "202605");
    assert_eq!(cells[0]["location"], "OU1");
    assert_eq!(cells[1]["location"], "OU2");
    let medians = medians(&client, prediction).await;
    let (mut above, mut below) = (0, 0);
    for (org_unit, period, median) in &medians {
        let threshold = cells
            .iter()
            .find(|c| c["location"] == org_unit.as_str() && c["period"] == period.as_str())
            .unwrap()["value"]
            .as_f64()
            .unwrap();
        assert!(
            threshold >= median * 0.6 - 0.01 && threshold <= median * 1.4 + 0.01,
            "{threshold} vs median {median}"
        );
        if *median > threshold {
            above += 1;
        } else {
            below += 1;
        }
    }
    assert!(above + below == 6);
    let expected = sim.thresholds_for(101, &PERIODS, &["OU1", "OU2"]).unwrap();
    let served: Vec<Option<f64>> = cells.iter().map(|c| c["value"].as_f64()).collect();
    let computed: Vec<Option<f64>> = expected.iter().map(|t| t.value).collect();
    assert_eq!(
        served, computed,
        "the handle computes what the endpoint answers"
    );
    let (_, again) = client.post_chap(THRESHOLDS, &thresholds_body(101)).await;
    assert_eq!(again.as_array().unwrap(), cells);
}

#[tokio::test]
async fn over_many_cells_forecast_medians_fall_on_both_sides_of_their_thresholds() {
    let (sim, client) = start(Scenario::fixture()).await;
    let locations: Vec<String> = (0..20).map(|i| format!("L{i:02}")).collect();
    let provided: Vec<Value> = locations
        .iter()
        .map(|ou| json!({"featureName": "population", "orgUnit": ou, "period": "202604", "value": 1.0}))
        .collect();
    let body = json!({"name": "wide", "geojson": {"type": "FeatureCollection", "features": []},
                      "providedData": provided, "nPeriods": 3});
    let (_, job) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &body)
        .await;
    let job = job["id"].as_str().unwrap().to_string();
    while client.chap(&format!("/v1/jobs/{job}")).await.1 != "SUCCESS" {}
    let names: Vec<&str> = locations.iter().map(String::as_str).collect();
    let thresholds = sim.thresholds_for(101, &PERIODS, &names).unwrap();
    let (mut above, mut below) = (0, 0);
    for (org_unit, period, median) in medians(&client, 1).await {
        let threshold = thresholds
            .iter()
            .find(|t| t.location == org_unit && t.period == period)
            .and_then(|t| t.value)
            .unwrap();
        if median > threshold {
            above += 1;
        } else {
            below += 1;
        }
    }
    assert_eq!(above + below, 60);
    assert!(above > 5 && below > 5, "{above} above, {below} below");
}

#[tokio::test]
async fn thresholds_refuse_bad_bodies_and_unknown_datasets() {
    let (_sim, client) = start(Scenario::fixture()).await;
    finished_prediction(&client, 1, "202604").await;
    let (status, body) = client
        .post_chap(
            THRESHOLDS,
            &json!({"periodIds": "202605", "extra": 1, "strategy": "linear"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let items: Vec<(&str, &str)> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["loc"][1].as_str().unwrap()))
        .collect();
    assert_eq!(
        items,
        [
            ("missing", "datasetId"),
            ("list_type", "periodIds"),
            ("missing", "locations"),
            ("literal_error", "strategy"),
            ("extra_forbidden", "extra"),
        ]
    );
    let (status, body) = client.post_chap(THRESHOLDS, &thresholds_body(999)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["detail"].is_string());
    let (status, _) = client
        .post_chap(
            THRESHOLDS,
            &json!({"datasetId": "abc", "periodIds": [], "locations": []}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_setup_can_make_thresholds_fail_go_missing_be_null_or_be_fixed() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.thresholds = Some(ErrorAnswer {
        status: 400,
        body: json!({"detail": "Dataset has no disease_cases"}),
    });
    let (sim, client) = start(scenario).await;
    finished_prediction(&client, 1, "202604").await;
    let (status, body) = client.post_chap(THRESHOLDS, &thresholds_body(101)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"detail": "Dataset has no disease_cases"}));
    assert_eq!(sim.count_status(EndpointGroup::Thresholds, 400), 1);

    sim.update_behaviour(1, |b| {
        b.thresholds = None;
        b.threshold_missing = vec![cell("OU1", "202605")];
        b.threshold_null = vec![cell("OU2", "202607")];
    });
    let (status, cells) = client.post_chap(THRESHOLDS, &thresholds_body(101)).await;
    assert_eq!(status, StatusCode::OK);
    let cells = cells.as_array().unwrap();
    assert_eq!(cells.len(), 5);
    assert!(!cells
        .iter()
        .any(|c| c["location"] == "OU1" && c["period"] == "202605"));
    let null = cells
        .iter()
        .find(|c| c["location"] == "OU2" && c["period"] == "202607")
        .unwrap();
    assert_eq!(null["value"], Value::Null);

    sim.update_behaviour(1, |b| b.threshold = Some(42.0));
    let (_, cells) = client.post_chap(THRESHOLDS, &thresholds_body(101)).await;
    let values: Vec<&Value> = cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["value"])
        .collect();
    assert_eq!(values.iter().filter(|v| **v == &json!(42.0)).count(), 4);
}

#[tokio::test]
async fn entry_quantiles_and_overrides_shape_the_prediction_entries() {
    let mut scenario = Scenario::fixture();
    let sim_block = &mut scenario.prediction_setups[0].sim;
    sim_block.entry_quantiles = Some(vec![0.1, 0.5, 0.9]);
    sim_block.entry_overrides = vec![
        EntryOverride {
            org_unit: "OU1".into(),
            period: Some("202605".into()),
            quantile: Some(0.5),
            value: Some(2.5),
        },
        EntryOverride {
            org_unit: "OU2".into(),
            period: None,
            quantile: Some(0.1),
            value: Some(-1.0),
        },
        EntryOverride {
            org_unit: "OU2".into(),
            period: Some("202607".into()),
            quantile: None,
            value: None,
        },
    ];
    let (_sim, client) = start(scenario).await;
    let prediction = finished_prediction(&client, 1, "202604").await;
    let (status, entries) = client
        .chap(&format!(
            "/v1/analytics/prediction-entry/{prediction}?quantiles=0.1&quantiles=0.25&quantiles=0.5&quantiles=0.75&quantiles=0.9"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 3 * 2 * 3, "0.25 and 0.75 are not produced");
    assert!(entries
        .iter()
        .all(|e| e["quantile"] != 0.25 && e["quantile"] != 0.75));
    let value = |ou: &str, period: &str, q: f64| {
        entries
            .iter()
            .find(|e| e["orgUnit"] == ou && e["period"] == period && e["quantile"] == q)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value("OU1", "202605", 0.5), json!(2.5));
    assert_eq!(value("OU2", "202605", 0.1), json!(-1.0));
    assert_eq!(value("OU2", "202606", 0.1), json!(-1.0), "every period");
    assert_eq!(value("OU2", "202607", 0.9), Value::Null, "every quantile");
    assert!(value("OU1", "202606", 0.5).as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn quantile_targets_in_object_form_are_served_verbatim() {
    let targets = json!({"0.5": "DE_MED", "median": "DE_MED", "quantile_low": "DE_LOW",
                         "outbreak_indicator": "DE_ALERT"});
    let mut scenario = Scenario::fixture();
    let setup = scenario.prediction_setups[0].setup.clone();
    scenario.prediction_setups[0].setup = setup.quantile_targets(targets.clone());
    let (_sim, client) = start(scenario).await;
    let (_, setups) = client.chap("/v1/crud/prediction-setups").await;
    assert_eq!(setups[0]["quantileTargets"], targets);
    let (_, one) = client.chap("/v1/crud/prediction-setups/1").await;
    assert_eq!(one["quantileTargets"], targets);

    let from_json = Scenario::from_json(
        r#"{"prediction_setups": [{"id": 4, "name": "x", "backtestId": 1, "startPeriod": "202301",
            "periodType": "month", "quantileTargets": {"median": "A"},
            "configuredModel": {"id": 1, "name": "m", "modelTemplate": {"name": "m", "displayName": "M", "target": "disease_cases"}}}]}"#,
    )
    .unwrap();
    assert_eq!(
        from_json.prediction_setups[0].setup.quantile_targets,
        json!({"median": "A"})
    );
    let list = dhis2_sim::PredictionSetup::new(5, "y")
        .quantile_target(0.1, "Q10")
        .quantile_target("0.9", "Q90");
    assert_eq!(
        list.quantile_targets,
        json!([{"quantile": 0.1, "dataElementId": "Q10"}, {"quantile": "0.9", "dataElementId": "Q90"}])
    );
}

#[tokio::test]
async fn the_demo_writes_its_forecasts_into_a_data_set_open_for_the_horizon() {
    let demo = Scenario::demo();
    let monthly = &demo.prediction_setups[0].setup;
    assert_eq!(
        monthly.quantile_targets["outbreak_indicator"],
        "DeOutbreak1"
    );
    let element = |id: &str| {
        demo.data_elements
            .iter()
            .find(|d| d.id == id)
            .unwrap()
            .clone()
    };
    assert_eq!(element("DeOutbreak1").value_type, ValueType::Boolean);
    assert_eq!(element("DeOutbreak1").name, "Outbreak alert");
    assert_eq!(element("DeMedian001").name, "Predicted cases (median)");
    let data_set = demo
        .data_sets
        .iter()
        .find(|s| s.id == "DsChapMonth")
        .unwrap();
    assert!(data_set.open_future_periods >= 3);
    for target in monthly.quantile_targets.as_object().unwrap().values() {
        assert!(data_set
            .data_elements
            .contains(&target.as_str().unwrap().to_string()));
    }
    let weekly = &demo.prediction_setups[1].setup;
    assert!(weekly.quantile_targets.is_array());

    // A forecast three months ahead imports into every demo org unit.
    let (sim, client) = start(demo.clone()).await;
    let today = chrono::Local::now().date_naive();
    let month = dhis2_sim::periods::PeriodType::Month.covering(today);
    let mut values = Vec::new();
    for org_unit in &monthly.org_units {
        let mut period = month;
        for _ in 0..3 {
            period = period.next();
            for (de, value) in [
                ("DeMedian001", "12.5"),
                ("DeLow000001", "3"),
                ("DeHigh00001", "30"),
                ("DeOutbreak1", "false"),
            ] {
                values.push(json!({"dataElement": de, "period": period.to_string(), "orgUnit": org_unit, "value": value}));
            }
        }
    }
    let (status, body) = client
        .post("/api/dataValueSets", &json!({"dataValues": values}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["importCount"]["imported"], 6 * 3 * 4);
    assert_eq!(sim.data_values().len(), 72);
}
