//! Many writers at once: on SQLite only one connection writes at a time, and a transaction that read
//! before it wrote must wait for the lock instead of failing with "database is locked".

use chap_scheduler_api::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

/// Sends `n` PATCHes of `path` at once, the i-th with `body(i)`; returns the statuses that were not 200.
async fn parallel_patches(
    app: &TestApp,
    token: &str,
    path: &str,
    n: usize,
    body: impl Fn(usize) -> Value,
) -> Vec<String> {
    let requests = (0..n).map(|i| {
        app.client
            .patch(app.url(path))
            .bearer_auth(token)
            .json(&body(i))
            .send()
    });
    let mut refused = Vec::new();
    for r in futures_util::future::join_all(requests).await {
        let r = r.unwrap();
        if r.status() != StatusCode::OK {
            refused.push(format!(
                "{} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ));
        }
    }
    refused
}

#[tokio::test]
async fn parallel_updates_of_one_resource_all_succeed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (user, _) = app.user_session("paula", Role::Viewer).await;
    let roles = ["viewer", "operator"];
    let refused = parallel_patches(
        &app,
        &admin,
        &format!("/api/v1/users/{}", user.id),
        20,
        |i| json!({ "role": roles[i % 2], "disabled": i % 3 == 0 }),
    )
    .await;
    assert!(refused.is_empty(), "users: {refused:?}");

    let dep = app.deployment("test-steps", &admin).await;
    let dep = dep["id"].as_str().unwrap().to_string();
    let refused = parallel_patches(
        &app,
        &admin,
        &format!("/api/v1/deployments/{dep}"),
        20,
        |i| json!({ "description": format!("edit {i}"), "retries": i % 5 }),
    )
    .await;
    assert!(refused.is_empty(), "deployments: {refused:?}");

    let schedule = body(
        app.post(
            &format!("/api/v1/deployments/{dep}/schedules"),
            &admin,
            json!({ "cron": "0 3 * * *", "parameters": { "greeting": "hi" } }),
        )
        .await,
    )
    .await;
    let path = format!("/api/v1/schedules/{}", schedule["id"].as_str().unwrap());
    let refused = parallel_patches(
        &app,
        &admin,
        &path,
        20,
        |i| json!({ "cron": format!("{} 3 * * *", i % 60), "active": i % 2 == 0 }),
    )
    .await;
    assert!(refused.is_empty(), "schedules: {refused:?}");

    let block = body(
        app.post(
            "/api/v1/blocks",
            &admin,
            json!({ "name": "district", "block_type": "dhis2-credentials",
                    "data": { "base_url": "https://dhis2.example.org", "username": "a", "password": "pw-123456789" } }),
        )
        .await,
    )
    .await;
    let path = format!("/api/v1/blocks/{}", block["id"].as_str().unwrap());
    let refused = parallel_patches(&app, &admin, &path, 20, |i| {
        json!({ "data": { "username": format!("user{i}"), "password": format!("pw-{i}-123456789") } })
    })
    .await;
    assert!(refused.is_empty(), "blocks: {refused:?}");
}

/// Slots that claim at once (16 embedded slots woken together, or worker processes) each take one
/// run: no run ends RUNNING under a worker that was not told it claimed it (it would run nowhere, and
/// be CRASHED by the reaper), and no run is claimed twice.
#[tokio::test]
async fn claims_made_at_once_each_take_exactly_one_run() {
    let (app, token) = spawn_app_without_workers().await;
    let runs = 48;
    let mut ids = Vec::new();
    for _ in 0..runs {
        let run = app
            .trigger_flow("test-steps", &token, json!({ "greeting": "hi" }))
            .await;
        assert_eq!(run["state"], "PENDING", "{run}");
        ids.push(run["id"].as_str().unwrap().to_string());
    }
    let slots = (0..16).map(|_| {
        let engine = app.engine.clone();
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            while let Some(c) = engine.claim_next().await.unwrap() {
                claimed.push(c.run.id.to_string());
            }
            claimed
        })
    });
    let mut claimed: Vec<String> = Vec::new();
    for slot in futures_util::future::join_all(slots).await {
        claimed.extend(slot.unwrap());
    }
    claimed.sort();
    let before = claimed.len();
    claimed.dedup();
    assert_eq!(claimed.len(), before, "a run was claimed twice");
    ids.sort();
    let mut running = Vec::new();
    for id in &ids {
        let run = body(app.get(&format!("/api/v1/runs/{id}"), &token).await).await;
        if run["state"] == "RUNNING" {
            running.push(id.clone());
        }
    }
    assert_eq!(running, claimed, "RUNNING runs that no claim returned");
    assert_eq!(claimed, ids, "every run claimed");
}

/// Slots woken together by as many pushes each find a run: a slot's look for the oldest PENDING run
/// must not come back empty because the others took the runs it saw first while younger ones wait.
/// (A slot whose look found nothing sleeps until the next push or its poll, 250 ms later: the few
/// runs of a burst's head that waited ~300 ms for a slot at limit 16, issue 16.)
#[tokio::test]
async fn slots_that_look_at_once_each_claim_a_run_while_as_many_are_pending() {
    let (app, token) = spawn_app_without_workers().await;
    let slots = 16;
    for _ in 0..slots {
        let run = app
            .trigger_flow("test-steps", &token, json!({ "greeting": "hi" }))
            .await;
        assert_eq!(run["state"], "PENDING", "{run}");
    }
    let looks = (0..slots).map(|_| {
        let engine = app.engine.clone();
        tokio::spawn(async move { engine.claim_next().await.unwrap().map(|c| c.run.id) })
    });
    let found: Vec<Option<Uuid>> = futures_util::future::join_all(looks)
        .await
        .into_iter()
        .map(|look| look.unwrap())
        .collect();
    let empty = found.iter().filter(|f| f.is_none()).count();
    assert_eq!(
        empty, 0,
        "{empty} of {slots} slots found nothing while {slots} runs were PENDING"
    );
    let mut claimed: Vec<Uuid> = found.into_iter().flatten().collect();
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), slots, "a run was claimed twice");
}
