//! `run_checkpoints`: values a flow recorded while running, kept across the run's attempts.

use sea_orm::entity::prelude::*;

/// A checkpoint row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "run_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_run_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub value: Json,
    pub attempt: i32,
    pub written_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
