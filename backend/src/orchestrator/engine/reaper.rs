//! The reaper: runs whose worker stopped heartbeating are CRASHED (and retried while attempts remain);
//! a run whose worker died while it was being cancelled ends CANCELLED.

use chrono::{DateTime, Utc};
use sea_orm::ColumnTrait;

use super::Engine;
use crate::db::entities::flow_run;
use crate::db::users::now;
use crate::orchestrator::deployments;
use crate::orchestrator::state::RunState;
use crate::orchestrator::store::{self, Transition};

impl Engine {
    /// Marks runs whose worker stopped heartbeating CRASHED, and schedules a retry when attempts remain.
    pub async fn reap(&self) -> anyhow::Result<usize> {
        let db = &self.inner.db;
        let deadline = now() - chrono::Duration::from_std(self.inner.settings.heartbeat_timeout)?;
        let mut reaped = 0;
        for run in store::silent_runs(db, deadline, 200).await? {
            if run.worker_id.as_deref() == Some(self.worker_id())
                && self.is_executing(run.id, run.attempt)
            {
                // This process executes it: alive, though its heartbeat did not land (the database
                // refused writes for a while).
                continue;
            }
            if self.reap_run(&run, deadline).await? {
                reaped += 1;
            }
        }
        if reaped > 0 {
            self.wake_dispatcher();
        }
        Ok(reaped)
    }

    /// Ends the attempt of `run`, as the reaper read it among the silent runs: CRASHED (with a retry
    /// while attempts remain), or CANCELLED when it was being cancelled. Whether it ended it: not when
    /// the lease is gone, nor when the run's heartbeat, as the update finds it, is no longer older than
    /// `deadline` (a beat that landed after the read: its worker is alive).
    pub async fn reap_run(
        &self,
        run: &flow_run::Model,
        deadline: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let db = &self.inner.db;
        let Some(lease) = store::lease_of(run) else {
            return Ok(false);
        };
        let worker = &lease.worker_id;
        let last = run.heartbeat_at.map(|t| t.to_rfc3339()).unwrap_or_default();
        let silent = flow_run::Column::HeartbeatAt.lt(deadline);
        if run.state == RunState::Cancelling {
            let msg = format!("cancelled; worker {worker} stopped heartbeating (last {last})");
            let to = Transition::to(RunState::Cancelled)
                .message(msg)
                .from(&[RunState::Cancelling])
                .only_if(silent);
            let step = (RunState::Cancelled, "the worker stopped");
            return Ok(store::end_attempt(db, &lease, to, step, None).await?);
        }
        let msg = format!("worker {worker} stopped heartbeating (last {last})");
        let attempt = run.attempt.max(1);
        let retry = if attempt < run.max_attempts {
            let dep = match run.deployment_id {
                Some(id) => deployments::find(db, id).await?,
                None => None,
            };
            let delay = dep
                .map(|d| d.retry_delay_seconds * d.retry_backoff.powi(attempt - 1))
                .unwrap_or(0.0);
            let next = now() + chrono::Duration::milliseconds((delay * 1000.0) as i64);
            Some(
                Transition::to(RunState::AwaitingRetry)
                    .message(format!(
                        "attempt {attempt} of {} crashed ({msg}); retrying in {delay} s",
                        run.max_attempts
                    ))
                    .from(&[RunState::Crashed])
                    .retry_at(next),
            )
        } else {
            None
        };
        let to = Transition::to(RunState::Crashed)
            .message(msg)
            .from(&[RunState::Running])
            .only_if(silent);
        let step = (RunState::Crashed, "the worker stopped");
        let ended = store::end_attempt(db, &lease, to, step, retry).await?;
        if ended {
            tracing::warn!(run = %run.id, %worker, attempt, "run crashed: no heartbeat");
        }
        Ok(ended)
    }
}
