//! Injected failures, latency and "down" switches.

use std::time::{Duration, Instant};

use dhis2_sim::{EndpointGroup, Fault, Scenario};
use reqwest::StatusCode;

use crate::helpers::{analytics_path, start};

#[tokio::test]
async fn the_next_n_analytics_gets_answer_503_then_the_endpoint_recovers() {
    let scenario = Scenario::fixture().fault(Fault::next(EndpointGroup::Analytics, 2, 503));
    let (sim, client) = start(scenario).await;
    let path = analytics_path(&["POP1"], "202604", &["OU1"]);
    let statuses: Vec<u16> = futures_statuses(&client, &path, 3).await;
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(sim.count_status(EndpointGroup::Analytics, 503), 2);
    assert_eq!(sim.count("GET", "/api/analytics"), 3);
    // Faults are per group: other endpoints were never affected.
    let (status, _) = client.get_json("/api/system/info").await;
    assert_eq!(status, StatusCode::OK);
    // Armed at runtime, on the chap side, with chap's error envelope.
    sim.fail_next(EndpointGroup::Jobs, 1, 502);
    let (status, body) = client.chap("/v1/jobs").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body["detail"].is_string());
    assert_eq!(client.chap("/v1/jobs").await.0, StatusCode::OK);
}

async fn futures_statuses(client: &crate::helpers::Client, path: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(client.get(path).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn a_fault_limited_to_post_leaves_gets_alone() {
    let (sim, client) = start(Scenario::fixture()).await;
    sim.inject(Fault {
        method: Some("POST".into()),
        ..Fault::next(EndpointGroup::RunSetup, 1, 503)
    });
    sim.inject(Fault {
        method: Some("POST".into()),
        ..Fault::next(EndpointGroup::PredictionSetups, 1, 503)
    });
    assert_eq!(
        client.chap("/v1/crud/prediction-setups").await.0,
        StatusCode::OK
    );
    let body = crate::helpers::run_body("a", &["202604"], 3);
    let (status, _) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &body)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        sim.count(
            "POST",
            "/api/routes/chap/run/v1/crud/prediction-setups/1/run"
        ),
        1
    );
    assert!(
        sim.run_submissions().is_empty(),
        "the fault answered before chap saw the body"
    );
}

#[tokio::test]
async fn probabilistic_faults_are_reproducible_from_their_seed() {
    let fault = Fault {
        probability: Some(0.5),
        seed: 7,
        ..Fault::next(EndpointGroup::SystemInfo, 0, 500)
    };
    let fault = Fault {
        next: None,
        ..fault
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (_sim, client) = start(Scenario::fixture().fault(fault.clone())).await;
        runs.push(futures_statuses(&client, "/api/system/info", 40).await);
    }
    assert_eq!(runs[0], runs[1]);
    let failures = runs[0].iter().filter(|&&s| s == 500).count();
    assert!(
        (8..=32).contains(&failures),
        "about half fail: {failures}/40"
    );
}

#[tokio::test]
async fn a_malformed_fault_answers_200_with_truncated_json() {
    let (sim, client) = start(Scenario::fixture()).await;
    sim.inject(Fault {
        malformed: true,
        ..Fault::next(EndpointGroup::Analytics, 1, 200)
    });
    let response = client
        .get(&analytics_path(&["POP1"], "202604", &["OU1"]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
}

#[tokio::test]
async fn dhis2_down_answers_a_proxy_error_page_and_chap_down_answers_from_the_route() {
    let (sim, client) = start(Scenario::fixture()).await;
    sim.set_dhis2_down(Some(503));
    let response = client.get("/api/system/info").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.text().await.unwrap().contains("<html>"));
    sim.set_dhis2_down(None);
    sim.set_chap_down(Some(502));
    assert_eq!(client.get_json("/api/system/info").await.0, StatusCode::OK);
    let (status, body) = client.chap("/system/info").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        body["httpStatusCode"], 502,
        "DHIS2's WebMessage, not chap's"
    );
    sim.set_chap_down(None);
    assert_eq!(client.chap("/system/info").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_stopped_listener_refuses_connections_until_it_listens_again() {
    let (sim, client) = start(Scenario::fixture()).await;
    sim.stop_listening().await;
    let error = client
        .http
        .get(format!("{}/api/system/info", client.base))
        .send()
        .await
        .expect_err("nothing listens");
    assert!(error.is_connect(), "{error}");
    sim.start_listening().await.unwrap();
    assert_eq!(client.get_json("/api/system/info").await.0, StatusCode::OK);
}

#[tokio::test]
async fn latency_delays_a_group_and_beyond_the_route_timeout_becomes_a_504() {
    let scenario = Scenario {
        route_timeout_ms: Some(150),
        ..Scenario::fixture().latency(EndpointGroup::SystemInfo, 120)
    };
    let (sim, client) = start(scenario).await;
    let started = Instant::now();
    assert_eq!(client.get_json("/api/system/info").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(120));
    sim.set_latency(EndpointGroup::RunSetup, 400);
    let body = crate::helpers::run_body("a", &["202604"], 3);
    let started = Instant::now();
    let (status, answer) = client
        .post_chap("/v1/crud/prediction-setups/1/run", &body)
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(answer["httpStatusCode"], 504);
    assert!(started.elapsed() < Duration::from_millis(400));
}
