//! Runs as a queue: which are due, moving them to PENDING within a deployment's limit, claiming them
//! (the claim gives the lease), finding runs whose worker went silent, and handing runs back.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, JoinType, LockBehavior, LockType, Query, SelectStatement,
    SimpleExpr,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TryGetable,
};
use uuid::Uuid;

use super::few::{in_few_states, runs_in_states_of};
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
    let backend = db.get_database_backend();
    flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::Id)
        .column(flow_run::Column::DeploymentId)
        .column(flow_run::Column::State)
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(in_few_states(backend, [RunState::Scheduled]))
                        .add(flow_run::Column::ExpectedStartAt.lte(now)),
                )
                .add(
                    Condition::all()
                        .add(in_few_states(backend, [RunState::AwaitingRetry]))
                        .add(flow_run::Column::NextAttemptAt.lte(now)),
                ),
        )
        .order_by_asc(flow_run::Column::ExpectedStartAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// The ids and expected starts of a deployment's SCHEDULED runs whose start is due, oldest first.
pub async fn due_runs_of(
    db: &impl ConnectionTrait,
    deployment_id: Uuid,
    limit: u64,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, DbErr> {
    let rows = db.query_all(&due_query(deployment_id, limit)).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("", "id")?,
                row.try_get("", "expected_start_at")?,
            ))
        })
        .collect()
}

/// Whether any of a deployment's SCHEDULED runs is due: `EXISTS`, with no order and no limit.
///
/// With [`due_query`]'s `ORDER BY expected_start_at LIMIT 1` inside, PostgreSQL without statistics
/// walked the (state, expected start) index, which gives that order, and dropped the other
/// deployments' runs: another deployment's backlog of due runs was read at each trigger and each end
/// of a run (test `pg_plans`). Without an order to keep, it searches the (deployment, state, end)
/// index by both columns.
pub(super) fn any_due(deployment_id: Uuid) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(flow_run::Entity)
            .cond_where(due_of(deployment_id))
            .to_owned(),
    )
}

/// Whether any of a deployment's SCHEDULED runs is due ([`any_due`]).
async fn has_due(db: &impl ConnectionTrait, deployment_id: Uuid) -> Result<bool, DbErr> {
    let read = Query::select()
        .expr_as(any_due(deployment_id), Alias::new("due"))
        .to_owned();
    one_value(db, read, "due").await
}

/// A deployment's SCHEDULED runs whose start is due.
fn due_of(deployment_id: Uuid) -> Condition {
    Condition::all()
        .add(flow_run::Column::DeploymentId.eq(deployment_id))
        .add(flow_run::Column::State.eq(RunState::Scheduled))
        .add(flow_run::Column::ExpectedStartAt.lte(now()))
}

/// The select of [`due_runs_of`].
pub(super) fn due_query(deployment_id: Uuid, limit: u64) -> SelectStatement {
    flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::Id)
        .column(flow_run::Column::ExpectedStartAt)
        .filter(due_of(deployment_id))
        .order_by_asc(flow_run::Column::ExpectedStartAt)
        .limit(limit)
        .into_query()
}

/// The version of a deployment's row on PostgreSQL (see [`Found::version`]).
pub(super) const XMIN: &str = r#""deployments"."xmin"::text"#;

/// How many runs are PENDING (in the queue).
pub async fn pending_count(db: &DatabaseConnection) -> Result<u64, DbErr> {
    flow_run::Entity::find()
        .filter(in_few_states(
            db.get_database_backend(),
            [RunState::Pending],
        ))
        .count(db)
        .await
}

/// How many runs of a deployment take a concurrency slot (PENDING, RUNNING, CANCELLING).
pub async fn count_active(db: &impl ConnectionTrait, deployment_id: Uuid) -> Result<u64, DbErr> {
    count_of(db, active_count(deployment_id), "active").await
}

/// The one count that `read` selects as `column`.
pub(super) async fn count_of(
    db: &impl ConnectionTrait,
    read: SelectStatement,
    column: &str,
) -> Result<u64, DbErr> {
    Ok(Ord::max(one_value::<i64>(db, read, column).await?, 0) as u64)
}

/// The one value that `read` (a select of one row) selects as `column`.
async fn one_value<T: TryGetable>(
    db: &impl ConnectionTrait,
    read: SelectStatement,
    column: &str,
) -> Result<T, DbErr> {
    let row = db
        .query_one(&read)
        .await?
        .ok_or_else(|| DbErr::Custom(format!("the read of {column} returned no row")))?;
    row.try_get("", column)
}

/// The count of `deployment_id`'s runs that take a concurrency slot, as the column `active`: for
/// reads that return it with other columns.
pub(super) fn active_count(deployment_id: Uuid) -> SelectStatement {
    Query::select()
        .expr_as(
            runs_in_states_of(deployment_id, ACTIVE),
            Alias::new("active"),
        )
        .to_owned()
}

/// A deployment as a trigger first reads it ([`deployment_with_active`]).
#[derive(Debug, Clone)]
pub struct Found {
    /// The deployment.
    pub deployment: deployment::Model,
    /// Its runs that take a concurrency slot (PENDING, RUNNING, CANCELLING).
    pub active: u64,
    /// On PostgreSQL, when none of its runs is due (those take free slots first), the version of its
    /// row as read (`xmin`): it changes whenever anybody takes the deployment's lock
    /// ([`deployments::lock_statement`]), so the trigger's run can take a free slot in the statement
    /// that inserts it ([`super::insert_in_free_slot`]).
    pub version: Option<String>,
}

/// A deployment with its count of runs that take a concurrency slot, and on PostgreSQL the version of
/// its row when none of its runs is due, in one statement: a trigger's first read (the count tells
/// whether it may take a slot at all).
pub async fn deployment_with_active(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<Found>, DbErr> {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let mut read = deployment::Entity::find_by_id(id).column_as(
        Expr::expr(SimpleExpr::SubQuery(
            None,
            Box::new(active_count(id).into()),
        )),
        "active",
    );
    if postgres {
        let version: SimpleExpr = Expr::case(any_due(id).not(), Expr::cust(XMIN))
            .finally(Expr::value(Option::<String>::None))
            .into();
        read = read.column_as(version, "version");
    }
    let Some(row) = db
        .query_one_raw(read.build(db.get_database_backend()))
        .await?
    else {
        return Ok(None);
    };
    let active = row.try_get::<i64>("", "active")?;
    Ok(Some(Found {
        deployment: deployment::Model::from_query_result(&row, "")?,
        active: Ord::max(active, 0) as u64,
        version: if postgres {
            row.try_get("", "version")?
        } else {
            None
        },
    }))
}

/// The states of runs that take a concurrency slot.
const ACTIVE: [RunState; 3] = [RunState::Pending, RunState::Running, RunState::Cancelling];

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

/// A deployment's room, read under its lock ([`slots_in`]).
#[derive(Debug, Clone)]
pub struct Slots {
    /// Runs taking a slot now (PENDING, RUNNING, CANCELLING).
    pub active: u64,
    /// How many more may start now ([`UNLIMITED_BATCH`] without a limit).
    pub free: u64,
    /// Its due SCHEDULED runs, oldest first (ids and expected starts), at most `free` of them.
    pub due: Vec<(Uuid, DateTime<Utc>)>,
}

/// How much room `dep` has, and which of its SCHEDULED runs are due for it, under the deployment's
/// lock (as [`free_slots`]): with a limit, the count and the due runs are one read after the lock.
pub async fn slots_in(txn: &impl ConnectionTrait, dep: &deployment::Model) -> Result<Slots, DbErr> {
    let Some(limit) = dep.concurrency_limit else {
        return Ok(Slots {
            active: 0,
            free: UNLIMITED_BATCH,
            due: due_runs_of(txn, dep.id, UNLIMITED_BATCH).await?,
        });
    };
    let limit = Ord::max(limit, 0) as u64;
    deployments::lock(txn, dep.id).await?;
    // One row per due run (at most `limit`), each with the count; one row with the count alone when
    // none is due.
    let (count, due) = (Alias::new("count"), Alias::new("due"));
    let read = Query::select()
        .column((count.clone(), Alias::new("active")))
        .column((due.clone(), flow_run::Column::Id))
        .column((due.clone(), flow_run::Column::ExpectedStartAt))
        .from_subquery(active_count(dep.id), count)
        .join_subquery(
            JoinType::LeftJoin,
            due_query(dep.id, limit),
            due,
            Expr::cust("1 = 1"),
        )
        .to_owned();
    let mut slots = Slots {
        active: 0,
        free: 0,
        due: Vec::new(),
    };
    for row in txn.query_all(&read).await? {
        slots.active = Ord::max(row.try_get::<i64>("", "active")?, 0) as u64;
        let id: Option<Uuid> = row.try_get("", "id")?;
        let at: Option<DateTime<Utc>> = row.try_get("", "expected_start_at")?;
        if let (Some(id), Some(at)) = (id, at) {
            slots.due.push((id, at));
        }
    }
    // The join keeps no order of its own.
    slots.due.sort_by_key(|(_, at)| *at);
    slots.free = limit.saturating_sub(slots.active);
    slots.due.truncate(slots.free as usize);
    Ok(slots)
}

/// Moves a deployment's due SCHEDULED runs to PENDING while it has free slots, inside the caller's
/// transaction (the log writer's that ends attempts): the ids to enqueue once it commits.
pub async fn promote_due_in(
    txn: &impl ConnectionTrait,
    dep: &deployment::Model,
) -> Result<Vec<Uuid>, DbErr> {
    // Nothing due (runs keep up with their triggers): no lock, so the deployment's triggers do not
    // wait for this transaction's durable commit. A run that becomes due after this read goes the
    // way of one triggered while this end was being committed: its own trigger's room, the next
    // end's promotion, or the dispatcher's next pass.
    if dep.concurrency_limit.is_some() && !has_due(txn, dep.id).await? {
        return Ok(Vec::new());
    }
    let slots = slots_in(txn, dep).await?;
    Ok(fill_slots_in(txn, slots, None).await?.0)
}

/// Gives a deployment's free slots (read by [`slots_in`] in the caller's transaction) to its due
/// SCHEDULED runs, oldest first, and to a run about to be inserted that is due at `newcomer` in its
/// turn among them: the due runs moved to PENDING (to enqueue once the transaction commits), and
/// whether the newcomer has a slot (the trigger then inserts it as PENDING at once, with no update of
/// it after).
pub async fn fill_slots_in(
    txn: &impl ConnectionTrait,
    slots: Slots,
    newcomer: Option<DateTime<Utc>>,
) -> Result<(Vec<Uuid>, bool), DbErr> {
    let Slots { free, due, .. } = slots;
    let mut promoted = Vec::new();
    if free == 0 {
        return Ok((promoted, false));
    }
    // The newcomer's turn: after every due run expected no later than it.
    let newcomer_fits = newcomer.is_some_and(|start| {
        let before = due.iter().take_while(|(_, at)| *at <= start).count() as u64;
        before < free
    });
    let for_due = free - u64::from(newcomer_fits);
    for (id, _) in due.into_iter().take(for_due as usize) {
        if promote(txn, id, RunState::Scheduled).await? {
            promoted.push(id);
        }
    }
    Ok((promoted, newcomer_fits))
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
        .filter(in_few_states(
            db.get_database_backend(),
            [RunState::Pending],
        ));
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

/// Which PENDING run a claim takes.
#[derive(Debug, Clone, Copy)]
pub enum Pick {
    /// This run, if it is still PENDING (a queue delivery, the run an end gave a slot).
    Run(Uuid),
    /// The oldest PENDING run; with an instant, of those enqueued before it (the Redis workers'
    /// sweep).
    Oldest(Option<DateTime<Utc>>),
}

/// A run a worker claimed ([`claim`]).
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The run as claimed (RUNNING).
    pub run: flow_run::Model,
    /// What every write of this attempt presents.
    pub lease: Lease,
    /// The run's deployment as the claim read it (its timeout and retry policy for this attempt);
    /// `None` for a run without one, or whose deployment was deleted.
    pub deployment: Option<deployment::Model>,
}

/// Claims the run `pick` names that is still PENDING for `worker_id` by compare-and-set: RUNNING,
/// the next attempt, a fresh heartbeat. The run, the new attempt's lease and the run's deployment
/// (read by the same statement on PostgreSQL); `None` when none was PENDING (a duplicate delivery, a
/// cancel, other workers first).
///
/// The update picks the run itself: slots woken together would otherwise read the same oldest
/// PENDING runs first, and a slot whose every candidate the others took by the time its update ran
/// went back to sleep while a younger run waited (for the embedded workers' next poll, 250 ms). On
/// PostgreSQL the update and the history entry are one statement, so the claim is one round trip in
/// autocommit; on SQLite one transaction in turn. A relaxed write: the attempt's checkpoints and end
/// are durable commits after it (a claim lost in a power cut only leaves the run PENDING, as before
/// the attempt).
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "claim",
    skip_all
)]
pub async fn claim(
    db: &RelaxedWrites,
    pick: Pick,
    worker_id: &str,
) -> Result<Option<Claimed>, DbErr> {
    let now = now();
    // On PostgreSQL the pick skips a run that another claim is taking at this moment (`FOR NO KEY
    // UPDATE SKIP LOCKED`); slots woken together would otherwise all queue on the same row, each
    // re-reading it after the winner's commit.
    let mut pick = match pick {
        Pick::Run(id) => flow_run::Entity::find().filter(flow_run::Column::Id.eq(id)),
        Pick::Oldest(None) => flow_run::Entity::find(),
        Pick::Oldest(Some(before)) => {
            flow_run::Entity::find().filter(flow_run::Column::EnqueuedAt.lt(before))
        }
    }
    .select_only()
    .column(flow_run::Column::Id)
    .filter(in_few_states(db.backend(), [RunState::Pending]))
    .order_by_asc(flow_run::Column::ExpectedStartAt)
    .order_by_asc(flow_run::Column::Id)
    .limit(1);
    let to_running = Transition::to(RunState::Running)
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
        );
    let run = match db.autocommit() {
        Some(conn) => {
            pick = pick.lock_with_behavior(LockType::NoKeyUpdate, LockBehavior::SkipLocked);
            transition_picked_in(conn, pick.into_query(), to_running).await?
        }
        None => {
            let txn = db.begin().await?;
            let run = transition_picked_in(&txn, pick.into_query(), to_running).await?;
            match run {
                Some(_) => txn.commit().await?,
                None => txn.rollback().await?,
            }
            run
        }
    };
    let Some((run, deployment)) = run else {
        return Ok(None);
    };
    // The first attempt of a scheduled run: how late after its slot it started.
    if let (1, Some(_), Some(started)) = (run.attempt, run.schedule_id, run.started_at) {
        crate::observe::scheduled_run_started(run.expected_start_at, started);
    }
    let lease = Lease {
        run_id: run.id,
        worker_id: worker_id.to_string(),
        attempt: run.attempt,
    };
    Ok(Some(Claimed {
        run,
        lease,
        deployment,
    }))
}

/// RUNNING and CANCELLING runs whose heartbeat is older than `deadline`.
pub async fn silent_runs(
    db: &DatabaseConnection,
    deadline: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<flow_run::Model>, DbErr> {
    flow_run::Entity::find()
        .filter(in_few_states(
            db.get_database_backend(),
            [RunState::Running, RunState::Cancelling],
        ))
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
