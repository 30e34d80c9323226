//! The engine: triggering runs, dispatching them into the queue within concurrency limits, executing
//! them on workers (claim by compare-and-set, heartbeats, timeout, cancellation, retries), reaping
//! runs whose worker died, and recovering the queue after a restart or a Redis flush.

use std::sync::Arc;
use std::time::Duration;

use chap_scheduler_api::{CollisionStrategy, RunState};
use chrono::Utc;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::blocks::Blocks;
use super::context::RunContext;
use super::deployments::{field_errors, strategy_of};
use super::flow::{FlowError, FlowRegistry};
use super::logs::LogSink;
use super::queue::Queue;
use super::runs::{self, close_open_steps, record_state, state_of, Transition};
use super::schema;
use crate::db::entities::{deployment, flow_run, task_run};
use crate::db::{is_unique_violation, users::now};
use crate::error::{AppError, AppResult};

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
    /// Redis workers also claim PENDING runs enqueued longer ago than this straight from the database.
    pub sweep_after: Duration,
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
            sweep_after: Duration::from_secs(2),
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
        let logs = LogSink::start(db.clone());
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
            }),
        }
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

    /// Creates a run of a deployment: parameters merged over the defaults and validated, the
    /// collision strategy applied, then dispatched at once if a slot is free. Returns the run and
    /// whether it was created (false: the idempotency key named an existing run).
    pub async fn trigger(
        &self,
        dep: &deployment::Model,
        parameters: Option<&Value>,
        trigger: Trigger,
        idempotency_key: Option<String>,
        expected_start: Option<chrono::DateTime<Utc>>,
    ) -> AppResult<(flow_run::Model, bool)> {
        let db = &self.inner.db;
        if let Some(key) = &idempotency_key {
            if let Some(existing) = flow_run::Entity::find()
                .filter(flow_run::Column::IdempotencyKey.eq(key.as_str()))
                .one(db)
                .await?
            {
                return Ok((existing, false));
            }
        }
        let flow = self.inner.registry.get(&dep.flow_name).ok_or_else(|| {
            AppError::Conflict(format!(
                "the flow `{}` is not available in this service",
                dep.flow_name
            ))
        })?;
        let params = merge_parameters(&dep.parameters, parameters);
        let mut errors = schema::validate(&flow.parameter_schema(), &params, false);
        if errors.is_empty() {
            errors = flow.validate(&params);
        }
        if !errors.is_empty() {
            return Err(field_errors("parameters", errors));
        }
        let (triggered_by, schedule_id, retry_of) = match &trigger {
            Trigger::Manual(who) => (who.clone(), None, None),
            Trigger::Schedule { id, .. } => (format!("schedule:{id}"), Some(*id), None),
            Trigger::Retry(of) => (format!("retry:{of}"), None, Some(*of)),
        };
        let now = now();
        let expected = expected_start.unwrap_or(now);
        let txn = crate::db::begin_write(db).await?;
        let mut state = RunState::Scheduled;
        let mut message = None;
        if let (Some(limit), CollisionStrategy::CancelNew) =
            (dep.concurrency_limit, strategy_of(&dep.collision_strategy))
        {
            lock_deployment(&txn, dep.id).await?;
            let active = count_active(&txn, dep.id).await?;
            if active >= limit as u64 {
                state = RunState::Cancelled;
                message = Some(format!(
                    "cancelled at once: the deployment's concurrency limit of {limit} is reached \
                     ({active} run(s) in flight) and its collision strategy is cancel_new"
                ));
            }
        }
        let id = Uuid::new_v4();
        let inserted = flow_run::ActiveModel {
            id: Set(id),
            deployment_id: Set(Some(dep.id)),
            deployment_name: Set(dep.name.clone()),
            flow_name: Set(dep.flow_name.clone()),
            parameters: Set(params),
            state: Set(state.as_str().into()),
            state_message: Set(message.clone()),
            state_at: Set(now),
            expected_start_at: Set(expected),
            started_at: Set(None),
            ended_at: Set(state.is_terminal().then_some(now)),
            attempt: Set(0),
            max_attempts: Set(dep.retries.max(0) + 1),
            triggered_by: Set(triggered_by.chars().take(160).collect()),
            schedule_id: Set(schedule_id),
            idempotency_key: Set(idempotency_key.clone()),
            worker_id: Set(None),
            heartbeat_at: Set(None),
            next_attempt_at: Set(None),
            enqueued_at: Set(None),
            retry_of: Set(retry_of),
            summary: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await;
        let run = match inserted {
            Ok(run) => run,
            Err(e) if is_unique_violation(&e) && idempotency_key.is_some() => {
                // Another request with the same key won the race: answer with its run.
                drop(txn);
                let key = idempotency_key.unwrap_or_default();
                let existing = flow_run::Entity::find()
                    .filter(flow_run::Column::IdempotencyKey.eq(key))
                    .one(db)
                    .await?
                    .ok_or_else(|| {
                        AppError::Internal(anyhow::anyhow!("idempotent run vanished"))
                    })?;
                return Ok((existing, false));
            }
            Err(e) => return Err(e.into()),
        };
        record_state(&txn, id, RunState::Scheduled, None, now).await?;
        if state == RunState::Cancelled {
            record_state(&txn, id, state, message, now).await?;
        }
        txn.commit().await?;
        if state == RunState::Scheduled && expected <= Utc::now() {
            self.dispatch_deployment(dep).await?;
        }
        let run = runs::get(db, id).await?.unwrap_or(run);
        Ok((run, true))
    }

    /// Wakes the dispatcher loop.
    pub fn wake_dispatcher(&self) {
        self.inner.dispatch_wake.notify_one();
    }

    /// Promotes due SCHEDULED and AWAITING_RETRY runs to PENDING where a slot is free, and enqueues them.
    pub async fn dispatch(&self) -> anyhow::Result<usize> {
        let db = &self.inner.db;
        let now = now();
        let due = flow_run::Entity::find()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(flow_run::Column::State.eq(RunState::Scheduled.as_str()))
                            .add(flow_run::Column::ExpectedStartAt.lte(now)),
                    )
                    .add(
                        Condition::all()
                            .add(flow_run::Column::State.eq(RunState::AwaitingRetry.as_str()))
                            .add(flow_run::Column::NextAttemptAt.lte(now)),
                    ),
            )
            .order_by_asc(flow_run::Column::ExpectedStartAt)
            .limit(500)
            .all(db)
            .await?;
        let mut promoted = 0;
        let mut room = self.queue_room().await?;
        let mut deployments: std::collections::HashMap<Uuid, Option<deployment::Model>> =
            Default::default();
        for run in due {
            if room == 0 {
                break;
            }
            let dep = match run.deployment_id {
                Some(id) => match deployments.get(&id) {
                    Some(d) => d.clone(),
                    None => {
                        let d = deployment::Entity::find_by_id(id).one(db).await?;
                        deployments.insert(id, d.clone());
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

    async fn dispatch_deployment(&self, dep: &deployment::Model) -> AppResult<()> {
        let due = flow_run::Entity::find()
            .filter(flow_run::Column::DeploymentId.eq(dep.id))
            .filter(flow_run::Column::State.eq(RunState::Scheduled.as_str()))
            .filter(flow_run::Column::ExpectedStartAt.lte(now()))
            .order_by_asc(flow_run::Column::ExpectedStartAt)
            .limit(50)
            .all(&self.inner.db)
            .await?;
        for run in due {
            if !self.promote(&run, Some(dep)).await? {
                break;
            }
        }
        Ok(())
    }

    async fn queue_room(&self) -> Result<u64, sea_orm::DbErr> {
        let queued = flow_run::Entity::find()
            .filter(flow_run::Column::State.eq(RunState::Pending.as_str()))
            .count(&self.inner.db)
            .await?;
        Ok(self.inner.settings.max_queued.saturating_sub(queued))
    }

    /// Moves one run to PENDING if its deployment has a free slot, then enqueues it.
    async fn promote(
        &self,
        run: &flow_run::Model,
        dep: Option<&deployment::Model>,
    ) -> Result<bool, sea_orm::DbErr> {
        let db = &self.inner.db;
        let from = state_of(&run.state);
        let now = now();
        let txn = crate::db::begin_write(db).await?;
        if let Some(dep) = dep {
            if let Some(limit) = dep.concurrency_limit {
                // Serialise dispatchers of this deployment (row lock in PostgreSQL, write lock in SQLite).
                lock_deployment(&txn, dep.id).await?;
                if count_active(&txn, dep.id).await? >= limit as u64 {
                    return Ok(false);
                }
            }
        }
        let applied = flow_run::Entity::update_many()
            .col_expr(
                flow_run::Column::State,
                Expr::value(RunState::Pending.as_str()),
            )
            .col_expr(
                flow_run::Column::StateMessage,
                Expr::value(Option::<String>::None),
            )
            .col_expr(flow_run::Column::StateAt, Expr::value(now))
            .col_expr(flow_run::Column::EnqueuedAt, Expr::value(now))
            .filter(flow_run::Column::Id.eq(run.id))
            .filter(flow_run::Column::State.eq(from.as_str()))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if applied {
            record_state(&txn, run.id, RunState::Pending, None, now).await?;
        }
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
        let mut q =
            flow_run::Entity::find().filter(flow_run::Column::State.eq(RunState::Pending.as_str()));
        if !all {
            let before = now() - chrono::Duration::from_std(self.inner.settings.requeue_after)?;
            q = q.filter(flow_run::Column::EnqueuedAt.lt(before));
        }
        let stale = q
            .order_by_asc(flow_run::Column::ExpectedStartAt)
            .limit(1000)
            .all(db)
            .await?;
        for run in &stale {
            flow_run::Entity::update_many()
                .col_expr(flow_run::Column::EnqueuedAt, Expr::value(now()))
                .filter(flow_run::Column::Id.eq(run.id))
                .exec(db)
                .await?;
            self.inner.queue.push(run.id).await?;
        }
        if !stale.is_empty() {
            tracing::info!(count = stale.len(), "re-enqueued pending runs");
        }
        Ok(stale.len())
    }

    /// Claims a specific run (a queue delivery). `None`: nothing to claim (duplicate delivery, or the
    /// run was cancelled meanwhile) — the delivery is simply acknowledged.
    pub async fn claim(&self, run_id: Uuid) -> anyhow::Result<Option<flow_run::Model>> {
        let now = now();
        let claimed = runs::transition(
            &self.inner.db,
            run_id,
            Transition::to(RunState::Running)
                .from(&[RunState::Pending])
                .set(
                    flow_run::Column::WorkerId,
                    Expr::value(self.inner.worker_id.clone()),
                )
                .set(flow_run::Column::HeartbeatAt, Expr::value(now))
                .set(
                    flow_run::Column::Attempt,
                    sea_orm::sea_query::ExprTrait::add(Expr::col(flow_run::Column::Attempt), 1),
                )
                .set(
                    flow_run::Column::StartedAt,
                    Func::coalesce([Expr::col(flow_run::Column::StartedAt), Expr::value(now)]),
                ),
        )
        .await?;
        if !claimed {
            return Ok(None);
        }
        Ok(runs::get(&self.inner.db, run_id).await?)
    }

    /// Claims the oldest PENDING run (the embedded queue: the database is the queue).
    pub async fn claim_next(&self) -> anyhow::Result<Option<flow_run::Model>> {
        self.claim_pending(None).await
    }

    /// Claims the oldest PENDING run whose queue entry is older than `sweep_after`: the workers of the
    /// Redis queue sweep for these, so a lost or undelivered queue entry delays a run by seconds and
    /// never loses it.
    pub async fn claim_stale(&self) -> anyhow::Result<Option<flow_run::Model>> {
        let before = now() - chrono::Duration::from_std(self.inner.settings.sweep_after)?;
        self.claim_pending(Some(before)).await
    }

    async fn claim_pending(
        &self,
        enqueued_before: Option<chrono::DateTime<Utc>>,
    ) -> anyhow::Result<Option<flow_run::Model>> {
        let mut q = flow_run::Entity::find()
            .select_only()
            .column(flow_run::Column::Id)
            .filter(flow_run::Column::State.eq(RunState::Pending.as_str()));
        if let Some(before) = enqueued_before {
            q = q.filter(flow_run::Column::EnqueuedAt.lt(before));
        }
        let candidates: Vec<Uuid> = q
            .order_by_asc(flow_run::Column::ExpectedStartAt)
            .limit(8)
            .into_tuple()
            .all(&self.inner.db)
            .await?;
        for id in candidates {
            if let Some(run) = self.claim(id).await? {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    /// Claims and executes a run delivered by the queue.
    pub async fn execute(&self, run_id: Uuid) -> anyhow::Result<()> {
        if let Some(run) = self.claim(run_id).await? {
            self.execute_claimed(run).await?;
        }
        Ok(())
    }

    /// Executes one attempt of a claimed (RUNNING, owned) run and records how it ended.
    pub async fn execute_claimed(&self, run: flow_run::Model) -> anyhow::Result<()> {
        let db = self.inner.db.clone();
        let dep = match run.deployment_id {
            Some(id) => deployment::Entity::find_by_id(id).one(&db).await?,
            None => None,
        };
        let Some(flow) = self.inner.registry.get(&run.flow_name) else {
            self.finish(
                &run,
                Outcome::Failed(FlowError::permanent(format!(
                    "the flow `{}` is not registered in worker {}",
                    run.flow_name, self.inner.worker_id
                ))),
                dep.as_ref(),
            )
            .await?;
            return Ok(());
        };
        let cancel = CancellationToken::new();
        let first_position = task_run::Entity::find()
            .filter(task_run::Column::FlowRunId.eq(run.id))
            .count(&db)
            .await? as i32;
        let ctx = RunContext::new(
            self.inner.blocks.clone(),
            run.id,
            run.attempt.max(1) as u32,
            run.parameters.clone(),
            db.clone(),
            self.inner.logs.clone(),
            cancel.clone(),
            first_position,
        );
        ctx.info(format!(
            "attempt {} of {} started on worker {}",
            run.attempt.max(1),
            run.max_attempts.max(1),
            self.inner.worker_id
        ));
        let watcher = tokio::spawn(watch(self.clone(), run.id, cancel.clone()));
        let body = {
            let ctx = ctx.clone();
            tokio::spawn(async move { flow.run(&ctx).await })
        };
        let timeout = dep
            .as_ref()
            .and_then(|d| d.timeout_seconds)
            .map(Duration::from_secs_f64);
        let abort = body.abort_handle();
        let outcome = tokio::select! {
            joined = body => match joined {
                Ok(Ok(())) => Outcome::Completed,
                Ok(Err(e)) => Outcome::Failed(e),
                Err(e) if e.is_panic() => Outcome::Failed(FlowError::retryable(format!(
                    "the flow panicked: {}", panic_message(e.into_panic())
                ))),
                Err(_) => Outcome::Cancelled,
            },
            _ = cancel.cancelled() => Outcome::Cancelled,
            _ = sleep_or_forever(timeout) => Outcome::TimedOut(timeout.unwrap_or_default()),
        };
        abort.abort();
        cancel.cancel();
        watcher.abort();
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
        }
        self.inner.logs.flush().await;
        self.finish(&run, outcome, dep.as_ref()).await
    }

    async fn finish(
        &self,
        run: &flow_run::Model,
        outcome: Outcome,
        dep: Option<&deployment::Model>,
    ) -> anyhow::Result<()> {
        let db = &self.inner.db;
        let me = self.inner.worker_id.as_str();
        let attempt = run.attempt.max(1);
        let (delay, backoff) = dep
            .map(|d| (d.retry_delay_seconds, d.retry_backoff))
            .unwrap_or((10.0, 2.0));
        let retry_or_fail = |message: String, retryable: bool| {
            if retryable && attempt < run.max_attempts {
                let wait = delay * backoff.powi(attempt - 1);
                let next = now() + chrono::Duration::milliseconds((wait * 1000.0) as i64);
                Transition::to(RunState::AwaitingRetry)
                    .message(format!(
                        "attempt {attempt} of {} failed: {message}; retrying in {wait} s",
                        run.max_attempts
                    ))
                    .set(flow_run::Column::NextAttemptAt, Expr::value(next))
            } else {
                Transition::to(RunState::Failed).message(message)
            }
        };
        let (transition, step_state, step_error) = match outcome {
            Outcome::Completed => (Transition::to(RunState::Completed), RunState::Completed, ""),
            Outcome::Failed(e) => (
                retry_or_fail(e.message, e.retryable),
                RunState::Failed,
                "the run failed",
            ),
            Outcome::TimedOut(t) => (
                retry_or_fail(format!("timed out after {} s", t.as_secs_f64()), true),
                RunState::Failed,
                "the run timed out",
            ),
            Outcome::Cancelled => {
                let reason = runs::get(db, run.id)
                    .await?
                    .filter(|r| state_of(&r.state) == RunState::Cancelling)
                    .and_then(|r| r.state_message)
                    .unwrap_or_else(|| "cancelled".into());
                (
                    Transition::to(RunState::Cancelled).message(reason),
                    RunState::Cancelled,
                    "the run was cancelled",
                )
            }
        };
        close_open_steps(db, run.id, step_state, step_error).await?;
        let to = transition.to;
        let applied = runs::transition(
            db,
            run.id,
            transition
                .from(&[RunState::Running, RunState::Cancelling])
                .owned_by(me)
                .set(
                    flow_run::Column::HeartbeatAt,
                    Expr::value(Option::<chrono::DateTime<Utc>>::None),
                ),
        )
        .await?;
        if !applied {
            // Declared crashed (and perhaps retried elsewhere) while this worker was slow: change nothing.
            tracing::warn!(run = %run.id, "finished after losing ownership; result discarded");
        } else {
            tracing::info!(run = %run.id, state = %to, "run finished");
        }
        self.wake_dispatcher();
        Ok(())
    }

    /// Cancels a run: at once if it has not started, cooperatively (CANCELLING) if it is running.
    pub async fn cancel(&self, run_id: Uuid, by: &str) -> AppResult<flow_run::Model> {
        let db = &self.inner.db;
        let run = runs::get(db, run_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no run with id {run_id}")))?;
        let message = format!("cancelled by {by}");
        let applied = match state_of(&run.state) {
            RunState::Scheduled | RunState::Pending | RunState::AwaitingRetry => {
                runs::transition(
                    db,
                    run_id,
                    Transition::to(RunState::Cancelled).message(message).from(&[
                        RunState::Scheduled,
                        RunState::Pending,
                        RunState::AwaitingRetry,
                    ]),
                )
                .await?
            }
            RunState::Running => {
                runs::transition(
                    db,
                    run_id,
                    Transition::to(RunState::Cancelling).message(message),
                )
                .await?
            }
            s => {
                return Err(AppError::Conflict(format!(
                    "the run is {s}; there is nothing to cancel"
                )));
            }
        };
        if !applied {
            return Err(AppError::Conflict(
                "the run changed state meanwhile; reload and try again".into(),
            ));
        }
        self.wake_dispatcher();
        Ok(runs::get(db, run_id).await?.unwrap_or(run))
    }

    /// Marks runs whose worker stopped heartbeating CRASHED, and schedules a retry when attempts remain.
    pub async fn reap(&self) -> anyhow::Result<usize> {
        let db = &self.inner.db;
        let deadline = now() - chrono::Duration::from_std(self.inner.settings.heartbeat_timeout)?;
        let stale = flow_run::Entity::find()
            .filter(
                flow_run::Column::State
                    .is_in([RunState::Running.as_str(), RunState::Cancelling.as_str()]),
            )
            .filter(flow_run::Column::HeartbeatAt.lt(deadline))
            .limit(200)
            .all(db)
            .await?;
        let mut reaped = 0;
        for run in stale {
            let worker = run.worker_id.clone().unwrap_or_default();
            let last = run.heartbeat_at.map(|t| t.to_rfc3339()).unwrap_or_default();
            let guard = |t: Transition| {
                t.owned_by(&worker).set(
                    flow_run::Column::HeartbeatAt,
                    Expr::value(Option::<chrono::DateTime<Utc>>::None),
                )
            };
            if state_of(&run.state) == RunState::Cancelling {
                let msg = format!("cancelled; worker {worker} stopped heartbeating (last {last})");
                if runs::transition(
                    db,
                    run.id,
                    guard(
                        Transition::to(RunState::Cancelled)
                            .message(msg)
                            .from(&[RunState::Cancelling]),
                    ),
                )
                .await?
                {
                    close_open_steps(db, run.id, RunState::Cancelled, "the worker stopped").await?;
                    reaped += 1;
                }
                continue;
            }
            let msg = format!("worker {worker} stopped heartbeating (last {last})");
            if !runs::transition(
                db,
                run.id,
                guard(
                    Transition::to(RunState::Crashed)
                        .message(msg.clone())
                        .from(&[RunState::Running]),
                ),
            )
            .await?
            {
                continue;
            }
            reaped += 1;
            close_open_steps(db, run.id, RunState::Crashed, "the worker stopped").await?;
            tracing::warn!(run = %run.id, %worker, "run crashed: no heartbeat");
            if run.attempt.max(1) < run.max_attempts {
                let dep = match run.deployment_id {
                    Some(id) => deployment::Entity::find_by_id(id).one(db).await?,
                    None => None,
                };
                let delay = dep
                    .map(|d| d.retry_delay_seconds * d.retry_backoff.powi(run.attempt.max(1) - 1))
                    .unwrap_or(0.0);
                let next = now() + chrono::Duration::milliseconds((delay * 1000.0) as i64);
                runs::transition(
                    db,
                    run.id,
                    Transition::to(RunState::AwaitingRetry)
                        .message(format!(
                            "attempt {} of {} crashed ({msg}); retrying in {delay} s",
                            run.attempt.max(1),
                            run.max_attempts
                        ))
                        .from(&[RunState::Crashed])
                        .set(flow_run::Column::NextAttemptAt, Expr::value(next)),
                )
                .await?;
            }
        }
        if reaped > 0 {
            self.wake_dispatcher();
        }
        Ok(reaped)
    }

    /// The dispatcher loop: dispatch due runs, requeue lost entries, reap dead workers. Runs forever.
    pub async fn run_dispatcher(self, reaper_every: Duration) {
        if let Err(e) = self.requeue(true).await {
            tracing::error!(error = %e, "recovering pending runs failed");
        }
        let mut last_maintenance = std::time::Instant::now() - reaper_every;
        loop {
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
            let _ = tokio::time::timeout(
                Duration::from_millis(500),
                self.inner.dispatch_wake.notified(),
            )
            .await;
        }
    }
}

enum Outcome {
    Completed,
    Failed(FlowError),
    TimedOut(Duration),
    Cancelled,
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
        None => futures_util::future::pending::<()>().await,
    }
}

/// Keeps a running run's heartbeat fresh and notices a cancel request (or lost ownership).
async fn watch(engine: Engine, run_id: Uuid, cancel: CancellationToken) {
    let db = engine.db().clone();
    let settings = engine.settings().clone();
    let mut last_beat = std::time::Instant::now();
    loop {
        tokio::time::sleep(settings.cancel_poll.min(settings.heartbeat_interval)).await;
        let current = match runs::get(&db, run_id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                cancel.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(run = %run_id, error = %e, "reading run state failed");
                continue;
            }
        };
        let state = state_of(&current.state);
        let mine = current.worker_id.as_deref() == Some(engine.worker_id());
        if state == RunState::Cancelling
            || !mine
            || !matches!(state, RunState::Running | RunState::Cancelling)
        {
            cancel.cancel();
            return;
        }
        if last_beat.elapsed() >= settings.heartbeat_interval {
            last_beat = std::time::Instant::now();
            let beat = flow_run::Entity::update_many()
                .col_expr(flow_run::Column::HeartbeatAt, Expr::value(now()))
                .filter(flow_run::Column::Id.eq(run_id))
                .filter(flow_run::Column::WorkerId.eq(engine.worker_id()))
                .exec(&db)
                .await;
            if let Err(e) = beat {
                tracing::warn!(run = %run_id, error = %e, "writing a heartbeat failed");
            }
        }
    }
}

async fn lock_deployment(db: &impl ConnectionTrait, id: Uuid) -> Result<(), sea_orm::DbErr> {
    deployment::Entity::update_many()
        .col_expr(
            deployment::Column::UpdatedAt,
            Expr::col(deployment::Column::UpdatedAt),
        )
        .filter(deployment::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

async fn count_active(
    db: &impl ConnectionTrait,
    deployment_id: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::DeploymentId.eq(deployment_id))
        .filter(flow_run::Column::State.is_in([
            RunState::Pending.as_str(),
            RunState::Running.as_str(),
            RunState::Cancelling.as_str(),
        ]))
        .count(db)
        .await
}

/// Runs `concurrency` embedded-queue workers: each claims the oldest PENDING run, executes it, and
/// sleeps until woken by a new run or `poll` passes. Runs forever.
pub async fn run_embedded_workers(engine: Engine, wake: Arc<Notify>, poll: Duration) {
    let n = engine.settings().worker_concurrency.max(1);
    let mut handles = Vec::new();
    for _ in 0..n {
        let engine = engine.clone();
        let wake = wake.clone();
        handles.push(tokio::spawn(async move {
            loop {
                match engine.claim_next().await {
                    Ok(Some(run)) => {
                        let id = run.id;
                        if let Err(e) = engine.execute_claimed(run).await {
                            tracing::error!(run = %id, error = %e, "executing a run failed");
                        }
                    }
                    Ok(None) => {
                        let _ = tokio::time::timeout(poll, wake.notified()).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming a run failed");
                        tokio::time::sleep(poll).await;
                    }
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
}
