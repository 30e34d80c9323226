//! What a flow sees of the engine: parameters, a logger, named steps recorded as task runs,
//! artifacts, a cancellation token and redaction of secret values.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chap_scheduler_api::{ArtifactKind, LogLevel};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::blocks::{BlockData, Blocks};
use super::flow::FlowError;
use super::state::RunState;
use super::store::{self, Lease, LogLine, LogSink, StepEnd, StepStart};
use crate::text;

/// Replaced secret values read like this.
pub const REDACTED: &str = "******";

struct Inner {
    blocks: Blocks,
    lease: Arc<Lease>,
    flow_name: String,
    parameters: Value,
    db: DatabaseConnection,
    logs: LogSink,
    cancel: CancellationToken,
    secrets: RwLock<Vec<String>>,
    position: AtomicI32,
    /// Fenced steps ended since a fenced step last started: written with the next one's start.
    ended: Mutex<Vec<StepEnd>>,
    /// The checkpoints this attempt recorded: all a first attempt can recall.
    remembered: Mutex<HashMap<String, Value>>,
}

/// The handle a flow body works through. Cheap to clone.
#[derive(Clone)]
pub struct RunContext {
    inner: Arc<Inner>,
}

impl RunContext {
    /// A context for the attempt holding `lease`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        blocks: Blocks,
        lease: Lease,
        flow_name: String,
        parameters: Value,
        db: DatabaseConnection,
        logs: LogSink,
        cancel: CancellationToken,
        first_position: i32,
    ) -> Self {
        RunContext {
            inner: Arc::new(Inner {
                blocks,
                lease: Arc::new(lease),
                flow_name,
                parameters,
                db,
                logs,
                cancel,
                secrets: RwLock::new(Vec::new()),
                position: AtomicI32::new(first_position),
                ended: Mutex::new(Vec::new()),
                remembered: Mutex::default(),
            }),
        }
    }

    /// The run's id: stable across its attempts, so a flow can name work it hands to others by it
    /// and find that work again in a later attempt.
    pub fn run_id(&self) -> Uuid {
        self.inner.lease.run_id
    }

    /// Which attempt this is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.inner.lease.attempt.max(1) as u32
    }

    /// This attempt has lost its run (declared crashed and perhaps retried elsewhere): stop its body at
    /// the next await, as a cancel would. Nothing it writes is kept anyway.
    fn lost(&self, what: &str) {
        tracing::warn!(
            run = %self.inner.lease.run_id,
            attempt = self.inner.lease.attempt,
            "{what} refused: this attempt no longer holds the run; stopping it"
        );
        self.inner.cancel.cancel();
    }

    /// The run's parameters (deployment defaults merged with the trigger's).
    pub fn parameters(&self) -> &Value {
        &self.inner.parameters
    }

    /// Cancelled when the run is cancelled or times out; long waits should select on it.
    pub fn cancellation(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// From now on, `secret` is replaced by `******` in logs, step errors and the run's messages.
    pub fn add_secret(&self, secret: &str) {
        if secret.len() >= 3 {
            let mut s = self
                .inner
                .secrets
                .write()
                .unwrap_or_else(|e| e.into_inner());
            s.push(secret.to_string());
        }
    }

    /// Replaces every registered secret in `text`, and every NUL (see [`text::storable`]): what is
    /// redacted is stored.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.inner.secrets.read().unwrap_or_else(|e| e.into_inner());
        text::storable(
            secrets
                .iter()
                .fold(text.to_string(), |acc, s| acc.replace(s.as_str(), REDACTED)),
        )
    }

    /// [`RunContext::redact`] applied to every string of a JSON value.
    fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.redact_value(v)),
            _ => {}
        }
    }

    fn log(&self, level: LogLevel, task: Option<Uuid>, message: &str) {
        self.inner.logs.send(LogLine {
            lease: self.inner.lease.clone(),
            task_run_id: task,
            at: crate::db::clock::now(),
            level,
            message: self.redact(message),
        });
    }

    /// Logs at debug level.
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Debug, None, message.as_ref());
    }

    /// Logs at info level.
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, None, message.as_ref());
    }

    /// Logs a warning.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Warning, None, message.as_ref());
    }

    /// Logs an error.
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Error, None, message.as_ref());
    }

    /// Runs `work` as a named step, recorded as a task run (RUNNING, then COMPLETED or FAILED with the
    /// error's text). If the run is cancelled while the step runs, the engine marks it CANCELLED.
    ///
    /// The step's start is written before its work, in a write that checks this attempt still holds
    /// the run: an attempt that lost its run (a frozen worker that woke up) stops there, and never
    /// does the step's work. For steps that change something outside the database (submit a job,
    /// import data); steps that only read or compute use [`Self::read_step`].
    pub async fn step<T, E, F>(&self, name: &str, label: Option<&str>, work: F) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: Future<Output = Result<T, E>>,
    {
        self.run_step(true, name, label, work).await
    }

    /// [`Self::step`] for work that changes nothing outside the database (reads, computation): its
    /// start is not a write of its own before the work but goes to the log writer with the run's
    /// lines, so it is on the run's page at most 200 ms after it started. An attempt that lost its run
    /// may do such a step's work; nothing it writes is kept.
    pub async fn read_step<T, E, F>(&self, name: &str, label: Option<&str>, work: F) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: Future<Output = Result<T, E>>,
    {
        self.run_step(false, name, label, work).await
    }

    async fn run_step<T, E, F>(
        &self,
        fenced: bool,
        name: &str,
        label: Option<&str>,
        work: F,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: Future<Output = Result<T, E>>,
    {
        let id = Uuid::new_v4();
        let position = self.inner.position.fetch_add(1, Ordering::SeqCst);
        let lease = &self.inner.lease;
        let recorded = if fenced {
            self.start_fenced(id, position, name, label).await
        } else {
            self.inner.logs.start_step(StepStart {
                lease: lease.clone(),
                id,
                position,
                name: name.to_string(),
                label: label.map(str::to_string),
                at: crate::db::users::now(),
            });
            true
        };
        let started = std::time::Instant::now();
        let result = work.await;
        let (state, error) = match &result {
            Ok(_) => (RunState::Completed, None),
            Err(e) => (RunState::Failed, Some(self.redact(&e.to_string()))),
        };
        crate::observe::step_ended(
            &self.inner.flow_name,
            name,
            state,
            started.elapsed().as_secs_f64(),
        );
        if recorded {
            // Not a transaction of its own: written with the next fenced step's start, or by the log
            // writer at most 200 ms later (and before the attempt's end: the engine flushes it first).
            let end = StepEnd {
                lease: lease.clone(),
                id,
                state,
                error,
                at: crate::db::users::now(),
                written: Arc::default(),
            };
            if fenced {
                // A read step's start may still wait in the log writer: only the writer, which
                // writes in order, may end it.
                self.inner
                    .ended
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(end.clone());
            }
            self.inner.logs.end_step(end);
        }
        result
    }

    /// Writes a fenced step's start (with the fenced steps ended since); whether it was recorded.
    /// Never returns when the attempt has lost its run: the engine aborts the body at that await.
    async fn start_fenced(&self, id: Uuid, position: i32, name: &str, label: Option<&str>) -> bool {
        let db = self.inner.logs.writes();
        let lease = &self.inner.lease;
        let ended =
            std::mem::take(&mut *self.inner.ended.lock().unwrap_or_else(|e| e.into_inner()));
        match store::start_step(db, lease, id, position, name, label, &ended).await {
            Ok(true) => true,
            Ok(false) => {
                self.lost("starting a step");
                std::future::pending().await
            }
            Err(e) => {
                tracing::error!(error = %e, run = %lease.run_id, step = name, "recording a step failed");
                false
            }
        }
    }

    /// Reads a block (e.g. DHIS2 credentials) with its secrets decrypted; every secret value is
    /// registered for redaction at once.
    pub async fn block(&self, id: Uuid) -> Result<BlockData, FlowError> {
        let block = self
            .inner
            .blocks
            .load(id)
            .instrument(tracing::debug_span!(target: "chap_scheduler::cost", "block_read"))
            .await
            .map_err(|e| FlowError::retryable(format!("reading block {id} failed: {e:#}")))?
            .ok_or_else(|| FlowError::permanent(format!("there is no block with id {id}")))?;
        for secret in &block.secrets {
            self.add_secret(secret);
        }
        Ok(block)
    }

    /// Stores an artifact (e.g. the markdown run report); the same key replaces the earlier one. Written
    /// by the log writer with the run's lines (at most 200 ms later, and before the attempt's end), only
    /// while this attempt holds the run.
    pub fn artifact(&self, key: &str, kind: ArtifactKind, content: &str) {
        let lease = self.inner.lease.clone();
        let content = self.redact(content);
        self.inner.logs.put_artifact(lease, key, kind, content);
    }

    /// Records a checkpoint: a value a later attempt of this run reads back with [`Self::recall`] (e.g.
    /// the id of outside work already started, so a retry follows it instead of starting it again).
    /// Refused, and the attempt stopped, when this attempt no longer holds the run.
    pub async fn remember(&self, key: &str, mut value: Value) -> anyhow::Result<()> {
        text::storable_value(&mut value);
        let held = crate::db::while_unavailable("recording a checkpoint", || {
            store::put_checkpoint(&self.inner.db, &self.inner.lease, key, value.clone())
        })
        .await?;
        if !held {
            self.lost("recording a checkpoint");
            anyhow::bail!(
                "this attempt no longer holds the run; the checkpoint `{key}` was not stored"
            );
        }
        self.remembered().insert(key.to_string(), value);
        Ok(())
    }

    /// The checkpoint recorded under `key` by this or an earlier attempt of the run. A first attempt
    /// has no earlier one (every claim counts an attempt, also one handed back), so it reads none.
    pub async fn recall(&self, key: &str) -> anyhow::Result<Option<Value>> {
        if self.inner.lease.attempt <= 1 {
            return Ok(self.remembered().get(key).cloned());
        }
        Ok(store::checkpoint(&self.inner.db, self.inner.lease.run_id, key).await?)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        self.inner
            .remembered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `value` under `key` for later runs of this flow (with this run as its writer). Written as
    /// [`Self::artifact`] is: later runs see it once this run has ended.
    pub fn set_flow_state(&self, key: &str, mut value: Value) {
        text::storable_value(&mut value);
        let lease = self.inner.lease.clone();
        let flow = &self.inner.flow_name;
        self.inner.logs.put_flow_state(lease, flow, key, value);
    }

    /// What a run of this flow kept under `key`, and which run.
    pub async fn flow_state(&self, key: &str) -> anyhow::Result<Option<store::FlowState>> {
        Ok(store::flow_state(&self.inner.db, &self.inner.flow_name, key).await?)
    }

    /// Stores a flow-specific outcome summary on the run (shown in run lists), written as
    /// [`Self::artifact`] is.
    pub fn set_summary(&self, mut summary: Value) {
        // A summary is read by notifications: never with a secret in clear.
        self.redact_value(&mut summary);
        self.inner
            .logs
            .set_summary(self.inner.lease.clone(), summary);
    }
}
