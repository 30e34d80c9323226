//! Dispatch: due runs move to PENDING where their deployment has a free slot and go into the queue; a
//! queue entry that may be lost is made again. The one place runs enter the queue.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use super::Engine;
use crate::db::entities::{deployment, flow_run};
use crate::db::users::now;
use crate::error::AppResult;
use crate::orchestrator::deployments;
use crate::orchestrator::store;

impl Engine {
    /// Promotes due SCHEDULED and AWAITING_RETRY runs to PENDING where a slot is free, and enqueues them.
    pub async fn dispatch(&self) -> anyhow::Result<usize> {
        let db = &self.inner.db;
        let due = store::due_runs(db, 500).await?;
        let mut promoted = 0;
        let mut room = self.queue_room().await?;
        let mut found: HashMap<Uuid, Option<deployment::Model>> = HashMap::new();
        for run in due {
            if room == 0 {
                break;
            }
            let dep = match run.deployment_id {
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
            if self.promote(&run, dep.as_ref()).await? {
                promoted += 1;
                room -= 1;
            }
        }
        Ok(promoted)
    }

    /// Dispatches the due runs of one deployment (right after a trigger).
    pub(super) async fn dispatch_deployment(&self, dep: &deployment::Model) -> AppResult<()> {
        for run in store::due_runs_of(&self.inner.db, dep.id, 50).await? {
            if !self.promote(&run, Some(dep)).await? {
                break;
            }
        }
        Ok(())
    }

    async fn queue_room(&self) -> Result<u64, sea_orm::DbErr> {
        let queued = store::pending_count(&self.inner.db).await?;
        Ok(self.inner.settings.max_queued.saturating_sub(queued))
    }

    /// Moves one run to PENDING if its deployment has a free slot, then enqueues it.
    async fn promote(
        &self,
        run: &flow_run::Model,
        dep: Option<&deployment::Model>,
    ) -> Result<bool, sea_orm::DbErr> {
        let from = run.state;
        let txn = crate::db::begin_write(&self.inner.db).await?;
        if let Some(dep) = dep {
            if let Some(limit) = dep.concurrency_limit {
                // Serialise dispatchers of this deployment (row lock in PostgreSQL, write lock in SQLite).
                deployments::lock(&txn, dep.id).await?;
                if store::count_active(&txn, dep.id).await? >= limit as u64 {
                    return Ok(false);
                }
            }
        }
        let applied = store::promote(&txn, run.id, from).await?;
        txn.commit().await?;
        if applied {
            if let Err(e) = self.inner.queue.push(run.id).await {
                // The run stays PENDING; the requeue pass delivers it later.
                tracing::warn!(run = %run.id, error = %e, "enqueueing a run failed; it will be retried");
            }
        }
        Ok(applied)
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
    pub async fn run_dispatcher(self, reaper_every: Duration) {
        if let Err(e) = self.requeue(true).await {
            tracing::error!(error = %e, "recovering pending runs failed");
        }
        let mut last_maintenance = std::time::Instant::now() - reaper_every;
        while !self.inner.stopping.is_cancelled() {
            if let Err(e) = self.dispatch().await {
                tracing::error!(error = %e, "dispatching runs failed");
            }
            if last_maintenance.elapsed() >= reaper_every {
                last_maintenance = std::time::Instant::now();
                if let Err(e) = self.reap().await {
                    tracing::error!(error = %e, "reaping crashed runs failed");
                }
                if let Err(e) = self.requeue(false).await {
                    tracing::error!(error = %e, "re-enqueueing pending runs failed");
                }
            }
            tokio::select! {
                _ = self.inner.dispatch_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = self.inner.stopping.cancelled() => {}
            }
        }
    }
}
