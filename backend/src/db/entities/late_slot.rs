//! `late_slots`: schedule slots (per setup for a `chap` schedule) without a COMPLETED run by their
//! deadline.

use sea_orm::entity::prelude::*;

/// A late slot.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "late_slots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `<schedule>:<setup or ->:<slot>`, unique: a slot is late once.
    pub slot_key: String,
    pub schedule_id: Uuid,
    pub setup_id: Option<i64>,
    pub setup_name: Option<String>,
    pub slot: DateTimeUtc,
    pub deadline: DateTimeUtc,
    pub detected_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
