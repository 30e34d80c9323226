//! `artifacts`: what a run produced for people to read (the run report).

use chap_scheduler_api::ArtifactKind;
use sea_orm::entity::prelude::*;

/// An artifact row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "artifacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub flow_run_id: Uuid,
    pub key: String,
    pub kind: ArtifactKind,
    pub content: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
