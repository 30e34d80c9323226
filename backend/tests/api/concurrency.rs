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

/// Triggers sent at once into a deployment with room for a few fill it to its limit and never past it:
/// as many runs as the limit take a slot (PENDING), the others wait behind them (SCHEDULED).
#[tokio::test]
async fn triggers_sent_at_once_fill_a_deployment_to_its_limit_and_never_past_it() {
    let (app, token) = spawn_app_without_workers().await;
    let limit = 3;
    let dep = app
        .configure_flow("test-steps", &token, json!({ "concurrency_limit": limit }))
        .await;
    let triggers = (0..24).map(|n| {
        let (app, token, dep) = (&app, &token, &dep);
        async move {
            app.trigger(dep, token, json!({ "greeting": format!("{n}") }))
                .await
        }
    });
    let answered = futures_util::future::join_all(triggers).await;
    let took = answered.iter().filter(|r| r["state"] == "PENDING").count();
    assert!(took <= limit, "{took} triggers answered PENDING");
    let list = body(
        app.get(
            &format!("/api/v1/runs?deployment_id={dep}&limit=100"),
            &token,
        )
        .await,
    )
    .await;
    let states: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 24, "{list}");
    let pending = states.iter().filter(|s| **s == "PENDING").count();
    let scheduled = states.iter().filter(|s| **s == "SCHEDULED").count();
    assert_eq!((pending, scheduled), (limit, 24 - limit), "{states:?}");
}

/// A service without workers, an admin token, a deployment of `test-steps` with a limit of 2 (id as
/// text and as a uuid), and another writer's transaction that holds the deployment's lock.
async fn limit_two_with_its_lock_held(
) -> (TestApp, String, String, Uuid, sea_orm::DatabaseTransaction) {
    use sea_orm::TransactionTrait;

    let (app, token) = spawn_app_without_workers().await;
    let dep = app
        .configure_flow("test-steps", &token, json!({ "concurrency_limit": 2 }))
        .await;
    let dep_id: Uuid = dep.parse().unwrap();
    let txn = app.engine.db().begin().await.unwrap();
    chap_scheduler::orchestrator::deployments::lock(&txn, dep_id)
        .await
        .unwrap();
    (app, token, dep, dep_id, txn)
}

/// Triggers a run of `dep` while `txn` (another writer, holding the deployment's lock) stays open
/// for 0.4 s more, then commits it; the run as the trigger answered, which must be after the commit.
async fn trigger_until_commit(
    app: &TestApp,
    token: &str,
    dep: &str,
    txn: sea_orm::DatabaseTransaction,
) -> Value {
    let committed = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let at = std::time::Instant::now();
        txn.commit().await.unwrap();
        at
    };
    let trigger = async {
        let run = app.trigger(dep, token, json!({ "greeting": "hi" })).await;
        (run, std::time::Instant::now())
    };
    let (committed_at, (run, answered_at)) = tokio::join!(committed, trigger);
    assert!(
        answered_at > committed_at,
        "the trigger waited for the lock"
    );
    run
}

/// A trigger that saw room, then waited for the deployment's lock while another writer filled the
/// last slots, counts the runs again after the wait: it does not take a slot that is gone. (On
/// PostgreSQL a statement reads the rows as they were when it began, before its wait for a lock.)
#[tokio::test]
async fn a_trigger_that_waited_for_the_deployment_lock_does_not_take_a_slot_filled_meanwhile() {
    use chap_scheduler::orchestrator::{deployments, state::RunState, store};

    let (app, token, dep, dep_id, txn) = limit_two_with_its_lock_held().await;
    let db = app.engine.db();
    let model = deployments::find(db, dep_id).await.unwrap().unwrap();
    // The other writer takes both slots.
    for _ in 0..2 {
        let (_, inserts) = store::run_inserts(store::NewRun {
            deployment: &model,
            parameters: json!({ "greeting": "first" }),
            state: RunState::Pending,
            message: None,
            expected_start_at: chrono::Utc::now(),
            triggered_by: "test".into(),
            schedule_id: None,
            retry_of: None,
            idempotency_key: None,
        })
        .unwrap();
        chap_scheduler::db::writes_in(&txn, inserts).await.unwrap();
    }
    let run = trigger_until_commit(&app, &token, &dep, txn).await;
    assert_eq!(run["state"], "SCHEDULED", "no slot was left: {run}");
    assert_eq!(store::count_active(db, dep_id).await.unwrap(), 2);
}

/// A trigger that waited for the deployment's lock while another writer held it and added nothing
/// still takes the free slot it saw: its run answers PENDING with its whole history (on PostgreSQL
/// written SCHEDULED by the one statement, whose check of the deployment's row then fails, and
/// moved to PENDING by the locked pass after it).
#[tokio::test]
async fn a_trigger_that_waited_for_the_deployment_lock_still_takes_the_free_slot() {
    use chap_scheduler::orchestrator::store;

    let (app, token, dep, dep_id, txn) = limit_two_with_its_lock_held().await;
    let db = app.engine.db();
    let run = trigger_until_commit(&app, &token, &dep, txn).await;
    assert_eq!(run["state"], "PENDING", "the slot was free: {run}");
    let id = run["id"].as_str().unwrap();
    let shown = body(app.get(&format!("/api/v1/runs/{id}"), &token).await).await;
    assert_eq!(
        states(&shown["history"]),
        ["SCHEDULED", "PENDING"],
        "{shown}"
    );
    assert_eq!(store::count_active(db, dep_id).await.unwrap(), 1);
}
