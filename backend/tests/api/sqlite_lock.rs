//! A process frozen while it holds SQLite's write lock: a `worker` process stopped (SIGSTOP, `docker
//! pause`, a debugger) in the middle of a commit. No other process can take the lock from it, so
//! every writer of the installation waits until it resumes or dies. The service must answer while
//! it waits (reads as usual, writes 503 with `Retry-After`, never a hang) and lose nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chap_scheduler::db::begin_write;
use reqwest::StatusCode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use serde_json::json;

use crate::helpers::*;
use crate::processes::{signal, WorkerProcess};

const LOCK_DB: &str = "CHAP_TEST_LOCK_DB";

/// Not a test: the entry point of a process that takes SQLite's write lock on `CHAP_TEST_LOCK_DB`,
/// says `locked` and holds it until it is killed. Ignored in normal runs.
#[tokio::test]
#[ignore = "entry point of a process started by other tests"]
async fn write_lock_holder_entry() {
    let Ok(url) = std::env::var(LOCK_DB) else {
        return;
    };
    let db = Database::connect(url.as_str()).await.unwrap();
    let _txn = begin_write(&db).await.unwrap();
    println!("locked");
    std::future::pending::<()>().await;
}

/// Starts a process that holds the write lock of the app's SQLite database, once it holds it.
pub(crate) fn write_lock_holder(app: &TestApp) -> WorkerProcess {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sqlite_lock::write_lock_holder_entry",
            "--ignored",
            "--nocapture",
        ])
        .env(LOCK_DB, &app.database_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let holder = WorkerProcess(child);
    let said_locked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.trim() == "locked");
    assert!(said_locked, "the lock holder exited without the lock");
    holder
}

/// Whether a process other than the app's holds the write lock of its SQLite database: a writer of
/// the app's own holds it for milliseconds, so a new connection that cannot take it within 2 s
/// means that another process sits on it.
pub(crate) async fn write_lock_held_elsewhere(app: &TestApp) -> bool {
    let mut opts = ConnectOptions::new(app.database_url.clone());
    opts.max_connections(1)
        .map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::from_secs(2)));
    let db: DatabaseConnection = Database::connect(opts).await.unwrap();
    let held = match begin_write(&db).await {
        Ok(txn) => {
            txn.rollback().await.unwrap();
            false
        }
        Err(e) => {
            assert!(chap_scheduler::db::is_unavailable(&e), "{e}");
            true
        }
    };
    db.close().await.unwrap();
    held
}

pub(crate) fn on_sqlite(app: &TestApp) -> bool {
    app.database_url.starts_with("sqlite:")
}

#[tokio::test]
async fn a_process_frozen_holding_the_sqlite_write_lock_turns_writes_away_until_it_dies() {
    let app = spawn_app().await;
    if !on_sqlite(&app) {
        // PostgreSQL ends a frozen client's transaction itself (`idle_in_transaction_session_timeout`):
        // `processes` freezes worker processes on both databases.
        return;
    }
    let token = app.admin_token().await;
    let dep = app.deployment("test-report", &token).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = app.trigger(&dep, &token, json!({ "seconds": 0 })).await;
    let before = before["id"].as_str().unwrap().to_string();
    app.wait_for(&before, &token, TERMINAL).await;

    let holder = write_lock_holder(&app);
    signal(&holder, "STOP");
    assert!(write_lock_held_elsewhere(&app).await);

    // Reads answer as usual: WAL readers never wait for the writer.
    let t0 = Instant::now();
    let r = app.get(&format!("/api/v1/runs/{before}"), &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // A write waits for its turn, then answers 503 with Retry-After: not a hang, not a 500.
    let t0 = Instant::now();
    let r = app
        .post(
            &format!("/api/v1/deployments/{dep}/runs"),
            &token,
            json!({ "parameters": { "seconds": 0 } }),
        )
        .await;
    let waited = t0.elapsed();
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "after {waited:?}"
    );
    assert!(r.headers().contains_key("retry-after"));
    assert!(waited < Duration::from_secs(15), "{waited:?}");
    assert_eq!(body(r).await["error"], "unavailable");

    // The frozen process dies (its supervisor, the OOM killer): the system releases its lock, and
    // the same service writes and runs again without a restart.
    drop(holder);
    assert!(!write_lock_held_elsewhere(&app).await);
    let after = app.trigger(&dep, &token, json!({ "seconds": 0 })).await;
    let done = app
        .wait_for(after["id"].as_str().unwrap(), &token, TERMINAL)
        .await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    let runs = body(app.get("/api/v1/runs?limit=10", &token).await).await;
    assert_eq!(
        runs["items"].as_array().unwrap().len(),
        2,
        "only the answered triggers made runs: {runs}"
    );
}
