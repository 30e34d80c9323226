//! PostgreSQL's plans for the engine's reads of runs by state, before any statistics exist: a new
//! installation's first burst (autovacuum analyzes a minute or more later), or a deployment created
//! after the last `ANALYZE`. Each must read the runs in those states, not every run the history
//! holds; a deployment's counts, not every run the deployment ever had. SQLite's plans are in
//! `sqlite_plans`.
use chap_scheduler::db::entities::{deployment, flow_run};
use chap_scheduler::db::users::now;
use chap_scheduler::orchestrator::store;
use chap_scheduler_api::RunState;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Statement,
    TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::*;
use crate::sqlite_lock::on_sqlite;
use crate::sqlite_plans::{record_reads_by_state, recording};

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

/// A test app on PostgreSQL whose runs table no `ANALYZE` touches while the test runs (as a new
/// installation has it), with one COMPLETED run of `test-steps`, and its token; `None` on SQLite.
async fn unanalyzed_app() -> Option<(TestApp, String, flow_run::Model)> {
    let app = spawn_app().await;
    if on_sqlite(&app) {
        return None;
    }
    app.db
        .execute_unprepared("ALTER TABLE flow_runs SET (autovacuum_enabled = false)")
        .await
        .unwrap();
    let token = app.admin_token().await;
    let template = app.completed_run_row(&token).await;
    Some((app, token, template))
}

#[tokio::test]
async fn the_reads_of_runs_by_state_read_those_runs_not_the_history_without_statistics() {
    let Some((app, _, template)) = unanalyzed_app().await else {
        return;
    };
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
    insert_runs(&app, rows).await;
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
    // A read without a condition counts every kept run (`/metrics`' runs by state), by design.
    let with_a_condition = statements
        .into_iter()
        .filter(|s| s.sql.contains(" WHERE "))
        .collect();
    assert_no_read_of_many_rows(
        db,
        with_a_condition,
        "reads of runs by state that read the history",
    )
    .await;
}

#[tokio::test]
async fn a_deployments_look_for_due_runs_skips_another_deployments_backlog_without_statistics() {
    let Some((app, token, template)) = unanalyzed_app().await else {
        return;
    };
    // Another deployment with a backlog of due SCHEDULED runs that no slot frees (a limit of 0, set in
    // the database: the API refuses it), so that they stay SCHEDULED.
    let busy: Uuid = app.deployment("test-flaky", &token).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.db
        .execute_raw(Statement::from_sql_and_values(
            app.db.get_database_backend(),
            "UPDATE deployments SET concurrency_limit = 0 WHERE id = $1",
            [busy.into()],
        ))
        .await
        .unwrap();
    let rows: Vec<_> = (0..HISTORY)
        .map(|_| {
            let mut row = template.clone();
            row.id = Uuid::new_v4();
            row.idempotency_key = None;
            row.deployment_id = Some(busy);
            row.state = RunState::Scheduled;
            row.ended_at = None;
            row.expected_start_at = now() - chrono::Duration::minutes(1);
            row.into_active_model().reset_all()
        })
        .collect();
    insert_runs(&app, rows).await;
    let deployment = template.deployment_id.unwrap();

    let (db, seen) = recording(&app.database_url).await;
    // A trigger's first read, and an end's look for runs to promote.
    let found = store::deployment_with_active(&db, deployment)
        .await
        .unwrap()
        .unwrap();
    assert!(found.version.is_some(), "none of its runs is due");
    let deployment = deployment::Model {
        concurrency_limit: Some(1),
        ..found.deployment
    };
    assert!(store::promote_due_in(&db, &deployment)
        .await
        .unwrap()
        .is_empty());
    let statements: Vec<Statement> = seen.lock().unwrap().clone();
    assert_eq!(statements.len(), 2, "{statements:?}");
    assert_no_read_of_many_rows(
        db,
        statements,
        "looks for due runs that read another deployment's backlog",
    )
    .await;
}

/// Inserts `rows` in chunks of 500.
async fn insert_runs(app: &TestApp, rows: Vec<flow_run::ActiveModel>) {
    for chunk in rows.chunks(500) {
        flow_run::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .unwrap();
    }
}

/// Asserts that no plan of `statements` (`EXPLAIN ANALYZE` with the values bound, on `db`, closed
/// after) read more than 100 rows of `flow_runs` in one scan; the failure lists them as `what`, each
/// with its plan.
async fn assert_no_read_of_many_rows(
    db: DatabaseConnection,
    statements: Vec<Statement>,
    what: &str,
) {
    let mut too_many = Vec::new();
    for statement in statements {
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
    assert!(too_many.is_empty(), "{what}:\n{}", too_many.join("\n"));
}
