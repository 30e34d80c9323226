//! The live log tail of `GET /runs/{id}/logs/stream` as Server-Sent Events: `log` (id = log id),
//! `state` and `end`. A stream wakes when this process writes lines of its run, polls the database
//! otherwise (lines written by worker processes, state changes), and ends after the configured
//! time without `end`, so that its client resumes with `Last-Event-ID`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web;
use chap_scheduler_api::LogLevel;
use serde_json::json;
use tokio::sync::broadcast;
use tokio::time::Instant;
use uuid::Uuid;

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::orchestrator::state::RunState;
use crate::orchestrator::store;

/// How often a tail looks at the database when nothing woke it.
const POLL: Duration = Duration::from_millis(500);
/// A quiet stream sends a comment this often, so that proxies do not time it out, and so that a
/// stream whose client went away is dropped (and its place given back) within two of these: actix
/// drops a streamed body only when writing to the closed connection fails.
const KEEP_ALIVE: Duration = Duration::from_secs(2);
/// Most lines read (and sent) in one go.
const CHUNK: u64 = 500;

/// Most live streams one user holds at once, over all their sessions and API tokens: a page per run
/// in a few browser tabs, never thousands.
pub const STREAMS_PER_USER: usize = 10;
/// What a client refused a stream is told to wait.
const REFUSED_RETRY: Duration = Duration::from_secs(5);

/// The live streams this process serves. Each holds a connection and reads the database twice a
/// second for as long as it is open, so that one signed-in client opening thousands cannot take the
/// service from everybody: their number is bounded per user ([`STREAMS_PER_USER`]) and in all
/// (`CHAP_SCHEDULER_LOG_STREAMS_MAX`).
#[derive(Clone)]
pub struct StreamSlots(Arc<Slots>);

struct Slots {
    max: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_user: HashMap<Uuid, usize>,
}

/// A place among the live streams, given back when dropped (the stream ended or its client left).
pub struct StreamSlot {
    slots: StreamSlots,
    user: Uuid,
}

impl StreamSlots {
    /// Room for `max` live streams in all.
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Slots {
            max,
            held: Mutex::new(Held::default()),
        }))
    }

    /// How many streams are open now.
    pub fn open(&self) -> usize {
        self.0.held.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// A place for one more stream of `user`, or 429 when the process or the user holds the most.
    pub fn take(&self, user: Uuid) -> AppResult<StreamSlot> {
        let mut held = self.0.held.lock().unwrap_or_else(|p| p.into_inner());
        let refused = |message: String| AppError::TooManyRequests {
            message,
            retry_after: REFUSED_RETRY,
        };
        if held.total >= self.0.max {
            return Err(refused(format!(
                "this server serves at most {} live log streams at once and all are in use; try \
                 again shortly, or read the log's pages (GET /api/v1/runs/{{id}}/logs)",
                self.0.max
            )));
        }
        let mine = held.by_user.entry(user).or_default();
        if *mine >= STREAMS_PER_USER {
            return Err(refused(format!(
                "you already hold {STREAMS_PER_USER} live log streams, the most one user may; \
                 close one (a run's page in another tab) or try again shortly"
            )));
        }
        *mine += 1;
        held.total += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            user,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut held = self.slots.0.held.lock().unwrap_or_else(|p| p.into_inner());
        held.total -= 1;
        if let Some(mine) = held.by_user.get_mut(&self.user) {
            *mine -= 1;
            if *mine == 0 {
                held.by_user.remove(&self.user);
            }
        }
    }
}

/// Where a stream starts and what it sends.
pub struct TailRequest {
    /// The run.
    pub run: Uuid,
    /// Only lines with a larger id.
    pub after: i64,
    /// The levels sent.
    pub levels: Vec<LogLevel>,
}

struct Tail {
    state: web::Data<AppState>,
    run: Uuid,
    after: i64,
    levels: Vec<LogLevel>,
    last_state: Option<RunState>,
    done: bool,
    written: broadcast::Receiver<Uuid>,
    deadline: Instant,
    last_sent: Instant,
    /// Given back when the stream is dropped.
    _slot: StreamSlot,
}

/// The event stream of one client, holding `slot` until it ends.
pub fn tail(
    state: web::Data<AppState>,
    request: TailRequest,
    slot: StreamSlot,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    let now = Instant::now();
    let tail = Tail {
        _slot: slot,
        written: state.engine.log_lines_written(),
        deadline: now + state.config.log_stream_max,
        state,
        run: request.run,
        after: request.after,
        levels: request.levels,
        last_state: None,
        done: false,
        last_sent: now,
    };
    futures_util::stream::unfold(tail, |mut t| async move {
        if t.done {
            return None;
        }
        loop {
            if Instant::now() >= t.deadline {
                // Ends without `end`: the client resumes after the last id it received.
                return None;
            }
            let out = match t.read().await {
                Ok(out) => out,
                Err(e) => {
                    // Never `end` on a failed read: the client resumes and nothing is lost.
                    tracing::warn!(error = %e, run = %t.run, "reading a run's log for its live stream failed");
                    return None;
                }
            };
            if !out.is_empty() {
                t.last_sent = Instant::now();
                return Some((Ok(web::Bytes::from(out)), t));
            }
            if t.last_sent.elapsed() >= KEEP_ALIVE {
                t.last_sent = Instant::now();
                return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), t));
            }
            let wake = (Instant::now() + POLL).min(t.deadline);
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = lines_written(&mut t.written, t.run) => {}
            }
        }
    })
}

impl Tail {
    /// The events since the last read: new lines, a state change, and `end` once the run finished
    /// and every line was sent.
    async fn read(&mut self) -> Result<String, sea_orm::DbErr> {
        let db = self.state.engine.db();
        // The state first: the worker flushes its lines before it ends the run, so once the state
        // read is terminal, the lines read after it are all there are.
        let current = store::state_of(db, self.run).await?;
        let lines = store::logs_after(db, self.run, self.after, CHUNK, &self.levels).await?;
        let mut out = String::new();
        for l in &lines {
            self.after = l.id;
            out.push_str(&format!("id: {}\nevent: log\ndata: {}\n\n", l.id, json!(l)));
        }
        let finished = match current {
            Some(state) => {
                if self.last_state != Some(state) {
                    // The whole run only when its state changed; a poll reads the state alone.
                    if let Some(run) = store::get(db, self.run).await? {
                        self.last_state = Some(run.state);
                        out.push_str(&format!(
                            "event: state\ndata: {}\n\n",
                            json!(store::view(&run))
                        ));
                    }
                }
                state.is_terminal() && (lines.len() as u64) < CHUNK
            }
            // Deleted (retention) while followed: nothing more will come.
            None => true,
        };
        if finished {
            out.push_str("event: end\ndata: {}\n\n");
            self.done = true;
        }
        Ok(out)
    }
}

/// Resolves when this process has written lines of `run` (or missed some announcements).
async fn lines_written(written: &mut broadcast::Receiver<Uuid>, run: Uuid) {
    loop {
        match written.recv().await {
            Ok(id) if id == run => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            // No writer in this process any more: only the poll is left.
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
