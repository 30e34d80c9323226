//! A worker on a host whose clock is off: the service keeps the database server's time.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::processes::{kill, worker_process_in, HOST_CLOCK_SKEW};

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_worker_whose_clock_is_twenty_seconds_behind_runs_without_being_taken_for_dead() {
    if std::env::var("CHAP_TEST_DATABASE_URL").map_or(true, |u| u.is_empty()) {
        return; // PostgreSQL only: the processes sharing a SQLite file share a host and its clock.
    }
    // Heartbeats every 0.25 s, silent after 1.5 s; the reaper looks every 2 s.
    let (app, token) = spawn_app_without_workers().await;
    let dep = app.sleepy_retried_once(&token).await;
    let worker = worker_process_in(&app, &[], &[(HOST_CLOCK_SKEW, "-20")]);
    let run = app.trigger(&dep, &token, json!({ "seconds": 4 })).await;
    let id = run["id"].as_str().unwrap().to_string();
    let done = app
        .wait_for(
            &id,
            &token,
            &["COMPLETED", "FAILED", "CRASHED", "CANCELLED"],
        )
        .await;
    kill(worker);
    assert_completed_without_a_crash(&done);
    // Its times are the database's, in the order things happened: started after it was created, the
    // history in order, its log lines within the run.
    let created = at(&done["created_at"]);
    let started = at(&done["started_at"]);
    let ended = at(&done["ended_at"]);
    assert!(created <= started && started <= ended, "{done}");
    assert!(
        ended - started >= chrono::Duration::seconds(4),
        "the run slept 4 s: {done}"
    );
    let history: Vec<DateTime<Utc>> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| at(&h["at"]))
        .collect();
    assert!(history.windows(2).all(|w| w[0] <= w[1]), "{done}");
    let logs = body(
        app.get(&format!("/api/v1/runs/{id}/logs?limit=1000"), &token)
            .await,
    )
    .await;
    let lines = logs["items"].as_array().unwrap();
    assert!(!lines.is_empty(), "{logs}");
    for line in lines {
        let t = at(&line["at"]);
        assert!(
            t >= started - chrono::Duration::seconds(1) && t <= ended,
            "a log line at {t}, the run from {started} to {ended}: {line}"
        );
    }
}
