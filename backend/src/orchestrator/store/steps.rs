//! Steps (`task_runs`): started and ended by the attempt that holds the run, closed with the run.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};
use uuid::Uuid;

use super::lease::{hold, Lease};
use crate::db::entities::task_run;
use crate::db::users::now;
use crate::orchestrator::state::RunState;

/// How many steps a run has recorded (an attempt numbers its steps after the earlier attempts').
pub async fn steps_so_far(db: &DatabaseConnection, run_id: Uuid) -> Result<i32, DbErr> {
    Ok(task_run::Entity::find()
        .filter(task_run::Column::FlowRunId.eq(run_id))
        .count(db)
        .await? as i32)
}

/// Records a step as RUNNING while `lease` holds the run; false (nothing written) when it does not.
pub async fn start_step(
    db: &DatabaseConnection,
    lease: &Lease,
    id: Uuid,
    position: i32,
    name: &str,
    label: Option<&str>,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    if hold(&txn, lease, false).await?.is_none() {
        return Ok(false);
    }
    task_run::ActiveModel {
        id: Set(id),
        flow_run_id: Set(lease.run_id),
        position: Set(position),
        name: Set(name.chars().take(100).collect()),
        label: Set(label.map(|l| l.chars().take(300).collect())),
        state: Set(RunState::Running),
        attempts: Set(1),
        started_at: Set(now()),
        ended_at: Set(None),
        error: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Ends a RUNNING step (COMPLETED or FAILED) while `lease` holds the run; false when it does not.
pub async fn end_step(
    db: &DatabaseConnection,
    lease: &Lease,
    id: Uuid,
    state: RunState,
    error: Option<String>,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    if hold(&txn, lease, false).await?.is_none() {
        return Ok(false);
    }
    task_run::Entity::update_many()
        .col_expr(task_run::Column::State, Expr::value(state))
        .col_expr(task_run::Column::EndedAt, Expr::value(now()))
        .col_expr(task_run::Column::Error, Expr::value(error))
        .filter(task_run::Column::Id.eq(id))
        .filter(task_run::Column::State.eq(RunState::Running))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(true)
}

/// Ends the steps a run left RUNNING (cancelled, crashed or timed out mid-step); called in the
/// transaction that moves the run itself.
pub async fn close_open_steps(
    txn: &impl ConnectionTrait,
    run_id: Uuid,
    state: RunState,
    error: &str,
) -> Result<(), DbErr> {
    task_run::Entity::update_many()
        .col_expr(task_run::Column::State, Expr::value(state))
        .col_expr(task_run::Column::EndedAt, Expr::value(now()))
        .col_expr(task_run::Column::Error, Expr::value(error))
        .filter(task_run::Column::FlowRunId.eq(run_id))
        .filter(task_run::Column::State.eq(RunState::Running))
        .exec(txn)
        .await
        .map(|_| ())
}
