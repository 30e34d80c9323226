//! The `dhis2-sim` binary and the scenario files it ships with.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use dhis2_sim::Scenario;

const BIN: &str = env!("CARGO_BIN_EXE_dhis2-sim");

fn scenario_file(name: &str) -> String {
    format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_shipped_scenario_files_load() {
    let demo = Scenario::from_file(scenario_file("demo.json")).unwrap();
    assert_eq!(demo.prediction_setups.len(), 3);
    assert_eq!(demo, Scenario::demo());
    let scale = Scenario::from_file(scenario_file("national-scale.json")).unwrap();
    assert_eq!(scale.org_units.len(), 1000);
    assert_eq!(
        scale.data_elements.len(),
        5 + 5,
        "5 covariates and 5 quantile targets"
    );
    assert_eq!(scale.data_sets.len(), 1);
    assert_eq!(scale.prediction_setups[0].setup.org_units.len(), 1000);
    assert_eq!(
        scale.prediction_setups[0].setup.start_period.as_deref(),
        Some("202105")
    );
    assert!(
        Scenario::from_json("{\"usrname\": \"typo\"}").is_err(),
        "unknown keys are refused"
    );
}

#[tokio::test]
async fn the_binary_prints_its_address_serves_the_scenario_and_its_control_api() {
    let mut child = Command::new(BIN)
        .args([
            "--scenario",
            &scenario_file("demo.json"),
            "--bind",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("dhis2-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let http = crate::helpers::http_client();
    let info = http
        .get(format!("{url}/api/system/info"))
        .basic_auth("admin", Some("district"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let control = http
        .post(format!("{url}/__sim/control"))
        .json(&serde_json::json!({"dhis2_down": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), 204);
    let down = http
        .get(format!("{url}/api/system/info"))
        .basic_auth("admin", Some("district"))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);
    let log: serde_json::Value = http
        .get(format!("{url}/__sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 503]);
    child.kill().unwrap();
    child.wait().unwrap();
}
