//! `only_new_data` (issue 12 §2): a setup whose last input period is not after the one of its last
//! successful prediction on the same DHIS2 is skipped without a chap job and without analytics beyond
//! the freshness probe; the memory is written only when a setup succeeds.

use chrono::NaiveDate;
use dhis2_sim::{Rejection, Scenario};
use serde_json::json;

use crate::prediction::world;

fn only_new() -> serde_json::Value {
    json!({ "only_new_data": true })
}

#[tokio::test]
async fn a_second_run_without_new_data_skips_and_a_new_period_predicts_again() {
    // Today 2026-05-07: the covariates reach 202604.
    let w = world(Scenario::fixture(), &[]).await;
    let first = w.run(only_new()).await;
    assert_eq!(first["state"], "COMPLETED", "{first}");
    assert_eq!(w.sim.run_submissions().len(), 1);
    let report = w.report(&first).await;
    assert!(report.contains("- Last input period: 202604"), "{report}");

    // Nothing new in DHIS2: the setup is skipped, nothing is submitted, only the probe asks analytics.
    let probes_before = w.sim.count("GET", "/api/analytics");
    let second = w.run(only_new()).await;
    assert_eq!(second["state"], "COMPLETED", "{second}");
    assert_eq!(
        crate::prediction::counts(&second["summary"]),
        json!({ "succeeded": 0, "failed": 0, "skipped": 1, "failed_setup_ids": [] })
    );
    assert_eq!(w.sim.run_submissions().len(), 1, "no chap job");
    assert_eq!(
        w.sim.count("GET", "/api/analytics") - probes_before,
        1,
        "the probe only"
    );
    let report = w.report(&second).await;
    let first_id = first["id"].as_str().unwrap();
    assert!(
        report.contains(&format!(
            "- **Status:** SKIPPED -- no new data since 202604 (previous successful run: [{}](/runs/{first_id}))",
            &first_id[..8]
        )),
        "{report}"
    );
    // Without the flag the setup predicts as always.
    let plain = w.run(json!({})).await;
    assert_eq!(plain["summary"]["succeeded"], 1, "{plain}");
    assert_eq!(w.sim.run_submissions().len(), 2);

    // A month later DHIS2 has 202605: the next run predicts again.
    w.sim
        .update_scenario(|s| s.today = NaiveDate::from_ymd_opt(2026, 6, 7));
    let third = w.run(only_new()).await;
    assert_eq!(third["summary"]["succeeded"], 1, "{third}");
    assert_eq!(w.sim.run_submissions().len(), 3);
    assert!(w
        .report(&third)
        .await
        .contains("- Last input period: 202605"));
}

#[tokio::test]
async fn a_failed_prediction_is_not_remembered_so_the_next_run_tries_again() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.rejection = Some(Rejection {
        status: 500,
        body: json!({ "detail": "chap had a bad day" }),
        times: Some(1),
    });
    let w = world(scenario, &[]).await;
    let failed = w.run(only_new()).await;
    assert_eq!(failed["state"], "FAILED", "{failed}");
    let retried = w.run(only_new()).await;
    assert_eq!(retried["state"], "COMPLETED", "{retried}");
    assert_eq!(retried["summary"]["succeeded"], 1, "{retried}");
    assert_eq!(w.sim.run_submissions().len(), 2);
}
