//! `flow_run_states`: the history of every state a run went through.

use chap_scheduler_api::RunState;
use sea_orm::entity::prelude::*;

/// A state-history row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_run_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub flow_run_id: Uuid,
    pub state: RunState,
    pub message: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
