//! `chap_setups`: the prediction setups a `chap` schedule follows, as last read from chap, with the
//! slots of each.

use chap_scheduler_api::SetupScheduleStatus;
use sea_orm::entity::prelude::*;

/// A setup row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chap_setups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub schedule_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub setup_id: i64,
    pub name: String,
    pub enabled: bool,
    /// chap's `scheduleCronExpression`.
    pub cron: Option<String>,
    /// The cron it fires at (its own or the schedule's fallback).
    pub effective_cron: Option<String>,
    pub status: SetupScheduleStatus,
    pub problem: Option<String>,
    pub next_fire_at: Option<DateTimeUtc>,
    pub last_fire_at: Option<DateTimeUtc>,
    pub skipped_count: i64,
    /// The last run created for it (not a foreign key: retention may delete runs).
    pub last_run_id: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
