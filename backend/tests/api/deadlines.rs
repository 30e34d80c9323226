//! Schedule health (issue 13): `pause_after_failures` pauses a schedule after that many failed runs in
//! a row and notifies `schedule.paused`; `ready_by_minutes` makes a slot without a COMPLETED run by
//! its deadline late — once, also when no run was ever created — and notifies `schedule.late`.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::MockServer;

use crate::helpers::{body, TestApp};
use crate::notifications::{app, ok_receiver, rule};

async fn posted(receiver: &MockServer, event: &str) -> Vec<Value> {
    receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|p| p["event"] == event)
        .collect()
}

async fn schedule(app: &TestApp, token: &str, deployment: &Value, req: Value) -> Value {
    let resp = app
        .post(
            &format!(
                "/api/v1/deployments/{}/schedules",
                deployment["id"].as_str().unwrap()
            ),
            token,
            req,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    body(resp).await
}

async fn patch_schedule(app: &TestApp, token: &str, s: &Value, change: Value) -> Value {
    let resp = app
        .client
        .patch(app.url(&format!("/api/v1/schedules/{}", s["id"].as_str().unwrap())))
        .bearer_auth(token)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{change}");
    body(resp).await
}

#[tokio::test]
async fn two_failed_runs_in_a_row_pause_the_schedule_and_notify_once() {
    let (app, token) = app().await;
    let hook = ok_receiver().await;
    let dep = app.deployment("test-flaky", &token).await;
    let s = schedule(
        &app,
        &token,
        &dep,
        json!({ "cron": "* * * * * *", "parameters": { "succeed_on": 99 }, "pause_after_failures": 2 }),
    )
    .await;
    assert_eq!(s["pause_after_failures"], 2);
    rule(
        &app,
        &token,
        &hook.uri(),
        json!(["schedule.paused"]),
        json!({ "schedule_id": s["id"] }),
    )
    .await;

    let path = format!("/api/v1/schedules/{}", s["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let paused = loop {
        let now = body(app.get(&path, &token).await).await;
        if now["active"] == false {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never paused: {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = paused["paused_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("paused after 2 failed run(s) in a row"),
        "{reason}"
    );
    assert!(paused["next_fire_at"].is_null());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = posted(&hook, "schedule.paused").await;
    assert_eq!(events.len(), 1, "one pause, one notification: {events:?}");
    assert_eq!(events[0]["schedule"]["id"], s["id"]);
    assert_eq!(events[0]["schedule"]["failures"], 2);
    assert_eq!(events[0]["schedule"]["reason"], reason);
    assert!(events[0]["run"]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://forecasts.example.org/runs/"));

    // Activated again: the count and the reason are gone.
    let again = patch_schedule(&app, &token, &s, json!({ "active": true })).await;
    assert_eq!(again["consecutive_failures"], 0);
    assert!(again["paused_reason"].is_null());
    patch_schedule(
        &app,
        &token,
        &s,
        json!({ "active": false, "pause_after_failures": 0 }),
    )
    .await;
}

#[tokio::test]
async fn a_slot_without_a_run_is_late_once_and_a_slot_completed_in_time_is_not() {
    let (app, token) = app().await;
    let hook = ok_receiver().await;
    // Completed in time: a run every 2 s of a flow that takes milliseconds, due within 9 s.
    let steps = app.deployment("test-steps", &token).await;
    let fine = schedule(
        &app,
        &token,
        &steps,
        json!({ "cron": "*/2 * * * * *", "parameters": { "greeting": "hi" }, "ready_by_minutes": 0.15 }),
    )
    .await;
    assert_eq!(fine["ready_by_minutes"], 0.15);
    // Never run: the deployment is paused; due within a second.
    let report = app.deployment("test-report", &token).await;
    app.set_deployment(
        &token,
        report["id"].as_str().unwrap(),
        json!({ "paused": true }),
    )
    .await;
    let stuck = schedule(
        &app,
        &token,
        &report,
        json!({ "cron": "* * * * * *", "parameters": {}, "ready_by_minutes": 0.05 }),
    )
    .await;
    rule(
        &app,
        &token,
        &hook.uri(),
        json!(["schedule.late"]),
        json!({}),
    )
    .await;

    tokio::time::sleep(Duration::from_secs(14)).await;
    patch_schedule(&app, &token, &stuck, json!({ "active": false })).await;
    patch_schedule(&app, &token, &fine, json!({ "active": false })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let late: Vec<Value> =
        serde_json::from_value(body(app.get("/api/v1/late-slots", &token).await).await).unwrap();
    assert!(
        late.iter().all(|l| l["schedule_id"] == stuck["id"]),
        "only the paused deployment's slots: {late:?}"
    );
    assert!(late.len() >= 6, "about one a second: {}", late.len());
    let slots: BTreeSet<String> = late
        .iter()
        .map(|l| l["slot"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(slots.len(), late.len(), "each slot once");
    assert_eq!(late[0]["deployment_name"], "test-report");

    let events = posted(&hook, "schedule.late").await;
    let notified: BTreeSet<String> = events
        .iter()
        .map(|e| e["schedule"]["slot"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events.len(), notified.len(), "each slot notified once");
    assert_eq!(notified.len(), late.len(), "every late slot notified");
    let e = &events[0];
    assert_eq!(e["schedule"]["id"], stuck["id"]);
    assert_eq!(e["schedule"]["deployment"], "test-report");
    assert_eq!(e["schedule"]["ready_by_minutes"], 0.05);
    assert!(e["schedule"]["deadline"].is_string());
}
