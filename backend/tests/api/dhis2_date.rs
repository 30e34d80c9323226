//! DHIS2's own date and calendar: "today" (offset mode) is the date DHIS2 reports, taken as written in
//! its own time zone, and an instance on another calendar than ISO 8601 fails the run before any
//! analytics call.

use chrono::NaiveDate;
use dhis2_sim::Scenario;
use serde_json::json;

use crate::prediction::world;

fn offset_one() -> serde_json::Value {
    json!({ "end_mode": "offset", "end_period_offset": 1 })
}

#[tokio::test]
async fn offset_mode_counts_from_the_date_dhis2_reports_in_its_own_zone() {
    // DHIS2 in Kiritimati (UTC+14): its date may be a day ahead of the worker's; it is what counts.
    let mut scenario = Scenario::fixture().today(NaiveDate::from_ymd_opt(2026, 5, 31).unwrap());
    scenario.dhis2.server_time_zone_id = "Pacific/Kiritimati".into();
    let w = world(scenario, &[]).await;
    let before = w.run(offset_one()).await;
    let logs = w.logs(&before).await;
    assert!(
        logs.iter()
            .any(|l| l.contains("today       : 2026-05-31 on DHIS2 (time zone Pacific/Kiritimati)")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Using offset end period 202604 (offset=1)")),
        "{logs:?}"
    );

    // Midnight passes in Kiritimati: DHIS2 says 1 June, and the end period moves with it.
    w.sim
        .update_scenario(|s| s.today = NaiveDate::from_ymd_opt(2026, 6, 1));
    let after = w.run(offset_one()).await;
    let logs = w.logs(&after).await;
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Using offset end period 202605 (offset=1)")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn a_dhis2_on_another_calendar_fails_the_run_before_any_analytics_call() {
    let mut scenario = Scenario::fixture();
    scenario.dhis2.calendar = "ethiopian".into();
    let w = world(scenario, &[]).await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    let why = "DHIS2 uses the ethiopian calendar; only iso8601 is supported";
    assert_eq!(run["state_message"], why, "{run}");
    let report = w.report(&run).await;
    assert!(
        report.contains(&format!("**UNSUPPORTED** -- {why}")),
        "{report}"
    );
    assert!(!report.contains("## chap-core"), "{report}");
    assert_eq!(w.sim.count("GET", "/api/analytics"), 0, "no analytics call");
    assert_eq!(w.sim.count("GET", "/api/routes/"), 0, "no chap call");
}
