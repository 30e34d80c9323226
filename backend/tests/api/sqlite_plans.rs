//! SQLite's query plans for the reads of runs by state: the dispatcher's, the reaper's, the queue's,
//! `/metrics`', the dashboard's and the run list's. Each must search an index, never read the whole
//! history, both as the service leaves its file (no statistics) and after an `ANALYZE`. The service
//! never analyzes, but an operator may (`sqlite3 chap-scheduler.db ANALYZE`, or `PRAGMA optimize` in
//! a maintenance script). Statistics give SQLite each index's average rows per key: in a long history
//! nearly every run is finished, so a state looks like a fifth to all of the table, although the
//! states the engine asks for (SCHEDULED, PENDING, RUNNING, …) hold a handful.
use std::sync::{Arc, Mutex};

use chap_scheduler::db::RelaxedWrites;
use chap_scheduler::orchestrator::store;
use chap_scheduler_api::RunState;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement, TryGetable,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;
use crate::sqlite_lock::on_sqlite;

/// Runs `ANALYZE` finds in a long history.
const RUNS: u64 = 1_000_000;

/// `sqlite_stat1` for `flow_runs` as `ANALYZE` writes it over [`RUNS`] runs of `deployments`
/// deployments in `states` states: each index's rows, then its average rows per value of its first
/// column, of its first two, and so on.
fn stats(deployments: u64, states: u64) -> [(&'static str, String); 6] {
    let n = RUNS;
    [
        (
            "idx_flow_runs_state_expected",
            format!("{n} {} 1", n / states),
        ),
        (
            "idx_flow_runs_deployment_state_ended",
            format!("{n} {} {} 1", n / deployments, n / deployments / states),
        ),
        ("idx_flow_runs_created_id", format!("{n} 1 1")),
        ("idx_flow_runs_retry_of", format!("{n} {n}")),
        ("sqlite_autoindex_flow_runs_1", format!("{n} 1")),
        ("sqlite_autoindex_flow_runs_2", format!("{n} {n}")),
    ]
}

/// Puts [`stats`] in the app's file in place of what `ANALYZE` found for `flow_runs`; a connection
/// opened after this plans with them.
async fn analyze_as_a_long_history(db: &DatabaseConnection, deployments: u64, states: u64) {
    db.execute_unprepared("ANALYZE").await.unwrap();
    db.execute_unprepared("DELETE FROM sqlite_stat1 WHERE tbl = 'flow_runs'")
        .await
        .unwrap();
    for (idx, stat) in stats(deployments, states) {
        db.execute_unprepared(&format!(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('flow_runs', '{idx}', '{stat}')"
        ))
        .await
        .unwrap();
    }
}

/// A connection of its own to `url` that records every statement it runs.
pub(crate) async fn recording(url: &str) -> (DatabaseConnection, Arc<Mutex<Vec<Statement>>>) {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(1).sqlx_logging(false);
    let mut db = Database::connect(opts).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    db.set_metric_callback(move |info| into.lock().unwrap().push(info.statement.clone()));
    (db, seen)
}

/// `EXPLAIN QUERY PLAN`'s lines for `statement`, with its values bound.
async fn plan(db: &DatabaseConnection, statement: &Statement) -> Vec<String> {
    let explain = Statement {
        sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
        ..statement.clone()
    };
    db.query_all_raw(explain)
        .await
        .unwrap()
        .iter()
        .map(|row| String::try_get(row, "", "detail").unwrap())
        .collect()
}

#[tokio::test]
async fn the_reads_of_runs_by_state_search_an_index_with_or_without_statistics() {
    let app = spawn_app().await;
    if !on_sqlite(&app) {
        // PostgreSQL keeps the most common values of a column with its statistics, and knows that
        // finished states are the common ones.
        return;
    }
    let token = app.admin_token().await;
    let run = app
        .trigger_flow("test-steps", &token, json!({ "greeting": "a", "count": 1 }))
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    let done = app.wait_for(&id, &token, &["COMPLETED"]).await;
    let deployment: Uuid = done["deployment_id"].as_str().unwrap().parse().unwrap();
    // Without statistics (as the service leaves its file), then as an `ANALYZE` of histories of one
    // or many deployments leaves it, nearly every run COMPLETED or some FAILED too.
    let mut scans = Vec::new();
    let shapes = [
        None,
        Some((1, 1)),
        Some((1, 2)),
        Some((2, 2)),
        Some((2, 5)),
        Some((20, 3)),
    ];
    for shape in shapes {
        if let Some((deployments, states)) = shape {
            analyze_as_a_long_history(&app.db, deployments, states).await;
        }
        // The run list of the last 30 days: of RUNNING runs (the dashboard's "running now") from the
        // state index; every other list (the dashboard's last failures and last forecasts at each
        // refresh, a deployment's page) newest first from the creation index until the page is full,
        // never every run of a state or a deployment kept.
        let running = list_plan(&app.database_url, vec![RunState::Running], None).await;
        if !running
            .iter()
            .any(|l| l.contains("idx_flow_runs_state_expected"))
        {
            scans.push(format!("{shape:?}: the list of RUNNING runs: {running:?}"));
        }
        let lists = [
            (vec![RunState::Failed, RunState::Crashed], None),
            (vec![RunState::Completed], None),
            (vec![], Some(deployment)),
            (vec![RunState::Failed], Some(deployment)),
        ];
        for (states, of) in lists {
            let plan = list_plan(&app.database_url, states.clone(), of).await;
            if plan.len() != 1 || !plan[0].contains("idx_flow_runs_created_id") {
                scans.push(format!(
                    "{shape:?}: the list of {states:?} of {of:?}: {plan:?}"
                ));
            }
        }
        for (sql, plan) in reads_by_state(&app.database_url, deployment).await {
            if sql.contains(" WHERE ") && plan.iter().any(|l| l.starts_with("SCAN flow_runs")) {
                scans.push(format!("{shape:?}: {sql}\n  {}", plan.join("\n  ")));
            }
        }
    }
    assert!(
        scans.is_empty(),
        "reads of runs by state that read more of the history than they need:\n{}",
        scans.join("\n")
    );
}

/// The statements of the engine's reads of runs by state, each with its plan, on a new connection to
/// `url` (which loads the statistics).
async fn reads_by_state(url: &str, deployment: Uuid) -> Vec<(String, Vec<String>)> {
    let (db, statements) = record_reads_by_state(url, deployment).await;
    let mut plans = Vec::new();
    for statement in statements {
        let lines = plan(&db, &statement).await;
        plans.push((statement.sql, lines));
    }
    db.close().await.unwrap();
    plans
}

/// The engine's reads of runs by state (the dispatcher's, the reaper's, the queue's and the claims',
/// `/metrics`', the dashboard's, the checks of a deployment's and a block's unfinished runs), run on
/// a new connection to `url`: the connection, and the statements with their values bound.
pub(crate) async fn record_reads_by_state(
    url: &str,
    deployment: Uuid,
) -> (DatabaseConnection, Vec<Statement>) {
    let (db, seen) = recording(url).await;
    let now = chap_scheduler::db::users::now();
    store::due_runs(&db, 100).await.unwrap();
    store::pending_count(&db).await.unwrap();
    store::pending_runs(&db, Some(now), 100).await.unwrap();
    store::pending_runs(&db, None, 100).await.unwrap();
    store::silent_runs(&db, now, 100).await.unwrap();
    store::count_active(&db, deployment).await.unwrap();
    store::deployment_with_active(&db, deployment)
        .await
        .unwrap();
    store::run_gauges(&db).await.unwrap();
    store::deployment_has_unfinished_runs(&db, deployment)
        .await
        .unwrap();
    store::unfinished_run_referring(&db, |_| false)
        .await
        .unwrap();
    store::run_stats(&db, 7).await.unwrap();
    // The claims' picks of the oldest PENDING run, through the relaxed writes' own pool.
    let mut writes = RelaxedWrites::of(&db);
    let into = seen.clone();
    writes
        .connection_mut()
        .set_metric_callback(move |info| into.lock().unwrap().push(info.statement.clone()));
    for pick in [store::Pick::Oldest(None), store::Pick::Oldest(Some(now))] {
        assert!(store::claim(&writes, pick, "plans")
            .await
            .unwrap()
            .is_none());
    }
    let statements = seen.lock().unwrap().clone();
    assert!(statements.len() >= 13, "{statements:?}");
    (db, statements)
}

/// The plan of the run list's read of the last 30 days' runs in `states` (a page of 50).
async fn list_plan(url: &str, states: Vec<RunState>, deployment_id: Option<Uuid>) -> Vec<String> {
    let (db, seen) = recording(url).await;
    let filter = store::RunFilter {
        states,
        deployment_id,
        since: chap_scheduler::db::users::now() - chrono::Duration::days(30),
        ..Default::default()
    };
    store::list_runs(&db, &filter, 50).await.unwrap();
    let statement = seen.lock().unwrap().pop().unwrap();
    let lines = plan(&db, &statement).await;
    db.close().await.unwrap();
    lines
}
