//! Leases: an attempt's right to write to its run.

use sea_orm::sea_query::{Expr, InsertStatement, Query, SelectStatement, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, QueryTrait,
};
use uuid::Uuid;

use crate::db::entities::flow_run;
use crate::db::users::now;
use crate::db::RelaxedWrites;
use crate::orchestrator::state::RunState;

/// One attempt's hold on its run, given by the claim: the run, the worker process and the attempt
/// number. The attempt number grows with every claim, so a worker that claims its own retry holds a
/// new lease, and the old attempt's writes are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The run.
    pub run_id: Uuid,
    /// The worker process that claimed it.
    pub worker_id: String,
    /// The attempt the claim started.
    pub attempt: i32,
}

/// The states in which a lease still holds (a cancel keeps the lease until the attempt ends).
pub const HELD_IN: [RunState; 2] = [RunState::Running, RunState::Cancelling];

/// The row of `flow_runs` that `lease` names, in whatever state.
fn of_lease(lease: &Lease) -> Condition {
    Condition::all()
        .add(flow_run::Column::Id.eq(lease.run_id))
        .add(flow_run::Column::WorkerId.eq(lease.worker_id.as_str()))
        .add(flow_run::Column::Attempt.eq(lease.attempt))
}

/// Filters an update or select of `flow_runs` to the row `lease` still holds.
pub fn held<Q: QueryFilter>(query: Q, lease: &Lease) -> Q {
    query
        .filter(of_lease(lease))
        .filter(flow_run::Column::State.is_in(HELD_IN))
}

/// Whether `lease` still holds its run, and in which state (RUNNING or CANCELLING). Inside a
/// transaction the run's row stays locked until the end: a transition by the reaper or a canceller
/// waits for that transaction on PostgreSQL, and cannot run beside it on SQLite (one writer). What the
/// transaction writes after a successful hold is therefore written while the lease held. `beat` also
/// renews the heartbeat.
pub async fn hold(
    db: &impl ConnectionTrait,
    lease: &Lease,
    beat: bool,
) -> Result<Option<RunState>, DbErr> {
    Ok(lock_held(db, of_lease(lease), beat)
        .await?
        .pop()
        .map(|(_, state)| state))
}

/// Renews the heartbeat of the run `lease` holds, and reads its state (as [`hold`] with `beat`), in a
/// relaxed commit: it does not wait for the disk, so a slow disk cannot make a live worker look silent
/// to the reaper. A server crash may lose the last beats; the run then only looks silent sooner.
pub async fn beat(writes: &RelaxedWrites, lease: &Lease) -> Result<Option<RunState>, DbErr> {
    let txn = writes.begin().await?;
    let state = hold(&txn, lease, true).await?;
    txn.commit().await?;
    Ok(state)
}

/// The id of the run `lease` holds, as a subquery (PostgreSQL) that locks the run's row shared until
/// the statement's transaction ends, as [`hold`] does: for a write that applies only while the lease
/// holds, in the same statement.
pub fn held_run(lease: &Lease) -> SelectStatement {
    held(flow_run::Entity::find(), lease)
        .select_only()
        .column(flow_run::Column::Id)
        .lock_shared()
        .into_query()
}

/// Executes `insert`, whose first column takes the run's id and whose other columns take `values`,
/// only while `lease` holds its run, in one statement: the row is selected from the run's row as
/// [`hold`] finds it (locked shared until the statement's transaction ends on PostgreSQL), so an
/// attempt that lost its run inserts nothing. Whether it held (and the row was written, or replaced
/// it by the insert's `ON CONFLICT`). In autocommit on PostgreSQL that is one round trip where a
/// transaction with a check and then an insert takes four.
pub async fn insert_while_held(
    db: &impl ConnectionTrait,
    lease: &Lease,
    mut insert: InsertStatement,
    values: Vec<SimpleExpr>,
) -> Result<bool, DbErr> {
    let mut source = held(flow_run::Entity::find(), lease)
        .select_only()
        .column(flow_run::Column::Id);
    for value in values {
        source = source.expr(value);
    }
    if db.get_database_backend() == DbBackend::Postgres {
        source = source.lock_shared();
    }
    insert
        .select_from(source.into_query())
        .map_err(|e| DbErr::Custom(format!("a held insert: {e}")))?;
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

/// [`hold`] for many attempts in one statement (the heartbeats are left as they are): for each of
/// `leases`, in order, the state of its run while it holds it, `None` when it does not.
pub async fn hold_all(
    db: &impl ConnectionTrait,
    leases: &[&Lease],
) -> Result<Vec<Option<RunState>>, DbErr> {
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let any = leases
        .iter()
        .fold(Condition::any(), |any, lease| any.add(of_lease(lease)));
    let held = lock_held(db, any, false).await?;
    Ok(leases
        .iter()
        .map(|lease| {
            held.iter()
                .find(|(l, _)| l == *lease)
                .map(|(_, state)| *state)
        })
        .collect())
}

/// Locks the rows of `flow_runs` that `leases` selects and that are still held (RUNNING or
/// CANCELLING), until the end of the transaction, and reads each one's lease and state.
///
/// On PostgreSQL, without `beat`, the lock is a shared one (`SELECT … FOR SHARE`): it keeps out every
/// change of the row (a transition, a heartbeat) as an update's lock would, but two checks of the same
/// lease do not wait for each other, so a step's start does not wait for the batch that writes its
/// run's lines. Otherwise it is an update (on SQLite, a transaction writes alone anyway).
async fn lock_held(
    db: &impl ConnectionTrait,
    leases: Condition,
    beat: bool,
) -> Result<Vec<(Lease, RunState)>, DbErr> {
    let read = [
        flow_run::Column::Id,
        flow_run::Column::WorkerId,
        flow_run::Column::Attempt,
        flow_run::Column::State,
    ];
    let rows = if !beat && db.get_database_backend() == DbBackend::Postgres {
        let select = flow_run::Entity::find()
            .select_only()
            .columns(read)
            .filter(leases)
            .filter(flow_run::Column::State.is_in(HELD_IN))
            .lock_shared()
            .into_query();
        db.query_all(&select).await?
    } else {
        let heartbeat = if beat {
            Expr::value(now())
        } else {
            Expr::col(flow_run::Column::HeartbeatAt)
        };
        let mut update = flow_run::Entity::update_many()
            .col_expr(flow_run::Column::HeartbeatAt, heartbeat)
            .filter(leases)
            .filter(flow_run::Column::State.is_in(HELD_IN))
            .into_query();
        update.returning(Query::returning().columns(read));
        db.query_all(&update).await?
    };
    rows.iter()
        .map(|row| {
            Ok((
                Lease {
                    run_id: row.try_get("", "id")?,
                    worker_id: row.try_get("", "worker_id")?,
                    attempt: row.try_get("", "attempt")?,
                },
                row.try_get("", "state")?,
            ))
        })
        .collect()
}

/// [`hold`] without writing: the state while `lease` holds its run, `None` when it does not.
pub async fn lease_state(
    db: &impl ConnectionTrait,
    lease: &Lease,
) -> Result<Option<RunState>, DbErr> {
    held(flow_run::Entity::find(), lease)
        .select_only()
        .column(flow_run::Column::State)
        .into_tuple()
        .one(db)
        .await
}
