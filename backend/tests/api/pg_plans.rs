//! PostgreSQL's plans for the engine's reads of runs by state, before any statistics exist: a new
//! installation's first burst (autovacuum analyzes a minute or more later), or a deployment created
//! after the last `ANALYZE`. Each must read the runs in those states, not every run the history
//! holds; a deployment's counts, not every run the deployment ever had. SQLite's plans are in
//! `sqlite_plans`.
use chap_scheduler::db::entities::flow_run;
use chap_scheduler::db::users::now;
use chap_scheduler::orchestrator::store;
use chap_scheduler_api::RunState;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Statement, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::*;
use crate::sqlite_lock::on_sqlite;
use crate::sqlite_plans::record_reads_by_state;

/// Finished runs the deployment had before (two months ago: outside the dashboard's and the run
/// list's windows).
const HISTORY: usize = 3_000;

/// The most rows any scan of `flow_runs` in `plan` (`EXPLAIN (ANALYZE, FORMAT JSON)`'s node) read:
/// those it returned and those it read and dropped.
fn most_rows_read(plan: &Value) -> f64 {
    let read = if plan["Relation Name"] == "flow_runs" {
        [
            "Actual Rows",
            "Rows Removed by Filter",
            "Rows Removed by Index Recheck",
        ]
        .iter()
        .filter_map(|key| plan[key].as_f64())
        .sum()
    } else {
        0.0
    };
    plan["Plans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(most_rows_read)
        .fold(read, f64::max)
}

#[tokio::test]
async fn the_reads_of_runs_by_state_read_those_runs_not_the_history_without_statistics() {
    let app = spawn_app().await;
    if on_sqlite(&app) {
        return;
    }
    // No `ANALYZE` while the test runs: the table stays as a new installation has it.
    app.db
        .execute_unprepared("ALTER TABLE flow_runs SET (autovacuum_enabled = false)")
        .await
        .unwrap();
    let token = app.admin_token().await;
    let template = app.completed_run_row(&token).await;
    let deployment = template.deployment_id.unwrap();
    let copy = |state: RunState| {
        let mut row = template.clone();
        row.id = Uuid::new_v4();
        row.idempotency_key = None;
        row.state = state;
        if state == RunState::Running {
            // Heartbeating as far as the reaper can tell: it leaves them RUNNING.
            row.ended_at = None;
            row.heartbeat_at = Some(now() + chrono::Duration::hours(1));
        } else {
            let before = now() - chrono::Duration::days(60);
            (row.created_at, row.expected_start_at, row.ended_at) = (before, before, Some(before));
        }
        row.into_active_model().reset_all()
    };
    let mut rows: Vec<_> = (0..HISTORY).map(|_| copy(RunState::Completed)).collect();
    rows.extend((0..2).map(|_| copy(RunState::Running)));
    for chunk in rows.chunks(500) {
        flow_run::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .unwrap();
    }
    assert_eq!(store::count_active(&app.db, deployment).await.unwrap(), 2);
    let found = store::deployment_with_active(&app.db, deployment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.active, 2);
    assert_eq!(
        store::deployment_has_unfinished_runs(&app.db, deployment)
            .await
            .unwrap(),
        2
    );

    let (db, statements) = record_reads_by_state(&app.database_url, deployment).await;
    let mut too_many = Vec::new();
    // A read without a condition counts every kept run (`/metrics`' runs by state), by design.
    for statement in statements.into_iter().filter(|s| s.sql.contains(" WHERE ")) {
        let explain = Statement {
            sql: format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", statement.sql),
            ..statement.clone()
        };
        // `ANALYZE` runs the statement: the claims' updates are rolled back.
        let txn = db.begin().await.unwrap();
        let row = txn.query_one_raw(explain).await.unwrap().unwrap();
        txn.rollback().await.unwrap();
        let plan: Value = row.try_get("", "QUERY PLAN").unwrap();
        let read = most_rows_read(&plan[0]["Plan"]);
        if read > 100.0 {
            too_many.push(format!("{read} rows: {}\n{plan:#}", statement.sql));
        }
    }
    db.close().await.unwrap();
    assert!(
        too_many.is_empty(),
        "reads of runs by state that read the history:\n{}",
        too_many.join("\n")
    );
}
