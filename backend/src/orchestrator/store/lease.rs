//! Leases: an attempt's right to write to its run.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::db::entities::flow_run;
use crate::db::users::now;
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

/// Filters an update or select of `flow_runs` to the row `lease` still holds.
pub fn held<Q: QueryFilter>(query: Q, lease: &Lease) -> Q {
    query
        .filter(flow_run::Column::Id.eq(lease.run_id))
        .filter(flow_run::Column::WorkerId.eq(lease.worker_id.as_str()))
        .filter(flow_run::Column::Attempt.eq(lease.attempt))
        .filter(flow_run::Column::State.is_in(HELD_IN))
}

/// Whether `lease` still holds its run, and in which state (RUNNING or CANCELLING). It is checked
/// with a write (`beat` also renews the heartbeat), so inside a transaction the run's row stays
/// locked until the end: a transition by the reaper or a canceller waits for that transaction on
/// PostgreSQL, and cannot run beside it on SQLite (one writer). What the transaction writes after a
/// successful hold is therefore written while the lease held.
pub async fn hold(
    db: &impl ConnectionTrait,
    lease: &Lease,
    beat: bool,
) -> Result<Option<RunState>, DbErr> {
    let update = held(flow_run::Entity::update_many(), lease);
    let update = if beat {
        update.col_expr(flow_run::Column::HeartbeatAt, Expr::value(now()))
    } else {
        update.col_expr(
            flow_run::Column::HeartbeatAt,
            Expr::col(flow_run::Column::HeartbeatAt),
        )
    };
    let touched = update.exec(db).await?.rows_affected;
    if touched != 1 {
        return Ok(None);
    }
    flow_run::Entity::find_by_id(lease.run_id)
        .select_only()
        .column(flow_run::Column::State)
        .into_tuple()
        .one(db)
        .await
}

/// Whether `lease` still holds its run, checked with one write (the heartbeat is left as it is) that
/// locks the run's row until the end of the transaction, as [`hold`] does; for writes that need not know
/// the state (steps, log lines, artifacts, checkpoints).
pub async fn holds(db: &impl ConnectionTrait, lease: &Lease) -> Result<bool, DbErr> {
    Ok(held(flow_run::Entity::update_many(), lease)
        .col_expr(
            flow_run::Column::HeartbeatAt,
            Expr::col(flow_run::Column::HeartbeatAt),
        )
        .exec(db)
        .await?
        .rows_affected
        == 1)
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
