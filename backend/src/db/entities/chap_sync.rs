//! `chap_syncs`: per `chap` schedule, its last synchronisation with chap and when the next is due.

use sea_orm::entity::prelude::*;

/// A synchronisation state row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chap_syncs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub schedule_id: Uuid,
    pub synced_at: Option<DateTimeUtc>,
    pub attempted_at: Option<DateTimeUtc>,
    pub error: Option<String>,
    /// The next synchronisation (claimed by moving it forward).
    pub due_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
