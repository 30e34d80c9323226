//! A server's host that vanishes without closing its connections (it crashed, its network was cut,
//! a fail-over moved its address): nothing answers on the connections open then, not even the
//! kernel, while new connections reach whoever answers at the address now. The packets of the open
//! connections are dropped ([`PacketFilter`]).

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::packet_filter::{local_ports_to, PacketFilter};

/// Cuts every connection this process has open to `port` on 127.0.0.1; returns the filter (which
/// heals them when dropped) and their local ports.
fn vanish(port: u16) -> (PacketFilter, Vec<u16>) {
    let filter = PacketFilter::install();
    let cut = local_ports_to(port);
    assert!(!cut.is_empty(), "no connection to port {port} to cut");
    for local in &cut {
        filter.drop_connection(*local, port);
    }
    (filter, cut)
}

fn port_of(url: &str) -> u16 {
    let rest = url.split_once("://").expect("a URL").1;
    let host = rest.split(['/', '?']).next().unwrap();
    let host = host.rsplit('@').next().unwrap();
    host.rsplit_once(':')
        .map(|(_, p)| p.parse().expect("a port"))
        .unwrap_or(5432)
}

async fn within<T>(what: &str, limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {limit:?}"))
}

/// Waits (at most 10 s: five times the 2 s after which a silent server is taken for gone) until none
/// of the connections cut (local ports `cut` to `port`) is open.
async fn all_closed(port: u16, cut: &[u16]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<u16> = local_ports_to(port)
            .into_iter()
            .filter(|p| cut.contains(p))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connections to the vanished host still open: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asks `/ready` until it answers 200 (both the database and the queue answer).
async fn ready(app: &TestApp) {
    loop {
        if let Ok(resp) = app.client.get(app.url("/ready")).send().await {
            if resp.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The run once terminal, asking every 200 ms; an answer that is not 200 or takes more than 5 s is
/// asked again (the API may answer 503 while its connections are found dead).
async fn terminal(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    loop {
        let asked = tokio::time::timeout(
            Duration::from_secs(5),
            app.get(&format!("/api/v1/runs/{id}"), token),
        )
        .await;
        if let Ok(resp) = asked {
            if resp.status() == 200 {
                let run = body(resp).await;
                if TERMINAL.contains(&run["state"].as_str().unwrap_or("")) {
                    return run;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The API answers 200 to 40 requests at once (more than a pool's 16 connections: none of them is
/// held by a connection that waits for ever).
async fn the_api_answers(app: &TestApp, token: &str) {
    let requests = (0..40).map(|_| app.get("/api/v1/runs?limit=5", token));
    for resp in futures_util::future::join_all(requests).await {
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    }
}

#[tokio::test]
async fn a_database_host_that_vanishes_during_a_run_is_left_for_the_one_answering_now() {
    let Some(server) = test_env("CHAP_TEST_DATABASE_URL") else {
        return; // PostgreSQL only: SQLite is a file.
    };
    let pg = port_of(&server);
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_DEAD_CONNECTION_SECONDS".into(), "2".into());
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    let dep = app.sleepy_retried_once(&token).await;
    let run = app.trigger(&dep, &token, json!({ "seconds": 4 })).await;
    let id = run["id"].as_str().unwrap().to_string();
    app.wait_for(&id, &token, &["RUNNING"]).await;

    // Every connection open now (the run's writes, its heartbeats, the dispatcher's, the API's) goes
    // silent; new ones reach the same server, as after a fail-over.
    let (_filter, cut) = vanish(pg);
    let done = within(
        "the run ending after the database's host vanished",
        Duration::from_secs(40),
        terminal(&app, &token, &id),
    )
    .await;
    assert_completed_without_a_crash(&done);
    within(
        "the API answering",
        Duration::from_secs(20),
        the_api_answers(&app, &token),
    )
    .await;
    let next = app.trigger(&dep, &token, json!({ "seconds": 0 })).await;
    let next = within(
        "a run triggered after the fault",
        Duration::from_secs(30),
        app.wait_for(next["id"].as_str().unwrap(), &token, TERMINAL),
    )
    .await;
    assert_eq!(next["state"], "COMPLETED", "{next}");
    all_closed(pg, &cut).await;
    within("/ready answering 200", Duration::from_secs(10), ready(&app)).await;
}

#[tokio::test]
async fn a_queue_host_that_vanishes_is_left_for_the_one_answering_now() {
    let Some(redis) = test_env("CHAP_TEST_REDIS_URL") else {
        return; // Redis only.
    };
    let port = port_of(&redis);
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_DEAD_CONNECTION_SECONDS".into(), "2".into());
    vars.insert("CHAP_SCHEDULER_REQUEUE_AFTER_SECONDS".into(), "1".into());
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    let dep = app.sleepy_retried_once(&token).await;
    let first = app.trigger(&dep, &token, json!({ "seconds": 0 })).await;
    app.wait_for(first["id"].as_str().unwrap(), &token, TERMINAL)
        .await;

    let (_filter, cut) = vanish(port);
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            let run = app.trigger(&dep, &token, json!({ "seconds": 0 })).await;
            ids.push(run["id"].as_str().unwrap().to_string());
        }
        ids
    };
    for id in &ids {
        let done = within(
            "a run triggered after the queue's host vanished",
            Duration::from_secs(40),
            terminal(&app, &token, id),
        )
        .await;
        assert_completed_without_a_crash(&done);
    }
    all_closed(port, &cut).await;
    within("/ready answering 200", Duration::from_secs(10), ready(&app)).await;
}
