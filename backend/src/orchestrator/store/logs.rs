//! Run log lines and step ends: sent over a channel and written in batches (one transaction with one
//! lease check per attempt, one insert for the lines), so a chatty flow costs one transaction per batch,
//! not per line or step; only what attempts that still hold their run sent is written. And the paged
//! reading of a run's log.

use std::sync::Arc;
use std::time::Duration;

use chap_scheduler_api::{LogLevel, LogView};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use super::lease::{holds, Lease};
use super::steps::{end_steps_in, start_steps_in, StepEnd, StepStart};
use crate::db::entities::log;
use crate::db::RelaxedWrites;

/// Most lines written in one insert.
const BATCH: usize = 500;
/// Longest a line waits before it is written.
const LINGER: Duration = Duration::from_millis(200);
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

/// What the writer writes.
enum Entry {
    Line(LogLine),
    StepStart(StepStart),
    StepEnd(StepEnd),
}

impl Entry {
    fn lease(&self) -> &Arc<Lease> {
        match self {
            Entry::Line(l) => &l.lease,
            Entry::StepStart(s) => &s.lease,
            Entry::StepEnd(e) => &e.lease,
        }
    }
}

enum Msg {
    Entry(Entry),
    Flush(oneshot::Sender<()>),
}

/// Sends lines to the writer task.
#[derive(Clone)]
pub struct LogSink {
    tx: mpsc::UnboundedSender<Msg>,
    written: broadcast::Sender<Uuid>,
    writes: RelaxedWrites,
}

impl LogSink {
    /// Starts the writer task, which writes through `writes` (lines and step ends are followed by
    /// their attempt's durable end).
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

    /// The relaxed writes the attempts of this process make besides their log lines (step starts,
    /// artifacts, flow states).
    pub fn writes(&self) -> &RelaxedWrites {
        &self.writes
    }

    /// The ids of runs whose new lines this process has just committed: a live tail wakes on them
    /// instead of waiting for its next poll (lines written by other processes still need the poll).
    pub fn written(&self) -> broadcast::Receiver<Uuid> {
        self.written.subscribe()
    }

    /// Queues a line.
    pub fn send(&self, line: LogLine) {
        let _ = self.tx.send(Msg::Entry(Entry::Line(line)));
    }

    /// Queues a read step's start (see `RunContext::read_step`): written with the next batch, at most
    /// [`LINGER`] late, before its end.
    pub fn start_step(&self, start: StepStart) {
        let _ = self.tx.send(Msg::Entry(Entry::StepStart(start)));
    }

    /// Queues a step's end: written with the next batch, at most [`LINGER`] late, and before the
    /// attempt's end (the engine flushes first).
    pub fn end_step(&self, end: StepEnd) {
        let _ = self.tx.send(Msg::Entry(Entry::StepEnd(end)));
    }

    /// Waits until every line sent before this call is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn writer(
    db: RelaxedWrites,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    written: broadcast::Sender<Uuid>,
) {
    let mut batch: Vec<Entry> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    // When the oldest line of the batch arrived: no line waits longer than LINGER, however busy.
    let mut oldest = tokio::time::Instant::now();
    loop {
        let msg = if batch.is_empty() {
            match rx.recv().await {
                Some(m) => {
                    oldest = tokio::time::Instant::now();
                    m
                }
                None => break,
            }
        } else {
            match tokio::time::timeout_at(oldest + LINGER, rx.recv()).await {
                Ok(Some(m)) => m,
                Ok(None) => {
                    write(&db, &mut batch, &written).await;
                    break;
                }
                Err(_) => {
                    write(&db, &mut batch, &written).await;
                    continue;
                }
            }
        };
        match msg {
            Msg::Entry(entry) => {
                batch.push(entry);
                if batch.len() >= BATCH {
                    write(&db, &mut batch, &written).await;
                }
            }
            Msg::Flush(done) => {
                // Drain whatever else is already queued, then write and release every waiter.
                waiters.push(done);
                while let Ok(m) = rx.try_recv() {
                    match m {
                        Msg::Entry(entry) => batch.push(entry),
                        Msg::Flush(d) => waiters.push(d),
                    }
                    if batch.len() >= BATCH {
                        write(&db, &mut batch, &written).await;
                    }
                }
                write(&db, &mut batch, &written).await;
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
        }
    }
}

async fn write(db: &RelaxedWrites, batch: &mut Vec<Entry>, written: &broadcast::Sender<Uuid>) {
    if batch.is_empty() {
        return;
    }
    let entries: Vec<Entry> = std::mem::take(batch);
    let count = entries.len();
    let mut runs: Vec<Uuid> = Vec::new();
    for entry in &entries {
        if !runs.contains(&entry.lease().run_id) {
            runs.push(entry.lease().run_id);
        }
    }
    match write_held(db, entries).await {
        Ok(()) => {
            for run in runs {
                // Nobody listening is fine: no page follows that run.
                let _ = written.send(run);
            }
        }
        Err(e) => tracing::error!(error = %e, count, "writing run log lines and step ends failed"),
    }
}

/// Writes the lines and step ends whose attempt still holds its run, in one transaction with the
/// lease checks (one per attempt).
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "log_batch",
    skip_all
)]
async fn write_held(db: &RelaxedWrites, entries: Vec<Entry>) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let mut leases: Vec<(Arc<Lease>, bool)> = Vec::new();
    for entry in &entries {
        if !leases.iter().any(|(l, _)| l == entry.lease()) {
            let holds = holds(&txn, entry.lease()).await?;
            leases.push((entry.lease().clone(), holds));
        }
    }
    let held = |lease: &Arc<Lease>| leases.iter().any(|(l, holds)| *holds && l == lease);
    let mut rows = Vec::new();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for entry in entries {
        if !held(entry.lease()) {
            continue;
        }
        match entry {
            Entry::Line(l) => rows.push(log::ActiveModel {
                flow_run_id: Set(l.lease.run_id),
                task_run_id: Set(l.task_run_id),
                at: Set(l.at),
                level: Set(l.level),
                message: Set(l.message),
                ..Default::default()
            }),
            Entry::StepStart(start) => starts.push(start),
            Entry::StepEnd(end) => ends.push(end),
        }
    }
    let dropped = leases.iter().filter(|(_, holds)| !holds).count();
    if dropped > 0 {
        tracing::debug!(
            attempts = dropped,
            "log lines and step ends of attempts that lost their run were dropped"
        );
    }
    if !rows.is_empty() {
        log::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    // A step's start is queued before its end: both in this batch, or the start in an earlier one.
    start_steps_in(&txn, &starts).await?;
    end_steps_in(&txn, &ends).await?;
    txn.commit().await?;
    for end in &ends {
        end.written
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
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
