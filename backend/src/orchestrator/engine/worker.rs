//! Workers: claiming a run (the claim gives the attempt its lease), executing the flow with heartbeats,
//! a timeout and cancellation, recording how the attempt ended, and stopping gracefully: a stopping
//! worker claims nothing more, lets its runs finish within the grace period and hands the rest back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;
use uuid::Uuid;

use super::Engine;
use crate::db::entities::{deployment, flow_run};
use crate::db::users::now;
use crate::orchestrator::context::RunContext;
use crate::orchestrator::flow::FlowError;
use crate::orchestrator::state::RunState;
use crate::orchestrator::store::{self, Claimed, Finish, Lease, Pick};
use crate::telemetry::repeats::{Level, Repeats};

/// How an attempt's body ended.
enum Outcome {
    Completed,
    Failed(FlowError),
    TimedOut(Duration),
    /// Cancelled, or the lease was lost (then nothing is recorded).
    Cancelled,
    /// The worker is stopping and the grace period is over.
    HandedBack,
}

impl Engine {
    /// Claims a specific run (a queue delivery). `None`: nothing to claim (duplicate delivery, or the
    /// run was cancelled meanwhile) — the delivery is simply acknowledged.
    pub async fn claim(&self, run_id: Uuid) -> anyhow::Result<Option<Claimed>> {
        self.claim_picked(Pick::Run(run_id)).await
    }

    /// Claims the run `pick` names if it is still PENDING, in one transaction.
    async fn claim_picked(&self, pick: Pick) -> anyhow::Result<Option<Claimed>> {
        let writes = self.inner.logs.writes();
        Ok(store::claim(writes, pick, &self.inner.worker_id).await?)
    }

    /// Claims the oldest PENDING run (the embedded queue: the database is the queue).
    pub async fn claim_next(&self) -> anyhow::Result<Option<Claimed>> {
        self.claim_pending(None).await
    }

    /// Claims the oldest PENDING run whose queue entry is older than `sweep_after`: the workers of the
    /// Redis queue sweep for these, so a lost or undelivered queue entry delays a run by a moment and
    /// never loses it.
    pub async fn claim_stale(&self) -> anyhow::Result<Option<Claimed>> {
        let before = now() - chrono::Duration::from_std(self.inner.settings.sweep_after)?;
        self.claim_pending(Some(before)).await
    }

    #[tracing::instrument(
        target = "chap_scheduler::cost",
        level = "debug",
        name = "claim_next",
        skip_all
    )]
    async fn claim_pending(
        &self,
        enqueued_before: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<Option<Claimed>> {
        // A read first: an idle slot looks a few times a second, and a look that finds nothing
        // takes no turn to write. The claim then takes the oldest run still PENDING when it runs,
        // whichever the others took meanwhile.
        if store::pending_runs(&self.inner.db, enqueued_before, 1)
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        self.claim_picked(Pick::Oldest(enqueued_before)).await
    }

    /// Claims and executes a run delivered by the queue (unless the worker is stopping: the delivery
    /// is then left to the others, and the run stays PENDING for them). A run its end gives this slot
    /// is queued for any worker.
    pub async fn execute(&self, run_id: Uuid) -> anyhow::Result<()> {
        if self.inner.stopping.is_cancelled() {
            return Ok(());
        }
        if let Some(claimed) = self.claim(run_id).await? {
            let next = self.execute_claimed(claimed).await?;
            self.enqueue(next.as_slice()).await;
        }
        Ok(())
    }

    /// Claims and executes a run the queue delivered, then the runs its end gives this slot
    /// ([`Self::execute_in_turn`]); nothing when the worker is stopping (the run stays PENDING for the
    /// others).
    pub async fn execute_delivered(&self, run_id: Uuid) -> anyhow::Result<()> {
        if self.inner.stopping.is_cancelled() {
            return Ok(());
        }
        match self.claim(run_id).await? {
            Some(claimed) => self.execute_in_turn(claimed).await,
            None => Ok(()),
        }
    }

    /// Executes `claimed`, then, in the same slot, each run that the previous one's end gave it (the
    /// next due run of its deployment), until none is given or the worker stops (the run given then
    /// is queued for any worker). A slot freed by a run's end starts the next run at once, without a
    /// round trip through the queue (apalis polls Redis every 20 ms, and the entry may go to a
    /// worker whose slots are all busy).
    pub async fn execute_in_turn(&self, claimed: Claimed) -> anyhow::Result<()> {
        let mut next = self.execute_claimed(claimed).await?;
        while let Some(run_id) = next.take() {
            if self.inner.stopping.is_cancelled() {
                self.enqueue(&[run_id]).await;
                break;
            }
            if let Some(claimed) = self.claim(run_id).await? {
                next = self.execute_claimed(claimed).await?;
            }
        }
        Ok(())
    }

    /// Executes one attempt of a claimed run and records how it ended. The run its end gave this slot
    /// (its deployment's next due run, moved to PENDING and not queued): the caller executes it or
    /// queues it.
    pub async fn execute_claimed(&self, claimed: Claimed) -> anyhow::Result<Option<Uuid>> {
        let _executing = self.inner.executions.token();
        let Claimed {
            run,
            lease,
            deployment: dep,
        } = claimed;
        let _live = self.start_executing(&lease);
        let db = self.inner.db.clone();
        // A first attempt has no earlier steps to number after.
        let first_position = if lease.attempt <= 1 {
            0
        } else {
            store::steps_so_far(&db, run.id)
                .instrument(tracing::debug_span!(target: "chap_scheduler::cost", "attempt_setup"))
                .await?
        };
        let Some(flow) = self.inner.registry.get(&run.flow_name) else {
            let error = FlowError::permanent(format!(
                "the flow `{}` is not registered in worker {}",
                run.flow_name, self.inner.worker_id
            ));
            return self
                .finish(&run, &lease, Outcome::Failed(error), dep.as_ref())
                .await;
        };
        let cancel = CancellationToken::new();
        let ctx = RunContext::new(
            self.inner.blocks.clone(),
            lease.clone(),
            run.flow_name.clone(),
            run.parameters.clone(),
            db.clone(),
            self.inner.logs.clone(),
            cancel.clone(),
            first_position,
        );
        ctx.info(format!(
            "attempt {} of {} started on worker {}",
            lease.attempt.max(1),
            run.max_attempts.max(1),
            self.inner.worker_id
        ));
        // Aborted when this future ends, also when it is dropped half-way: a watcher left behind would
        // keep heartbeating a run nobody executes, and the reaper would never free it.
        let _watcher = AbortOnDropHandle::new(tokio::spawn(watch(
            self.clone(),
            lease.clone(),
            cancel.clone(),
        )));
        let mut body = {
            let ctx = ctx.clone();
            AbortOnDropHandle::new(tokio::spawn(async move { flow.run(&ctx).await }))
        };
        let timeout = dep
            .as_ref()
            .and_then(|d| d.timeout_seconds)
            .map(Duration::from_secs_f64);
        let mut body_done = false;
        let outcome = tokio::select! {
            joined = &mut body => {
                body_done = true;
                match joined {
                    Ok(Ok(())) => Outcome::Completed,
                    Ok(Err(e)) => Outcome::Failed(e),
                    Err(e) if e.is_panic() => Outcome::Failed(FlowError::retryable(format!(
                        "the flow panicked: {}", panic_message(e.into_panic())
                    ))),
                    Err(_) => Outcome::Cancelled,
                }
            },
            _ = cancel.cancelled() => Outcome::Cancelled,
            _ = sleep_or_forever(timeout) => Outcome::TimedOut(timeout.unwrap_or_default()),
            _ = self.grace_over() => Outcome::HandedBack,
        };
        cancel.cancel();
        if !body_done {
            // Let the aborted body stop before the end is recorded; whatever it still tries to write
            // is refused once the attempt has ended.
            body.abort();
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut body).await;
        }
        let outcome = match outcome {
            Outcome::Failed(mut e) => {
                e.message = ctx.redact(&e.message);
                Outcome::Failed(e)
            }
            other => other,
        };
        match &outcome {
            Outcome::Completed => ctx.info("finished"),
            Outcome::Failed(e) => ctx.error(format!("failed: {}", e.message)),
            Outcome::TimedOut(t) => ctx.error(format!("timed out after {} s", t.as_secs_f64())),
            Outcome::Cancelled => ctx.warn("cancelled"),
            Outcome::HandedBack => ctx.warn(format!(
                "worker {} is stopping: the run goes back to the queue (this attempt does not count)",
                self.inner.worker_id
            )),
        }
        self.finish(&run, &lease, outcome, dep.as_ref()).await
    }

    /// Resolves once the engine is stopping and its grace period is over.
    async fn grace_over(&self) {
        self.inner.stopping.cancelled().await;
        tokio::time::sleep(self.inner.settings.shutdown_grace).await;
    }

    /// Records how the attempt ended; the run its end gave this slot (see [`Self::execute_claimed`]).
    async fn finish(
        &self,
        run: &flow_run::Model,
        lease: &Lease,
        outcome: Outcome,
        dep: Option<&deployment::Model>,
    ) -> anyhow::Result<Option<Uuid>> {
        let attempt = lease.attempt.max(1);
        let (delay, backoff) = dep
            .map(|d| (d.retry_delay_seconds, d.retry_backoff))
            .unwrap_or((10.0, 2.0));
        let failed = |message: String, retryable: bool, steps: &str| {
            let open_steps = (RunState::Failed, steps.to_string());
            if retryable && attempt < run.max_attempts {
                let wait = delay * backoff.powi(attempt - 1);
                Finish {
                    to: RunState::AwaitingRetry,
                    message: Some(format!(
                        "attempt {attempt} of {} failed: {message}; retrying in {wait} s",
                        run.max_attempts
                    )),
                    next_attempt_at: Some(
                        now() + chrono::Duration::milliseconds((wait * 1000.0) as i64),
                    ),
                    open_steps,
                }
            } else {
                Finish {
                    to: RunState::Failed,
                    message: Some(message),
                    next_attempt_at: None,
                    open_steps,
                }
            }
        };
        let finish = match outcome {
            Outcome::Completed => Finish {
                to: RunState::Completed,
                message: None,
                next_attempt_at: None,
                open_steps: (RunState::Completed, String::new()),
            },
            Outcome::Failed(e) => failed(e.message, e.retryable, "the run failed"),
            Outcome::TimedOut(t) => failed(
                format!("timed out after {} s", t.as_secs_f64()),
                true,
                "the run timed out",
            ),
            Outcome::Cancelled => Finish {
                to: RunState::Cancelled,
                message: Some("cancelled".into()),
                next_attempt_at: None,
                open_steps: (RunState::Cancelled, "the run was cancelled".into()),
            },
            Outcome::HandedBack => return self.hand_back(lease).await.map(|()| None),
        };
        // Written by the log writer after this attempt's last lines, steps and artifacts, in one durable
        // transaction with the other attempts ending now; the slot this run held goes to its
        // deployment's next due run in the same transaction, so the next run starts at once, in any
        // process (a worker process has no dispatcher of its own).
        let ended = self
            .inner
            .logs
            .finish(Arc::new(lease.clone()), finish, dep.cloned())
            .await?;
        match ended.state {
            Some(state) => tracing::info!(run = %run.id, %state, attempt, "run finished"),
            // Declared crashed (and perhaps retried) while this worker was frozen or slow.
            None => {
                tracing::warn!(run = %run.id, attempt, "attempt ended after losing its run; nothing recorded")
            }
        }
        // The first run this end was given is this slot's next (the batch gives each end of a group
        // its own); only a surplus goes to the queue.
        let mut promoted = ended.promoted.into_iter();
        let next = promoted.next();
        self.enqueue(&promoted.collect::<Vec<_>>()).await;
        if dep.is_none() {
            self.wake_dispatcher();
        }
        Ok(next)
    }

    /// Gives a run back to the queue at once: PENDING again, with one more attempt allowed so the
    /// interrupted one does not count; a run being cancelled ends CANCELLED instead.
    async fn hand_back(&self, lease: &Lease) -> anyhow::Result<()> {
        self.inner.logs.flush().await;
        let db = &self.inner.db;
        let message = format!(
            "handed back: worker {} stopped before the run finished",
            self.inner.worker_id
        );
        if store::hand_back(db, lease, message).await? {
            tracing::info!(run = %lease.run_id, "run handed back to the queue");
            if let Err(e) = self.inner.queue.push(lease.run_id).await {
                tracing::warn!(run = %lease.run_id, error = %e, "enqueueing a handed-back run failed; the requeue pass will");
            }
        } else {
            let cancelled = Finish {
                to: RunState::Cancelled,
                message: Some("cancelled".into()),
                next_attempt_at: None,
                open_steps: (RunState::Cancelled, "the run was cancelled".into()),
            };
            store::finish(db, lease, cancelled).await?;
        }
        self.wake_dispatcher();
        Ok(())
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending::<()>().await,
    }
}

/// Keeps the attempt's heartbeat fresh and stops its body when the run is being cancelled or the
/// lease is gone.
async fn watch(engine: Engine, lease: Lease, cancel: CancellationToken) {
    let db = engine.db().clone();
    let writes = engine.inner.logs.writes().clone();
    let settings = engine.settings().clone();
    let mut last_beat = std::time::Instant::now();
    let mut failures = Repeats::new("checking a running run failed", Level::Warn);
    loop {
        tokio::time::sleep(settings.cancel_poll.min(settings.heartbeat_interval)).await;
        let beat = last_beat.elapsed() >= settings.heartbeat_interval;
        let span = tracing::debug_span!(target: "chap_scheduler::cost", "watch");
        let state = if beat {
            last_beat = std::time::Instant::now();
            store::beat(&writes, &lease).instrument(span).await
        } else {
            store::lease_state(&db, &lease).instrument(span).await
        };
        match state {
            Ok(Some(RunState::Running)) => failures.succeeded(),
            Ok(_) => {
                // CANCELLING, or the lease is gone.
                cancel.cancel();
                return;
            }
            Err(e) => failures.failed(&format!("run {}: {e}", lease.run_id)),
        }
    }
}

/// Runs `concurrency` embedded-queue workers: each claims the oldest PENDING run, executes it, and
/// sleeps until woken by a new run or `poll` passes. Returns once the engine stops and every slot's
/// run has finished or been handed back.
pub async fn run_embedded_workers(engine: Engine, wake: Arc<Notify>, poll: Duration) {
    let n = engine.settings().worker_concurrency.max(1);
    let mut handles = Vec::new();
    for _ in 0..n {
        let engine = engine.clone();
        let wake = wake.clone();
        handles.push(tokio::spawn(async move {
            // The run the last one's end gave this slot: claimed by id, without looking for the oldest.
            let mut given: Option<Uuid> = None;
            let mut claiming = Repeats::new("claiming a run failed", Level::Warn);
            while !engine.stopping().is_cancelled() {
                let next = next_claim(&engine, &wake, given.take(), poll, &mut claiming).await;
                let Some(claimed) = next else {
                    continue;
                };
                let id = claimed.run.id;
                match engine.execute_claimed(claimed).await {
                    Ok(next) => given = next,
                    Err(e) => tracing::error!(run = %id, error = %e, "executing a run failed"),
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
}

/// An embedded slot's next run: the one `given` (claimed by id), else the oldest PENDING one; `None`
/// once it has waited for a push (or `poll`) without finding one.
async fn next_claim(
    engine: &Engine,
    wake: &Notify,
    given: Option<Uuid>,
    poll: Duration,
    failures: &mut Repeats,
) -> Option<Claimed> {
    if let Some(id) = given {
        let claimed = engine.claim(id).await;
        failures.record(&claimed);
        // Else it was taken or cancelled meanwhile, or the claim failed: look for another.
        if let Ok(Some(claimed)) = claimed {
            return Some(claimed);
        }
    }
    // Registered before looking, so a run pushed while this slot looks (and finds nothing) wakes it;
    // a push it catches while it claims another run goes on to another slot when this is dropped.
    // Registered only after an empty look, such a push found no slot waiting and left one permit,
    // which a second push merged into: that run waited for a slot's poll.
    let woken = wake.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let claimed = engine.claim_next().await;
    failures.record(&claimed);
    if let Ok(Some(claimed)) = claimed {
        return Some(claimed);
    }
    tokio::select! {
        _ = woken => {}
        _ = tokio::time::sleep(poll) => {}
        _ = engine.stopping().cancelled() => {}
    }
    None
}
