//! The engine's integrity: an attempt writes only while it holds its run, an accepted cancel ends
//! CANCELLED, retention runs by itself.

use std::time::Duration;

use chap_scheduler::db::entities::{artifact, flow_run, log, task_run};
use chap_scheduler::orchestrator::state::RunState;
use chap_scheduler::orchestrator::store::{self, Finish};
use chap_scheduler_api::ArtifactKind;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

fn completed() -> Finish {
    Finish {
        to: RunState::Completed,
        message: None,
        next_attempt_at: None,
        open_steps: (RunState::Completed, String::new()),
    }
}

#[tokio::test]
async fn an_attempt_that_lost_its_run_changes_nothing_of_it_even_on_the_same_worker() {
    let (app, token) = spawn_app_without_workers().await;
    let dep = app
        .configure_flow(
            "test-steps",
            &token,
            json!({ "retries": 1, "retry_delay_seconds": 0 }),
        )
        .await;
    let run = app.trigger(&dep, &token, json!({ "greeting": "hi" })).await;
    let id: Uuid = run["id"].as_str().unwrap().parse().unwrap();
    let db = app.engine.db();
    let relaxed = &chap_scheduler::db::RelaxedWrites::of(db);

    // Attempt 1 claims, starts a step, then freezes: no heartbeat any more.
    let first = app.engine.claim(id).await.unwrap().expect("claimable");
    let frozen_step = Uuid::new_v4();
    assert!(
        store::start_step(relaxed, &first.lease, frozen_step, 0, "tick", None, &[])
            .await
            .unwrap()
    );
    // The reaper declares it crashed and the dispatcher queues the retry; this very worker (the only
    // one, as in embedded mode) claims attempt 2.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let second = loop {
        if let Some(claimed) = app.engine.claim(id).await.unwrap() {
            break claimed;
        }
        assert!(std::time::Instant::now() < deadline, "never retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(second.lease.worker_id, first.lease.worker_id);
    assert_eq!(second.lease.attempt, 2);
    let sink = store::LogSink::start(relaxed.clone());
    let live = std::sync::Arc::new(second.lease.clone());
    let zombie = std::sync::Arc::new(first.lease.clone());
    sink.put_artifact(
        live.clone(),
        "run-report",
        ArtifactKind::Markdown,
        "live".into(),
    );

    // The frozen attempt wakes up and tries everything: each write is refused.
    assert!(
        !store::start_step(relaxed, &first.lease, Uuid::new_v4(), 1, "late", None, &[])
            .await
            .unwrap()
    );
    assert!(
        !store::put_checkpoint(db, &first.lease, "job", json!("zombie"))
            .await
            .unwrap()
    );
    assert!(
        store::put_checkpoint(db, &second.lease, "job", json!("live"))
            .await
            .unwrap()
    );
    assert!(
        store::put_checkpoint(db, &second.lease, "job", json!({ "live": 2 }))
            .await
            .unwrap(),
        "a later value replaces the earlier"
    );
    sink.put_artifact(
        zombie.clone(),
        "run-report",
        ArtifactKind::Markdown,
        "zombie".into(),
    );
    sink.set_summary(zombie.clone(), json!({ "zombie": true }));
    sink.put_flow_state(zombie.clone(), "test-steps", "zombie", json!(1));
    assert_eq!(
        store::finish(db, &first.lease, completed()).await.unwrap(),
        None
    );
    sink.send(store::LogLine {
        lease: zombie.clone(),
        task_run_id: None,
        at: chrono::Utc::now(),
        level: chap_scheduler_api::LogLevel::Info,
        message: "zombie line".into(),
    });
    sink.end_step(store::StepEnd {
        lease: zombie.clone(),
        id: frozen_step,
        state: RunState::Completed,
        error: None,
        at: chrono::Utc::now(),
        written: Default::default(),
    });
    let zombie_read_step = Uuid::new_v4();
    sink.start_step(store::StepStart {
        lease: zombie.clone(),
        id: zombie_read_step,
        position: 7,
        name: "late read".into(),
        label: None,
        at: chrono::Utc::now(),
    });
    let ended = sink.finish(zombie, completed(), None).await.unwrap();
    assert_eq!(ended.state, None, "the frozen attempt's end is refused");
    assert!(
        task_run::Entity::find_by_id(zombie_read_step)
            .one(db)
            .await
            .unwrap()
            .is_none(),
        "a read step of an attempt that lost its run is not recorded"
    );
    assert_eq!(
        store::flow_state(db, "test-steps", "zombie").await.unwrap(),
        None,
        "a flow state of an attempt that lost its run is not recorded"
    );

    // The live attempt is untouched and finishes, through the same writer.
    let state = store::get(db, id).await.unwrap().unwrap();
    assert_eq!(state.state, RunState::Running);
    assert_eq!(state.attempt, 2);
    let ended = sink.finish(live, completed(), None).await.unwrap();
    assert_eq!(ended.state, Some(RunState::Completed));
    let report = artifact::Entity::find()
        .filter(artifact::Column::FlowRunId.eq(id))
        .all(db)
        .await
        .unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].content, "live");
    let step = task_run::Entity::find_by_id(frozen_step)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        step.state,
        RunState::Crashed,
        "the frozen attempt's step stays as the reaper left it"
    );
    let steps = task_run::Entity::find()
        .filter(task_run::Column::FlowRunId.eq(id))
        .count(db)
        .await
        .unwrap();
    assert_eq!(steps, 1, "no step of the frozen attempt after its crash");
    let zombie_lines = log::Entity::find()
        .filter(log::Column::FlowRunId.eq(id))
        .filter(log::Column::Message.eq("zombie line"))
        .count(db)
        .await
        .unwrap();
    assert_eq!(zombie_lines, 0);
    assert_eq!(
        store::checkpoint(db, id, "job").await.unwrap(),
        Some(json!({ "live": 2 }))
    );
    let done = app.wait_for(&id.to_string(), &token, TERMINAL).await;
    assert_eq!(done["state"], "COMPLETED");
    assert!(done["summary"].is_null(), "{done}");
}

#[tokio::test]
async fn an_accepted_cancel_always_ends_cancelled_with_no_step_left_running_or_completed_after_it()
{
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut accepted = 0;
    for i in 0..30 {
        // One tick of 100 ms: the cancel lands anywhere from the claim to the last write.
        let run = app
            .trigger_flow("test-sleepy", &token, json!({ "seconds": 0.1 }))
            .await;
        let id = run["id"].as_str().unwrap().to_string();
        app.wait_for(&id, &token, &["RUNNING", "COMPLETED"]).await;
        tokio::time::sleep(Duration::from_millis((i % 6) * 20)).await;
        let r = app
            .post(&format!("/api/v1/runs/{id}/cancel"), &token, json!({}))
            .await;
        let status = r.status();
        let done = app.wait_for(&id, &token, TERMINAL).await;
        let steps = done["task_runs"].as_array().unwrap();
        assert!(
            steps.iter().all(|s| s["state"] != "RUNNING"),
            "a step left RUNNING: {done}"
        );
        if status == StatusCode::OK {
            accepted += 1;
            assert_eq!(
                done["state"], "CANCELLED",
                "an accepted cancel ended otherwise: {done}"
            );
        } else {
            assert_eq!(status, StatusCode::CONFLICT);
            assert_eq!(done["state"], "COMPLETED", "{done}");
        }
    }
    assert!(accepted > 0, "no cancel was accepted");
}

#[tokio::test]
async fn retention_deletes_an_old_finished_run_and_all_it_wrote_while_serve_runs() {
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_RETENTION_DAYS".into(), "1".into());
    vars.insert(
        "CHAP_SCHEDULER_RETENTION_INTERVAL_SECONDS".into(),
        "1".into(),
    );
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    let old = app
        .trigger_flow("test-report", &token, json!({ "seconds": 0.1 }))
        .await;
    let fresh = app
        .trigger_flow("test-report", &token, json!({ "seconds": 0.1 }))
        .await;
    let old_id: Uuid = old["id"].as_str().unwrap().parse().unwrap();
    let fresh_id = fresh["id"].as_str().unwrap().to_string();
    app.wait_for(&old_id.to_string(), &token, &["COMPLETED"])
        .await;
    app.wait_for(&fresh_id, &token, &["COMPLETED"]).await;
    let backend = app.db.get_database_backend();
    let long_ago = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "UPDATE flow_runs SET created_at = $1 WHERE id = $2",
        _ => "UPDATE flow_runs SET created_at = ? WHERE id = ?",
    };
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [long_ago.into(), old_id.into()],
        ))
        .await
        .unwrap();
    // Nobody calls the purge: serve's own hourly pass (here every second) must.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = app.get(&format!("/api/v1/runs/{old_id}"), &token).await;
        if r.status() == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old run was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (table, column) in [
        ("task_runs", "flow_run_id"),
        ("logs", "flow_run_id"),
        ("artifacts", "flow_run_id"),
        ("flow_run_states", "flow_run_id"),
    ] {
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = $1")
            }
            _ => format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = ?"),
        };
        let left = app
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [old_id.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(left, 0, "{table} rows of the deleted run");
    }
    let kept = app.get(&format!("/api/v1/runs/{fresh_id}"), &token).await;
    assert_eq!(kept.status(), StatusCode::OK);
    assert!(flow_run::Entity::find().count(&app.db).await.unwrap() >= 1);
}

#[tokio::test]
async fn a_stored_state_this_build_does_not_know_is_an_error_not_a_default() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let run = app
        .trigger_flow("test-steps", &token, json!({ "greeting": "hi" }))
        .await;
    let id: Uuid = run["id"].as_str().unwrap().parse().unwrap();
    app.wait_for(&id.to_string(), &token, &["COMPLETED"]).await;
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "UPDATE flow_runs SET state = 'EXPLODED' WHERE id = $1"
        }
        _ => "UPDATE flow_runs SET state = 'EXPLODED' WHERE id = ?",
    };
    app.db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [id.into()]))
        .await
        .unwrap();
    let read = store::get(app.engine.db(), id).await;
    assert!(read.is_err(), "an unknown state was read as {read:?}");
    let r = app.get(&format!("/api/v1/runs/{id}"), &token).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body(r).await["error"], "internal_error");
}

#[tokio::test]
async fn a_worker_frozen_inside_a_transaction_does_not_block_the_reaper_for_long() {
    if std::env::var("CHAP_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        // PostgreSQL: a frozen client keeps its row locks until its session is ended.
    } else {
        return; // SQLite in embedded mode: the workers live in the server's own process.
    }
    let (app, token) = spawn_app_without_workers().await;
    let run = app
        .trigger_flow("test-steps", &token, json!({ "greeting": "hi" }))
        .await;
    let id: Uuid = run["id"].as_str().unwrap().parse().unwrap();
    let claimed = app.engine.claim(id).await.unwrap().expect("claimable");
    // The worker holds its run's row in an open transaction and freezes there.
    let frozen = chap_scheduler::db::begin_write(app.engine.db())
        .await
        .unwrap();
    assert!(store::hold(&frozen, &claimed.lease, false)
        .await
        .unwrap()
        .is_some());
    // Its heartbeat goes stale; the reaper (every 2 s) must get through within the session timeout.
    let t0 = std::time::Instant::now();
    let done = app.wait_for(&id.to_string(), &token, &["CRASHED"]).await;
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "the reaper waited {:?} behind the frozen transaction",
        t0.elapsed()
    );
    assert!(done["state_message"]
        .as_str()
        .unwrap()
        .contains("stopped heartbeating"));
    // The frozen transaction was ended by the server: committing it now fails.
    assert!(frozen.commit().await.is_err());
}

/// The reaper reads the silent runs, then ends each one. A heartbeat that lands in between (a worker
/// whose beat waited on a slow disk) proves the worker alive: the run stays with it, RUNNING or
/// CANCELLING, and is not CRASHED under a live worker.
#[tokio::test]
async fn a_heartbeat_that_lands_after_the_reaper_read_the_run_keeps_the_run_with_its_worker() {
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_IN_PROCESS_WORKERS".into(), "false".into());
    // The app's own reaper stays out of the way: only the test reaps.
    vars.insert(
        "CHAP_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS".into(),
        "3600".into(),
    );
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    for cancel in [false, true] {
        let run = app
            .trigger_flow("test-steps", &token, json!({ "greeting": "hi" }))
            .await;
        let id: Uuid = run["id"].as_str().unwrap().parse().unwrap();
        let claimed = app.engine.claim(id).await.unwrap().expect("claimable");
        if cancel {
            let r = app
                .post(&format!("/api/v1/runs/{id}/cancel"), &token, json!({}))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
        }
        let state = if cancel { "CANCELLING" } else { "RUNNING" };
        // What the reaper read: the run when its heartbeat was an hour old.
        let mut seen = store::get(app.engine.db(), id).await.unwrap().unwrap();
        seen.heartbeat_at = Some(chrono::Utc::now() - chrono::Duration::hours(1));
        let deadline = chrono::Utc::now() - chrono::Duration::minutes(30);
        // The worker's heartbeat lands before the reaper writes.
        assert!(store::hold(app.engine.db(), &claimed.lease, true)
            .await
            .unwrap()
            .is_some());
        assert!(
            !app.engine.reap_run(&seen, deadline).await.unwrap(),
            "a {state} run whose heartbeat is fresh was reaped"
        );
        let now = body(app.get(&format!("/api/v1/runs/{id}"), &token).await).await;
        assert_eq!(now["state"], state);
        assert!(store::hold(app.engine.db(), &claimed.lease, false)
            .await
            .unwrap()
            .is_some());
        // Once the heartbeat really is older than the deadline, the same call ends the attempt.
        let later = chrono::Utc::now() + chrono::Duration::seconds(1);
        assert!(app.engine.reap_run(&seen, later).await.unwrap(), "{state}");
        let ended = body(app.get(&format!("/api/v1/runs/{id}"), &token).await).await;
        assert_eq!(
            ended["state"],
            if cancel { "CANCELLED" } else { "CRASHED" },
            "{ended}"
        );
    }
}

#[tokio::test]
async fn a_run_that_ends_hands_its_slot_to_the_next_due_run_without_waiting_for_a_dispatcher() {
    let (app, token) = spawn_app_without_workers().await;
    let dep = app
        .configure_flow("test-steps", &token, json!({ "concurrency_limit": 1 }))
        .await;
    // An engine of its own, as a worker process has: no dispatcher loop beside it.
    let config = chap_scheduler::config::Config::from_source(&app.vars).unwrap();
    let (registry, _) = crate::test_flows::registry(&config);
    let worker = chap_scheduler::startup::engine(&config, registry)
        .await
        .unwrap();
    let first = app.trigger(&dep, &token, json!({ "greeting": "hi" })).await;
    let second = app.trigger(&dep, &token, json!({ "greeting": "ho" })).await;
    let first: Uuid = first["id"].as_str().unwrap().parse().unwrap();
    let second: Uuid = second["id"].as_str().unwrap().parse().unwrap();
    let db = app.engine.db();
    assert_eq!(
        store::state_of(db, first).await.unwrap(),
        Some(RunState::Pending),
        "the trigger queues a run while its deployment has a free slot"
    );
    assert_eq!(
        store::state_of(db, second).await.unwrap(),
        Some(RunState::Scheduled),
        "the limit of 1 is taken"
    );

    worker.execute(first).await.unwrap();

    assert_eq!(
        store::state_of(db, first).await.unwrap(),
        Some(RunState::Completed)
    );
    assert_eq!(
        store::state_of(db, second).await.unwrap(),
        Some(RunState::Pending),
        "the worker that freed the slot queued the next run itself"
    );
}

/// A trigger that finds free slots gives them to its deployment's older due runs first, and takes
/// one itself only in its turn: then its run is PENDING from its first write, with both states in
/// its history.
#[tokio::test]
async fn a_trigger_gives_free_slots_to_older_due_runs_first_and_takes_one_in_its_turn() {
    let (app, token) = spawn_app_without_workers().await;
    let dep = app
        .configure_flow("test-steps", &token, json!({ "concurrency_limit": 2 }))
        .await;
    let db = app.engine.db();
    let mut runs = Vec::new();
    for n in 0..3 {
        let run = app
            .trigger(&dep, &token, json!({ "greeting": format!("{n}") }))
            .await;
        runs.push(run["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    let state = |id| async move { store::state_of(db, id).await.unwrap().unwrap() };
    // Two in flight, one due behind them. Runs in flight end here without waking a dispatcher, so
    // the next trigger is the first to see the free slots (a dispatcher's pass in between would
    // promote the same runs).
    let end = |id| async move {
        let to = store::Transition::to(RunState::Cancelled).message("ended by the test");
        assert!(store::transition(db, id, to).await.unwrap());
    };
    end(runs[0]).await;
    let third = app.trigger(&dep, &token, json!({ "greeting": "3" })).await;
    assert_eq!(state(runs[2]).await, RunState::Pending, "the older due run");
    assert_eq!(third["state"], "SCHEDULED", "it waits behind: {third}");

    end(runs[1]).await;
    end(runs[2]).await;
    let fourth = app.trigger(&dep, &token, json!({ "greeting": "4" })).await;
    let third: Uuid = third["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(state(third).await, RunState::Pending, "older first");
    assert_eq!(
        fourth["state"], "PENDING",
        "the slot left is its own: {fourth}"
    );
    let id = fourth["id"].as_str().unwrap();
    let shown = body(app.get(&format!("/api/v1/runs/{id}"), &token).await).await;
    assert_eq!(shown["state"], "PENDING", "{shown}");
    assert_eq!(
        crate::helpers::states(&shown["history"]),
        ["SCHEDULED", "PENDING"],
        "{shown}"
    );
}

/// On PostgreSQL, relaxed writes (claims, heartbeats, log lines) go through connections opened with
/// `synchronous_commit = off`, in a transaction or in autocommit, and every other write stays
/// durable. (SQLite's relaxed pool is checked by `db::writes`' own tests.)
#[tokio::test]
async fn on_postgres_only_relaxed_writes_commit_without_waiting_for_the_disk() {
    let app = spawn_app().await;
    let db = app.engine.db();
    let relaxed = chap_scheduler::db::RelaxedWrites::of(db);
    let Some(autocommit) = relaxed.autocommit() else {
        assert_eq!(db.get_database_backend(), sea_orm::DbBackend::Sqlite);
        return;
    };
    async fn setting(conn: &impl ConnectionTrait) -> String {
        let show = Statement::from_string(conn.get_database_backend(), "SHOW synchronous_commit");
        let row = conn.query_one_raw(show).await.unwrap().unwrap();
        row.try_get_by_index(0).unwrap()
    }
    assert_eq!(setting(autocommit).await, "off");
    let txn = relaxed.begin().await.unwrap();
    assert_eq!(setting(&txn).await, "off");
    txn.rollback().await.unwrap();
    assert_eq!(setting(db).await, "on");
    let durable = relaxed.begin_durable().await.unwrap();
    assert_eq!(setting(&durable).await, "on");
    durable.rollback().await.unwrap();
}

/// PostgreSQL refuses NUL in text and in JSON; a flow relaying upstream text must not make the batch
/// that holds its lines, its report and its end fail (and with it every run's records in that batch).
#[tokio::test]
async fn upstream_text_with_a_nul_is_stored_with_the_nul_replaced_and_the_run_ends() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let run = app
        .trigger_flow("test-upstream-text", &token, json!({}))
        .await;
    let id = run["id"].as_str().unwrap();
    let done = app.wait_for(id, &token, TERMINAL).await;
    let shown = crate::test_flows::UPSTREAM_TEXT.replace('\0', "\u{FFFD}");
    assert_eq!(done["state"], "FAILED", "{done}");
    assert_eq!(
        done["state_message"],
        format!("upstream failed: {shown}"),
        "{done}"
    );
    assert_eq!(done["summary"], json!({ "upstream": shown }));
    assert_eq!(done["task_runs"][0]["state"], "FAILED");
    assert_eq!(done["task_runs"][0]["error"], shown.as_str());
    let lines = app.log_messages(id, &token).await;
    assert!(
        lines.contains(&format!("upstream said: {shown}")),
        "{lines:?}"
    );
    let artifacts = body(
        app.get(&format!("/api/v1/runs/{id}/artifacts"), &token)
            .await,
    )
    .await;
    assert_eq!(artifacts[0]["content"], format!("# Report\n\n{shown}\n"));
}
