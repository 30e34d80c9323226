//! `logs`: log lines of runs, written in batches.

use chap_scheduler_api::LogLevel;
use sea_orm::entity::prelude::*;

/// A log row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "logs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub flow_run_id: Uuid,
    pub task_run_id: Option<Uuid>,
    pub at: DateTimeUtc,
    pub level: LogLevel,
    pub message: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
