//! The database refusing writes for longer than the heartbeat timeout (a SQLite writer frozen, a disk
//! full, PostgreSQL's table locked): the runs executing meanwhile are alive, and must not be taken for
//! dead once writes land again.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::json;

use crate::helpers::*;
use crate::sqlite_lock::{on_sqlite, write_lock_holder};

#[tokio::test]
async fn a_run_executing_while_the_database_refuses_writes_is_not_taken_for_dead() {
    // Heartbeats every 0.25 s, silent after 1.5 s; the reaper looks every 2 s.
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.sleepy_retried_once(&token).await;
    let run = app.trigger(&dep, &token, json!({ "seconds": 6 })).await;
    let id = run["id"].as_str().unwrap().to_string();
    app.wait_for(&id, &token, &["RUNNING"]).await;
    // No write lands for 4 s: more than twice the heartbeat timeout, two reaper passes.
    let refused = Duration::from_secs(4);
    if on_sqlite(&app) {
        let holder = write_lock_holder(&app);
        tokio::time::sleep(refused).await;
        drop(holder);
    } else {
        let other = Database::connect(app.database_url.as_str()).await.unwrap();
        let txn = other.begin().await.unwrap();
        txn.execute_unprepared("LOCK TABLE flow_runs IN EXCLUSIVE MODE")
            .await
            .unwrap();
        tokio::time::sleep(refused).await;
        txn.rollback().await.unwrap();
        other.close().await.unwrap();
    }
    let done = app.wait_for(&id, &token, TERMINAL).await;
    assert_completed_without_a_crash(&done);
}
