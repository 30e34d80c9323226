//! New runs: the row and its first history entries, written by the trigger.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryTrait, Set, TryIntoModel,
};
use serde_json::Value;
use uuid::Uuid;

use super::runs::state_insert;
use crate::db::entities::{deployment, flow_run};
use crate::db::users::now;
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
    let id = Uuid::new_v4();
    let run = flow_run::ActiveModel {
        id: Set(id),
        deployment_id: Set(Some(new.deployment.id)),
        deployment_name: Set(new.deployment.name.clone()),
        flow_name: Set(new.deployment.flow_name.clone()),
        parameters: Set(new.parameters),
        state: Set(new.state),
        state_message: Set(new.message.clone()),
        state_at: Set(now),
        expected_start_at: Set(new.expected_start_at),
        started_at: Set(None),
        ended_at: Set(new.state.is_terminal().then_some(now)),
        attempt: Set(0),
        max_attempts: Set(new.deployment.retries.max(0) + 1),
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
    };
    // Not read back: every column is set here.
    let mut inserts = vec![
        flow_run::Entity::insert(run.clone()).into_query(),
        state_insert(id, RunState::Scheduled, None, now),
    ];
    if new.state != RunState::Scheduled {
        inserts.push(state_insert(id, new.state, new.message, now));
    }
    Ok((run.try_into_model()?, inserts))
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
