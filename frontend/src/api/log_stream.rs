//! `GET /runs/{id}/logs/stream` read with `fetch` and a streamed body: `EventSource` cannot send
//! the bearer token. One call reads one connection; resuming after a drop is the caller's choice.

use chap_scheduler_api::{LogView, RunView};
use js_sys::{Reflect, Uint8Array};
use uuid::Uuid;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, ReadableStreamDefaultReader};

use super::sse::Parser;
use super::transport::{authed_stream, Query};
use super::ApiError;

/// What the live log stream says.
#[derive(Debug, Clone)]
pub enum LogEvent {
    /// A log line (its id is where a resumed stream starts).
    Line(LogView),
    /// The run, sent when its state changed (and first thing on every connection).
    State(Box<RunView>),
    /// The run finished and every line was sent: nothing more will come.
    End,
}

/// How one connection of the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// After `end`: the log is complete.
    Complete,
    /// The server closed the connection without `end` (it recycles streams): resume.
    Closed,
}

/// Follows a run's log from the line after `after`, at `level` or above, calling `on_events` with
/// the events of each chunk as it arrives, until `end`, the server closing the stream, an error, or
/// `signal` aborting it (reported as [`ApiError::Network`]; the caller knows it aborted).
pub async fn follow_run_log(
    id: Uuid,
    after: Option<i64>,
    level: Option<&str>,
    signal: &AbortSignal,
    mut on_events: impl FnMut(Vec<LogEvent>),
) -> Result<StreamEnd, ApiError> {
    let mut query = Query::default();
    query.push("level", level);
    let path = format!("/runs/{id}/logs/stream{}", query.finish());
    let resume = after.map(|a| a.to_string());
    let headers: Vec<(&str, &str)> = resume
        .as_deref()
        .map(|a| ("Last-Event-ID", a))
        .into_iter()
        .collect();
    let response = authed_stream(&path, &headers, signal).await?;
    let reader: ReadableStreamDefaultReader = response
        .body()
        .ok_or_else(|| ApiError::UnexpectedResponse("a stream without a body".into()))?
        .get_reader()
        .unchecked_into();
    let mut parser = Parser::new();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|_| ApiError::Network)?;
        let done = Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(StreamEnd::Closed);
        }
        let Ok(value) = Reflect::get(&chunk, &"value".into()) else {
            continue;
        };
        let bytes = value.unchecked_into::<Uint8Array>().to_vec();
        let mut events = Vec::new();
        for event in parser.feed(&bytes) {
            if let Some(event) = decode(&event.name, &event.data)? {
                events.push(event);
            }
        }
        if events.is_empty() {
            // A keep-alive, or part of an event.
            continue;
        }
        let ended = events.iter().any(|e| matches!(e, LogEvent::End));
        on_events(events);
        if ended {
            // Nothing follows `end`: the server closes the connection itself.
            return Ok(StreamEnd::Complete);
        }
    }
}

/// An event of the stream; `None` for a kind this client does not know (a newer server).
fn decode(name: &str, data: &str) -> Result<Option<LogEvent>, ApiError> {
    let bad = |e: serde_json::Error| ApiError::UnexpectedResponse(format!("a `{name}` event: {e}"));
    Ok(match name {
        "log" => Some(LogEvent::Line(serde_json::from_str(data).map_err(bad)?)),
        "state" => Some(LogEvent::State(Box::new(
            serde_json::from_str(data).map_err(bad)?,
        ))),
        "end" => Some(LogEvent::End),
        _ => None,
    })
}
