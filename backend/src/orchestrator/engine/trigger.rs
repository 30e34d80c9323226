//! Creating runs (parameters merged and validated, the collision strategy applied) and cancelling them.

use chap_scheduler_api::{CollisionStrategy, RunState};
use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use super::{merge_parameters, Engine, Trigger, TriggerAudit};
use crate::db::entities::{deployment, flow_run};
use crate::db::{is_unique_violation, users::now};
use crate::error::{AppError, AppResult};
use crate::orchestrator::deployments::{self, field_errors};
use crate::orchestrator::store::{self, NewRun, Transition};

impl Engine {
    /// Creates a run of a deployment: parameters merged over the defaults and validated, the
    /// collision strategy applied, then dispatched at once if a slot is free, with its `audit` event
    /// in the same transaction. Returns the run and whether it was created (false: the idempotency key
    /// named an existing run; no event is written then).
    #[tracing::instrument(
        target = "chap_scheduler::cost",
        level = "debug",
        name = "trigger",
        skip_all
    )]
    pub async fn trigger(
        &self,
        dep: &deployment::Model,
        parameters: Option<&Value>,
        trigger: Trigger,
        idempotency_key: Option<String>,
        expected_start: Option<chrono::DateTime<Utc>>,
        audit: Option<TriggerAudit>,
    ) -> AppResult<(flow_run::Model, bool)> {
        let db = &self.inner.db;
        if let Some(key) = &idempotency_key {
            if let Some(existing) = store::by_idempotency_key(db, key).await? {
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
        let errors = flow.validate(&params);
        if !errors.is_empty() {
            return Err(field_errors("parameters", errors));
        }
        let (triggered_by, schedule_id, retry_of) = match &trigger {
            Trigger::Manual(who) => (who.clone(), None, None),
            Trigger::Schedule { id, .. } => (format!("schedule:{id}"), Some(*id), None),
            Trigger::Retry(of) => (format!("retry:{of}"), None, Some(*of)),
        };
        let expected = expected_start.unwrap_or_else(now);
        // A plain count first, outside the write transaction: a trigger into a full deployment (a
        // backlog) takes no lock and reads no due runs; the next run's end gives the freed slot to the
        // oldest due run (this one, once it is the oldest). A slot freed between this read and the
        // commit goes to this run at the dispatcher's next pass (within 0.5 s).
        let may_promote = expected <= Utc::now() && self.may_have_room(dep).await?;
        let txn = crate::db::begin_write(db).await?;
        let mut state = RunState::Scheduled;
        let mut message = None;
        if let (Some(limit), CollisionStrategy::CancelNew) =
            (dep.concurrency_limit, dep.collision_strategy)
        {
            deployments::lock(&txn, dep.id).await?;
            let active = store::count_active(&txn, dep.id).await?;
            if active >= limit as u64 {
                state = RunState::Cancelled;
                message = Some(format!(
                    "cancelled at once: the deployment's concurrency limit of {limit} is reached \
                     ({active} run(s) in flight) and its collision strategy is cancel_new"
                ));
            }
        }
        let new = NewRun {
            deployment: dep,
            parameters: params,
            state,
            message,
            expected_start_at: expected,
            triggered_by,
            schedule_id,
            retry_of,
            idempotency_key: idempotency_key.clone(),
        };
        let run = match store::create_run(&txn, new).await {
            Ok(run) => run,
            Err(e) if is_unique_violation(&e) && idempotency_key.is_some() => {
                // Another request with the same key won the race: answer with its run.
                drop(txn);
                let key = idempotency_key.unwrap_or_default();
                let existing = store::by_idempotency_key(db, &key).await?.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("idempotent run vanished"))
                })?;
                return Ok((existing, false));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(audit) = audit {
            let target = Some(format!("run:{}", run.id));
            crate::db::audit::record(&txn, &audit.actor, audit.action, target, audit.detail)
                .await?;
        }
        // A run due now goes to PENDING in the same transaction when its deployment has a free slot
        // (older due runs first): one write transaction per trigger.
        let promoted = if state == RunState::Scheduled && may_promote {
            store::promote_due_in(&txn, dep).await?
        } else {
            Vec::new()
        };
        txn.commit().await?;
        self.enqueue(&promoted).await;
        let run = if !promoted.contains(&run.id) {
            run
        } else {
            store::get(db, run.id).await?.unwrap_or(run)
        };
        Ok((run, true))
    }

    /// Cancels a run: at once if it has not started, cooperatively (CANCELLING) if it is running.
    #[tracing::instrument(
        target = "chap_scheduler::cost",
        level = "debug",
        name = "cancel",
        skip_all
    )]
    pub async fn cancel(&self, run_id: Uuid, by: &str) -> AppResult<flow_run::Model> {
        let db = &self.inner.db;
        let run = store::get(db, run_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no run with id {run_id}")))?;
        let message = format!("cancelled by {by}");
        let applied = match run.state {
            RunState::Scheduled | RunState::Pending | RunState::AwaitingRetry => {
                store::transition(
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
                store::transition(
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
        Ok(store::get(db, run_id).await?.unwrap_or(run))
    }
}
