//! The writer task behind [`super::LogSink`]: it gathers what the attempts of this process record and
//! writes it in batches, a batch at most [`LINGER`] after its oldest entry, or at once when an attempt
//! ends or somebody waits for it. What queues while a batch is written goes into the next one, so under
//! load many attempts' lines and ends share one transaction (group commit).
//!
//! A batch is one transaction: one statement checking the leases of all its attempts (what an attempt
//! that lost its run sent is dropped), the lines in one insert, step starts and ends, the artifacts in
//! one delete and one insert, summaries, then the ends of attempts and their deployments' next due runs
//! moved to PENDING, and last the flow states in one upsert. A batch that ends attempts commits
//! durably (it is what notifications and reports follow), which makes the relaxed commits before it
//! durable too; any other commits relaxed (see `db::writes`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use sea_orm::DbErr;
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use super::artifacts::{put_artifacts_in, NewArtifact};
use super::flow_states::{put_flow_states_in, NewFlowState};
use super::lease::{hold_all, Lease};
use super::logs::{insert_lines_in, End, Ended, Entry, Msg, LINGER};
use super::queue::promote_due_in;
use super::runs::{finish_held_in, set_summary_in};
use super::steps::{end_steps_in, start_steps_in, StepEnd};
use crate::db::RelaxedWrites;
use crate::orchestrator::state::RunState;

/// Most entries written in one batch.
const BATCH: usize = 500;

/// Waits before the second and third try of a batch that failed otherwise than on an unavailable
/// database (which is tried again for [`crate::db::OUTAGE_RETRY_FOR`]); after the third, its entries
/// are dropped and its attempts' ends fail.
const RETRY_AFTER: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(500)];

/// What the writer has gathered and not yet written.
#[derive(Default)]
struct Batch {
    entries: Vec<Entry>,
    ends: Vec<End>,
    waiters: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.ends.is_empty() && self.waiters.is_empty()
    }

    fn add(&mut self, msg: Msg) {
        match msg {
            Msg::Entry(entry) => self.entries.push(entry),
            Msg::Flush(done) => self.waiters.push(done),
            Msg::End(end) => self.ends.push(*end),
        }
    }

    /// Writes what was gathered (with retries), answers the attempts that ended and wakes the waiters.
    async fn write(&mut self, db: &RelaxedWrites, written: &broadcast::Sender<Uuid>) {
        let Batch {
            entries,
            ends,
            waiters,
        } = std::mem::take(self);
        if !entries.is_empty() || !ends.is_empty() {
            let mut tries = RETRY_AFTER.iter();
            let result = loop {
                let written =
                    crate::db::while_unavailable("writing a batch of run records", || {
                        write_held(db, &entries, &ends)
                    })
                    .await;
                match written {
                    Err(e) if crate::db::is_unavailable(&e) => break Err(e),
                    Err(e) => match tries.next() {
                        Some(wait) => {
                            tracing::warn!(error = %e, "writing a batch of run records failed; trying again");
                            tokio::time::sleep(*wait).await;
                        }
                        None => break Err(e),
                    },
                    ok => break ok,
                }
            };
            match result {
                Ok(outcomes) => {
                    let mut runs: Vec<Uuid> = Vec::new();
                    for run in entries.iter().map(|e| e.lease().run_id) {
                        if !runs.contains(&run) {
                            runs.push(run);
                        }
                    }
                    for run in runs {
                        // Nobody listening is fine: no page follows that run.
                        let _ = written.send(run);
                    }
                    for (end, outcome) in ends.into_iter().zip(outcomes) {
                        let _ = end.reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        entries = entries.len(),
                        ends = ends.len(),
                        "writing a batch of run records failed; its entries are lost"
                    );
                    for end in ends {
                        let _ = end.reply.send(Err(DbErr::Custom(format!(
                            "writing the attempt's end failed: {e}"
                        ))));
                    }
                }
            }
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

/// The writer task: gathers, and writes a batch when its oldest entry has waited [`LINGER`], when it is
/// full, or at once when an attempt ends or somebody flushes (with whatever else has queued by then).
pub(super) async fn writer(
    db: RelaxedWrites,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    written: broadcast::Sender<Uuid>,
) {
    let mut batch = Batch::default();
    // When the oldest entry of the batch arrived: none waits longer than LINGER, however busy.
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
                    batch.write(&db, &written).await;
                    break;
                }
                Err(_) => {
                    batch.write(&db, &written).await;
                    continue;
                }
            }
        };
        let now = !matches!(msg, Msg::Entry(_));
        batch.add(msg);
        if now {
            // Take whatever else has queued meanwhile, then write it all.
            while let Ok(m) = rx.try_recv() {
                batch.add(m);
                if batch.entries.len() >= BATCH {
                    batch.write(&db, &written).await;
                }
            }
            batch.write(&db, &written).await;
        } else if batch.entries.len() >= BATCH {
            batch.write(&db, &written).await;
        }
    }
}

/// Writes the entries whose attempt still holds its run, then the ends, in one transaction with the
/// lease checks (one per attempt): what each end did, in order.
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "log_batch",
    skip_all
)]
async fn write_held(
    db: &RelaxedWrites,
    entries: &[Entry],
    ends: &[End],
) -> Result<Vec<Ended>, DbErr> {
    let txn = if ends.is_empty() {
        db.begin().await?
    } else {
        db.begin_durable().await?
    };
    // One lease check for every attempt the batch writes for (its entries' and its ends'), which
    // locks their runs' rows until the commit.
    let mut leases: Vec<&Lease> = Vec::new();
    for lease in entries
        .iter()
        .map(|e| &**e.lease())
        .chain(ends.iter().map(|e| &*e.lease))
    {
        if !leases.contains(&lease) {
            leases.push(lease);
        }
    }
    let states = hold_all(&txn, &leases).await?;
    let state_of = |lease: &Lease| -> Option<RunState> {
        leases
            .iter()
            .position(|l| *l == lease)
            .and_then(|at| states[at])
    };
    let dropped = states.iter().filter(|s| s.is_none()).count();
    if dropped > 0 {
        tracing::debug!(
            attempts = dropped,
            "what attempts that lost their run sent was dropped"
        );
    }
    let held: Vec<&Entry> = entries
        .iter()
        .filter(|e| state_of(e.lease()).is_some())
        .collect();
    let mut lines = Vec::new();
    let mut starts = Vec::new();
    let mut step_ends = Vec::new();
    for entry in &held {
        match entry {
            Entry::Line(l) => lines.push(l),
            Entry::StepStart(start) => starts.push(start.clone()),
            Entry::StepEnd(end) => step_ends.push(end.clone()),
            _ => {}
        }
    }
    insert_lines_in(&txn, &lines).await?;
    // A step's start is queued before its end: both in this batch (one insert of the ended step), or
    // the start in an earlier one (an update).
    start_steps_in(&txn, &starts, &step_ends).await?;
    let later: Vec<StepEnd> = step_ends
        .iter()
        .filter(|e| !starts.iter().any(|s| s.id == e.id))
        .cloned()
        .collect();
    end_steps_in(&txn, &later).await?;
    // In the order they were sent: a later artifact, state or summary replaces the earlier. The
    // summary of an attempt that ends in this batch is stored by its end's update.
    let mut artifacts = Vec::new();
    let mut flow_states = Vec::new();
    let mut summaries: Vec<(&Lease, &serde_json::Value)> = Vec::new();
    for entry in &held {
        match entry {
            Entry::Artifact {
                lease,
                key,
                kind,
                content,
            } => artifacts.push(NewArtifact {
                run_id: lease.run_id,
                key,
                kind: *kind,
                content,
            }),
            Entry::FlowState {
                lease,
                flow,
                key,
                value,
            } => flow_states.push(NewFlowState {
                run_id: lease.run_id,
                flow,
                key,
                value,
            }),
            Entry::Summary { lease, value } if ends.iter().any(|e| e.lease == *lease) => {
                summaries.push((&**lease, value));
            }
            Entry::Summary { lease, value } => set_summary_in(&txn, lease.run_id, value).await?,
            _ => {}
        }
    }
    put_artifacts_in(&txn, &artifacts).await?;
    let mut outcomes = Vec::with_capacity(ends.len());
    // The ends that freed a slot, by deployment (indices into `ends`).
    let mut freed: Vec<(Uuid, Vec<usize>)> = Vec::new();
    for (at, end) in ends.iter().enumerate() {
        let state = match state_of(&end.lease) {
            Some(held) => {
                let summary = summaries
                    .iter()
                    .rev()
                    .find(|(lease, _)| **lease == *end.lease)
                    .map(|(_, value)| *value);
                finish_held_in(&txn, &end.lease, held, end.finish.clone(), summary).await?
            }
            None => None,
        };
        if let (Some(_), Some(dep)) = (state, &end.deployment) {
            match freed.iter_mut().find(|(id, _)| *id == dep.id) {
                Some((_, ats)) => ats.push(at),
                None => freed.push((dep.id, vec![at])),
            }
        }
        outcomes.push(Ended {
            state,
            promoted: Vec::new(),
        });
    }
    // Each deployment's freed slots go to its next due runs: one to each end that freed a slot (an
    // embedded slot claims the next run itself), any surplus to the first.
    for (_, ats) in &freed {
        let Some(dep) = &ends[ats[0]].deployment else {
            continue;
        };
        for (i, run) in promote_due_in(&txn, dep).await?.into_iter().enumerate() {
            let at = ats.get(i).copied().unwrap_or(ats[0]);
            outcomes[at].promoted.push(run);
        }
    }
    // Last: a flow state is one row that every run of a flow may write (the last success of a
    // setup), locked from its upsert to the commit, so other processes' batches wait on it only
    // for the commit.
    put_flow_states_in(&txn, &flow_states).await?;
    txn.commit().await?;
    for end in &step_ends {
        end.written.store(true, Ordering::Relaxed);
    }
    Ok(outcomes)
}
