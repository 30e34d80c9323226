//! Retention over a backlog larger than one batch: the first pass after the age was lowered, or
//! after a long downtime, deletes every old finished run with all it wrote, batch after batch, and
//! nothing else; a `serve` killed in the middle of it leaves every run whole or gone whole.
use chap_scheduler::db::entities::{flow_run, log};
use chap_scheduler::db::users::now;
use chap_scheduler::orchestrator::store;
use chap_scheduler_api::{LogLevel, RunState};
use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use crate::helpers::*;

/// Old finished runs in the backlog: many batches' worth (the first batch is 20 runs).
const OLD: usize = 450;

/// A running app and the row of one COMPLETED run of `test-steps`.
async fn app_with_a_completed_run() -> (TestApp, flow_run::Model) {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let row = app.completed_run_row(&token).await;
    (app, row)
}

/// Writes `old` copies of `template` 100 days old, each with `logs_per_run` log lines ("old"), one as
/// old but still SCHEDULED, and one young. The ids that retention must keep: the template, the
/// unfinished and the young run.
async fn write_backlog(
    app: &TestApp,
    template: &flow_run::Model,
    old: usize,
    logs_per_run: usize,
) -> [Uuid; 3] {
    let copy = |age_days: i64, state: RunState| {
        let mut row = template.clone();
        row.id = Uuid::new_v4();
        row.idempotency_key = None;
        row.created_at = now() - chrono::Duration::days(age_days);
        row.state = state;
        row
    };
    let mut runs: Vec<flow_run::Model> = (0..old).map(|_| copy(100, RunState::Completed)).collect();
    let old_ids: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
    // Not due before the test ends: a dispatcher would run it, and it would end an old finished run.
    let mut unfinished = copy(100, RunState::Scheduled);
    unfinished.expected_start_at = now() + chrono::Duration::days(1);
    let young = copy(10, RunState::Completed);
    let kept = [template.id, unfinished.id, young.id];
    runs.extend([unfinished, young]);
    for chunk in runs.chunks(100) {
        flow_run::Entity::insert_many(
            chunk
                .iter()
                .map(|r| r.clone().into_active_model().reset_all()),
        )
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    }
    let lines: Vec<Uuid> = old_ids
        .iter()
        .flat_map(|id| std::iter::repeat_n(*id, logs_per_run))
        .collect();
    for chunk in lines.chunks(100) {
        log::Entity::insert_many(chunk.iter().map(|run| log::ActiveModel {
            id: NotSet,
            flow_run_id: Set(*run),
            task_run_id: Set(None),
            at: Set(now() - chrono::Duration::days(100)),
            level: Set(LogLevel::Info),
            message: Set("old".into()),
        }))
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    }
    kept
}

#[tokio::test]
async fn a_backlog_of_many_batches_is_purged_whole_and_keeps_young_and_unfinished_runs() {
    let (app, template) = app_with_a_completed_run().await;
    let kept = write_backlog(&app, &template, OLD, 1).await;

    let deleted = store::retention::purge(app.engine.db(), 90).await.unwrap();

    assert_eq!(deleted, OLD as u64);
    let left: Vec<Uuid> = flow_run::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    for kept in kept {
        assert!(left.contains(&kept), "{kept} was deleted");
    }
    let old_logs = log::Entity::find()
        .filter(log::Column::Message.eq("old"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(old_logs, 0, "log lines go with their runs");
    // A second pass finds nothing.
    assert_eq!(
        store::retention::purge(app.engine.db(), 90).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn a_retention_age_past_the_calendar_deletes_nothing_and_does_not_panic() {
    let (app, _) = app_with_a_completed_run().await;
    // 4,294,967,295 days is before the earliest instant chrono holds: `now - days` used to panic, and
    // with it the retention task, for good.
    assert_eq!(
        store::retention::purge(app.engine.db(), u32::MAX)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        chap_scheduler::notify::purge(app.engine.db(), u32::MAX)
            .await
            .unwrap(),
        0
    );
    assert_eq!(flow_run::Entity::find().count(&app.db).await.unwrap(), 1);
}

const BIN: &str = env!("CARGO_BIN_EXE_chap-scheduler");

/// Old runs for the kill test: enough that its retention pass takes many batches.
const OLD_TO_KILL: usize = 4000;

/// Log lines of each old run in the kill test.
const LOGS_PER_RUN: usize = 3;

/// The real `serve` binary on the app's database and queue, with a retention pass a second after it
/// starts; killed when dropped.
fn serve_with_retention(app: &TestApp) -> crate::processes::WorkerProcess {
    let data_dir = tempfile::tempdir().unwrap().keep();
    crate::processes::WorkerProcess(
        std::process::Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&app.vars)
            .env("CHAP_SCHEDULER_DATA_DIR", &data_dir)
            .env("CHAP_SCHEDULER_BIND", "127.0.0.1:0")
            .env("CHAP_SCHEDULER_RETENTION_INTERVAL_SECONDS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Whether the stopped `serve` is inside one of its purge's writes: on SQLite it holds the write lock
/// (nothing else of that process writes while no run executes); on PostgreSQL its session sits in a
/// transaction whose last statement deleted runs.
async fn inside_a_purge_write(app: &TestApp) -> bool {
    if crate::sqlite_lock::on_sqlite(app) {
        return crate::sqlite_lock::write_lock_held_elsewhere(app).await;
    }
    let sql = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
               AND state LIKE 'idle in transaction%' AND query LIKE 'DELETE FROM \"flow_runs\"%'";
    for _ in 0..20 {
        let row = app
            .db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// The ids of the old runs left, and for each its count of old log lines.
async fn old_runs_left(app: &TestApp) -> (Vec<Uuid>, Vec<(Uuid, i64)>) {
    let runs = flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::Id)
        .filter(flow_run::Column::CreatedAt.lt(now() - chrono::Duration::days(90)))
        .filter(flow_run::Column::State.eq(RunState::Completed))
        .into_tuple()
        .all(&app.db)
        .await
        .unwrap();
    let logs = log::Entity::find()
        .select_only()
        .column(log::Column::FlowRunId)
        .column_as(log::Column::Id.count(), "n")
        .filter(log::Column::Message.eq("old"))
        .group_by(log::Column::FlowRunId)
        .into_tuple()
        .all(&app.db)
        .await
        .unwrap();
    (runs, logs)
}

/// Freezes `serve` again and again until it is frozen inside a purge's write (after the pass deleted
/// some of the `before` old runs), then kills it there.
async fn kill_inside_a_purge_write(
    app: &TestApp,
    mut serve: crate::processes::WorkerProcess,
    before: usize,
) {
    for _ in 0..200 {
        let (left, _) = old_runs_left(app).await;
        assert!(
            !left.is_empty(),
            "the pass ended before serve could be killed inside it"
        );
        crate::processes::signal(&serve, "STOP");
        if left.len() < before && inside_a_purge_write(app).await {
            crate::processes::signal(&serve, "KILL");
            let _ = serve.0.wait();
            return;
        }
        crate::processes::signal(&serve, "CONT");
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    panic!("serve was never caught inside a purge's write");
}

#[tokio::test]
async fn serve_killed_inside_a_purge_write_loses_no_run_in_part_and_the_next_start_finishes_it() {
    let (app, template) = app_with_a_completed_run().await;
    let kept = write_backlog(&app, &template, OLD_TO_KILL, LOGS_PER_RUN).await;
    // Twice: a kill may land in any of a pass's writes, and a bug that splits a run's deletion
    // over two writes shows only when it lands in the second.
    for round in 0..2 {
        let before = old_runs_left(&app).await.0.len();
        let serve = serve_with_retention(&app);
        kill_inside_a_purge_write(&app, serve, before).await;

        // Every old run is there whole or gone whole: the batch it was killed in rolled back.
        let (left, logs) = old_runs_left(&app).await;
        assert!(
            !left.is_empty() && left.len() < before,
            "round {round}: {} of {before} old runs left",
            left.len()
        );
        assert_eq!(
            logs.len(),
            left.len(),
            "old runs and runs with old log lines"
        );
        for (run, n) in &logs {
            assert!(
                left.contains(run),
                "log lines of the deleted run {run} are left"
            );
            assert_eq!(
                *n, LOGS_PER_RUN as i64,
                "run {run} lost some of its log lines"
            );
        }
    }

    // The next start deletes the rest, and nothing young or unfinished.
    let _serve = serve_with_retention(&app);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (left, logs) = old_runs_left(&app).await;
        if left.is_empty() {
            assert!(logs.is_empty(), "{logs:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} old runs left",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in kept {
        assert!(
            flow_run::Entity::find_by_id(id)
                .one(&app.db)
                .await
                .unwrap()
                .is_some(),
            "{id} was deleted"
        );
    }
}
