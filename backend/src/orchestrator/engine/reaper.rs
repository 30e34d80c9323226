//! The reaper: runs whose worker stopped heartbeating are CRASHED (and retried while attempts remain);
//! a run whose worker died while it was being cancelled ends CANCELLED.

use chrono::Utc;

use super::Engine;
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
            let Some(lease) = store::lease_of(&run) else {
                continue;
            };
            let worker = &lease.worker_id;
            let last = run.heartbeat_at.map(|t| t.to_rfc3339()).unwrap_or_default();
            if run.state == RunState::Cancelling {
                let msg = format!("cancelled; worker {worker} stopped heartbeating (last {last})");
                let to = Transition::to(RunState::Cancelled)
                    .message(msg)
                    .from(&[RunState::Cancelling]);
                if store::end_attempt(
                    db,
                    &lease,
                    to,
                    (RunState::Cancelled, "the worker stopped"),
                    None,
                )
                .await?
                {
                    reaped += 1;
                }
                continue;
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
                let next = Utc::now() + chrono::Duration::milliseconds((delay * 1000.0) as i64);
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
                .from(&[RunState::Running]);
            if store::end_attempt(
                db,
                &lease,
                to,
                (RunState::Crashed, "the worker stopped"),
                retry,
            )
            .await?
            {
                reaped += 1;
                tracing::warn!(run = %run.id, %worker, attempt, "run crashed: no heartbeat");
            }
        }
        if reaped > 0 {
            self.wake_dispatcher();
        }
        Ok(reaped)
    }
}
