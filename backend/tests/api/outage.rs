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

/// The lines logged from now on (this test process's global subscriber, installed first).
fn capture_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Sink(buf.clone());
    tracing_subscriber::fmt()
        .with_env_filter("warn,chap_scheduler=info")
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the first subscriber of this test process");
    buf
}

#[tokio::test]
async fn a_database_outage_is_logged_once_by_each_loop_not_on_every_pass() {
    let Some(server) = test_env("CHAP_TEST_DATABASE_URL") else {
        return; // PostgreSQL: its sessions can be refused.
    };
    let logs = capture_logs();
    let (app, _token) = spawn_app_without_workers().await;
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    let admin = Database::connect(server.as_str()).await.unwrap();
    // The scheduler loop ticks five times a second: 3 s of refused sessions fail it ~15 times.
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
        ))
        .await
        .unwrap();
    admin.close().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("scheduler tick failed"))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "the first failure and the end of the series: {lines:#?}"
    );
    assert!(lines[0].contains("ERROR"), "{}", lines[0]);
    let ended = lines[1];
    assert!(
        ended.contains("INFO") && ended.contains("it works again"),
        "{ended}"
    );
    let failures: u64 = ended
        .split("failures=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of failures: {ended}"));
    assert!(failures >= 5, "the loop kept trying meanwhile: {ended}");
}
