//! chap-core through DHIS2's route proxy: setups, run submission, jobs, logs, prediction entries.

use dhis2_sim::{EndpointGroup, JobResult, Rejection, Scenario};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{run_body, start};

#[tokio::test]
async fn chap_system_info_is_served_under_the_route_prefix() {
    let (sim, client) = start(Scenario::fixture()).await;
    let (status, body) = client.chap("/system/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["chap_core_version"], "2.0.0.dev1");
    assert_eq!(body["python_version"], "3.13.12");
    assert_eq!(body["server_time_zone_id"], "Etc/UTC");
    let server_date = body["server_date"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(server_date).is_ok(),
        "{server_date}"
    );
    assert_eq!(sim.count("GET", "/api/routes/chap/run/system/info"), 1);
}

#[tokio::test]
async fn the_setup_listing_has_every_field_the_flow_reads() {
    let (_sim, client) = start(Scenario::demo()).await;
    let (status, body) = client.chap("/v1/crud/prediction-setups").await;
    assert_eq!(status, StatusCode::OK);
    let setups = body.as_array().unwrap();
    assert_eq!(setups.len(), 3);
    for setup in setups {
        for key in [
            "id",
            "name",
            "backtestId",
            "configuredModel",
            "startPeriod",
            "orgUnits",
            "covariateSources",
            "periodType",
            "scheduleCronExpression",
            "scheduleEnabled",
            "quantileTargets",
        ] {
            assert!(setup.get(key).is_some(), "{key} missing in {setup}");
        }
        let model = &setup["configuredModel"];
        assert!(model["name"].is_string());
        assert!(model["additionalContinuousCovariates"].is_array());
        for key in [
            "name",
            "displayName",
            "target",
            "supportedPeriodType",
            "requiredCovariates",
        ] {
            assert!(model["modelTemplate"].get(key).is_some(), "{key}");
        }
        assert!(setup["covariateSources"][0]["dataElementId"].is_string());
        assert!(
            setup.get("sim").is_none(),
            "simulator settings never reach the wire"
        );
    }
    let types: Vec<&str> = setups
        .iter()
        .map(|s| s["periodType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["month", "week", "month"]);
    let enabled: Vec<bool> = setups
        .iter()
        .map(|s| s["scheduleEnabled"].as_bool().unwrap())
        .collect();
    assert_eq!(enabled, [true, true, false]);
    let (status, one) = client.chap("/v1/crud/prediction-setups/2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["name"], "Malaria weekly");
    assert_eq!(one["predictions"], json!([]));
    let (status, missing) = client.chap("/v1/crud/prediction-setups/99").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["detail"].is_string());
}

#[tokio::test]
async fn a_run_submission_is_recorded_and_its_job_advances_one_status_per_poll() {
    let (sim, client) = start(Scenario::fixture()).await;
    let body = run_body(
        "test (chapkit-ewars-model) 202301-202604",
        &["202603", "202604"],
        3,
    );
    let (status, answer) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &body)
        .await;
    assert_eq!(status, StatusCode::OK);
    let job = answer["id"].as_str().unwrap().to_string();
    assert_eq!(job.len(), 36, "a UUID: {job}");

    let submissions = sim.run_submissions();
    assert_eq!(submissions.len(), 1);
    assert_eq!(submissions[0].setup_id, 1);
    assert_eq!(submissions[0].job_id.as_deref(), Some(job.as_str()));
    assert_eq!(submissions[0].body(), body);

    // Before any poll the listing shows the first status, without a result.
    let (_, jobs) = client.chap("/v1/jobs").await;
    assert_eq!(jobs[0]["id"], job.as_str());
    assert_eq!(jobs[0]["status"], "PENDING");
    assert_eq!(jobs[0]["type"], "make_prediction");
    assert_eq!(jobs[0]["name"], "test (chapkit-ewars-model) 202301-202604");
    assert_eq!(jobs[0]["result"], Value::Null);
    assert_eq!(jobs[0]["end_time"], Value::Null);

    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = client
            .get(&format!("{}/v1/jobs/{job}", dhis2_sim::CHAP_ROUTE_PREFIX))
            .await;
        let text = response.text().await.unwrap();
        seen.push(text);
    }
    assert_eq!(
        seen,
        ["\"PENDING\"", "\"RUNNING\"", "\"SUCCESS\"", "\"SUCCESS\""]
    );
    let (_, jobs) = client.chap("/v1/jobs").await;
    assert_eq!(jobs[0]["status"], "SUCCESS");
    assert_eq!(jobs[0]["result"], "1");
    assert!(jobs[0]["end_time"].is_string());
    assert_eq!(sim.jobs(), [(job, 1, "SUCCESS".to_string())]);
}

#[tokio::test]
async fn job_sequences_results_and_filters_follow_the_scenario() {
    let (sim, client) = start(Scenario::fixture()).await;
    sim.set_job_statuses(1, ["RETRY", "STARTED", "FAILURE"]);
    let (_, first) = client
        .post_chap(
            "/v1/crud/prediction-setups/1/run",
            &run_body("a", &["202604"], 3),
        )
        .await;
    let first = first["id"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(client.chap(&format!("/v1/jobs/{first}")).await.1);
    }
    assert_eq!(
        statuses,
        [json!("RETRY"), json!("STARTED"), json!("FAILURE")]
    );

    sim.set_job_statuses(1, ["SUCCESS"]);
    sim.set_job_result(1, JobResult::Integer);
    let (_, second) = client
        .post_chap(
            "/v1/crud/prediction-setups/1/run",
            &run_body("b", &["202604"], 3),
        )
        .await;
    let second = second["id"].as_str().unwrap().to_string();
    let (_, listed) = client.chap(&format!("/v1/jobs?ids={second}")).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["status"], "SUCCESS");
    assert_eq!(listed[0]["result"], 2, "an integer result");
    let (_, failed) = client.chap("/v1/jobs?status=failure").await;
    assert_eq!(failed[0]["id"], first.as_str());
    assert_eq!(failed[0]["result"], Value::Null);
    let (_, by_setup) = client.chap("/v1/jobs?predictionSetupId=1").await;
    assert_eq!(by_setup.as_array().unwrap().len(), 2);

    sim.set_job_result(1, JobResult::Value(json!("not-an-int")));
    let (_, third) = client
        .post_chap(
            "/v1/crud/prediction-setups/1/run",
            &run_body("c", &["202604"], 3),
        )
        .await;
    let (_, listed) = client
        .chap(&format!("/v1/jobs?ids={}", third["id"].as_str().unwrap()))
        .await;
    assert_eq!(listed[0]["result"], "not-an-int");
    let (status, unknown) = client.chap("/v1/jobs/no-such-job").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(unknown["detail"], "Job 'no-such-job' not found");
}

#[tokio::test]
async fn job_logs_are_a_json_string_of_log_lines() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.job_statuses = vec!["FAILURE".into()];
    let (_sim, client) = start(scenario).await;
    let (_, job) = client
        .post_chap(
            "/v1/crud/prediction-setups/1/run",
            &run_body("a", &["202604"], 3),
        )
        .await;
    let job = job["id"].as_str().unwrap();
    let (status, logs) = client.chap(&format!("/v1/jobs/{job}/logs")).await;
    assert_eq!(status, StatusCode::OK);
    let logs = logs
        .as_str()
        .expect("chap answers the logs as a JSON string");
    assert!(logs.contains("ERROR"), "{logs}");
    assert!(logs.lines().count() >= 3);
    let (status, _) = client.chap("/v1/jobs/nope/logs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_scenario_rejection_is_answered_with_chaps_body_verbatim() {
    let rejection = Rejection::missing_values("OU1", "rainfall", &["202510", "202511", "202512"]);
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.rejection = Some(Rejection {
        times: Some(1),
        ..rejection.clone()
    });
    let (sim, client) = start(scenario).await;
    let body = run_body("a", &["202604"], 3);
    let (status, answer) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &body)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer, rejection.body);
    assert_eq!(
        answer["detail"]["message"],
        "All regions rejected due to missing values"
    );
    // `times: 1`: the next submission is accepted.
    let (status, _) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &body)
        .await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<u16> = sim.run_submissions().iter().map(|s| s.status).collect();
    assert_eq!(statuses, [400, 200]);
    assert!(sim.run_submissions()[0].job_id.is_none());

    sim.set_rejection(
        1,
        Some(Rejection {
            status: 409,
            body: json!({"detail": "Configured model 12 is archived"}),
            times: None,
        }),
    );
    let (status, answer) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &body)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(answer, json!({"detail": "Configured model 12 is archived"}));
}

#[tokio::test]
async fn run_bodies_chap_would_refuse_get_422_and_unknown_setups_404() {
    let (sim, client) = start(Scenario::fixture()).await;
    let mut legacy = run_body("a", &["202604"], 3);
    legacy["dataSources"] = json!([]);
    legacy["configuredModelWithDataSourceId"] = json!(1);
    let (status, answer) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &legacy)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let kinds: Vec<(&str, &str)> = answer["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["loc"][1].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("extra_forbidden", "configuredModelWithDataSourceId"),
            ("extra_forbidden", "dataSources")
        ]
    );
    let mut empty = run_body("a", &[], 0);
    empty["name"] = json!("");
    let (status, answer) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &empty)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["detail"].as_array().unwrap().len(), 3, "{answer}");
    let (status, answer) = client
        .post_chap(
            "/v1/crud/prediction-setups/42/run",
            &run_body("a", &["202604"], 3),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(answer["detail"].is_string());
    assert_eq!(
        sim.count("POST", "/api/routes/chap/run/v1/crud/prediction-setups"),
        3
    );
    assert_eq!(sim.count_status(EndpointGroup::RunSetup, 422), 2);
    assert!(sim.jobs().is_empty());
}

#[tokio::test]
async fn prediction_entries_cover_every_forecast_period_org_unit_and_quantile() {
    let (_sim, client) = start(Scenario::fixture()).await;
    let (_, job) = client
        .post_chap(
            "/v1/crud/prediction-setups/1/run",
            &run_body("a", &["202603", "202604"], 3),
        )
        .await;
    let job = job["id"].as_str().unwrap();
    let path = "/v1/analytics/prediction-entry/1?quantiles=0.1&quantiles=0.25&quantiles=0.5&quantiles=0.75&quantiles=0.9";
    let (status, _) = client.chap(path).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no prediction before the job succeeded"
    );
    while client.chap(&format!("/v1/jobs/{job}")).await.1 != "SUCCESS" {}
    let (status, entries) = client.chap(path).await;
    assert_eq!(status, StatusCode::OK);
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 3 * 2 * 5);
    let mut periods: Vec<&str> = entries
        .iter()
        .map(|e| e["period"].as_str().unwrap())
        .collect();
    periods.dedup();
    assert_eq!(periods, ["202605", "202606", "202607"]);
    let first = &entries[0];
    assert_eq!(first["orgUnit"], "OU1");
    assert_eq!(first["quantile"], 0.1);
    let values: Vec<f64> = entries[..5]
        .iter()
        .map(|e| e["value"].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "quantiles increase: {values:?}"
    );
    let (status, _) = client.chap("/v1/analytics/prediction-entry/1").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "chap refuses an empty quantile list"
    );
}
