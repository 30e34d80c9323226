//! Run log lines: sent over a channel and written in batches, so a chatty flow costs one insert per
//! batch, not per line; only the lines of attempts that still hold their run are written. And the
//! paged reading of a run's log.

use std::sync::Arc;
use std::time::Duration;

use chap_scheduler_api::{LogLevel, LogView};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use super::lease::{hold, Lease};
use crate::db::entities::log;

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

enum Msg {
    Line(LogLine),
    Flush(oneshot::Sender<()>),
}

/// Sends lines to the writer task.
#[derive(Clone)]
pub struct LogSink {
    tx: mpsc::UnboundedSender<Msg>,
    written: broadcast::Sender<Uuid>,
}

impl LogSink {
    /// Starts the writer task.
    pub fn start(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (written, _) = broadcast::channel(WRITTEN_BACKLOG);
        tokio::spawn(writer(db, rx, written.clone()));
        LogSink { tx, written }
    }

    /// The ids of runs whose new lines this process has just committed: a live tail wakes on them
    /// instead of waiting for its next poll (lines written by other processes still need the poll).
    pub fn written(&self) -> broadcast::Receiver<Uuid> {
        self.written.subscribe()
    }

    /// Queues a line.
    pub fn send(&self, line: LogLine) {
        let _ = self.tx.send(Msg::Line(line));
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
    db: DatabaseConnection,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    written: broadcast::Sender<Uuid>,
) {
    let mut batch: Vec<LogLine> = Vec::new();
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
            Msg::Line(line) => {
                batch.push(line);
                if batch.len() >= BATCH {
                    write(&db, &mut batch, &written).await;
                }
            }
            Msg::Flush(done) => {
                // Drain whatever else is already queued, then write and release every waiter.
                waiters.push(done);
                while let Ok(m) = rx.try_recv() {
                    match m {
                        Msg::Line(line) => batch.push(line),
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

async fn write(
    db: &DatabaseConnection,
    batch: &mut Vec<LogLine>,
    written: &broadcast::Sender<Uuid>,
) {
    if batch.is_empty() {
        return;
    }
    let lines: Vec<LogLine> = std::mem::take(batch);
    let count = lines.len();
    let mut runs: Vec<Uuid> = Vec::new();
    for line in &lines {
        if !runs.contains(&line.lease.run_id) {
            runs.push(line.lease.run_id);
        }
    }
    match write_held(db, lines).await {
        Ok(()) => {
            for run in runs {
                // Nobody listening is fine: no page follows that run.
                let _ = written.send(run);
            }
        }
        Err(e) => tracing::error!(error = %e, count, "writing run log lines failed"),
    }
}

/// Inserts the lines whose attempt still holds its run, in one transaction with the lease checks.
async fn write_held(db: &DatabaseConnection, lines: Vec<LogLine>) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let mut leases: Vec<(Arc<Lease>, bool)> = Vec::new();
    for line in &lines {
        if !leases.iter().any(|(l, _)| l == &line.lease) {
            let holds = hold(&txn, &line.lease, false).await?.is_some();
            leases.push((line.lease.clone(), holds));
        }
    }
    let rows: Vec<_> = lines
        .into_iter()
        .filter(|l| {
            leases
                .iter()
                .any(|(lease, holds)| *holds && lease == &l.lease)
        })
        .map(|l| log::ActiveModel {
            flow_run_id: Set(l.lease.run_id),
            task_run_id: Set(l.task_run_id),
            at: Set(l.at),
            level: Set(l.level),
            message: Set(l.message),
            ..Default::default()
        })
        .collect();
    let dropped = leases.iter().filter(|(_, holds)| !holds).count();
    if dropped > 0 {
        tracing::debug!(
            attempts = dropped,
            "log lines of attempts that lost their run were dropped"
        );
    }
    if !rows.is_empty() {
        log::Entity::insert_many(rows).exec(&txn).await?;
    }
    txn.commit().await
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
