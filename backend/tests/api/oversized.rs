//! A server that answers too much: DHIS2, chap (through DHIS2's route) or a webhook's receiver sending
//! a body far longer than any real answer, with its length declared or streamed without end. The
//! service reads at most `CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB` of an answer (4 KiB of a
//! webhook's error), fails that call at once with the reason, and never holds the rest.

use std::time::Duration;

use dhis2_sim::{EndpointGroup, Fault, Scenario};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::body;
use crate::notifications::{app, rule};
use crate::prediction::{step, steps, world};

/// The process's peak resident memory since [`reset_peak_memory`], in MiB (Linux).
fn peak_memory_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib / 1024
}

/// Starts the peak of [`peak_memory_mib`] afresh (nextest runs each test in a process of its own).
fn reset_peak_memory() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

fn oversized(group: EndpointGroup, bytes: u64, chunked: bool) -> Fault {
    Fault {
        status: 200,
        oversized_bytes: Some(bytes),
        oversized_chunked: chunked,
        ..Fault::next(group, 1, 200)
    }
}

#[tokio::test]
async fn a_dhis2_answer_declared_longer_than_the_limit_fails_its_call_unread_and_unretried() {
    let scenario = Scenario::fixture().fault(oversized(EndpointGroup::Analytics, 64 << 20, false));
    let w = world(
        scenario,
        &[("CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB", "1")],
    )
    .await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    let s = steps(&run);
    let (_, _, state, error) = step(&s, "Probe DHIS2 for latest covariate periods");
    assert_eq!(state, "FAILED", "{s:?}");
    assert!(
        error.starts_with("ResponseTooLargeError: DHIS2 GET /api/analytics: the answer is larger than 1 MiB, the most this service reads (CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB)"),
        "{error}"
    );
    assert_eq!(
        w.sim.count("GET", "/api/analytics"),
        1,
        "not retried: the same answer would come again"
    );
    let report = w.report(&run).await;
    assert!(report.contains("ResponseTooLargeError"), "{report}");
}

#[tokio::test]
async fn a_chap_answer_streamed_past_the_limit_fails_its_setup_and_is_never_held() {
    // 512 MiB without a length; the service may hold 1 MiB of it.
    let scenario =
        Scenario::fixture().fault(oversized(EndpointGroup::PredictionEntries, 512 << 20, true));
    let w = world(
        scenario,
        &[("CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB", "1")],
    )
    .await;
    reset_peak_memory();
    let run = w.run(json!({})).await;
    let peak = peak_memory_mib();
    assert_eq!(run["state"], "FAILED", "{run}");
    let texts = w.stored_run_texts().await;
    let error = texts
        .iter()
        .find(|t| t.contains("ResponseTooLargeError"))
        .unwrap_or_else(|| panic!("the reason is recorded: {texts:?}"));
    assert!(
        error.contains("chap GET /v1/analytics/prediction-entry/")
            && error.contains("larger than 1 MiB"),
        "{error}"
    );
    assert_eq!(
        w.sim
            .count("GET", "/api/routes/chap/run/v1/analytics/prediction-entry/"),
        1
    );
    assert!(
        peak < 256,
        "the test process (service and simulator) peaked at {peak} MiB while 512 MiB were offered"
    );
}

/// A webhook's receiver answering 500 with an error page that never ends (a few MB a second).
async fn endless_error_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n";
                let page = "<html><body>Service unavailable: the queue is full</body>";
                let mut out = format!("{head}{:x}\r\n{page}\r\n", page.len()).into_bytes();
                let filler = " ".repeat(64 * 1024);
                loop {
                    if socket.write_all(&out).await.is_err() {
                        return;
                    }
                    out = format!("{:x}\r\n{filler}\r\n", filler.len()).into_bytes();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn a_webhook_answering_an_endless_error_is_reported_with_its_first_words() {
    let (app, token) = app().await;
    let url = endless_error_receiver().await;
    let rule: Value = rule(&app, &token, &url, json!(["run.failed"]), json!({})).await;
    let result = body(
        app.post(
            &format!(
                "/api/v1/notification-rules/{}/test",
                rule["id"].as_str().unwrap()
            ),
            &token,
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(result["ok"], false, "{result}");
    let detail = result["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "the webhook answered HTTP 500: <html><body>Service unavailable: the queue is full</body>"
        ),
        "{detail}"
    );
    assert!(detail.chars().count() <= 340, "{detail}");
}
