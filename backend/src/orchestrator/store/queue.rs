//! Runs as a queue: which are due, moving them to PENDING within a deployment's limit, claiming them
//! (the claim gives the lease), finding runs whose worker went silent, and handing runs back.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use super::lease::Lease;
use super::runs::{end_held_in, transition_in, transition_picked_in, Transition};
use crate::db::entities::{deployment, flow_run};
use crate::db::users::now;
use crate::db::RelaxedWrites;
use crate::orchestrator::deployments;
use crate::orchestrator::state::RunState;

/// A due run as the dispatcher sees it: id, deployment and state.
pub type DueRun = (Uuid, Option<Uuid>, RunState);

/// SCHEDULED runs whose start is due and AWAITING_RETRY runs whose retry is due, oldest first (only
/// their keys: a dispatch pass reads them often).
pub async fn due_runs(db: &DatabaseConnection, limit: u64) -> Result<Vec<DueRun>, DbErr> {
    let now = now();
    flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::Id)
        .column(flow_run::Column::DeploymentId)
        .column(flow_run::Column::State)
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(flow_run::Column::State.eq(RunState::Scheduled))
                        .add(flow_run::Column::ExpectedStartAt.lte(now)),
                )
                .add(
                    Condition::all()
                        .add(flow_run::Column::State.eq(RunState::AwaitingRetry))
                        .add(flow_run::Column::NextAttemptAt.lte(now)),
                ),
        )
        .order_by_asc(flow_run::Column::ExpectedStartAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// The ids of a deployment's SCHEDULED runs whose start is due, oldest first.
pub async fn due_runs_of(
    db: &impl ConnectionTrait,
    deployment_id: Uuid,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::Id)
        .filter(flow_run::Column::DeploymentId.eq(deployment_id))
        .filter(flow_run::Column::State.eq(RunState::Scheduled))
        .filter(flow_run::Column::ExpectedStartAt.lte(now()))
        .order_by_asc(flow_run::Column::ExpectedStartAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// How many runs are PENDING (in the queue).
pub async fn pending_count(db: &DatabaseConnection) -> Result<u64, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::State.eq(RunState::Pending))
        .count(db)
        .await
}

/// How many runs of a deployment take a concurrency slot (PENDING, RUNNING, CANCELLING).
pub async fn count_active(db: &impl ConnectionTrait, deployment_id: Uuid) -> Result<u64, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::DeploymentId.eq(deployment_id))
        .filter(flow_run::Column::State.is_in([
            RunState::Pending,
            RunState::Running,
            RunState::Cancelling,
        ]))
        .count(db)
        .await
}

/// Moves a run from `from` to PENDING (stamped as enqueued now); false when it had moved on.
pub async fn promote(
    txn: &impl ConnectionTrait,
    run_id: Uuid,
    from: RunState,
) -> Result<bool, DbErr> {
    transition_in(
        txn,
        run_id,
        Transition::to(RunState::Pending)
            .from(&[from])
            .set(flow_run::Column::EnqueuedAt, Expr::value(now())),
    )
    .await
}

/// Most due runs of a deployment without a limit moved to PENDING at once.
const UNLIMITED_BATCH: u64 = 50;

/// How many more runs `dep` may start now ([`UNLIMITED_BATCH`] without a limit), counted under the
/// deployment's lock (a row lock on PostgreSQL, the write lock on SQLite), so that the dispatchers of one
/// deployment take turns and never fill more than its limit.
pub async fn free_slots(txn: &impl ConnectionTrait, dep: &deployment::Model) -> Result<u64, DbErr> {
    let Some(limit) = dep.concurrency_limit else {
        return Ok(UNLIMITED_BATCH);
    };
    deployments::lock(txn, dep.id).await?;
    let active = count_active(txn, dep.id).await?;
    Ok((Ord::max(limit, 0) as u64).saturating_sub(active))
}

/// Moves a deployment's due SCHEDULED runs to PENDING while it has free slots, inside the caller's
/// transaction (a trigger's, or the log writer's that ends attempts): the ids to enqueue once it
/// commits.
pub async fn promote_due_in(
    txn: &impl ConnectionTrait,
    dep: &deployment::Model,
) -> Result<Vec<Uuid>, DbErr> {
    let free = free_slots(txn, dep).await?;
    let mut promoted = Vec::new();
    if free == 0 {
        return Ok(promoted);
    }
    for id in due_runs_of(txn, dep.id, free).await? {
        if promote(txn, id, RunState::Scheduled).await? {
            promoted.push(id);
        }
    }
    Ok(promoted)
}

/// PENDING runs, oldest first, whose queue entry was made before `before` (all with `None`).
pub async fn pending_runs(
    db: &DatabaseConnection,
    enqueued_before: Option<DateTime<Utc>>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    let mut q = flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::Id)
        .filter(flow_run::Column::State.eq(RunState::Pending));
    if let Some(before) = enqueued_before {
        q = q.filter(flow_run::Column::EnqueuedAt.lt(before));
    }
    q.order_by_asc(flow_run::Column::ExpectedStartAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Stamps a PENDING run as enqueued now (its queue entry was made again).
pub async fn mark_enqueued(db: &DatabaseConnection, run_id: Uuid) -> Result<(), DbErr> {
    flow_run::Entity::update_many()
        .col_expr(flow_run::Column::EnqueuedAt, Expr::value(now()))
        .filter(flow_run::Column::Id.eq(run_id))
        .filter(flow_run::Column::State.eq(RunState::Pending))
        .exec(db)
        .await
        .map(|_| ())
}

/// Claims the first of `candidates` that is still PENDING for `worker_id` by compare-and-set:
/// RUNNING, the next attempt, a fresh heartbeat. The run and the new attempt's lease; `None` when none
/// was PENDING (a duplicate delivery, a cancel, other workers first).
///
/// One transaction and one update for all candidates: workers woken together read the same oldest
/// PENDING runs, and a transaction (or an update) per candidate cost every loser a write of its own.
/// A relaxed write: the attempt's checkpoints and end are durable commits after it (a claim lost in a
/// power cut only leaves the run PENDING, as before the attempt).
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "claim",
    skip_all
)]
pub async fn claim(
    db: &RelaxedWrites,
    candidates: &[Uuid],
    worker_id: &str,
) -> Result<Option<(flow_run::Model, Lease)>, DbErr> {
    let now = now();
    let txn = db.begin().await?;
    // The first candidate still PENDING, picked by the claim's update itself: one statement whatever
    // the number of candidates other slots took first. On PostgreSQL it skips a candidate that another
    // claim is taking at this moment (`FOR NO KEY UPDATE SKIP LOCKED`); slots woken together would
    // otherwise all queue on the same row, each re-reading it after the winner's commit.
    let mut pick = flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::Id)
        .filter(flow_run::Column::Id.is_in(candidates.iter().copied()))
        .filter(flow_run::Column::State.eq(RunState::Pending))
        .order_by_asc(flow_run::Column::ExpectedStartAt)
        .order_by_asc(flow_run::Column::Id)
        .limit(1);
    if txn.get_database_backend() == DbBackend::Postgres {
        pick = pick.lock_with_behavior(LockType::NoKeyUpdate, LockBehavior::SkipLocked);
    }
    let run = transition_picked_in(
        &txn,
        pick.into_query(),
        Transition::to(RunState::Running)
            .from(&[RunState::Pending])
            .set(flow_run::Column::WorkerId, Expr::value(worker_id))
            .set(flow_run::Column::HeartbeatAt, Expr::value(now))
            .set(
                flow_run::Column::Attempt,
                Expr::col(flow_run::Column::Attempt).add(1),
            )
            .set(
                flow_run::Column::StartedAt,
                Func::coalesce([Expr::col(flow_run::Column::StartedAt), Expr::value(now)]),
            ),
    )
    .await?;
    let Some(run) = run else {
        txn.rollback().await?;
        return Ok(None);
    };
    txn.commit().await?;
    // The first attempt of a scheduled run: how late after its slot it started.
    if let (1, Some(_), Some(started)) = (run.attempt, run.schedule_id, run.started_at) {
        crate::observe::scheduled_run_started(run.expected_start_at, started);
    }
    let lease = Lease {
        run_id: run.id,
        worker_id: worker_id.to_string(),
        attempt: run.attempt,
    };
    Ok(Some((run, lease)))
}

/// RUNNING and CANCELLING runs whose heartbeat is older than `deadline`.
pub async fn silent_runs(
    db: &DatabaseConnection,
    deadline: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<flow_run::Model>, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::State.is_in([RunState::Running, RunState::Cancelling]))
        .filter(flow_run::Column::HeartbeatAt.lt(deadline))
        .limit(limit)
        .all(db)
        .await
}

/// The lease a run's row names (its worker and attempt), for the reaper's compare-and-set.
pub fn lease_of(run: &flow_run::Model) -> Option<Lease> {
    Some(Lease {
        run_id: run.id,
        worker_id: run.worker_id.clone()?,
        attempt: run.attempt,
    })
}

/// Gives a RUNNING run back to the queue while `lease` holds it: PENDING again, enqueued now, with one
/// more attempt allowed so the interrupted one does not count; its open steps end CANCELLED.
pub async fn hand_back(
    db: &DatabaseConnection,
    lease: &Lease,
    message: String,
) -> Result<bool, DbErr> {
    let back = Transition::to(RunState::Pending)
        .from(&[RunState::Running])
        .message(message)
        .set(
            flow_run::Column::MaxAttempts,
            Expr::col(flow_run::Column::MaxAttempts).add(1),
        )
        .set(flow_run::Column::EnqueuedAt, Expr::value(now()));
    let step = (
        RunState::Cancelled,
        "the worker stopped; the run was handed back",
    );
    end_attempt(db, lease, back, step, None).await
}

/// Ends an attempt whose worker is gone or giving it up, in one transaction and only while `lease`
/// still names it: the run moves to `to` (CRASHED, CANCELLED, or PENDING for a hand-back), its open
/// steps are closed with `step`, and a crash with attempts left moves on to AWAITING_RETRY at
/// `retry_at`. False when the lease had already moved on.
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "end_attempt",
    skip_all
)]
pub async fn end_attempt(
    db: &DatabaseConnection,
    lease: &Lease,
    to: Transition,
    step: (RunState, &str),
    retry: Option<Transition>,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_run_write(db).await?;
    if !end_held_in(&txn, lease, to, step).await? {
        return Ok(false);
    }
    if let Some(retry) = retry {
        transition_in(&txn, lease.run_id, retry).await?;
    }
    txn.commit().await?;
    Ok(true)
}
