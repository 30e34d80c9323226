//! The forecast artifact (issue 14 §1): for each succeeded setup of a run against the simulator, the
//! quantiles are what chap predicted, the observations what the run sent to chap; the previous
//! successful run is named; one setup downloads as CSV; the report links each setup to its forecast.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::dhis2_import::entries;
use crate::helpers::body;
use crate::prediction::{three_setups, world, World};

async fn forecasts(w: &World, run: &Value) -> Vec<Value> {
    let resp = w
        .app
        .get(
            &format!("/api/v1/runs/{}/forecasts", run["id"].as_str().unwrap()),
            &w.token,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    serde_json::from_value(body(resp).await).unwrap()
}

#[tokio::test]
async fn each_succeeded_setup_has_a_forecast_equal_to_what_chap_predicted_and_what_was_sent() {
    let w = world(three_setups(), &[]).await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let list = forecasts(&w, &run).await;
    let ids: Vec<i64> = list
        .iter()
        .map(|f| f["forecast"]["setup_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        2,
        "setups 1 and 3 succeeded, 2 is disabled: {ids:?}"
    );
    assert!(ids.contains(&1) && ids.contains(&3));
    // The report's line of each succeeded setup links to its forecast tab; the skipped one has none.
    let report = w.report(&run).await;
    let run_id = run["id"].as_str().unwrap();
    for id in &ids {
        let link = format!("- Forecast: [chart and numbers](/runs/{run_id}?setup={id}#forecast)");
        assert!(report.contains(&link), "{link} missing from {report}");
    }
    assert!(!report.contains("setup=2#forecast"), "{report}");
    let submissions = w.sim.run_submissions();
    for item in &list {
        assert_eq!(item["run_id"], run["id"]);
        let f = &item["forecast"];
        assert_eq!(f["quantiles"], json!([0.1, 0.25, 0.5, 0.75, 0.9]));
        assert_eq!(f["target"], "disease_cases");
        assert_eq!(f["period_type"], "month");
        assert!(f["previous_run_id"].is_null());
        // Every value is chap's.
        let chap = entries(&w, f["prediction_id"].as_i64().unwrap()).await;
        let periods: Vec<&str> = f["forecast_periods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        let mut compared = 0;
        for ou in f["org_units"].as_array().unwrap() {
            let id = ou["id"].as_str().unwrap();
            assert_ne!(ou["name"], ou["id"], "a name from DHIS2");
            for (p, period) in periods.iter().enumerate() {
                for (q, quantile) in [0.1, 0.25, 0.5, 0.75, 0.9].iter().enumerate() {
                    let expected =
                        chap[&(id.to_string(), period.to_string(), quantile.to_string())];
                    assert_eq!(
                        f["forecast"][id][p][q].as_f64(),
                        expected,
                        "{id} {period} {quantile}"
                    );
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, chap.len(), "every entry is in the forecast");
        // The observations are the target's as sent, in the last (up to 24) input periods.
        let setup = f["setup_id"].as_i64().unwrap();
        let sent = &submissions
            .iter()
            .find(|s| s.setup_id == setup)
            .unwrap()
            .body();
        let observed_periods: Vec<&str> = f["observed_periods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(observed_periods.len(), 24);
        let mut expected: BTreeMap<(String, String), f64> = BTreeMap::new();
        for o in sent["providedData"].as_array().unwrap() {
            if o["featureName"] == "disease_cases" {
                expected.insert(
                    (
                        o["orgUnit"].as_str().unwrap().into(),
                        o["period"].as_str().unwrap().into(),
                    ),
                    o["value"].as_f64().unwrap(),
                );
            }
        }
        let mut seen = 0;
        for (ou, values) in f["observed"].as_object().unwrap() {
            for (p, value) in observed_periods.iter().zip(values.as_array().unwrap()) {
                assert_eq!(
                    value.as_f64(),
                    expected.get(&(ou.clone(), p.to_string())).copied(),
                    "{ou} {p}"
                );
                seen += usize::from(!value.is_null());
            }
        }
        assert_eq!(seen > 0, !expected.is_empty(), "setup {setup}");
        if setup == 1 {
            assert!(seen > 0, "setup 1 sends disease_cases");
        }
        assert!(
            f["thresholds"].is_null(),
            "no import: no thresholds fetched"
        );
    }

    // CSV of one setup.
    let id = run["id"].as_str().unwrap();
    let resp = w
        .app
        .get(
            &format!("/api/v1/runs/{id}/forecasts?format=csv&setup_id=3"),
            &w.token,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("setup-3.csv"));
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "org_unit_id,org_unit_name,period,quantile,value");
    let gamma = list
        .iter()
        .find(|f| f["forecast"]["setup_id"] == 3)
        .unwrap();
    let cells = gamma["forecast"]["org_units"].as_array().unwrap().len()
        * gamma["forecast"]["forecast_periods"]
            .as_array()
            .unwrap()
            .len()
        * 5;
    assert_eq!(lines.len(), 1 + cells);
    let first_ou = &gamma["forecast"]["org_units"][0];
    let first_period = gamma["forecast"]["forecast_periods"][0].as_str().unwrap();
    assert_eq!(
        lines[1],
        format!(
            "{},{},{first_period},0.1,{}",
            first_ou["id"].as_str().unwrap(),
            first_ou["name"].as_str().unwrap(),
            gamma["forecast"]["forecast"][first_ou["id"].as_str().unwrap()][0][0]
        )
    );
    for (query, status) in [
        ("format=csv", StatusCode::UNPROCESSABLE_ENTITY),
        ("format=csv&setup_id=2", StatusCode::NOT_FOUND),
        ("format=xml", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let resp = w
            .app
            .get(&format!("/api/v1/runs/{id}/forecasts?{query}"), &w.token)
            .await;
        assert_eq!(resp.status(), status, "{query}");
    }
    // Not shown as a text artifact.
    let artifacts = body(
        w.app
            .get(&format!("/api/v1/runs/{id}/artifacts"), &w.token)
            .await,
    )
    .await;
    assert!(
        artifacts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["kind"] != "forecast"),
        "{artifacts}"
    );

    // The next run names this one as the previous forecast of each setup.
    let second = w.run(json!({})).await;
    for item in forecasts(&w, &second).await {
        assert_eq!(item["forecast"]["previous_run_id"], run["id"]);
    }
}
