//! The engine, split by job: [`trigger`] creates (and cancels) runs, [`dispatch`] moves due runs into
//! the queue within concurrency limits and recovers lost queue entries, [`worker`] claims and executes
//! them under a lease (heartbeats, timeout, cancellation, retries, graceful stop), [`reaper`] declares
//! runs of dead workers crashed. Every read and write of the run tables goes through `store`.

mod dispatch;
mod reaper;
mod trigger;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::blocks::Blocks;
use super::flow::FlowRegistry;
use super::queue::Queue;
use super::store::LogSink;
use crate::db::entities::deployment;
use crate::db::RelaxedWrites;

pub use crate::orchestrator::store::Claimed;
pub use worker::run_embedded_workers;

/// Timing and sizing of the engine.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How often a worker writes a running run's heartbeat.
    pub heartbeat_interval: Duration,
    /// A run whose heartbeat is older than this is declared CRASHED.
    pub heartbeat_timeout: Duration,
    /// How often a worker checks whether its runs were cancelled.
    pub cancel_poll: Duration,
    /// Flow runs one worker process executes at once.
    pub worker_concurrency: usize,
    /// A PENDING run whose queue entry is older than this is enqueued again (lost queue entries).
    pub requeue_after: Duration,
    /// Most runs held PENDING in the queue at once; the database holds the rest.
    pub max_queued: u64,
    /// Redis workers also claim PENDING runs enqueued longer ago than this straight from the database
    /// (looking four times as often, at most every second).
    pub sweep_after: Duration,
    /// How long a stopping worker lets its runs finish before handing them back to the queue.
    pub shutdown_grace: Duration,
    /// A Redis worker whose queue has not answered for this long gives up (exits non-zero).
    pub queue_lost_after: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(30),
            cancel_poll: Duration::from_millis(500),
            worker_concurrency: 4,
            requeue_after: Duration::from_secs(60),
            max_queued: 2000,
            sweep_after: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(60),
            queue_lost_after: Duration::from_secs(60),
        }
    }
}

/// Who or what asked for a run.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A person or API token: `user:<name>` / `token:<name>`.
    Manual(String),
    /// A schedule's slot.
    Schedule {
        /// The schedule.
        id: Uuid,
        /// The slot's time.
        slot: chrono::DateTime<Utc>,
    },
    /// A retry of an earlier run.
    Retry(Uuid),
}

/// The deployment a trigger creates a run of, with its count of runs that take a slot when the caller
/// read both in one statement ([`crate::orchestrator::store::deployment_with_active`]); without that
/// count the trigger reads it itself.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The deployment.
    pub deployment: &'a deployment::Model,
    /// Its PENDING, RUNNING and CANCELLING runs, as read with it.
    pub active: Option<u64>,
    /// On PostgreSQL, when none of its runs was due, the version of its row as read with them
    /// ([`crate::orchestrator::store::Found::version`]): with it a run due now takes a free slot in
    /// the statement that inserts it (with runs due before it, it waits its turn in the locked pass).
    pub version: Option<&'a str>,
}

impl<'a> From<&'a deployment::Model> for Target<'a> {
    fn from(deployment: &'a deployment::Model) -> Self {
        Target {
            deployment,
            active: None,
            version: None,
        }
    }
}

/// The audit event of a person's trigger, written with the run it creates (in the same transaction,
/// with target `run:<id>`): no run without its event, and no event without its run.
#[derive(Debug, Clone)]
pub struct TriggerAudit {
    /// Who asked.
    pub actor: crate::db::audit::Actor,
    /// `run.triggered`, `run.retried`.
    pub action: &'static str,
    /// What else the event records.
    pub detail: serde_json::Value,
}

/// The orchestration engine of one process.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    blocks: Blocks,
    registry: FlowRegistry,
    queue: Queue,
    logs: LogSink,
    settings: EngineSettings,
    worker_id: String,
    /// Wakes the dispatcher: a run was created or a slot freed.
    dispatch_wake: Notify,
    /// Cancelled when the process stops: workers stop claiming and hand their runs back after the
    /// grace period.
    stopping: CancellationToken,
    /// The attempts this process is executing.
    executions: tokio_util::task::TaskTracker,
    /// Which attempts these are (run, attempt): the reaper never takes them for dead, whatever their
    /// heartbeat says (a heartbeat fails to land while the database refuses writes).
    executing: std::sync::Mutex<std::collections::HashSet<(Uuid, i32)>>,
}

/// An attempt this process is executing, from its start until this is dropped.
pub(crate) struct Executing {
    engine: Engine,
    attempt: (Uuid, i32),
}

impl Drop for Executing {
    fn drop(&mut self) {
        self.engine.executing().remove(&self.attempt);
    }
}

fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &Uuid::new_v4().simple().to_string()[..6]
    )
}

/// Merges `overrides` over `defaults` (top-level keys replace).
pub fn merge_parameters(defaults: &Value, overrides: Option<&Value>) -> Value {
    let mut merged = defaults.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(o)) = overrides {
        for (k, v) in o {
            merged.insert(k.clone(), v.clone());
        }
    }
    Value::Object(merged)
}

impl Engine {
    /// An engine over the database with these flows and this queue.
    pub fn new(
        db: DatabaseConnection,
        registry: FlowRegistry,
        queue: Queue,
        settings: EngineSettings,
        blocks: Blocks,
    ) -> Self {
        let writes = RelaxedWrites::of(&db);
        Self::with_relaxed_writes(db, writes, registry, queue, settings, blocks)
    }

    /// [`Engine::new`] with the relaxed writes given (the `census` benchmark counts their statements).
    pub fn with_relaxed_writes(
        db: DatabaseConnection,
        writes: RelaxedWrites,
        registry: FlowRegistry,
        queue: Queue,
        settings: EngineSettings,
        blocks: Blocks,
    ) -> Self {
        let logs = LogSink::start(writes);
        Engine {
            inner: Arc::new(Inner {
                db,
                blocks,
                registry,
                queue,
                logs,
                settings,
                worker_id: worker_id(),
                dispatch_wake: Notify::new(),
                stopping: CancellationToken::new(),
                executions: tokio_util::task::TaskTracker::new(),
                executing: Default::default(),
            }),
        }
    }

    /// The attempts this process is executing.
    fn executing(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<(Uuid, i32)>> {
        self.inner
            .executing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that this process executes `lease`'s attempt until the result is dropped.
    pub(crate) fn start_executing(&self, lease: &super::store::Lease) -> Executing {
        let attempt = (lease.run_id, lease.attempt);
        self.executing().insert(attempt);
        Executing {
            engine: self.clone(),
            attempt,
        }
    }

    /// Whether this process is executing attempt `attempt` of run `run_id`.
    pub(crate) fn is_executing(&self, run_id: Uuid, attempt: i32) -> bool {
        self.executing().contains(&(run_id, attempt))
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The flows.
    pub fn registry(&self) -> &FlowRegistry {
        &self.inner.registry
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// This process's worker id.
    pub fn worker_id(&self) -> &str {
        &self.inner.worker_id
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// Wakes the dispatcher loop.
    pub fn wake_dispatcher(&self) {
        self.inner.dispatch_wake.notify_one();
    }

    /// Starts stopping: workers claim nothing more, let their runs finish within the grace period and
    /// then hand the rest back; see [`worker`].
    pub fn stop(&self) {
        self.inner.stopping.cancel();
    }

    /// The ids of runs whose new log lines this process has just written (see [`LogSink::written`]).
    pub fn log_lines_written(&self) -> tokio::sync::broadcast::Receiver<Uuid> {
        self.inner.logs.written()
    }

    /// Waits until every log line sent so far is written.
    pub async fn flush_logs(&self) {
        self.inner.logs.flush().await;
    }

    /// Once stopping: resolves when every attempt this process was executing has finished or gone back
    /// to the queue.
    pub async fn executions_ended(&self) {
        self.inner.stopping.cancelled().await;
        self.inner.executions.close();
        self.inner.executions.wait().await;
    }

    /// Whether [`Engine::stop`] was called.
    pub fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }
}
