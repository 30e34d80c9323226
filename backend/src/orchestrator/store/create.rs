//! New runs: the row and its first history entries, written by the trigger.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, InsertStatement, Query, SimpleExpr, WithClause};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    Iterable, QueryFilter, QueryTrait, Set, TryIntoModel,
};
use serde_json::Value;
use uuid::Uuid;

use super::queue::{active_count, any_due, XMIN};
use super::runs::{state_insert, state_row};
use crate::db::cte;
use crate::db::entities::{deployment, flow_run};
use crate::db::users::now;
use crate::orchestrator::deployments;
use crate::orchestrator::state::RunState;

/// What a trigger decided about a new run.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// Its deployment.
    pub deployment: &'a deployment::Model,
    /// Merged and validated parameters.
    pub parameters: Value,
    /// SCHEDULED; PENDING when it takes a free slot at once (enqueued as it is written); or CANCELLED
    /// at once (collision strategy `cancel_new`).
    pub state: RunState,
    /// Why, when cancelled at once.
    pub message: Option<String>,
    /// When it should start.
    pub expected_start_at: DateTime<Utc>,
    /// `user:…`, `token:…`, `schedule:…` or `retry:…`.
    pub triggered_by: String,
    /// The schedule whose slot it is.
    pub schedule_id: Option<Uuid>,
    /// The run it retries.
    pub retry_of: Option<Uuid>,
    /// The key that makes the trigger idempotent.
    pub idempotency_key: Option<String>,
}

/// The statements that insert a run with its history (SCHEDULED, then its state when that is
/// another: PENDING or CANCELLED), and the run as they insert it. A unique violation on the idempotency key comes back as the
/// database's error when they are executed.
pub fn run_inserts(new: NewRun<'_>) -> Result<(flow_run::Model, Vec<InsertStatement>), DbErr> {
    let now = now();
    let (state, message) = (new.state, new.message.clone());
    let row = run_row(new, now);
    let id = row.id.clone().unwrap();
    // Not read back: every column is set here.
    let mut inserts = vec![
        flow_run::Entity::insert(row.clone()).into_query(),
        state_insert(id, RunState::Scheduled, None, now),
    ];
    if state != RunState::Scheduled {
        inserts.push(state_insert(id, state, message, now));
    }
    Ok((row.try_into_model()?, inserts))
}

/// The row of a new run, every column set.
fn run_row(new: NewRun<'_>, now: DateTime<Utc>) -> flow_run::ActiveModel {
    flow_run::ActiveModel {
        id: Set(Uuid::new_v4()),
        deployment_id: Set(Some(new.deployment.id)),
        deployment_name: Set(new.deployment.name.clone()),
        flow_name: Set(new.deployment.flow_name.clone()),
        parameters: Set(new.parameters),
        state: Set(new.state),
        state_message: Set(new.message),
        state_at: Set(now),
        expected_start_at: Set(new.expected_start_at),
        started_at: Set(None),
        ended_at: Set(new.state.is_terminal().then_some(now)),
        attempt: Set(0),
        max_attempts: Set(Ord::max(new.deployment.retries, 0) + 1),
        triggered_by: Set(new.triggered_by.chars().take(160).collect()),
        schedule_id: Set(new.schedule_id),
        idempotency_key: Set(new.idempotency_key),
        worker_id: Set(None),
        heartbeat_at: Set(None),
        next_attempt_at: Set(None),
        enqueued_at: Set((new.state == RunState::Pending).then_some(now)),
        retry_of: Set(new.retry_of),
        summary: Set(None),
        created_at: Set(now),
    }
}

/// On PostgreSQL, inserts a trigger's new run (SCHEDULED and due) with its history and the
/// `with` inserts (its audit event) in one statement in autocommit that also takes a free slot of
/// its deployment for it: the run is then written PENDING (history SCHEDULED, PENDING). One round
/// trip where a transaction takes five (begin, the deployment's lock, its room, the insert, the
/// commit), and each of them waits for a CPU on a busy machine (issue 16).
///
/// The slot is taken only if, as the statement finds them, the deployment's limit is not reached,
/// none of its runs is due before this one, and its row is still at `version` (as the trigger first
/// read it). That last condition makes the count safe: the statement takes the deployment's lock
/// (the update every writer that adds runs in flight makes, [`crate::orchestrator::deployments::lock`]),
/// but reads the runs as they were when it began; had another writer taken the lock since the
/// trigger's first read (also while this statement waited for it), the row would have another
/// version. Any other writer only takes runs out of flight. Returns the run as written: SCHEDULED
/// when it did not take a slot (the caller then gives the deployment's free slots in a locked
/// transaction, as to any due run).
pub async fn insert_in_free_slot(
    db: &DatabaseConnection,
    new: NewRun<'_>,
    version: &str,
    limit: u64,
    with: impl FnOnce(&flow_run::Model, &mut Vec<InsertStatement>),
) -> Result<flow_run::Model, DbErr> {
    let now = now();
    let dep = new.deployment.id;
    let row = run_row(new, now);
    let mut run = row.clone().try_into_model()?;
    let slot = Alias::new("slot");
    let mut take = deployments::lock_statement(dep);
    take.and_where(Expr::cust(XMIN).eq(version))
        .and_where(
            Expr::expr(SimpleExpr::SubQuery(
                None,
                Box::new(active_count(dep).into()),
            ))
            .lt(limit),
        )
        .and_where(any_due(dep).not())
        .returning_col(deployment::Column::Id);
    let taken = Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(slot.clone())
            .to_owned(),
    );
    let insert_run = selected_insert(&row, None, |column| match column {
        flow_run::Column::State => Some(
            Expr::case(taken.clone(), Expr::value(RunState::Pending))
                .finally(Expr::value(RunState::Scheduled))
                .into(),
        ),
        flow_run::Column::EnqueuedAt => Some(
            Expr::case(taken.clone(), Expr::value(now))
                .finally(Expr::value(Option::<DateTime<Utc>>::None))
                .into(),
        ),
        _ => None,
    })?
    .returning_col(flow_run::Column::State)
    .to_owned();
    let mut inserts = vec![
        state_insert(run.id, RunState::Scheduled, None, now),
        selected_insert(
            &state_row(run.id, RunState::Pending, None, now),
            Some(&slot),
            |_| None,
        )?,
    ];
    with(&run, &mut inserts);
    let mut query = WithClause::new();
    query.cte(cte("slot", take)).cte(cte("run", insert_run));
    for (at, insert) in inserts.into_iter().enumerate() {
        query.cte(cte(&format!("write_{at}"), insert));
    }
    let read = query.query(
        Query::select()
            .column(flow_run::Column::State)
            .from(Alias::new("run"))
            .to_owned(),
    );
    let written = db
        .query_one(&read)
        .await?
        .ok_or_else(|| DbErr::Custom("the run's insert returned no row".into()))?;
    run.state = written.try_get("", "state")?;
    if run.state == RunState::Pending {
        run.enqueued_at = Some(now);
    }
    Ok(run)
}

/// `INSERT INTO … SELECT …` of `row`'s set columns (a column's value replaced where `replace` gives
/// one), the select from `from` when given: written only when `from` has a row.
fn selected_insert<A: ActiveModelTrait>(
    row: &A,
    from: Option<&Alias>,
    replace: impl Fn(<A::Entity as EntityTrait>::Column) -> Option<SimpleExpr>,
) -> Result<InsertStatement, DbErr> {
    let mut columns = Vec::new();
    let mut select = Query::select();
    for column in <A::Entity as EntityTrait>::Column::iter() {
        let value = match replace(column) {
            Some(value) => value,
            None => match row.get(column).into_value() {
                Some(value) => Expr::value(value),
                None => continue,
            },
        };
        columns.push(column);
        select.expr(value);
    }
    if let Some(from) = from {
        select.from(from.clone());
    }
    Query::insert()
        .into_table(A::Entity::default())
        .columns(columns)
        .select_from(select)
        .map(|insert| insert.to_owned())
        .map_err(|e| DbErr::Custom(format!("a selected insert: {e}")))
}

/// The run created with this idempotency key, if any.
pub async fn by_idempotency_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<flow_run::Model>, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::IdempotencyKey.eq(key))
        .one(db)
        .await
}
