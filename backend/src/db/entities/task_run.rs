//! `task_runs`: the named steps of a run.

use chap_scheduler_api::RunState;
use sea_orm::entity::prelude::*;

/// A task-run row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub flow_run_id: Uuid,
    pub position: i32,
    pub name: String,
    pub label: Option<String>,
    pub state: RunState,
    pub attempts: i32,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
