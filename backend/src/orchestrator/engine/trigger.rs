//! Creating runs (parameters merged and validated, the collision strategy applied) and cancelling them.

use chap_scheduler_api::{CollisionStrategy, RunState};
use chrono::Utc;
use sea_orm::sea_query::InsertStatement;
use sea_orm::DbErr;
use serde_json::Value;
use uuid::Uuid;

use super::{merge_parameters, Engine, Target, Trigger, TriggerAudit};
use crate::db::entities::{deployment, flow_run};
use crate::db::{is_unique_violation, users::now};
use crate::error::{AppError, AppResult};
use crate::orchestrator::deployments::field_errors;
use crate::orchestrator::store::{self, NewRun, Transition};

impl Engine {
    /// Creates a run of a deployment: parameters merged over the defaults and validated, the
    /// collision strategy applied, then dispatched at once if a slot is free, with its `audit` event
    /// in the same write (all or none). Returns the run and whether it was created (false: the
    /// idempotency key named an existing run; no event is written then).
    #[tracing::instrument(
        target = "chap_scheduler::cost",
        level = "debug",
        name = "trigger",
        skip_all
    )]
    pub async fn trigger(
        &self,
        target: impl Into<Target<'_>>,
        parameters: Option<&Value>,
        trigger: Trigger,
        idempotency_key: Option<String>,
        expected_start: Option<chrono::DateTime<Utc>>,
        audit: Option<TriggerAudit>,
    ) -> AppResult<(flow_run::Model, bool)> {
        let Target {
            deployment: dep,
            active,
            version,
        } = target.into();
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
        // A plain count first, outside the write transaction (read with the deployment when the
        // caller did): a trigger into a full deployment (a backlog) takes no lock and reads no due
        // runs; the next run's end gives the freed slot to the oldest due run (this one, once it is
        // the oldest). A slot freed between this read and the commit goes to this run at the
        // dispatcher's next pass (within 0.5 s).
        let may_promote = expected <= now() && self.may_have_room(dep, active).await?;
        let cancel_new = match (dep.concurrency_limit, dep.collision_strategy) {
            (Some(limit), CollisionStrategy::CancelNew) => Some(limit),
            _ => None,
        };
        let mut new = NewRun {
            deployment: dep,
            parameters: params,
            state: RunState::Scheduled,
            message: None,
            expected_start_at: expected,
            triggered_by,
            schedule_id,
            retry_of,
            idempotency_key: idempotency_key.clone(),
        };
        let with_audit = |run: &flow_run::Model, inserts: &mut Vec<InsertStatement>| {
            if let Some(audit) = audit {
                let target = Some(format!("run:{}", run.id));
                inserts.push(crate::db::audit::insert(
                    &audit.actor,
                    audit.action,
                    target,
                    audit.detail,
                ));
            }
        };
        if !may_promote && cancel_new.is_none() {
            // Nothing to lock or promote: the run, its history and its event in one write (on
            // PostgreSQL one statement).
            let (run, mut inserts) = store::run_inserts(new)?;
            with_audit(&run, &mut inserts);
            return match crate::db::insert_together(db, inserts).await {
                Ok(()) => Ok((run, true)),
                Err(e) => Ok((self.raced(e, idempotency_key).await?, false)),
            };
        }
        if let (Some(version), Some(limit), None, true) =
            (version, dep.concurrency_limit, cancel_new, may_promote)
        {
            // PostgreSQL: the run takes a free slot in the statement that writes it, if nobody
            // took the deployment's lock since the first read and no older run is due.
            let written =
                store::insert_in_free_slot(db, new, version, Ord::max(limit, 0) as u64, with_audit)
                    .await;
            let run = match written {
                Ok(run) => run,
                Err(e) => return Ok((self.raced(e, idempotency_key).await?, false)),
            };
            let run = match run.state {
                RunState::Pending => {
                    self.enqueue_later(vec![run.id]);
                    run
                }
                // Written SCHEDULED: the deployment's free slots go to its due runs in turn, this
                // one among them, as the dispatcher would give them.
                _ => self.give_free_slots(dep, run).await?,
            };
            return Ok((run, true));
        }
        let txn = crate::db::begin_write(db).await?;
        // The deployment's room, under its lock: for the collision strategy, and for the free slots.
        let slots = if may_promote || cancel_new.is_some() {
            Some(store::slots_in(&txn, dep).await?)
        } else {
            None
        };
        if let (Some(limit), Some(slots)) = (cancel_new, &slots) {
            if slots.free == 0 {
                new.state = RunState::Cancelled;
                new.message = Some(format!(
                    "cancelled at once: the deployment's concurrency limit of {limit} is reached \
                     ({} run(s) in flight) and its collision strategy is cancel_new",
                    slots.active
                ));
            }
        }
        // A run due now takes a free slot of its deployment in the same transaction, in its turn
        // after older due runs: it is inserted as PENDING (history SCHEDULED, PENDING) with no update
        // after, and the older ones it let first are moved to PENDING too.
        let mut promoted = Vec::new();
        if let Some(slots) = slots.filter(|_| new.state == RunState::Scheduled && may_promote) {
            let (due, fits) = store::fill_slots_in(&txn, slots, Some(expected)).await?;
            promoted = due;
            if fits {
                new.state = RunState::Pending;
            }
        }
        let (run, mut inserts) = store::run_inserts(new)?;
        with_audit(&run, &mut inserts);
        if let Err(e) = crate::db::writes_in(&txn, inserts).await {
            drop(txn);
            return Ok((self.raced(e, idempotency_key).await?, false));
        }
        txn.commit().await?;
        if run.state == RunState::Pending {
            promoted.push(run.id);
        }
        self.enqueue_later(promoted);
        Ok((run, true))
    }

    /// Gives `dep`'s free slots to its due runs, oldest first, in a locked transaction, after `run`
    /// was written SCHEDULED: `run` as it is then (PENDING if it had its turn).
    async fn give_free_slots(
        &self,
        dep: &deployment::Model,
        run: flow_run::Model,
    ) -> AppResult<flow_run::Model> {
        let db = &self.inner.db;
        let txn = crate::db::begin_write(db).await?;
        let slots = store::slots_in(&txn, dep).await?;
        let (promoted, _) = store::fill_slots_in(&txn, slots, None).await?;
        txn.commit().await?;
        let run = if promoted.contains(&run.id) {
            store::get(db, run.id).await?.unwrap_or(run)
        } else {
            run
        };
        self.enqueue_later(promoted);
        Ok(run)
    }

    /// Queues runs moved to PENDING without making the caller wait for the queue's round trip: a run
    /// whose entry is lost on the way is PENDING in the database, and the workers' sweep delivers it
    /// within a second.
    fn enqueue_later(&self, runs: Vec<Uuid>) {
        if !runs.is_empty() {
            let engine = self.clone();
            tokio::spawn(async move { engine.enqueue(&runs).await });
        }
    }

    /// The run another request with the same idempotency key created, when writing a new run
    /// failed on that key's uniqueness (it won the race); any other error as it is.
    async fn raced(&self, e: DbErr, idempotency_key: Option<String>) -> AppResult<flow_run::Model> {
        let Some(key) = idempotency_key.filter(|_| is_unique_violation(&e)) else {
            return Err(e.into());
        };
        store::by_idempotency_key(&self.inner.db, &key)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("idempotent run vanished")))
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
