//! Steps (`task_runs`): started by the attempt that holds the run (a write that fences the step's work),
//! ended in the log writer's batches, closed with the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query, SimpleExpr, UpdateStatement, WithClause};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryTrait, Set,
};
use uuid::Uuid;

use super::lease::{held_run, insert_while_held, Lease};
use crate::db::entities::task_run;
use crate::db::users::now;
use crate::db::RelaxedWrites;
use crate::orchestrator::state::RunState;

/// How many steps a run has recorded (an attempt numbers its steps after the earlier attempts').
pub async fn steps_so_far(db: &DatabaseConnection, run_id: Uuid) -> Result<i32, DbErr> {
    Ok(task_run::Entity::find()
        .filter(task_run::Column::FlowRunId.eq(run_id))
        .count(db)
        .await? as i32)
}

/// Records a step as RUNNING while `lease` holds the run, with the ends of the attempt's steps that
/// ended since its last step started (`ended`); false (nothing written) when the lease is gone. On
/// PostgreSQL one statement in autocommit (a relaxed commit): the ends are data-modifying `WITH`
/// queries, each only while the lease holds, before the insert ([`insert_while_held`]); on SQLite a
/// relaxed transaction in this process's turn. A step's end is also queued to the log writer
/// ([`super::LogSink::end_step`]), which writes it at most 200 ms later if no step starts before:
/// whichever comes first writes it.
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "step_start",
    skip_all
)]
pub async fn start_step(
    db: &RelaxedWrites,
    lease: &Lease,
    id: Uuid,
    position: i32,
    name: &str,
    label: Option<&str>,
    ended: &[StepEnd],
) -> Result<bool, DbErr> {
    let mut insert = Query::insert()
        .into_table(task_run::Entity)
        .columns([
            task_run::Column::FlowRunId,
            task_run::Column::Id,
            task_run::Column::Position,
            task_run::Column::Name,
            task_run::Column::Label,
            task_run::Column::State,
            task_run::Column::Attempts,
            task_run::Column::StartedAt,
        ])
        .to_owned();
    let values = vec![
        Expr::value(id),
        Expr::value(position),
        Expr::value(name.chars().take(NAME_MAX).collect::<String>()),
        Expr::value(label.map(|l| l.chars().take(LABEL_MAX).collect::<String>())),
        Expr::value(RunState::Running),
        Expr::value(1),
        Expr::value(now()),
    ];
    let held = match db.autocommit() {
        Some(conn) => {
            let ends = end_updates(ended);
            if !ends.is_empty() {
                let mut with = WithClause::new();
                for (at, mut end) in ends.into_iter().enumerate() {
                    end.and_where(task_run::Column::FlowRunId.in_subquery(held_run(lease)));
                    with.cte(crate::db::cte(&format!("end_{at}"), end));
                }
                insert.with_cte(with);
            }
            insert_while_held(conn, lease, insert, values).await?
        }
        None => {
            let txn = db.begin().await?;
            let held = insert_while_held(&txn, lease, insert, values).await?;
            if held {
                end_steps_in(&txn, ended).await?;
            }
            txn.commit().await?;
            held
        }
    };
    if held {
        for end in ended {
            end.written.store(true, Ordering::Relaxed);
        }
    }
    Ok(held)
}

/// Longest step name and label stored (their columns' widths).
const NAME_MAX: usize = 100;
const LABEL_MAX: usize = 300;

/// A RUNNING step's row (name and label cut to their columns' widths).
fn running(
    run_id: Uuid,
    id: Uuid,
    position: i32,
    name: &str,
    label: Option<&str>,
    at: DateTime<Utc>,
) -> task_run::ActiveModel {
    task_run::ActiveModel {
        id: Set(id),
        flow_run_id: Set(run_id),
        position: Set(position),
        name: Set(name.chars().take(NAME_MAX).collect()),
        label: Set(label.map(|l| l.chars().take(LABEL_MAX).collect())),
        state: Set(RunState::Running),
        attempts: Set(1),
        started_at: Set(at),
        ended_at: Set(None),
        error: Set(None),
    }
}

/// A read step's start, recorded by the log writer in its batch (`RunContext::read_step`).
#[derive(Debug, Clone)]
pub struct StepStart {
    /// The attempt that runs it (and its run).
    pub lease: Arc<Lease>,
    /// The step.
    pub id: Uuid,
    /// Its place among the run's steps.
    pub position: i32,
    /// Its name.
    pub name: String,
    /// What it works on (a prediction setup's name).
    pub label: Option<String>,
    /// When it started.
    pub at: DateTime<Utc>,
}

/// Records read steps inside the caller's transaction, which has checked that their attempts still
/// hold their runs: RUNNING, or already ended when their end is in `ends` too (one insert for a step
/// that started and ended between two batches, not an insert and an update).
pub async fn start_steps_in(
    txn: &impl ConnectionTrait,
    starts: &[StepStart],
    ends: &[StepEnd],
) -> Result<(), DbErr> {
    if starts.is_empty() {
        return Ok(());
    }
    let rows = starts.iter().map(|s| {
        let mut row = running(
            s.lease.run_id,
            s.id,
            s.position,
            &s.name,
            s.label.as_deref(),
            s.at,
        );
        if let Some(end) = ends.iter().find(|e| e.id == s.id) {
            row.state = Set(end.state);
            row.ended_at = Set(Some(end.at));
            row.error = Set(end.error.clone());
        }
        row
    });
    task_run::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// How a step ended, recorded by the log writer in its batch.
#[derive(Debug, Clone)]
pub struct StepEnd {
    /// The attempt that ran it (and its run).
    pub lease: Arc<Lease>,
    /// The step.
    pub id: Uuid,
    /// COMPLETED or FAILED.
    pub state: RunState,
    /// The error's text (already redacted).
    pub error: Option<String>,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// Set once it is written (by the next step's start or by the log writer): the other skips it.
    pub written: Arc<AtomicBool>,
}

/// Ends RUNNING steps (COMPLETED or FAILED) inside the caller's transaction, which has checked that
/// their attempts still hold their runs.
pub async fn end_steps_in(txn: &impl ConnectionTrait, ends: &[StepEnd]) -> Result<(), DbErr> {
    crate::db::writes_in(txn, end_updates(ends)).await
}

/// The updates that end the steps of `ends` not written yet (each only while RUNNING).
fn end_updates(ends: &[StepEnd]) -> Vec<UpdateStatement> {
    ends.iter()
        .filter(|e| !e.written.load(Ordering::Relaxed))
        .map(|end| {
            task_run::Entity::update_many()
                .col_expr(task_run::Column::State, Expr::value(end.state))
                .col_expr(task_run::Column::EndedAt, Expr::value(end.at))
                .col_expr(task_run::Column::Error, Expr::value(end.error.clone()))
                .filter(task_run::Column::Id.eq(end.id))
                .filter(task_run::Column::State.eq(RunState::Running))
                .into_query()
        })
        .collect()
}

/// The update that ends the steps left RUNNING of the runs `runs` selects (cancelled, crashed or timed
/// out mid-step), for the statement that moves the run itself (see `runs::end_held_in`).
pub(super) fn close_open_steps(runs: SimpleExpr, state: RunState, error: &str) -> UpdateStatement {
    task_run::Entity::update_many()
        .col_expr(task_run::Column::State, Expr::value(state))
        .col_expr(task_run::Column::EndedAt, Expr::value(now()))
        .col_expr(task_run::Column::Error, Expr::value(error))
        .filter(runs)
        .filter(task_run::Column::State.eq(RunState::Running))
        .into_query()
}
