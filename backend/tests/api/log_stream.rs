//! The live log stream: it ends after `CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS` without `end`, and a
//! client resuming with `Last-Event-ID` gets exactly the lines after that id, until `end`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    app_with_a_sleepy_run, body, open_stream, retry_after_secs, settings, TestApp,
};

/// One server-sent event (the server writes `\n` line endings and no multi-line data).
#[derive(Debug)]
struct Event {
    name: String,
    id: Option<i64>,
    data: String,
}

/// Reads a stream to its end; `(events, seconds it lasted)`.
async fn read_stream(
    app: &TestApp,
    token: &str,
    run_id: &str,
    last_event_id: Option<i64>,
) -> (Vec<Event>, f64) {
    let started = Instant::now();
    let mut request = app
        .client
        .get(app.url(&format!("/api/v1/runs/{run_id}/logs/stream")))
        .bearer_auth(token);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let mut resp = request.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), resp.chunk())
        .await
        .expect("the stream stalled")
        .unwrap()
    {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events = text
        .split("\n\n")
        .filter(|block| !block.trim().is_empty() && !block.starts_with(':'))
        .map(|block| {
            let mut event = Event {
                name: "message".into(),
                id: None,
                data: String::new(),
            };
            for line in block.lines() {
                let (field, value) = line.split_once(": ").unwrap_or((line, ""));
                match field {
                    "event" => event.name = value.into(),
                    "id" => event.id = Some(value.parse().unwrap()),
                    "data" => event.data = value.into(),
                    _ => {}
                }
            }
            event
        })
        .collect();
    (events, started.elapsed().as_secs_f64())
}

fn log_ids(events: &[Event]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.name == "log")
        .map(|e| e.id.unwrap())
        .collect()
}

#[tokio::test]
async fn a_stream_ends_after_its_time_without_end_and_resuming_with_last_event_id_continues_after_it(
) {
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS".into(), "1".into());
    // 30 lines, one every 100 ms: several cuts happen while the run writes.
    let (app, token, id) = app_with_a_sleepy_run(vars, 3.0).await;
    let id = id.as_str();

    // Read, resuming after the last line received, until a stream ends with `end`. No assumption on
    // when the first line comes (a loaded machine may take more than a stream's second to start the
    // run): only that the run, which writes for 3 s, outlives the first stream.
    let mut received: Vec<i64> = Vec::new();
    let mut streams = 0;
    let mut ended = false;
    while streams < 30 && !ended {
        let (events, lasted) = read_stream(&app, &token, id, received.last().copied()).await;
        streams += 1;
        if streams == 1 {
            assert_eq!(
                events[0].name, "state",
                "a stream starts with the run's state: {events:?}"
            );
        }
        received.extend(log_ids(&events));
        ended = events.iter().any(|e| e.name == "end");
        if !ended {
            assert!(
                (0.9..3.0).contains(&lasted),
                "stream {streams} lasted {lasted} s instead of about 1 s"
            );
        }
    }
    assert!(ended, "no stream ended with `end` within 30 streams");
    assert!(
        streams >= 2,
        "a run writing for 3 s outlived no 1 s stream ({streams} stream)"
    );

    let all = body(
        app.get(
            &format!("/api/v1/runs/{id}/logs?limit=1000&level=debug"),
            &token,
        )
        .await,
    )
    .await;
    let expected: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    assert_eq!(received, expected, "resuming lost or repeated lines");
    let messages: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["message"])
        .collect();
    assert!(messages.contains(&&json!("tick 29")), "{messages:?}");
}

#[tokio::test]
async fn a_stream_resumed_after_the_end_sends_only_the_state_and_end() {
    let (app, token, id) = app_with_a_sleepy_run(settings(), 0.3).await;
    let id = id.as_str();
    app.wait_for(id, &token, &["COMPLETED"]).await;
    let (events, _) = read_stream(&app, &token, id, None).await;
    let last = *log_ids(&events).last().unwrap();
    let (again, _) = read_stream(&app, &token, id, Some(last)).await;
    let names: Vec<&str> = again.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["state", "end"]);
    let state: Value = serde_json::from_str(&again[0].data).unwrap();
    assert_eq!(state["state"], "COMPLETED");
}

/// Asserts that `resp` refused a stream for too many at once, saying `why`.
async fn assert_refused(resp: reqwest::Response, why: &str) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = retry_after_secs(&resp);
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    let refused = body(resp).await;
    assert_eq!(refused["error"], "too_many_requests", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains(why), "{message}");
}

/// Each open stream costs the server a connection and reads of the database twice a second, so one
/// user holds at most ten at once (whatever tokens or sessions they use): the eleventh is refused
/// with 429 and Retry-After, which the browser shows and retries. Other users and the rest of the
/// API are unaffected, and a stream the client closed frees its place.
#[tokio::test]
async fn a_user_holds_at_most_ten_live_streams_and_a_closed_one_frees_its_place() {
    use chap_scheduler_api::Role;

    let (app, token, id) = app_with_a_sleepy_run(settings(), 60.0).await;
    let id = id.as_str();
    let mut held = Vec::new();
    for n in 0..10 {
        let resp = open_stream(&app, &token, id).await;
        assert_eq!(resp.status(), StatusCode::OK, "stream {n}");
        held.push(resp);
    }
    assert_refused(open_stream(&app, &token, id).await, "10 live log streams").await;
    // Another session of the same user counts with the first.
    let other_session = app.admin_token().await;
    assert_refused(
        open_stream(&app, &other_session, id).await,
        "10 live log streams",
    )
    .await;

    let (_, viewer) = app.user_session("watcher", Role::Viewer).await;
    let theirs = open_stream(&app, &viewer, id).await;
    assert_eq!(theirs.status(), StatusCode::OK, "another user's stream");
    let page = app
        .get(&format!("/api/v1/runs/{id}/logs?limit=10"), &token)
        .await;
    assert_eq!(page.status(), StatusCode::OK, "the log's pages");

    drop(held.pop());
    let freed = Instant::now();
    loop {
        let resp = open_stream(&app, &token, id).await;
        if resp.status() == StatusCode::OK {
            break;
        }
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            freed.elapsed() < Duration::from_secs(20),
            "a closed stream did not free its place within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `CHAP_SCHEDULER_LOG_STREAMS_MAX` bounds the live streams of the whole process, whoever holds
/// them; a stream that ended by itself frees its place.
#[tokio::test]
async fn the_process_serves_at_most_its_configured_number_of_live_streams() {
    use chap_scheduler_api::Role;

    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_LOG_STREAMS_MAX".into(), "3".into());
    vars.insert("CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS".into(), "2".into());
    let (app, token, id) = app_with_a_sleepy_run(vars, 60.0).await;
    let id = id.as_str();
    let mut held = Vec::new();
    for _ in 0..3 {
        let resp = open_stream(&app, &token, id).await;
        assert_eq!(resp.status(), StatusCode::OK);
        held.push(resp);
    }
    let (_, viewer) = app.user_session("watcher", Role::Viewer).await;
    assert_refused(
        open_stream(&app, &viewer, id).await,
        "at most 3 live log streams",
    )
    .await;
    // The held streams end after their 2 s; read them to their end, then there is room again.
    for mut resp in held {
        while tokio::time::timeout(Duration::from_secs(30), resp.chunk())
            .await
            .expect("the stream stalled")
            .unwrap()
            .is_some()
        {}
    }
    let resp = open_stream(&app, &viewer, id).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "room after the streams ended"
    );
}
