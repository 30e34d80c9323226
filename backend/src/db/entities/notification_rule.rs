//! `notification_rules`: which events go through which channel block, for which runs.

use sea_orm::entity::prelude::*;

/// A rule row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The channel block (checked in code; a block in use by a rule cannot be deleted).
    pub channel_id: Uuid,
    /// E-mail addresses, a JSON array of strings.
    pub recipients: Json,
    /// Event names, a JSON array of strings.
    pub events: Json,
    pub deployment_id: Option<Uuid>,
    pub schedule_id: Option<Uuid>,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
