//! Notifications (issue 13) through a real HTTP receiver (wiremock): a failed run is posted once,
//! signed, without secrets; a receiver failing three times gets it once in the end; a dead receiver
//! delays no run; the rules are admin-managed and checked; "Send test" reports the receiver's answer.

use std::time::Duration;

use chap_scheduler_api::Role;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{body, settings, spawn_app_with, TestApp};

const SIGNING: &str = "whsec-0123456789abcdef";
const HOOK_TOKEN: &str = "T0-B1-s3cr3t-hook-token";

pub(crate) async fn app() -> (TestApp, String) {
    let mut vars = settings();
    vars.insert(
        "CHAP_SCHEDULER_PUBLIC_URL".into(),
        "https://forecasts.example.org/".into(),
    );
    vars.insert(
        "CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS".into(),
        "0.1".into(),
    );
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    (app, token)
}

/// A webhook channel to `url` and a rule sending `events` through it; returns the rule.
pub(crate) async fn rule(
    app: &TestApp,
    token: &str,
    url: &str,
    events: Value,
    extra: Value,
) -> Value {
    let hook = app
        .post(
            "/api/v1/blocks",
            token,
            json!({ "name": format!("hook-{}", uuid::Uuid::new_v4().simple()), "block_type": "webhook",
                    "data": { "url": url, "signing_secret": SIGNING } }),
        )
        .await;
    assert_eq!(hook.status(), StatusCode::CREATED);
    let hook = body(hook).await;
    let mut req = json!({ "name": format!("rule-{}", uuid::Uuid::new_v4().simple()), "channel": hook["id"], "events": events });
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    let resp = app.post("/api/v1/notification-rules", token, req).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    body(resp).await
}

async fn failed_run(app: &TestApp, token: &str) -> Value {
    let run = app
        .trigger_flow("test-flaky", token, json!({ "succeed_on": 99 }))
        .await;
    app.wait_for(run["id"].as_str().unwrap(), token, &["FAILED"])
        .await
}

/// A receiver answering every post with 200.
pub(crate) async fn ok_receiver() -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    receiver
}

/// Waits until the run's first delivery is sent; returns the run's deliveries.
async fn sent(app: &TestApp, token: &str, run: &Value) -> Vec<Value> {
    deliveries_until(app, token, run, |l| {
        l.first().is_some_and(|d| d["status"] == "sent")
    })
    .await
}

/// Waits until the run's deliveries satisfy `done`; returns them.
async fn deliveries_until(
    app: &TestApp,
    token: &str,
    run: &Value,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/api/v1/runs/{}/deliveries", run["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let list: Vec<Value> =
            serde_json::from_value(body(app.get(&path, token).await).await).unwrap();
        if done(&list) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries never settled: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn verify_signature(request: &Request) {
    let header = request
        .headers
        .get("X-Chap-Scheduler-Signature")
        .unwrap()
        .to_str()
        .unwrap();
    let (t, v1) = header.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&request.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("a valid signature");
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "a fresh timestamp");
}

#[tokio::test]
async fn a_failed_run_is_posted_once_signed_and_without_a_secret() {
    let (app, token) = app().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let url = format!("{}/hook?token={HOOK_TOKEN}", receiver.uri());
    let rule = rule(&app, &token, &url, json!(["run.failed"]), json!({})).await;
    assert_eq!(rule["channel_type"], "webhook");

    let run = failed_run(&app, &token).await;
    let list = sent(&app, &token, &run).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["event"], "run.failed");
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(list[0]["rule_name"], rule["name"]);

    let received = receiver.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "exactly one post");
    let request = &received[0];
    verify_signature(request);
    assert_eq!(
        request.headers.get("X-Chap-Scheduler-Event").unwrap(),
        "run.failed"
    );
    assert_eq!(
        request
            .headers
            .get("X-Chap-Scheduler-Delivery")
            .unwrap()
            .to_str()
            .unwrap(),
        list[0]["id"].as_str().unwrap()
    );
    let text = String::from_utf8(request.body.clone()).unwrap();
    assert!(
        !text.contains(HOOK_TOKEN) && !text.contains(SIGNING),
        "no secret in {text}"
    );
    let payload: Value = serde_json::from_str(&text).unwrap();
    let id = run["id"].as_str().unwrap();
    assert_eq!(payload["event"], "run.failed");
    assert!(payload["occurred_at"].is_string());
    assert_eq!(payload["run"]["id"], id);
    assert_eq!(
        payload["run"]["url"],
        format!("https://forecasts.example.org/runs/{id}")
    );
    assert_eq!(payload["run"]["state"], "FAILED");
    assert_eq!(payload["run"]["deployment"], "test-flaky");
    assert_eq!(payload["run"]["attempt"], 1);
    assert!(payload["run"]["state_message"]
        .as_str()
        .unwrap()
        .contains("not lucky"));
    for key in ["schedule", "started_at", "ended_at"] {
        assert!(payload["run"].get(key).is_some(), "run.{key} in {payload}");
    }
    assert_eq!(payload["summary"]["setups"], json!([]));

    // A completed run is not an event of this rule.
    let ok = app
        .trigger_flow("test-steps", &token, json!({ "greeting": "hi" }))
        .await;
    let ok = app
        .wait_for(ok["id"].as_str().unwrap(), &token, &["COMPLETED"])
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let none = body(
        app.get(
            &format!("/api/v1/runs/{}/deliveries", ok["id"].as_str().unwrap()),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(none, json!([]));
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_event_once_in_the_end() {
    let (app, token) = app().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("busy"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&receiver)
        .await;
    rule(
        &app,
        &token,
        &receiver.uri(),
        json!(["run.failed"]),
        json!({}),
    )
    .await;
    let run = failed_run(&app, &token).await;
    let list = sent(&app, &token, &run).await;
    assert_eq!(list[0]["attempts"], 4);
    assert_eq!(list[0]["last_error"], "the webhook answered HTTP 500: busy");
    let received = receiver.received_requests().await.unwrap();
    assert_eq!(received.len(), 4, "three failures, then one success");
    let ids: Vec<_> = received
        .iter()
        .map(|r| r.headers.get("X-Chap-Scheduler-Delivery").unwrap().clone())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "the same delivery each time"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received_requests().await.unwrap().len(),
        4,
        "never again"
    );
}

#[tokio::test]
async fn a_dead_receiver_delays_no_run() {
    let (app, token) = app().await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    rule(
        &app,
        &token,
        &format!("http://{addr}/hook"),
        json!(["run.failed", "run.completed"]),
        json!({}),
    )
    .await;
    let first = failed_run(&app, &token).await;
    let started = tokio::time::Instant::now();
    let next = app
        .trigger_flow("test-steps", &token, json!({ "greeting": "hi" }))
        .await;
    let next = app
        .wait_for(next["id"].as_str().unwrap(), &token, &["COMPLETED"])
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the next run waited {:?}",
        started.elapsed()
    );
    let pending = body(
        app.get(
            &format!("/api/v1/runs/{}/deliveries", first["id"].as_str().unwrap()),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(pending[0]["status"], "pending", "{pending}");
    assert_eq!(pending[0]["attempts"], 0, "still in flight: {pending}");
    let queued = body(
        app.get(
            &format!("/api/v1/runs/{}/deliveries", next["id"].as_str().unwrap()),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(queued[0]["event"], "run.completed", "{queued}");
}

#[tokio::test]
async fn rules_are_admin_managed_checked_and_keep_their_channel() {
    let (app, token) = app().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let rule = rule(
        &app,
        &token,
        &format!("{}/hook?token={HOOK_TOKEN}", receiver.uri()),
        json!(["run.failed"]),
        json!({}),
    )
    .await;
    let channel = rule["channel"].as_str().unwrap();
    let id = rule["id"].as_str().unwrap();

    // The channel's secrets are never returned.
    let block = body(app.get(&format!("/api/v1/blocks/{channel}"), &token).await).await;
    assert!(
        !block.to_string().contains(HOOK_TOKEN) && !block.to_string().contains(SIGNING),
        "{block}"
    );
    assert_eq!(block["data"]["url_set"], true, "{block}");

    // An edit that leaves the secrets out keeps them (and does not measure them again).
    for format in ["slack", "json"] {
        let resp = app
            .client
            .patch(app.url(&format!("/api/v1/blocks/{channel}")))
            .bearer_auth(&token)
            .json(&json!({ "data": { "format": format } }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let edited = body(resp).await;
        assert_eq!(edited["data"]["format"], format);
        assert_eq!(edited["data"]["signing_secret_set"], true, "{edited}");
    }

    // Viewers neither read nor manage rules; operators read.
    let (_, viewer) = app.user_session("vera", Role::Viewer).await;
    let (_, operator) = app.user_session("otto", Role::Operator).await;
    assert_eq!(
        app.get("/api/v1/notification-rules", &viewer)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/notification-rules", &operator)
            .await
            .status(),
        StatusCode::OK
    );
    let again = json!({ "name": "x", "channel": channel, "events": ["run.failed"] });
    for who in [&viewer, &operator] {
        assert_eq!(
            app.post("/api/v1/notification-rules", who, again.clone())
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.post(
                &format!("/api/v1/notification-rules/{id}/test"),
                who,
                json!({})
            )
            .await
            .status(),
            StatusCode::FORBIDDEN
        );
    }

    // Checked.
    let dhis2 = body(
        app.post(
            "/api/v1/blocks",
            &token,
            json!({ "name": "d", "block_type": "dhis2-credentials",
        "data": { "base_url": "https://dhis2.example.org", "username": "u", "password": "p" } }),
        )
        .await,
    )
    .await;
    let smtp = body(
        app.post(
            "/api/v1/blocks",
            &token,
            json!({ "name": "mail", "block_type": "smtp",
        "data": { "host": "smtp.example.org", "from": "Forecasts <f@example.org>" } }),
        )
        .await,
    )
    .await;
    for (req, field) in [
        (
            json!({ "name": "a", "channel": dhis2["id"], "events": ["run.failed"] }),
            "channel",
        ),
        (
            json!({ "name": "a", "channel": uuid::Uuid::new_v4(), "events": ["run.failed"] }),
            "channel",
        ),
        (
            json!({ "name": "a", "channel": smtp["id"], "events": ["run.failed"] }),
            "recipients",
        ),
        (
            json!({ "name": "a", "channel": smtp["id"], "recipients": ["not an address"], "events": ["run.failed"] }),
            "recipients[0]",
        ),
        (
            json!({ "name": "a", "channel": channel, "recipients": ["a@example.org"], "events": ["run.failed"] }),
            "recipients",
        ),
        (
            json!({ "name": "a", "channel": channel, "events": [] }),
            "events",
        ),
        (
            json!({ "name": "a", "channel": channel, "events": ["run.exploded"] }),
            "events",
        ),
        (
            json!({ "name": "a", "channel": channel, "events": ["run.failed"], "deployment_id": uuid::Uuid::new_v4() }),
            "deployment_id",
        ),
        (
            json!({ "name": " ", "channel": channel, "events": ["run.failed"] }),
            "name",
        ),
    ] {
        let resp = app
            .post("/api/v1/notification-rules", &token, req.clone())
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{req}");
        let err = body(resp).await;
        assert!(err.to_string().contains(field), "{req}: {err}");
    }
    let dup = json!({ "name": rule["name"], "channel": channel, "events": ["run.failed"] });
    assert_eq!(
        app.post("/api/v1/notification-rules", &token, dup)
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let mail = json!({ "name": "mail-rule", "channel": smtp["id"], "recipients": [" team@example.org "], "events": ["run.partial", "run.failed", "run.failed"] });
    let mail = body(app.post("/api/v1/notification-rules", &token, mail).await).await;
    assert_eq!(mail["recipients"], json!(["team@example.org"]));
    assert_eq!(mail["events"], json!(["run.failed", "run.partial"]));

    // A channel in use cannot be deleted.
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/blocks/{channel}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(body(resp).await["message"]
        .as_str()
        .unwrap()
        .contains(rule["name"].as_str().unwrap()));

    // Send test: the receiver's answer, or why not.
    let result = body(
        app.post(
            &format!("/api/v1/notification-rules/{id}/test"),
            &token,
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(result, json!({ "ok": true, "detail": "HTTP 200" }));
    let sample: Value =
        serde_json::from_slice(&receiver.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sample["event"], "run.failed");
    assert_eq!(sample["summary"]["setups"][1]["status"], "failed");
    receiver.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410).set_body_string("gone"))
        .mount(&receiver)
        .await;
    let result = body(
        app.post(
            &format!("/api/v1/notification-rules/{id}/test"),
            &token,
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        result,
        json!({ "ok": false, "detail": "the webhook answered HTTP 410: gone" })
    );

    // Replaced, then deleted.
    let resp = app.client.put(app.url(&format!("/api/v1/notification-rules/{id}"))).bearer_auth(&token)
        .json(&json!({ "name": "renamed", "channel": channel, "events": ["run.completed"], "active": false })).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let renamed = body(resp).await;
    assert_eq!(
        (renamed["name"].clone(), renamed["active"].clone()),
        (json!("renamed"), json!(false))
    );
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/notification-rules/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/notification-rules/{id}"), &token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn retention_deletes_old_sent_deliveries_and_keeps_pending_ones() {
    use chap_scheduler::db::entities::notification_delivery;
    use chap_scheduler_api::DeliveryStatus;
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    let (app, token) = app().await;
    let receiver = ok_receiver().await;
    rule(
        &app,
        &token,
        &receiver.uri(),
        json!(["run.failed"]),
        json!({}),
    )
    .await;
    for _ in 0..2 {
        let run = failed_run(&app, &token).await;
        sent(&app, &token, &run).await;
    }
    // Both 100 days old; the second pending again (a receiver down for 100 days is retried no more,
    // but a pending row is never purged under the sender).
    let rows = notification_delivery::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let old = chrono::Utc::now() - chrono::Duration::days(100);
    for (i, row) in rows.into_iter().enumerate() {
        let mut row = row.into_active_model();
        row.created_at = Set(old);
        if i == 1 {
            row.status = Set(DeliveryStatus::Pending);
            row.next_attempt_at = Set(Some(chrono::Utc::now() + chrono::Duration::hours(1)));
        }
        row.update(&app.db).await.unwrap();
    }
    assert_eq!(chap_scheduler::notify::purge(&app.db, 90).await.unwrap(), 1);
    let left = notification_delivery::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, DeliveryStatus::Pending);
    assert_eq!(chap_scheduler::notify::purge(&app.db, 90).await.unwrap(), 0);
}
