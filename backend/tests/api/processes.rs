//! Faults across processes: a worker process killed mid-run, and a queue that loses its entries.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chap_scheduler::db::entities::{flow_run, log};
use chap_scheduler::db::users::now;
use chap_scheduler::orchestrator::store;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use crate::helpers::*;

const WORKER_VARS: &str = "CHAP_TEST_WORKER_VARS";

/// Seconds a worker process's host clock is off (`-20`: 20 s behind): the process stands in for a
/// worker on another host whose clock is off.
pub(crate) const HOST_CLOCK_SKEW: &str = "CHAP_TEST_HOST_CLOCK_SKEW_SECONDS";

/// Not a test: the entry point of a worker process that the tests below start by re-running this
/// test binary (so the process has the test flows). Ignored in normal runs.
#[tokio::test]
#[ignore = "entry point of a worker process started by other tests"]
async fn worker_process_entry() {
    let Ok(raw) = std::env::var(WORKER_VARS) else {
        return;
    };
    chap_scheduler::install_crypto_provider();
    let vars: HashMap<String, String> = serde_json::from_str(&raw).unwrap();
    if let Ok(seconds) = std::env::var(HOST_CLOCK_SKEW) {
        let by = chrono::TimeDelta::seconds(seconds.parse().unwrap());
        chap_scheduler::db::clock::skew_host_clock(by);
    }
    let config = chap_scheduler::config::Config::from_source(&vars).unwrap();
    chap_scheduler::telemetry::init(&config.log, "text");
    let (registry, _) = crate::test_flows::registry(&config);
    let engine = chap_scheduler::startup::engine(&config, registry)
        .await
        .unwrap();
    println!("worker {} ready", engine.worker_id());
    chap_scheduler::startup::run_worker_process(engine, &config)
        .await
        .unwrap();
}

/// A worker process, killed when dropped (also when a test fails half-way).
pub(crate) struct WorkerProcess(pub(crate) Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a worker process on the app's database and queue.
pub(crate) fn worker_process(app: &TestApp) -> WorkerProcess {
    worker_process_with(app, &[])
}

/// Sends a signal (`STOP`, `CONT`, `TERM`) to a worker process.
pub(crate) fn signal(worker: &WorkerProcess, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), worker.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Starts a worker process with settings of its own on top of the app's.
pub(crate) fn worker_process_with(app: &TestApp, extra: &[(&str, &str)]) -> WorkerProcess {
    worker_process_in(app, extra, &[])
}

/// [`worker_process_with`], the process's environment also holding `env` (not settings: what the
/// process runs under, such as `LD_PRELOAD`).
pub(crate) fn worker_process_in(
    app: &TestApp,
    extra: &[(&str, &str)],
    env: &[(&str, &str)],
) -> WorkerProcess {
    let data_dir = tempfile::tempdir().unwrap().keep();
    let mut vars = app.vars.clone();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    vars.insert(
        "CHAP_SCHEDULER_DATA_DIR".into(),
        data_dir.display().to_string(),
    );
    if let Ok(filter) = std::env::var("CHAP_TEST_LOG") {
        vars.insert("CHAP_SCHEDULER_LOG".into(), filter);
    }
    let stderr = if std::env::var("CHAP_TEST_LOG").is_ok() {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    WorkerProcess(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "processes::worker_process_entry",
                "--ignored",
                "--nocapture",
            ])
            .env(WORKER_VARS, serde_json::to_string(&vars).unwrap())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    )
}

/// SIGSTOP to a worker process, at a moment it holds no write lock. On SQLite a process frozen inside
/// a commit keeps every other process from writing until it resumes (`sqlite_lock` tests what the
/// service does then); this file's tests are about what happens to runs, so they freeze it again
/// until the signal lands outside a commit. PostgreSQL ends a frozen transaction by itself.
async fn freeze_outside_a_write(app: &TestApp, worker: &WorkerProcess) {
    for _ in 0..20 {
        signal(worker, "STOP");
        if !crate::sqlite_lock::on_sqlite(app)
            || !crate::sqlite_lock::write_lock_held_elsewhere(app).await
        {
            return;
        }
        signal(worker, "CONT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the worker process was inside a write at 20 SIGSTOPs in a row");
}

/// SIGTERM to a worker process, then waits (at most `within`) for it to exit; its status and how long
/// it took.
pub(crate) async fn terminate(
    worker: &mut WorkerProcess,
    within: Duration,
) -> (std::process::ExitStatus, Duration) {
    let t0 = std::time::Instant::now();
    signal(worker, "TERM");
    loop {
        if let Some(status) = worker.0.try_wait().unwrap() {
            return (status, t0.elapsed());
        }
        assert!(
            t0.elapsed() < within,
            "the worker was still up {:?} after SIGTERM",
            t0.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn kill(worker: WorkerProcess) {
    drop(worker);
}

#[tokio::test]
async fn a_worker_process_killed_mid_run_leaves_a_crashed_attempt_that_completes_on_another_worker()
{
    let (app, token) = spawn_app_without_workers().await;
    let dep_id = app.sleepy_retried_once(&token).await;
    let dep_id = dep_id.as_str();

    let first = worker_process(&app);
    let run = app.trigger(dep_id, &token, json!({ "seconds": 2 })).await;
    let id = run["id"].as_str().unwrap().to_string();
    let running = app.wait_for(&id, &token, &["RUNNING"]).await;
    assert_eq!(running["attempt"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SIGKILL: no goodbye, no final state written.
    kill(first);
    let second = worker_process(&app);
    let done = app
        .wait_for(&id, &token, &["COMPLETED", "FAILED", "CANCELLED"])
        .await;
    kill(second);
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
    let history = states(&done["history"]);
    let crashed = history
        .iter()
        .position(|s| *s == "CRASHED")
        .expect("a CRASHED state");
    assert_eq!(history[crashed + 1], "AWAITING_RETRY", "{history:?}");
    assert_eq!(
        history.iter().filter(|s| **s == "RUNNING").count(),
        2,
        "{history:?}"
    );
    // A step the killed attempt left open was closed as crashed (it may have died between steps).
    let steps = done["task_runs"].as_array().unwrap();
    assert!(steps.iter().all(|t| t["state"] != "RUNNING"), "{done}");
    assert!(
        steps.iter().filter(|t| t["state"] == "CRASHED").count() <= 1,
        "{done}"
    );
}

/// Triggers `n` one-step runs of `test-steps`, each PENDING once triggered; their ids.
async fn trigger_pending(app: &TestApp, token: &str, n: usize) -> Vec<String> {
    let dep = app.deployment("test-steps", token).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let run = app
            .trigger(
                dep["id"].as_str().unwrap(),
                token,
                json!({ "greeting": format!("run {i}"), "count": 1 }),
            )
            .await;
        assert_eq!(run["state"], "PENDING");
        ids.push(run["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Waits for each run to end, and asserts that it COMPLETED at its first attempt.
async fn assert_completed_once(app: &TestApp, token: &str, ids: &[String]) {
    for id in ids {
        let done = app
            .wait_for(id, token, &["COMPLETED", "FAILED", "CRASHED", "CANCELLED"])
            .await;
        assert_eq!(done["state"], "COMPLETED", "{done}");
        assert_eq!(done["attempt"], 1, "executed once: {done}");
    }
}

#[tokio::test]
async fn runs_whose_queue_entries_were_flushed_still_reach_a_terminal_state() {
    let (app, redis) = spawn_app_on_own_redis(9, "flush-test").await;
    let token = app.admin_token().await;
    let ids = trigger_pending(&app, &token, 5).await;
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();

    // Workers start on an empty queue; the dispatcher notices the lost entries and enqueues them again.
    let worker = worker_process(&app);
    assert_completed_once(&app, &token, &ids).await;
    kill(worker);
}

#[tokio::test]
async fn a_worker_executes_pending_runs_whose_queue_entries_never_reach_it() {
    // The app enqueues on its queue and the worker listens on another: nothing is ever delivered to
    // it, so only its sweep of the database (PENDING runs enqueued more than `sweep_after` ago) can
    // find these runs. The sweep is also what rescues an entry apalis fails to deliver.
    let (app, _redis) = spawn_app_on_own_redis(11, "sweep-test").await;
    let token = app.admin_token().await;
    let ids = trigger_pending(&app, &token, 3).await;
    let elsewhere = format!("sweep-elsewhere:{}", uuid::Uuid::new_v4().simple());
    let worker = worker_process_with(&app, &[("CHAP_SCHEDULER_QUEUE_NAME", &elsewhere)]);
    assert_completed_once(&app, &token, &ids).await;
    kill(worker);
}

#[tokio::test]
async fn a_worker_whose_redis_stalled_for_moments_still_takes_the_next_deliveries() {
    // apalis polls Redis every 20 ms. A fetch that comes back empty after the next poll was due (Redis
    // slow for a moment) must not leave the worker without its next poll: apalis-core 1.0.0's own
    // interval did, and the worker took nothing more from Redis until something else woke it, seconds
    // later (4.4 s here before the fix; runs waited for the sweep, which this worker's setting keeps
    // out of reach). Its own Redis: a pause stops every client of a server.
    let (_redis_server, port) = crate::queue_loss::own_redis();
    let redis = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = loop {
        match client.get_multiplexed_async_connection().await {
            Ok(conn) => break conn,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let mut vars = settings();
    vars.insert("REDIS_URL".into(), redis.clone());
    vars.insert("CHAP_SCHEDULER_IN_PROCESS_WORKERS".into(), "false".into());
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    let worker = worker_process_with(&app, &[("CHAP_SCHEDULER_SWEEP_AFTER_SECONDS", "3600")]);
    let first = trigger_pending(&app, &token, 1).await;
    assert_completed_once(&app, &token, &first).await;

    // Each time, Redis answers nothing for 60 ms a few times (the worker's fetches come back late and
    // empty), then one run is triggered: it must start as a delivery does, not when something else
    // happens to wake the worker (seconds later).
    for round in 0..3 {
        for _ in 0..5 {
            let _: String = redis::cmd("CLIENT")
                .arg("PAUSE")
                .arg(60)
                .arg("ALL")
                .query_async(&mut conn)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ids = trigger_pending(&app, &token, 1).await;
        assert_completed_once(&app, &token, &ids).await;
        let run = flow_run::Entity::find_by_id(ids[0].parse::<uuid::Uuid>().unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let waited = run.started_at.unwrap() - run.enqueued_at.unwrap();
        assert!(
            waited < chrono::Duration::milliseconds(1500),
            "round {round}: the run waited {waited} for its delivery"
        );
    }
    kill(worker);
}

#[tokio::test]
async fn retention_deletes_finished_runs_past_the_age_with_their_logs_and_keeps_the_rest() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-steps", &token).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = app
            .trigger(
                dep["id"].as_str().unwrap(),
                &token,
                json!({ "greeting": "old", "count": 1 }),
            )
            .await;
        let id = run["id"].as_str().unwrap().to_string();
        app.wait_for(&id, &token, &["COMPLETED"]).await;
        ids.push(id.parse::<uuid::Uuid>().unwrap());
    }
    // Two of them are 100 days old; one of those is (implausibly) still SCHEDULED and must stay.
    for (i, id) in ids.iter().take(2).enumerate() {
        let row = flow_run::Entity::find_by_id(*id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let mut active: flow_run::ActiveModel = row.into();
        active.created_at = Set(now() - chrono::Duration::days(100));
        if i == 1 {
            active.state = Set(chap_scheduler_api::RunState::Scheduled);
        }
        active.update(&app.db).await.unwrap();
    }
    let deleted = store::retention::purge(app.engine.db(), 90).await.unwrap();
    assert_eq!(deleted, 1);
    assert!(flow_run::Entity::find_by_id(ids[0])
        .one(&app.db)
        .await
        .unwrap()
        .is_none());
    let logs_left = log::Entity::find()
        .filter(log::Column::FlowRunId.eq(ids[0]))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(logs_left, 0, "logs go with their run");
    assert!(flow_run::Entity::find_by_id(ids[1])
        .one(&app.db)
        .await
        .unwrap()
        .is_some());
    assert!(flow_run::Entity::find_by_id(ids[2])
        .one(&app.db)
        .await
        .unwrap()
        .is_some());
    let r = app.get(&format!("/api/v1/runs/{}", ids[0]), &token).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_frozen_worker_resumed_after_its_run_was_retried_elsewhere_changes_nothing_of_it() {
    let (app, token) = spawn_app_without_workers().await;
    let dep = app
        .configure_flow(
            "test-report",
            &token,
            json!({ "retries": 1, "retry_delay_seconds": 0 }),
        )
        .await;
    let zombie = worker_process(&app);
    let run = app.trigger(&dep, &token, json!({ "seconds": 2 })).await;
    let id = run["id"].as_str().unwrap().to_string();
    app.wait_for(&id, &token, &["RUNNING"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    freeze_outside_a_write(&app, &zombie).await;
    // Past the heartbeat timeout the reaper declares attempt 1 crashed and queues the retry.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !states(
        &app.wait_for(&id, &token, &["AWAITING_RETRY", "PENDING", "RUNNING"])
            .await["history"],
    )
    .contains(&"CRASHED".to_string())
    {
        assert!(std::time::Instant::now() < deadline, "never crashed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = worker_process(&app);
    let done = app
        .wait_for(&id, &token, &["COMPLETED", "FAILED", "CANCELLED"])
        .await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    // The frozen worker wakes up with attempt 1 in the middle of a step.
    signal(&zombie, "CONT");
    tokio::time::sleep(Duration::from_secs(3)).await;
    kill(live);
    let after = body(app.get(&format!("/api/v1/runs/{id}"), &token).await).await;
    assert_eq!(after["state"], "COMPLETED", "{after}");
    assert_eq!(after["attempt"], 2);
    assert_eq!(after["summary"]["attempt"], 2, "{after}");
    assert_eq!(
        states(&after["history"]),
        states(&done["history"]),
        "the history changed after the end"
    );
    assert_eq!(
        after["task_runs"], done["task_runs"],
        "steps changed after the end"
    );
    let steps = after["task_runs"].as_array().unwrap();
    assert!(steps.iter().all(|t| t["state"] != "RUNNING"), "{after}");
    let report = body(
        app.get(&format!("/api/v1/runs/{id}/artifacts"), &token)
            .await,
    )
    .await;
    assert_eq!(report[0]["content"], "attempt 2", "{report}");
    let logs = body(
        app.get(&format!("/api/v1/runs/{id}/logs?limit=1000"), &token)
            .await,
    )
    .await;
    let done_lines = body(
        app.get(&format!("/api/v1/runs/{id}/logs?limit=1000"), &token)
            .await,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(logs["items"].as_array().unwrap().len(), done_lines);
    let crashed_at = after["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["state"] == "CRASHED")
        .unwrap()["at"]
        .as_str()
        .unwrap()
        .to_string();
    for line in logs["items"].as_array().unwrap() {
        if line["message"].as_str().unwrap().starts_with("attempt 1 ") {
            assert!(
                line["at"].as_str().unwrap() < crashed_at.as_str(),
                "attempt 1 logged after its crash: {line}"
            );
        }
    }
    kill(zombie);
}

#[tokio::test]
async fn a_stopping_worker_finishes_short_runs_and_hands_long_ones_back_at_once() {
    let (app, token) = spawn_app_without_workers().await;
    let dep = app
        .configure_flow("test-report", &token, json!({ "retries": 0 }))
        .await;
    // The grace leaves the short run (0.5 s of work) six times its length: on a loaded 2-core machine
    // its ticks were seen to take 2.6 s of wall time, longer than an earlier 1.5 s grace. The long run
    // outlasts the grace by far, so it is always handed back.
    let mut worker = worker_process_with(&app, &[("CHAP_SCHEDULER_SHUTDOWN_GRACE_SECONDS", "3")]);
    let short = app.trigger(&dep, &token, json!({ "seconds": 0.5 })).await;
    let long = app.trigger(&dep, &token, json!({ "seconds": 8 })).await;
    let short = short["id"].as_str().unwrap().to_string();
    let long = long["id"].as_str().unwrap().to_string();
    app.wait_for(&short, &token, &["RUNNING", "COMPLETED"])
        .await;
    app.wait_for(&long, &token, &["RUNNING"]).await;
    let (status, took) = terminate(&mut worker, Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "a worker stopped by SIGTERM exits 0: {status}"
    );
    // It exits once its runs are done or handed back (3 s), not after some timeout of its own.
    assert!(
        took < Duration::from_secs(7),
        "the worker took {took:?} to exit after its grace period of 3 s"
    );
    let short_done = body(app.get(&format!("/api/v1/runs/{short}"), &token).await).await;
    assert_eq!(short_done["state"], "COMPLETED", "{short_done}");
    // The long run went back to the queue at once, not CRASHED after the heartbeat timeout, and the
    // interrupted attempt does not count against its retries (none here).
    let back = body(app.get(&format!("/api/v1/runs/{long}"), &token).await).await;
    assert_eq!(back["state"], "PENDING", "{back}");
    assert!(
        !states(&back["history"]).contains(&"CRASHED".to_string()),
        "{back}"
    );
    assert_eq!(back["max_attempts"], 2, "{back}");
    let steps = back["task_runs"].as_array().unwrap();
    assert!(steps.iter().all(|t| t["state"] != "RUNNING"), "{back}");
    let next = worker_process(&app);
    let done = app
        .wait_for(
            &long,
            &token,
            &["COMPLETED", "FAILED", "CRASHED", "CANCELLED"],
        )
        .await;
    kill(next);
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
}

#[tokio::test]
async fn a_redis_flush_while_runs_execute_loses_nothing_and_the_worker_keeps_working() {
    let (app, redis) = spawn_app_on_own_redis(10, "flush-live").await;
    let token = app.admin_token().await;
    let dep = app.configure_flow("test-report", &token, json!({})).await;
    let mut worker = worker_process(&app);
    let mut ids = Vec::new();
    for _ in 0..8 {
        let run = app.trigger(&dep, &token, json!({ "seconds": 0.5 })).await;
        ids.push(run["id"].as_str().unwrap().to_string());
    }
    app.wait_for(&ids[0], &token, &["RUNNING", "COMPLETED"])
        .await;
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    for _ in 0..8 {
        let run = app.trigger(&dep, &token, json!({ "seconds": 0.2 })).await;
        ids.push(run["id"].as_str().unwrap().to_string());
    }
    assert_completed_once(&app, &token, &ids).await;
    assert!(
        worker.0.try_wait().unwrap().is_none(),
        "the worker process exited after the flush"
    );
    kill(worker);
}
