//! `flow_states`: values a flow keeps across runs, by flow and key.

use sea_orm::entity::prelude::*;

/// A flow state row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_name: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub value: Json,
    /// The run that wrote it (not a foreign key: the run may be deleted by retention).
    pub run_id: Option<Uuid>,
    pub written_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
