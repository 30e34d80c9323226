//! Reading runs: the API views of a run, a step and a history entry, and the reads behind them.

use chap_scheduler_api::{RunView, StateChangeView, TaskRunView};
use chrono::Duration;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::db::entities::{flow_run, flow_run_state, task_run};
use crate::orchestrator::state::RunState;

/// A run is late when it should have started this long ago and has not.
pub const LATE_AFTER_SECONDS: i64 = 15;

/// The API view of a run.
pub fn view(r: &flow_run::Model) -> RunView {
    let state = r.state;
    RunView {
        id: r.id,
        deployment_id: r.deployment_id,
        deployment_name: r.deployment_name.clone(),
        flow_name: r.flow_name.clone(),
        parameters: r.parameters.clone(),
        state,
        state_message: r.state_message.clone(),
        state_at: r.state_at,
        late: matches!(state, RunState::Scheduled | RunState::Pending)
            && crate::db::clock::now() - r.expected_start_at
                > Duration::seconds(LATE_AFTER_SECONDS),
        expected_start_at: r.expected_start_at,
        started_at: r.started_at,
        ended_at: r.ended_at,
        attempt: r.attempt.max(0) as u32,
        max_attempts: r.max_attempts.max(1) as u32,
        triggered_by: r.triggered_by.clone(),
        schedule_id: r.schedule_id,
        retry_of: r.retry_of,
        summary: r.summary.clone(),
        created_at: r.created_at,
    }
}

/// The API view of a step.
pub fn task_view(t: &task_run::Model) -> TaskRunView {
    TaskRunView {
        id: t.id,
        position: t.position.max(0) as u32,
        name: t.name.clone(),
        label: t.label.clone(),
        state: t.state,
        attempts: t.attempts.max(0) as u32,
        started_at: t.started_at,
        ended_at: t.ended_at,
        duration_seconds: t
            .ended_at
            .map(|e| (e - t.started_at).num_milliseconds() as f64 / 1000.0),
        error: t.error.clone(),
    }
}

/// The API view of a history entry.
pub fn state_change_view(s: &flow_run_state::Model) -> StateChangeView {
    StateChangeView {
        state: s.state,
        message: s.message.clone(),
        at: s.at,
    }
}

/// Only the state of a run: what a live log tail checks twice a second, without reading the row.
pub async fn state_of(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<RunState>, DbErr> {
    flow_run::Entity::find_by_id(id)
        .select_only()
        .column(flow_run::Column::State)
        .into_tuple::<RunState>()
        .one(db)
        .await
}

/// A run by id.
pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<flow_run::Model>, DbErr> {
    flow_run::Entity::find_by_id(id).one(db).await
}

/// A run's history, oldest first, and its steps in order.
pub async fn history_and_steps(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<(Vec<flow_run_state::Model>, Vec<task_run::Model>), DbErr> {
    let history = flow_run_state::Entity::find()
        .filter(flow_run_state::Column::FlowRunId.eq(id))
        .order_by_asc(flow_run_state::Column::At)
        .order_by_asc(flow_run_state::Column::Id)
        .all(db)
        .await?;
    let steps = task_run::Entity::find()
        .filter(task_run::Column::FlowRunId.eq(id))
        .order_by_asc(task_run::Column::Position)
        .all(db)
        .await?;
    Ok((history, steps))
}

/// The runs that retried `id`, oldest first.
pub async fn retried_by(db: &impl ConnectionTrait, id: Uuid) -> Result<Vec<Uuid>, DbErr> {
    flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::Id)
        .filter(flow_run::Column::RetryOf.eq(id))
        .order_by_asc(flow_run::Column::CreatedAt)
        .order_by_asc(flow_run::Column::Id)
        .into_tuple()
        .all(db)
        .await
}
