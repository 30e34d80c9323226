//! Runs and their history: compare-and-set state transitions and an attempt's end.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, InsertStatement, JoinType, Query, SelectStatement, SimpleExpr,
    UpdateStatement, WithClause,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, IdenStatic, Iterable, QueryFilter, QueryResult, QueryTrait, Set, UpdateMany,
};
use uuid::Uuid;

use super::lease::{held, hold, Lease};
use super::steps::close_open_steps;
use super::views::get;
use crate::db::cte;
use crate::db::entities::{deployment, flow_run, flow_run_state, task_run};
use crate::db::users::now;
use crate::orchestrator::state::{predecessors, RunState};

/// Records a state in the history.
pub async fn record_state(
    db: &impl ConnectionTrait,
    run_id: Uuid,
    state: RunState,
    message: Option<String>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    // Not read back: SQLite's `insert` would select the row again.
    db.execute(&state_insert(run_id, state, message, at))
        .await
        .map(|_| ())
}

/// The statement that appends a state to a run's history (see [`record_state`]).
pub(super) fn state_insert(
    run_id: Uuid,
    state: RunState,
    message: Option<String>,
    at: DateTime<Utc>,
) -> InsertStatement {
    flow_run_state::Entity::insert(state_row(run_id, state, message, at)).into_query()
}

/// A history entry of a run, to insert.
pub(super) fn state_row(
    run_id: Uuid,
    state: RunState,
    message: Option<String>,
    at: DateTime<Utc>,
) -> flow_run_state::ActiveModel {
    flow_run_state::ActiveModel {
        // Time-ordered ids keep the history in order even within one microsecond.
        id: Set(Uuid::now_v7()),
        flow_run_id: Set(run_id),
        state: Set(state),
        message: Set(message),
        at: Set(at),
    }
}

/// A state change to apply by compare-and-set.
pub struct Transition {
    /// Target state.
    pub to: RunState,
    /// Reason shown with the state.
    pub message: Option<String>,
    /// Only from these states (defaults to every allowed predecessor).
    pub from: Option<Vec<RunState>>,
    /// Only while this lease holds the run.
    pub lease: Option<Lease>,
    /// Other columns to set in the same update.
    pub set: Vec<(flow_run::Column, SimpleExpr)>,
    /// Further conditions the run's row must meet when the update applies.
    pub only_if: Vec<SimpleExpr>,
    /// When it applies, the run's steps left RUNNING end in this state, with this error text.
    pub close_steps: Option<(RunState, String)>,
}

impl Transition {
    /// A transition to `to` from any allowed predecessor.
    pub fn to(to: RunState) -> Self {
        Transition {
            to,
            message: None,
            from: None,
            lease: None,
            set: Vec::new(),
            only_if: Vec::new(),
            close_steps: None,
        }
    }

    /// With a reason.
    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }

    /// Restricts the source states (intersected with the allowed ones).
    pub fn from(mut self, states: &[RunState]) -> Self {
        self.from = Some(states.to_vec());
        self
    }

    /// Applies only while `lease` holds the run.
    pub fn held_by(mut self, lease: &Lease) -> Self {
        self.lease = Some(lease.clone());
        self
    }

    /// When the retry is due (with AWAITING_RETRY).
    pub fn retry_at(self, at: DateTime<Utc>) -> Self {
        self.set(flow_run::Column::NextAttemptAt, Expr::value(at))
    }

    /// Sets another column too.
    pub fn set(mut self, col: flow_run::Column, value: impl Into<SimpleExpr>) -> Self {
        self.set.push((col, value.into()));
        self
    }

    /// Ends the run's steps left RUNNING in `state` with `error` as their text, when it applies (an
    /// attempt's end: the steps it left behind).
    pub fn closing_steps(mut self, state: RunState, error: impl Into<String>) -> Self {
        self.close_steps = Some((state, error.into()));
        self
    }

    /// Applies only while the run's row meets `condition` too, judged by the update itself (so a
    /// change that commits before it, such as a heartbeat, is seen).
    pub fn only_if(mut self, condition: SimpleExpr) -> Self {
        self.only_if.push(condition);
        self
    }
}

/// Applies a transition if the run is still in an allowed state; writes the history in the same
/// transaction. Returns whether it applied (false: someone else moved the run first).
pub async fn transition(
    db: &DatabaseConnection,
    run_id: Uuid,
    t: Transition,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let applied = transition_in(&txn, run_id, t).await?;
    txn.commit().await?;
    Ok(applied)
}

/// [`transition`] inside the caller's transaction.
pub async fn transition_in(
    txn: &impl ConnectionTrait,
    run_id: Uuid,
    t: Transition,
) -> Result<bool, DbErr> {
    let at = now();
    let change = Change::of(&t, at);
    let Some(q) = transition_update(t, at) else {
        return Ok(false);
    };
    let q = q.filter(flow_run::Column::Id.eq(run_id));
    Ok(applied_and_read(txn, q, change).await?.is_some())
}

/// [`transition_in`] for the run that `pick` (a query of at most one run id, evaluated by the update
/// itself) selects, read back by the same statement with its deployment as it is now (on PostgreSQL
/// joined in that statement): `None` when it picked none, or the run was no longer in a state the
/// transition moves from. For a transition to a state that is not final (a claim).
///
/// `id = (pick)`, a scalar subquery, which PostgreSQL evaluates once. `id IN (pick)` is evaluated
/// again for each row the update scans there: with `SKIP LOCKED` each evaluation skips the rows the
/// statement has just updated and picks the next one, so one claim took every candidate.
pub async fn transition_picked_in(
    txn: &impl ConnectionTrait,
    pick: SelectStatement,
    t: Transition,
) -> Result<Option<(flow_run::Model, Option<deployment::Model>)>, DbErr> {
    debug_assert!(
        !t.to.is_terminal(),
        "a final state writes its notifications"
    );
    let at = now();
    let change = Change::of(&t, at);
    let Some(q) = transition_update(t, at) else {
        return Ok(None);
    };
    let mut q = q
        .filter(sea_orm::sea_query::ExprTrait::eq(
            Expr::col(flow_run::Column::Id),
            pick,
        ))
        .into_query();
    q.returning_all();
    let Some(row) = updated_with_history(txn, q, change, Read::WithDeployment).await? else {
        return Ok(None);
    };
    let run = flow_run::Model::from_query_result(&row, "")?;
    let deployment = match run.deployment_id {
        None => None,
        Some(_) if txn.get_database_backend() == DbBackend::Postgres => {
            // NULL when the deployment was deleted meanwhile (its runs keep their rows).
            match row.try_get::<Option<Uuid>>(DEPLOYMENT_PREFIX, "id")? {
                Some(_) => Some(deployment::Model::from_query_result(
                    &row,
                    DEPLOYMENT_PREFIX,
                )?),
                None => None,
            }
        }
        Some(id) => deployment::Entity::find_by_id(id).one(txn).await?,
    };
    Ok(Some((run, deployment)))
}

/// The update that applies `t` at `at` (its source states, lease, columns and conditions), for the
/// caller to restrict to a run; `None` when no state may move to `t.to`.
fn transition_update(t: Transition, at: DateTime<Utc>) -> Option<UpdateMany<flow_run::Entity>> {
    let allowed = predecessors(t.to);
    let from: Vec<RunState> = match &t.from {
        Some(states) => states
            .iter()
            .copied()
            .filter(|s| allowed.contains(s))
            .collect(),
        None => allowed.to_vec(),
    };
    if from.is_empty() {
        return None;
    }
    let mut q = flow_run::Entity::update_many()
        .col_expr(flow_run::Column::State, Expr::value(t.to))
        .col_expr(flow_run::Column::StateMessage, Expr::value(t.message))
        .col_expr(flow_run::Column::StateAt, Expr::value(at));
    if t.to.is_terminal() {
        q = q.col_expr(flow_run::Column::EndedAt, Expr::value(at));
    }
    for (col, value) in t.set {
        q = q.col_expr(col, value);
    }
    q = q.filter(flow_run::Column::State.is_in(from));
    if let Some(lease) = &t.lease {
        q = held(q, lease);
    }
    for condition in t.only_if {
        q = q.filter(condition);
    }
    Some(q)
}

/// What a transition writes besides the run's row: its history entry, and the steps it closes.
struct Change {
    to: RunState,
    message: Option<String>,
    at: DateTime<Utc>,
    close_steps: Option<(RunState, String)>,
}

impl Change {
    fn of(t: &Transition, at: DateTime<Utc>) -> Self {
        Change {
            to: t.to,
            message: t.message.clone(),
            at,
            close_steps: t.close_steps.clone(),
        }
    }
}

/// Runs the transition's update `q` (restricted to one run), reading the run back in the same
/// statement (`RETURNING *`), and records the history; a final state also counts in the metrics and
/// writes its notifications (the outbox) in this transaction. `None` when it changed no run.
async fn applied_and_read(
    txn: &impl ConnectionTrait,
    q: UpdateMany<flow_run::Entity>,
    change: Change,
) -> Result<Option<flow_run::Model>, DbErr> {
    let (to, at) = (change.to, change.at);
    let mut q = q.into_query();
    q.returning_all();
    let Some(row) = updated_with_history(txn, q, change, Read::Run).await? else {
        return Ok(None);
    };
    let run = flow_run::Model::from_query_result(&row, "")?;
    if to.is_terminal() {
        crate::observe::run_ended(&run.deployment_name, &run.flow_name, to, run.started_at, at);
        // The outbox: a final state that notifies writes its deliveries in this same transaction.
        crate::notify::events::run_ended(txn, &run, to).await?;
    }
    Ok(Some(run))
}

/// What [`updated_with_history`] reads back of the run it changed.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    /// The run's row.
    Run,
    /// The run's row and, on PostgreSQL, its deployment's columns prefixed [`DEPLOYMENT_PREFIX`]
    /// (NULL without a deployment).
    WithDeployment,
}

/// The prefix of the deployment's columns in a row read with [`Read::WithDeployment`].
const DEPLOYMENT_PREFIX: &str = "D_";

/// Runs `update` (of one run at most, returning its row) and, when it changed a run, appends the
/// change's state to that run's history and closes its open steps if the change says so. On
/// PostgreSQL all of it is one statement (the update a data-modifying `WITH` query that the others
/// select from): one round trip for every state change of a run.
async fn updated_with_history(
    txn: &impl ConnectionTrait,
    update: UpdateStatement,
    change: Change,
    read: Read,
) -> Result<Option<QueryResult>, DbErr> {
    let Change {
        to,
        message,
        at,
        close_steps,
    } = change;
    if txn.get_database_backend() != DbBackend::Postgres {
        let Some(row) = txn.query_one(&update).await? else {
            return Ok(None);
        };
        let run_id: Uuid = row.try_get("", "id")?;
        record_state(txn, run_id, to, message, at).await?;
        if let Some((state, error)) = close_steps {
            let close = close_open_steps(task_run::Column::FlowRunId.eq(run_id), state, &error);
            txn.execute(&close).await?;
        }
        return Ok(Some(row));
    }
    let moved = Alias::new("moved");
    let moved_ids = Query::select()
        .column(flow_run::Column::Id)
        .from(moved.clone())
        .to_owned();
    let history = Query::insert()
        .into_table(flow_run_state::Entity)
        .columns([
            flow_run_state::Column::Id,
            flow_run_state::Column::FlowRunId,
            flow_run_state::Column::State,
            flow_run_state::Column::Message,
            flow_run_state::Column::At,
        ])
        .select_from(
            Query::select()
                .expr(Expr::value(Uuid::now_v7()))
                .column(flow_run::Column::Id)
                .expr(Expr::value(to))
                .expr(Expr::value(message))
                .expr(Expr::value(at))
                .from(moved.clone())
                .to_owned(),
        )
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    let mut with = WithClause::new();
    with.cte(cte("moved", update)).cte(cte("history", history));
    if let Some((state, error)) = close_steps {
        let runs = task_run::Column::FlowRunId.in_subquery(moved_ids);
        with.cte(cte("steps", close_open_steps(runs, state, &error)));
    }
    let mut select = Query::select();
    select.column((moved.clone(), Asterisk)).from(moved.clone());
    if read == Read::WithDeployment {
        let joined = Alias::new("deployment");
        for column in deployment::Column::iter() {
            select.expr_as(
                Expr::col((joined.clone(), column)),
                Alias::new(format!("{DEPLOYMENT_PREFIX}{}", column.as_str())),
            );
        }
        select.join_as(
            JoinType::LeftJoin,
            deployment::Entity,
            joined.clone(),
            sea_orm::sea_query::ExprTrait::equals(
                Expr::col((joined, deployment::Column::Id)),
                (moved, flow_run::Column::DeploymentId),
            ),
        );
    }
    txn.query_one(&with.query(select)).await
}

/// How an attempt ended, as the engine judged it.
#[derive(Debug, Clone)]
pub struct Finish {
    /// COMPLETED, FAILED or AWAITING_RETRY.
    pub to: RunState,
    /// The reason shown with the state.
    pub message: Option<String>,
    /// When a retry is due (AWAITING_RETRY).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// What a step still RUNNING becomes, with its error text.
    pub open_steps: (RunState, String),
}

/// Records the end of an attempt, in one transaction and only while `lease` holds the run: the run's
/// state (CANCELLED instead when a cancel was accepted meanwhile: an accepted cancel always ends
/// CANCELLED), the steps left RUNNING, the history. `None` when the lease was gone: a worker that lost
/// its run changes nothing of it.
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "finish",
    skip_all
)]
pub async fn finish(
    db: &DatabaseConnection,
    lease: &Lease,
    outcome: Finish,
) -> Result<Option<RunState>, DbErr> {
    let txn = crate::db::begin_run_write(db).await?;
    let to = finish_in(&txn, lease, outcome).await?;
    if to.is_some() {
        txn.commit().await?;
    }
    Ok(to)
}

/// [`finish`] inside the caller's transaction (the log writer's, which ends attempts with their last
/// lines); `None`, and nothing written, when the lease was gone.
pub async fn finish_in(
    txn: &impl ConnectionTrait,
    lease: &Lease,
    outcome: Finish,
) -> Result<Option<RunState>, DbErr> {
    match hold(txn, lease, false).await? {
        Some(state) => finish_held_in(txn, lease, state, outcome, None).await,
        None => Ok(None),
    }
}

/// [`finish_in`] for an attempt whose hold on its run the caller's transaction has checked (and so
/// locked the row): `state` is the run's state it found, RUNNING or CANCELLING. `summary`, when
/// given, is stored by the same update (the log writer's batch that holds both the attempt's summary
/// and its end).
pub async fn finish_held_in(
    txn: &impl ConnectionTrait,
    lease: &Lease,
    state: RunState,
    outcome: Finish,
    summary: Option<&serde_json::Value>,
) -> Result<Option<RunState>, DbErr> {
    let (transition, (step_state, step_error)) = if state == RunState::Cancelling {
        let reason = get(txn, lease.run_id)
            .await?
            .and_then(|r| r.state_message)
            .unwrap_or_else(|| "cancelled".into());
        (
            Transition::to(RunState::Cancelled).message(reason),
            (RunState::Cancelled, "the run was cancelled".to_string()),
        )
    } else {
        let mut t = Transition::to(outcome.to);
        t.message = outcome.message;
        if let Some(next) = outcome.next_attempt_at {
            t = t.retry_at(next);
        }
        (t, outcome.open_steps)
    };
    let to = transition.to;
    let transition = match summary {
        Some(value) => transition.set(flow_run::Column::Summary, Expr::value(value.clone())),
        None => transition,
    };
    if !end_held_in(txn, lease, transition, (step_state, &step_error)).await? {
        return Ok(None);
    }
    Ok(Some(to))
}

/// Ends the attempt `lease` names inside the caller's transaction: the run's transition (only while
/// the lease holds it; the heartbeat is cleared) and, when it applied, the steps left RUNNING (in the
/// same statement on PostgreSQL).
pub async fn end_held_in(
    txn: &impl ConnectionTrait,
    lease: &Lease,
    transition: Transition,
    step: (RunState, &str),
) -> Result<bool, DbErr> {
    let ending = transition
        .held_by(lease)
        .set(
            flow_run::Column::HeartbeatAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .closing_steps(step.0, step.1);
    transition_in(txn, lease.run_id, ending).await
}

/// Stores a flow's outcome summary on the run `run_id`, inside the log writer's transaction, which has
/// checked the writing attempt's lease (see [`super::LogSink`]).
pub(super) async fn set_summary_in(
    txn: &impl ConnectionTrait,
    run_id: Uuid,
    summary: &serde_json::Value,
) -> Result<(), DbErr> {
    flow_run::Entity::update_many()
        .col_expr(flow_run::Column::Summary, Expr::value(summary.clone()))
        .filter(flow_run::Column::Id.eq(run_id))
        .exec(txn)
        .await?;
    Ok(())
}
