use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::flows::dhis2_chap_prediction::model::RejectedCells;

fn started() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 7, 11, 38, 23).unwrap()
}

fn finished() -> DateTime<Utc> {
    started() + chrono::Duration::seconds(14)
}

fn dhis2() -> Dhis2SystemInfo {
    serde_json::from_value(
        json!({"version": "2.44-SNAPSHOT", "systemName": "DHIS 2 Demo - Sierra Leone"}),
    )
    .unwrap()
}

fn chap() -> ChapSystemInfo {
    serde_json::from_value(
        json!({"chap_core_version": "2.0.0.dev1", "python_version": "3.13.12",
        "server_date": "2026-05-07T11:38:23+00:00", "server_time_zone_id": "Etc/UTC"}),
    )
    .unwrap()
}

fn reachable() -> RunReport {
    let mut r = RunReport::new("http://dhis.example.org", started());
    r.dhis2 = Some(dhis2());
    r.chap = Some(chap());
    r
}

fn succeeded_test() -> ReportEntry {
    let mut e = ReportEntry::new("test", "chapkit-ewars-model");
    e.status = EntryStatus::Succeeded;
    e.job_id = Some("abc-123".into());
    e.analytics_rows = Some(2356);
    e.org_units_covered = Some(18);
    e.periods_covered = Some(40);
    e.prediction_values = Some(540);
    e
}

fn failed_rwanda() -> ReportEntry {
    let mut e = ReportEntry::new("rwanda", "chapkit-rwanda-bym-model");
    e.fail(
        Step::RunPredictionSetup,
        Some("ApiError: 422 Validation".into()),
        None,
    );
    e
}

#[test]
fn the_worked_example_renders_byte_for_byte() {
    let mut r = reachable();
    r.entries = vec![
        ReportEntry::skipped("beta", "chapkit-ewars-model", "schedule_enabled=false"),
        succeeded_test(),
        failed_rwanda(),
    ];
    let expected = include_str!("fixtures/report_worked_example.md");
    assert_eq!(render(&r, finished()), expected);
}

#[test]
fn chap_unreachable_stops_after_the_chap_section() {
    let mut r = reachable();
    r.chap = None;
    r.chap_error = Some("ConnectError: Connection refused".into());
    let md = render(&r, finished());
    for needle in [
        "## DHIS2",
        "DHIS2 2.44-SNAPSHOT",
        "## chap-core",
        "NOT REACHABLE",
        "ConnectError",
    ] {
        assert!(md.contains(needle), "{needle}");
    }
    assert!(!md.contains("Prediction setups") && !md.contains("Configured models"));
    assert!(md.ends_with("**NOT REACHABLE** -- `ConnectError: Connection refused`\n"));
}

#[test]
fn dhis2_unreachable_stops_before_chap() {
    let mut r = RunReport::new("http://dhis.example.org", started());
    r.dhis2_error = Some("ConnectError: dhis2 is down".into());
    let md = render(&r, finished());
    assert!(
        md.contains("## DHIS2")
            && md.contains("NOT REACHABLE")
            && md.contains("ConnectError: dhis2 is down")
    );
    assert!(!md.contains("## chap-core"));
    let mut silent = RunReport::new("u", started());
    silent.dhis2_error = None;
    assert!(render(&silent, finished()).contains("`(no error captured)`"));
}

#[test]
fn succeeded_and_failed_entries_show_their_details() {
    let mut r = reachable();
    r.entries = vec![succeeded_test(), failed_rwanda()];
    let md = render(&r, finished());
    for needle in [
        "REACHABLE",
        "2.0.0.dev1",
        "## Prediction setups (1 succeeded, 1 failed)\n",
        "SUCCEEDED",
        "FAILED at `run_prediction_setup`",
        "ApiError: 422 Validation",
        "abc-123",
        "Org units: 18",
        "Analytics rows fetched: 2,356",
    ] {
        assert!(md.contains(needle), "{needle}\n{md}");
    }
    assert!(!md.contains("skipped"));
}

#[test]
fn a_listing_error_is_shown_and_stops_the_report() {
    let mut r = reachable();
    r.models_error = Some("HTTPStatusError: 500".into());
    let md = render(&r, finished());
    assert!(md.ends_with(
        "## Prediction setups\n\nCould not list prediction setups: `HTTPStatusError: 500`\n"
    ));
}

fn rejection() -> MissingValuesRejection {
    let cell = |ou: &str, feature: &str, periods: &[&str]| RejectedCells {
        reason: "Missing value for some/all time periods".into(),
        org_unit: ou.into(),
        feature_name: feature.into(),
        time_periods: periods.iter().map(|p| (*p).to_string()).collect(),
    };
    MissingValuesRejection {
        message: "All regions rejected due to missing values".into(),
        imported_count: 0,
        rejected: vec![
            cell("OU1", "rainfall", &["202510", "202511", "202512"]),
            cell("OU2", "rainfall", &["202512", "202510", "202511"]),
            cell("OU1", "mean_temperature", &["202512"]),
        ],
    }
}

#[test]
fn a_rejection_is_summarised_per_covariate_instead_of_the_raw_error() {
    let mut r = reachable();
    let mut e = ReportEntry::new("test", "chapkit-ewars-model");
    e.fail(
        Step::RunPredictionSetup,
        Some("ChapHttpError: ...".into()),
        Some(rejection()),
    );
    r.entries = vec![e];
    let md = render(&r, finished());
    let expected_block = "- **Status:** FAILED at `run_prediction_setup`\n\
        - **Error:** All regions rejected due to missing values (imported 0)\n\
        - **Rejected cells (grouped by covariate):**\n  \
        - `mean_temperature`: 1 org unit; periods affected: 202512 -- Missing value for some/all time periods\n  \
        - `rainfall`: 2 org units; periods affected: 202510, 202511, 202512 -- Missing value for some/all time periods\n";
    assert!(md.contains(expected_block), "{md}");
    assert!(!md.contains("ChapHttpError: ..."));
}

#[test]
fn long_rejected_period_lists_are_summarised_in_period_order() {
    let mut detail = rejection();
    detail.rejected[0].time_periods = ["2024W10", "2024W9", "2024W1", "2024W2", "2024W3"]
        .map(String::from)
        .to_vec();
    detail.rejected[0].feature_name = "weekly".into();
    let mut e = ReportEntry::new("w", "m");
    e.fail(Step::RunPredictionSetup, None, Some(detail));
    let mut r = reachable();
    r.entries = vec![e];
    assert!(render(&r, finished())
        .contains("`weekly`: 1 org unit; periods affected: 2024W1..2024W10 (5 periods)"));
}

#[test]
fn no_entries_says_chap_returned_none() {
    let md = render(&reachable(), finished());
    assert!(md.contains(
        "## Prediction setups (0 succeeded, 0 failed)\n\nchap returned no prediction setups.\n"
    ));
}

#[test]
fn skipped_entries_are_counted_and_shown() {
    let mut r = reachable();
    let mut alpha = ReportEntry::new("alpha", "m");
    alpha.status = EntryStatus::Succeeded;
    r.entries = vec![
        ReportEntry::skipped("beta-disabled", "m", "schedule_enabled=false"),
        alpha,
    ];
    let md = render(&r, finished());
    for needle in [
        "1 succeeded, 0 failed, 1 skipped",
        "`beta-disabled`",
        "SKIPPED -- schedule_enabled=false",
        "`alpha`",
        "SUCCEEDED",
    ] {
        assert!(md.contains(needle), "{needle}");
    }
}

#[test]
fn only_skipped_entries_are_not_an_empty_listing() {
    let mut r = reachable();
    r.entries = vec![
        ReportEntry::skipped("one", "m", "schedule_enabled=false"),
        ReportEntry::skipped("two", "m", "schedule_enabled=false"),
    ];
    let md = render(&r, finished());
    assert!(!md.contains("chap returned no prediction setups"));
    assert!(
        md.contains("0 succeeded, 0 failed, 2 skipped")
            && md.contains("`one`")
            && md.contains("`two`")
    );
}

#[test]
fn predicted_periods_sort_by_period_order_and_collapse_past_six() {
    let mut e = succeeded_test();
    e.set_predicted_periods(["2026W10", "2026W9", "2026W9"]);
    assert_eq!(e.predicted_periods, ["2026W9", "2026W10"]);
    let mut r = reachable();
    r.entries = vec![e.clone()];
    assert!(render(&r, finished()).contains("- Predicted periods: 2026W9, 2026W10\n"));
    e.predicted_periods = (1..=12).map(|w| format!("2026W{w}")).collect();
    r.entries = vec![e];
    assert!(render(&r, finished()).contains("- Predicted periods: 2026W1..2026W12 (12 periods)\n"));
}

#[test]
fn a_stored_forecast_is_linked_after_the_predicted_periods_and_the_link_survives_rendering() {
    let mut e = succeeded_test();
    e.set_predicted_periods(["202606"]);
    e.forecast_href = Some("/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b?setup=7#forecast".into());
    let mut r = reachable();
    r.entries = vec![e];
    let md = render(&r, finished());
    assert!(md.contains(
        "- Predicted periods: 202606\n\
         - Forecast: [chart and numbers](/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b?setup=7#forecast)\n"
    ));
    // The report is shown as HTML; the relative link stays a link.
    let html = chap_scheduler_api::markdown::render(&md);
    assert!(html.contains(
        "<a href=\"/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b?setup=7#forecast\">chart and numbers</a>"
    ));
}

#[test]
fn a_failure_without_a_cause_records_the_bare_step_label() {
    let mut e = ReportEntry::new("x", "m");
    e.fail(Step::ValidatePeriodRange, None, None);
    assert_eq!(e.error.as_deref(), Some("validate_period_range"));
    assert_eq!(e.step_failed.as_deref(), Some("validate_period_range"));
}

#[test]
fn long_errors_are_fenced() {
    let mut r = reachable();
    let mut e = ReportEntry::new("x", "m");
    e.fail(
        Step::FetchDhis2ForSetup,
        Some("line one\nline two".into()),
        None,
    );
    r.entries = vec![e];
    assert!(render(&r, finished()).contains("- **Error:**\n\n```\nline one\nline two\n```\n"));
}

#[test]
fn a_failed_job_shows_the_tail_of_its_log_or_why_it_is_missing() {
    let log: String = (1..=30).map(|i| format!("log line {i}\n")).collect();
    let mut e = ReportEntry::new("x", "m");
    e.fail(
        Step::WaitForPrediction,
        Some("job ended with status='FAILURE'".into()),
        None,
    );
    e.job_id = Some("job-456".into());
    e.set_job_log(Ok(&log));
    let mut r = reachable();
    r.entries = vec![e.clone()];
    let md = render(&r, finished());
    assert!(
        md.contains("- Job: `job-456`\n- Job log (last 20 lines):\n\n```\nlog line 11\n"),
        "{md}"
    );
    assert!(md.ends_with("log line 30\n```\n"));
    assert!(!md.contains("log line 10\n"));

    e.job_log_tail = None;
    e.set_job_log(Err("HTTP 404".into()));
    r.entries = vec![e];
    assert!(render(&r, finished()).contains("- Job log: not available -- `HTTP 404`\n"));
}

#[test]
fn log_tails_are_bounded_in_characters_and_fenced_safely() {
    let tail = log_tail(&format!("{}\ny\ny\ny", "x".repeat(50)), 20, 10);
    assert_eq!(tail, "y\ny\ny");
    assert_eq!(fence_for("a ```` b"), "`````");
}

#[test]
fn invalid_parameters_still_produce_a_report() {
    let mut r = RunReport::new("(unknown)", started());
    r.parameters_error = Some("end_date: end_mode='fixed' requires end_date to be set".into());
    let md = render(&r, finished());
    assert!(md.ends_with("## Parameters\n\n**INVALID** -- `end_date: end_mode='fixed' requires end_date to be set`\n"));
    assert!(!md.contains("## DHIS2"));
    assert_eq!(r.outcome(), RunOutcome::Failed);
}

#[test]
fn durations_floor_to_seconds_and_never_go_negative() {
    assert_eq!(
        duration(
            started(),
            started() + chrono::Duration::milliseconds(125_900)
        ),
        "2m 05s"
    );
    assert_eq!(
        duration(started(), started() - chrono::Duration::seconds(5)),
        "0m 00s"
    );
    assert_eq!(
        duration(started(), started() + chrono::Duration::hours(2)),
        "120m 00s"
    );
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(thousands(540), "540");
}

#[test]
fn a_run_fails_when_no_setup_succeeded_and_one_failed() {
    let c = |s, f, k| RunCounts {
        succeeded: s,
        failed: f,
        skipped: k,
    };
    assert_eq!(run_outcome(c(0, 0, 0)), RunOutcome::Failed);
    assert_eq!(run_outcome(c(0, 3, 0)), RunOutcome::Failed);
    // Every setup skipped (nothing new, all disabled) and none failed: nothing went wrong.
    assert_eq!(run_outcome(c(0, 0, 2)), RunOutcome::Completed);
    assert_eq!(run_outcome(c(0, 1, 2)), RunOutcome::Failed);
    assert_eq!(run_outcome(c(1, 5, 0)), RunOutcome::Completed);
    assert_eq!(run_outcome(c(2, 0, 1)), RunOutcome::Completed);
    assert_eq!(c(1, 1, 1).to_string(), "1 succeeded, 1 failed, 1 skipped");
    let mut r = reachable();
    r.entries = vec![succeeded_test(), failed_rwanda()];
    assert_eq!(
        (r.counts(), r.outcome()),
        (c(1, 1, 0), RunOutcome::Completed)
    );
}
