//! `/metrics` and `X-Request-Id`: what an operator's Prometheus and log search see.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};

use prometheus_parse::{Sample, Scrape, Value as Metric};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Fetches and parses `/metrics` (no credentials: Prometheus sends none). With `CHAP_TEST_PROMTOOL`
/// (scripts/test sets it) Prometheus's own `promtool check metrics` must accept the text too.
async fn scrape(base: &str) -> (String, Vec<Sample>) {
    let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
        assert!(series.starts_with("chap_scheduler_"), "{line}");
    }
    if let Ok(promtool) = std::env::var("CHAP_TEST_PROMTOOL") {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    (text, scrape.samples)
}

/// Triggers a `test-steps` run and waits until it is COMPLETED; returns the run.
async fn completed_run(app: &TestApp, token: &str) -> serde_json::Value {
    let run = app
        .trigger_flow("test-steps", token, json!({ "greeting": "hi" }))
        .await;
    app.wait_for(run["id"].as_str().unwrap(), token, &["COMPLETED"])
        .await
}

fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
            Metric::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Metric::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn a_run_moves_the_counters_and_the_gauges_read_the_database() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let (_, before) = scrape(&app.address).await;
    assert_eq!(
        value(&before, "chap_scheduler_runs", &[("state", "COMPLETED")]),
        Some(0.0)
    );
    assert_eq!(value(&before, "chap_scheduler_queue_depth", &[]), Some(0.0));

    completed_run(&app, &token).await;

    let (text, after) = scrape(&app.address).await;
    let dep = app.deployment("test-steps", &token).await;
    let name = dep["name"].as_str().unwrap();
    assert_eq!(
        value(&after, "chap_scheduler_runs", &[("state", "COMPLETED")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            "chap_scheduler_runs_finished_total",
            &[("deployment", name), ("state", "COMPLETED")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            "chap_scheduler_run_duration_seconds",
            &[("flow", "test-steps")]
        ),
        Some(1.0),
        "one run in the histogram: {text}"
    );
    assert_eq!(
        value(
            &after,
            "chap_scheduler_step_duration_seconds",
            &[("flow", "test-steps"), ("step", "greet")]
        ),
        Some(3.0),
        "{text}"
    );
    let last = value(
        &after,
        "chap_scheduler_last_completed_run_timestamp_seconds",
        &[("deployment", name)],
    )
    .expect("the last completed run's time");
    assert!(
        (last - chrono::Utc::now().timestamp() as f64).abs() < 60.0,
        "{last}"
    );
    // Scrapes need no login: a burst of them is answered, and all see the same figures.
    let burst = futures_util::future::join_all((0..40).map(|_| scrape(&app.address))).await;
    for (_, samples) in &burst {
        assert_eq!(
            value(samples, "chap_scheduler_runs", &[("state", "COMPLETED")]),
            Some(1.0)
        );
    }
    // (prometheus-parse cuts label values at `}`, so this one is read from the text.)
    assert!(
        text.contains(
            r#"chap_scheduler_http_requests_total{route="/api/v1/deployments/{id}/runs",method="POST",status="201"} 1"#
        ),
        "requests are counted by route template: {text}"
    );
}

/// The last-completed gauge (what the "no success for 36 hours" alert reads) is read per
/// deployment as it is now: a renamed deployment keeps its history under its new name, and neither
/// its old name nor a deleted deployment keeps a series.
#[tokio::test]
async fn the_last_completed_gauge_follows_a_renamed_deployment() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let done = completed_run(&app, &token).await;
    let ended = chrono::DateTime::parse_from_rfc3339(done["ended_at"].as_str().unwrap())
        .unwrap()
        .timestamp() as f64;
    let dep = app.deployment("test-steps", &token).await;
    app.set_deployment(
        &token,
        dep["id"].as_str().unwrap(),
        json!({ "name": "renamed-steps" }),
    )
    .await;
    let (text, samples) = scrape(&app.address).await;
    assert_eq!(
        value(
            &samples,
            "chap_scheduler_last_completed_run_timestamp_seconds",
            &[("deployment", "renamed-steps")]
        ),
        Some(ended),
        "{text}"
    );
    // The old name's series, set by the run's end and by earlier scrapes, is gone by the next scrape
    // a gauge's idle time later: it would make the alert fire for a name nobody uses any more.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (text, samples) = scrape(&app.address).await;
    assert_eq!(
        value(
            &samples,
            "chap_scheduler_last_completed_run_timestamp_seconds",
            &[("deployment", "test-steps")]
        ),
        None,
        "{text}"
    );
    // So is a deleted deployment's.
    let r = app
        .client
        .delete(app.url(&format!(
            "/api/v1/deployments/{}",
            dep["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (text, samples) = scrape(&app.address).await;
    assert!(
        !text.contains("chap_scheduler_last_completed_run_timestamp_seconds{"),
        "{text}"
    );
    // The other gauges are there at every scrape, however far apart.
    assert_eq!(
        value(&samples, "chap_scheduler_up", &[("role", "serve")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&samples, "chap_scheduler_runs", &[("state", "COMPLETED")]),
        Some(1.0),
        "{text}"
    );
}

/// While the run gauges cannot be read, `/metrics` gives the last ones read: the "no completed run
/// for 36 hours" alert must not go silent because the database is down.
#[tokio::test]
async fn the_gauges_keep_their_last_values_while_the_database_cannot_be_read() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let token = app.admin_token().await;
    completed_run(&app, &token).await;
    let (text, before) = scrape(&app.address).await;
    let last = |samples: &[Sample]| {
        value(
            samples,
            "chap_scheduler_last_completed_run_timestamp_seconds",
            &[("deployment", "test-steps")],
        )
    };
    assert!(last(&before).is_some(), "{text}");
    // The runs table out of reach: every gauge read fails from now on.
    app.db
        .execute_unprepared("ALTER TABLE flow_runs RENAME TO flow_runs_away")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (text, during) = scrape(&app.address).await;
    assert_eq!(last(&during), last(&before), "{text}");
    assert_eq!(
        value(&during, "chap_scheduler_runs", &[("state", "COMPLETED")]),
        Some(1.0),
        "{text}"
    );
}

/// Run ids, unknown paths and odd methods never become label values.
#[tokio::test]
async fn label_sets_stay_bounded_after_a_thousand_runs_with_distinct_ids() {
    // The production heartbeat timeout, not the tests' 1.5 s: once, in these bursts of 50 triggers
    // on a loaded machine (debug build, another test beside it), a run went 1.5 s without a
    // heartbeat, the reaper crashed it, and the CRASHED state's series took the count past the bound.
    // This test is about labels, not about crash detection.
    let app = spawn_app_with(HashMap::from([(
        "CHAP_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS".to_string(),
        "30".to_string(),
    )]))
    .await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-steps", &token).await;
    let dep_id = dep["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for chunk in 0..20 {
        let batch = (0..50).map(|i| {
            let app = &app;
            let token = &token;
            let dep_id = &dep_id;
            async move {
                let run = app
                    .trigger(
                        dep_id,
                        token,
                        json!({ "greeting": format!("run {chunk}-{i}"), "count": 1 }),
                    )
                    .await;
                run["id"].as_str().unwrap().to_owned()
            }
        });
        ids.extend(futures_util::future::join_all(batch).await);
    }
    for id in &ids {
        let r = app.get(&format!("/api/v1/runs/{id}"), &token).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.get(&format!("/api/v1/no-such/{id}"), &token).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let (text, _) = scrape(&app.address).await;
    let series: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .collect();
    assert!(series.len() < 150, "{} series: {series:#?}", series.len());
    for id in &ids {
        assert!(!text.contains(id.as_str()), "a run id became a label");
    }
    let requests: Vec<&&str> = series
        .iter()
        .filter(|s| s.starts_with("chap_scheduler_http_requests_total{"))
        .collect();
    assert!(requests.len() <= 12, "{requests:#?}");
    assert!(
        requests.iter().any(|s| s.contains(r#"route="unmatched""#)),
        "unknown paths are one series: {requests:#?}"
    );
}

#[tokio::test]
async fn metrics_can_be_turned_off_and_never_need_a_login() {
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_METRICS".into(), "false".into());
    let app = spawn_app_with(vars).await;
    let r = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(r).await["error"], "not_found");
}

#[tokio::test]
async fn every_response_carries_a_request_id_kept_from_the_caller_when_it_is_safe() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for path in [
        "/health",
        "/api/v1/runs",
        "/api/v1/nothing-here",
        "/metrics",
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 32, "{path}: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    let r = client
        .get(app.url("/api/v1/runs"))
        .header("X-Request-Id", "nginx-7f3a:42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["x-request-id"], "nginx-7f3a:42");
    for forged in ["a b", "x".repeat(129).as_str(), "id\"}", ""] {
        let r = client
            .get(app.url("/health"))
            .header("X-Request-Id", forged)
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, forged);
        assert_eq!(id.len(), 32);
    }
}

/// The request id is in the log lines written while the request was served.
#[tokio::test]
async fn the_request_id_is_in_the_requests_log_lines() {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_env_filter("chap_scheduler=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let app = spawn_app().await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .header("X-Request-Id", "req-from-proxy-1")
        .json(&json!({ "username": "admin", "password": "wrong password here" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("req-from-proxy-1"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("request finished") && l.contains("status=401")),
        "{logs}"
    );
}

/// A `worker` process with `CHAP_SCHEDULER_METRICS_BIND` answers `/health` and `/metrics` there, and
/// its counters move with the runs it executes.
#[tokio::test]
async fn a_workers_metrics_port_answers_health_and_metrics() {
    let (app, token) = spawn_app_without_workers().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let _worker =
        crate::processes::worker_process_with(&app, &[("CHAP_SCHEDULER_METRICS_BIND", &bind)]);
    let base = format!("http://{bind}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let health = loop {
        match reqwest::get(format!("{base}/health")).await {
            Ok(r) => break r,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the worker never listened: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(health.status(), StatusCode::OK);
    let health = body(health).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["checks"]["database"], "ok");

    completed_run(&app, &token).await;
    let (text, samples) = scrape(&base).await;
    assert_eq!(
        value(&samples, "chap_scheduler_up", &[("role", "worker")]),
        Some(1.0),
        "{text}"
    );
    // The last completed run is the database's, exported by `serve`: a worker's own last one goes
    // old whenever the other workers took the deployment's runs, and would make the alert fire.
    assert!(
        !text.contains("chap_scheduler_last_completed_run_timestamp_seconds{"),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "chap_scheduler_step_duration_seconds",
            &[("flow", "test-steps"), ("step", "greet")]
        ),
        Some(3.0),
        "{text}"
    );
    let r = reqwest::get(format!("{base}/api/v1/runs")).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a worker serves nothing else"
    );
}

/// `log_streams_open` counts the live log streams the process holds: an operator sees how close it is
/// to `CHAP_SCHEDULER_LOG_STREAMS_MAX` (the refusals are the stream route's 429s in
/// `http_requests_total`).
#[tokio::test]
async fn the_open_log_streams_are_a_gauge() {
    let (app, token, id) = app_with_a_sleepy_run(settings(), 60.0).await;
    let open_streams = || async {
        let (text, samples) = scrape(&app.address).await;
        (
            value(&samples, "chap_scheduler_log_streams_open", &[]),
            text,
        )
    };
    let (none, text) = open_streams().await;
    assert_eq!(none, Some(0.0), "{text}");
    let mut held = Vec::new();
    for _ in 0..2 {
        let resp = open_stream(&app, &token, &id).await;
        assert_eq!(resp.status(), StatusCode::OK);
        held.push(resp);
    }
    let (two, text) = open_streams().await;
    assert_eq!(two, Some(2.0), "{text}");
    drop(held);
    let dropped = std::time::Instant::now();
    while open_streams().await.0 != Some(0.0) {
        assert!(
            dropped.elapsed() < std::time::Duration::from_secs(20),
            "the closed streams still count after 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
