//! What an attempt records as it runs (log lines, step starts and ends, artifacts, flow states, its
//! summary) and its end: sent over a channel and written in batches by one writer task
//! ([`super::batch`]), one transaction with one lease check for its attempts, so a chatty flow costs one
//! transaction per batch, not per line or step, and the attempts that end together share one durable
//! commit; only what attempts that still hold their run sent is written. And the paged reading of a
//! run's log.

use std::sync::Arc;
use std::time::Duration;

use chap_scheduler_api::{ArtifactKind, LogLevel, LogView};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use super::batch::writer;
use super::lease::Lease;
use super::runs::Finish;
use super::steps::{StepEnd, StepStart};
use crate::db::entities::{deployment, log};
use crate::db::RelaxedWrites;
use crate::orchestrator::state::RunState;

/// Longest an entry waits before it is written.
pub(super) const LINGER: Duration = Duration::from_millis(200);
/// Announcements of written lines a slow listener may fall behind by before it is told it lagged.
const WRITTEN_BACKLOG: usize = 64;

/// One log line of a run.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// The attempt that wrote it (and its run).
    pub lease: Arc<Lease>,
    /// The step, if any.
    pub task_run_id: Option<Uuid>,
    /// When.
    pub at: DateTime<Utc>,
    /// How important.
    pub level: LogLevel,
    /// The text (already redacted).
    pub message: String,
}

/// Inserts log lines (of attempts whose leases the caller's transaction has checked) in one
/// statement. On PostgreSQL the lines go as one JSON parameter unpacked by the server: a statement of
/// five parameters per line would be another statement (prepared anew, and cached) for every count of
/// lines, with hundreds of parameters to bind.
pub(super) async fn insert_lines_in(
    txn: &impl ConnectionTrait,
    lines: &[&LogLine],
) -> Result<(), DbErr> {
    if lines.is_empty() {
        return Ok(());
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            run: Uuid,
            task: Option<Uuid>,
            at: String,
            level: String,
            message: &'a str,
        }
        let rows: Vec<Row> = lines
            .iter()
            .map(|l| Row {
                run: l.lease.run_id,
                task: l.task_run_id,
                at: l.at.to_rfc3339_opts(SecondsFormat::Micros, true),
                level: l.level.to_value(),
                message: &l.message,
            })
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| DbErr::Custom(e.to_string()))?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO logs (flow_run_id, task_run_id, at, level, message) \
             SELECT r.run, r.task, r.at, r.level, r.message \
             FROM ROWS FROM (json_to_recordset($1::json) \
                 AS (run uuid, task uuid, at timestamptz, level text, message text)) \
             WITH ORDINALITY AS r(run, task, at, level, message, n) \
             ORDER BY r.n",
            [json.into()],
        ))
        .await?;
        return Ok(());
    }
    log::Entity::insert_many(lines.iter().map(|l| log::ActiveModel {
        flow_run_id: Set(l.lease.run_id),
        task_run_id: Set(l.task_run_id),
        at: Set(l.at),
        level: Set(l.level),
        message: Set(l.message.clone()),
        ..Default::default()
    }))
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// What the writer writes for an attempt, in one transaction with the attempt's lease check.
pub(super) enum Entry {
    Line(LogLine),
    StepStart(StepStart),
    StepEnd(StepEnd),
    Artifact {
        lease: Arc<Lease>,
        key: String,
        kind: ArtifactKind,
        content: String,
    },
    FlowState {
        lease: Arc<Lease>,
        flow: String,
        key: String,
        value: Value,
    },
    Summary {
        lease: Arc<Lease>,
        value: Value,
    },
}

impl Entry {
    pub(super) fn lease(&self) -> &Arc<Lease> {
        match self {
            Entry::Line(l) => &l.lease,
            Entry::StepStart(s) => &s.lease,
            Entry::StepEnd(e) => &e.lease,
            Entry::Artifact { lease, .. }
            | Entry::FlowState { lease, .. }
            | Entry::Summary { lease, .. } => lease,
        }
    }
}

/// An attempt's end, written by the writer after the attempt's last entries (see [`LogSink::finish`]).
pub(super) struct End {
    pub(super) lease: Arc<Lease>,
    pub(super) finish: Finish,
    /// The run's deployment, whose next due runs take the freed slot.
    pub(super) deployment: Option<deployment::Model>,
    pub(super) reply: oneshot::Sender<Result<Ended, DbErr>>,
}

/// What ending an attempt did.
#[derive(Debug, Default)]
pub struct Ended {
    /// The run's final state (or AWAITING_RETRY); `None` when the attempt had lost its run and nothing
    /// was written.
    pub state: Option<RunState>,
    /// Runs of its deployment moved to PENDING into the freed slot, to enqueue.
    pub promoted: Vec<Uuid>,
}

pub(super) enum Msg {
    Entry(Entry),
    Flush(oneshot::Sender<()>),
    End(Box<End>),
}

/// Sends an attempt's records to the writer task, which writes them in batches: log lines, step starts
/// and ends, artifacts, flow states and the summary, each kept only while the attempt holds its run,
/// and at last the attempt's end.
#[derive(Clone)]
pub struct LogSink {
    tx: mpsc::UnboundedSender<Msg>,
    written: broadcast::Sender<Uuid>,
    writes: RelaxedWrites,
}

impl LogSink {
    /// Starts the writer task, which writes through `writes`: relaxed commits, and a durable one for a
    /// batch that ends attempts (which makes the earlier ones durable too).
    pub fn start(writes: RelaxedWrites) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (written, _) = broadcast::channel(WRITTEN_BACKLOG);
        tokio::spawn(writer(writes.clone(), rx, written.clone()));
        LogSink {
            tx,
            written,
            writes,
        }
    }

    /// The relaxed writes the attempts of this process make besides the writer's batches (fenced step
    /// starts).
    pub fn writes(&self) -> &RelaxedWrites {
        &self.writes
    }

    /// The ids of runs whose new lines this process has just committed: a live tail wakes on them
    /// instead of waiting for its next poll (lines written by other processes still need the poll).
    pub fn written(&self) -> broadcast::Receiver<Uuid> {
        self.written.subscribe()
    }

    fn queue(&self, entry: Entry) {
        let _ = self.tx.send(Msg::Entry(entry));
    }

    /// Queues a line.
    pub fn send(&self, line: LogLine) {
        self.queue(Entry::Line(line));
    }

    /// Queues a read step's start (see `RunContext::read_step`): written with the next batch, at most
    /// [`LINGER`] late, before its end.
    pub fn start_step(&self, start: StepStart) {
        self.queue(Entry::StepStart(start));
    }

    /// Queues a step's end: written with the next batch, at most [`LINGER`] late, and before the
    /// attempt's end.
    pub fn end_step(&self, end: StepEnd) {
        self.queue(Entry::StepEnd(end));
    }

    /// Queues an artifact of the attempt's run (replacing an earlier one of the same key when written).
    pub fn put_artifact(&self, lease: Arc<Lease>, key: &str, kind: ArtifactKind, content: String) {
        self.queue(Entry::Artifact {
            lease,
            key: key.to_string(),
            kind,
            content,
        });
    }

    /// Queues a flow state (`flow`, `key`) written by the attempt's run.
    pub fn put_flow_state(&self, lease: Arc<Lease>, flow: &str, key: &str, value: Value) {
        self.queue(Entry::FlowState {
            lease,
            flow: flow.to_string(),
            key: key.to_string(),
            value,
        });
    }

    /// Queues the outcome summary of the attempt's run.
    pub fn set_summary(&self, lease: Arc<Lease>, value: Value) {
        self.queue(Entry::Summary { lease, value });
    }

    /// Ends the attempt `lease` names (see [`super::finish`]) after writing everything it queued, in the
    /// writer's next batch: one durable transaction for the attempts that end together, whose freed
    /// slots go to their deployments' next due runs in the same transaction.
    pub async fn finish(
        &self,
        lease: Arc<Lease>,
        finish: Finish,
        deployment: Option<deployment::Model>,
    ) -> Result<Ended, DbErr> {
        let (reply, answer) = oneshot::channel();
        let end = End {
            lease,
            finish,
            deployment,
            reply,
        };
        let stopped = || DbErr::Custom("the log writer has stopped".into());
        if self.tx.send(Msg::End(Box::new(end))).is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Waits until every entry sent before this call is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// A run's log lines after the line `after`, oldest first, at the given levels.
pub async fn logs_after(
    db: &DatabaseConnection,
    run: Uuid,
    after: i64,
    limit: u64,
    levels: &[LogLevel],
) -> Result<Vec<LogView>, DbErr> {
    Ok(log::Entity::find()
        .filter(log::Column::FlowRunId.eq(run))
        .filter(log::Column::Id.gt(after))
        .filter(log::Column::Level.is_in(levels.iter().copied()))
        .order_by_asc(log::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|l| LogView {
            id: l.id,
            at: l.at,
            level: l.level,
            message: l.message,
            task_run_id: l.task_run_id,
        })
        .collect())
}
