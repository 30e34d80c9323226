//! Clients that stall: one that announces a body and does not send it (slowloris on the body) is
//! answered 408 `request_timeout` and closed `CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS` after its head,
//! however many there are, and a body that arrives in pieces within that time is served as usual; one
//! that stops reading its answer is disconnected once it has taken nothing for that long.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{settings, spawn_app_with, TestApp, ADMIN_PASSWORD};

async fn app(client_timeout: &str) -> TestApp {
    let mut vars: HashMap<String, String> = settings();
    vars.insert(
        "CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS".into(),
        client_timeout.into(),
    );
    spawn_app_with(vars).await
}

/// A connection that sent a login's head announcing `length` bytes and `sent` of them.
async fn stalled(app: &TestApp, length: usize, sent: &str) -> TcpStream {
    let host = app.address.trim_start_matches("http://");
    let mut socket = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{sent}"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
}

/// Everything the server sends until it closes the connection (bounded by a generous wait, far past
/// the body timeout, so that a connection the server keeps open fails the test instead of hanging it).
async fn until_closed(socket: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .expect("read the answer");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The JSON body of a raw HTTP/1.1 answer.
fn json_of(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test]
async fn a_login_whose_body_never_comes_is_answered_408_and_its_connection_closed() {
    let app = app("0.5").await;
    let mut socket = stalled(&app, 100, "{\"usern").await;
    let answer = until_closed(&mut socket).await;
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    let error = json_of(&answer);
    assert_eq!(error["error"], "request_timeout", "{answer}");
    assert_eq!(
        error["message"],
        "the request's body did not arrive within 0.5 s of its head"
    );
}

#[tokio::test]
async fn four_hundred_stalled_bodies_are_all_closed_and_the_service_answers_meanwhile() {
    let app = app("1").await;
    let mut sockets = Vec::new();
    for _ in 0..400 {
        sockets.push(stalled(&app, 1000, "{").await);
    }
    // Meanwhile a login with its whole body is served.
    let login = app.login_with(&app.client, "admin", ADMIN_PASSWORD).await;
    assert_eq!(login.status(), reqwest::StatusCode::OK);
    let answers = futures_util::future::join_all(sockets.iter_mut().map(until_closed)).await;
    let timed_out = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 408 "))
        .count();
    assert_eq!(
        timed_out,
        400,
        "{:?}",
        answers.iter().find(|a| !a.starts_with("HTTP/1.1 408 "))
    );
}

#[tokio::test]
async fn a_body_that_arrives_in_pieces_within_the_time_is_served() {
    let app = app("2").await;
    let body = format!("{{\"username\":\"admin\",\"password\":\"{ADMIN_PASSWORD}\"}}");
    let (first, rest) = body.split_at(10);
    let mut socket = stalled(&app, body.len(), first).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    socket.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 64 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_disconnected() {
    let app = app("1").await;
    let host = app.address.trim_start_matches("http://");
    let whole: usize = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(
        whole > 64 * 1024,
        "an answer larger than the buffers: {whole} bytes"
    );
    // A receive window of a few KiB, and nothing read for 5 s.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
    let head = format!("GET /api/openapi.json HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut received = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received))
        .await
        .expect("the connection ends");
    assert!(
        received.len() < whole,
        "the server gave up on the stalled reader: {} of {whole} bytes arrived ({ended:?})",
        received.len()
    );
    // The service itself is unaffected.
    let health = reqwest::get(app.url("/health")).await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
}
