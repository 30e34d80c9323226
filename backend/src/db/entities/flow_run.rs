//! `flow_runs`: one execution of a deployment's flow, with its current state.

use chap_scheduler_api::RunState;
use sea_orm::entity::prelude::*;

/// A flow-run row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub deployment_id: Option<Uuid>,
    pub deployment_name: String,
    pub flow_name: String,
    pub parameters: Json,
    pub state: RunState,
    pub state_message: Option<String>,
    pub state_at: DateTimeUtc,
    pub expected_start_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub triggered_by: String,
    pub schedule_id: Option<Uuid>,
    #[sea_orm(unique)]
    pub idempotency_key: Option<String>,
    pub worker_id: Option<String>,
    pub heartbeat_at: Option<DateTimeUtc>,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub enqueued_at: Option<DateTimeUtc>,
    pub retry_of: Option<Uuid>,
    pub summary: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
