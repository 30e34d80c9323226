//! Dispatch: due runs move to PENDING where their deployment has a free slot and go into the queue; a
//! queue entry that may be lost is made again. The one place runs enter the queue.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::Engine;
use crate::db::entities::deployment;
use crate::db::users::now;
use crate::orchestrator::deployments;
use crate::orchestrator::state::RunState;
use crate::orchestrator::store;
use crate::telemetry::repeats::{Level, Repeats};

/// What became of one run a dispatcher tried to move to PENDING.
enum Promotion {
    /// PENDING now, and enqueued.
    Promoted,
    /// Its deployment has no free slot: the deployment's other runs need not be tried in this pass.
    Full,
    /// It had moved on (cancelled, or another dispatcher was first).
    Moved,
}

impl Engine {
    /// Promotes due SCHEDULED and AWAITING_RETRY runs to PENDING where a slot is free, and enqueues them.
    /// A deployment found full is not tried again in the same pass: a backlog of waiting runs costs
    /// one check per deployment, not one transaction per run.
    #[tracing::instrument(
        target = "chap_scheduler::cost",
        level = "debug",
        name = "dispatch",
        skip_all
    )]
    pub async fn dispatch(&self) -> anyhow::Result<usize> {
        let db = &self.inner.db;
        let due = store::due_runs(db, 500).await?;
        let mut promoted = 0;
        let mut room = self.queue_room().await?;
        let mut found: HashMap<Uuid, Option<deployment::Model>> = HashMap::new();
        let mut full: HashSet<Uuid> = HashSet::new();
        for (run_id, deployment_id, state) in due {
            if room == 0 {
                break;
            }
            if deployment_id.is_some_and(|id| full.contains(&id)) {
                continue;
            }
            let dep = match deployment_id {
                Some(id) => match found.get(&id) {
                    Some(d) => d.clone(),
                    None => {
                        let d = deployments::find(db, id).await?;
                        found.insert(id, d.clone());
                        d
                    }
                },
                None => None,
            };
            match self.promote(run_id, state, dep.as_ref()).await? {
                Promotion::Promoted => {
                    promoted += 1;
                    room -= 1;
                }
                Promotion::Full => {
                    full.extend(deployment_id);
                }
                Promotion::Moved => {}
            }
        }
        Ok(promoted)
    }

    /// Pushes promoted runs to the queue (a failed push leaves the run PENDING for the requeue pass).
    pub(super) async fn enqueue(&self, ids: &[Uuid]) {
        for id in ids {
            if let Err(e) = self.inner.queue.push(*id).await {
                // The run stays PENDING; the requeue pass delivers it later.
                tracing::warn!(run = %id, error = %e, "enqueueing a run failed; it will be retried");
            }
        }
    }

    /// A read without the write lock (or `active`, read by the caller): false when `dep` is at its
    /// limit (the locked count decides; a slot freed after this read promotes its own next run).
    pub(super) async fn may_have_room(
        &self,
        dep: &deployment::Model,
        active: Option<u64>,
    ) -> Result<bool, sea_orm::DbErr> {
        let Some(limit) = dep.concurrency_limit else {
            return Ok(true);
        };
        let active = match active {
            Some(n) => n,
            None => store::count_active(&self.inner.db, dep.id).await?,
        };
        Ok(active < limit.max(0) as u64)
    }

    async fn queue_room(&self) -> Result<u64, sea_orm::DbErr> {
        let queued = store::pending_count(&self.inner.db).await?;
        Ok(self.inner.settings.max_queued.saturating_sub(queued))
    }

    /// Moves one run to PENDING if its deployment has a free slot, then enqueues it.
    #[tracing::instrument(
        target = "chap_scheduler::cost",
        level = "debug",
        name = "promote",
        skip_all
    )]
    async fn promote(
        &self,
        run_id: Uuid,
        from: RunState,
        dep: Option<&deployment::Model>,
    ) -> Result<Promotion, sea_orm::DbErr> {
        if let Some(dep) = dep {
            if !self.may_have_room(dep, None).await? {
                return Ok(Promotion::Full);
            }
        }
        let txn = crate::db::begin_run_write(&self.inner.db).await?;
        if let Some(dep) = dep {
            if store::free_slots(&txn, dep).await? == 0 {
                return Ok(Promotion::Full);
            }
        }
        let applied = store::promote(&txn, run_id, from).await?;
        txn.commit().await?;
        if !applied {
            return Ok(Promotion::Moved);
        }
        self.enqueue(&[run_id]).await;
        Ok(Promotion::Promoted)
    }

    /// Enqueues again the PENDING runs whose queue entry may be lost (after `requeue_after`, or all of
    /// them with `all` at start). A duplicate delivery is harmless: only one worker can claim a run.
    pub async fn requeue(&self, all: bool) -> anyhow::Result<usize> {
        let db = &self.inner.db;
        let before = if all {
            None
        } else {
            Some(now() - chrono::Duration::from_std(self.inner.settings.requeue_after)?)
        };
        let stale = store::pending_runs(db, before, 1000).await?;
        for id in &stale {
            store::mark_enqueued(db, *id).await?;
            self.inner.queue.push(*id).await?;
        }
        if !stale.is_empty() {
            tracing::info!(count = stale.len(), "re-enqueued pending runs");
        }
        Ok(stale.len())
    }

    /// The dispatcher loop: dispatch due runs, requeue lost entries, reap dead workers, until the
    /// engine stops.
    ///
    /// The reaper takes a run for dead only once the database has answered every pass of this loop,
    /// each within a heartbeat interval, for a whole heartbeat timeout: while it failed or kept the
    /// pass waiting (PostgreSQL restarting or unreachable, SQLite's disk full, a writer frozen on its
    /// lock) the workers' heartbeats could not land either, and a run silent through an outage says
    /// nothing about its worker. After one, live workers get that long to beat again.
    pub async fn run_dispatcher(self, reaper_every: Duration) {
        if let Err(e) = self.requeue(true).await {
            tracing::error!(error = %e, "recovering pending runs failed");
        }
        let settings = self.inner.settings.clone();
        let mut last_maintenance = Instant::now() - reaper_every;
        let mut last_checkpoint = Instant::now();
        // Since when every pass has found the database answering in time (None: the last did not).
        let mut answering_since: Option<Instant> = None;
        let mut lapsed_before = false;
        let mut dispatching = Repeats::new("dispatching runs failed", Level::Error);
        let mut checkpointing = Repeats::new("checkpointing the SQLite WAL failed", Level::Warn);
        let mut reaping = Repeats::new("reaping crashed runs failed", Level::Error);
        let mut requeueing = Repeats::new("re-enqueueing pending runs failed", Level::Error);
        while !self.inner.stopping.is_cancelled() {
            let pass = Instant::now();
            let dispatched = self.dispatch().await;
            dispatching.record(&dispatched);
            let mut failed = dispatched.is_err();
            if last_checkpoint.elapsed() >= crate::db::WAL_CHECKPOINT_EVERY {
                last_checkpoint = Instant::now();
                let checkpointed = crate::db::checkpoint_wal(&self.inner.db).await;
                checkpointing.record(&checkpointed);
                failed |= checkpointed.is_err();
            }
            // A pass kept waiting (the pool retrying its connections, a lock) is an outage too.
            let mut lapsed = failed || pass.elapsed() > settings.heartbeat_interval;
            if lapsed {
                answering_since = None;
            }
            if last_maintenance.elapsed() >= reaper_every {
                last_maintenance = Instant::now();
                let trusted =
                    answering_since.is_some_and(|t| t.elapsed() >= settings.heartbeat_timeout);
                if trusted {
                    let reaped = self.reap().await;
                    reaping.record(&reaped);
                    lapsed |= reaped.is_err();
                }
                let requeued = self.requeue(false).await;
                requeueing.record(&requeued);
                lapsed |= requeued.is_err();
            }
            if lapsed {
                answering_since = None;
            } else if answering_since.is_none() {
                answering_since = Some(Instant::now());
                if lapsed_before {
                    tracing::info!(
                        "the database answers again; runs silent meanwhile are taken for dead only \
                         if they stay silent for the heartbeat timeout"
                    );
                }
            }
            lapsed_before = lapsed;
            tokio::select! {
                _ = self.inner.dispatch_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = self.inner.stopping.cancelled() => {}
            }
        }
    }
}
