//! `schedules`: cron or interval triggers of a deployment.

use chap_scheduler_api::{MissedPolicy, ScheduleSource};
use sea_orm::entity::prelude::*;

/// A schedule row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "schedules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub deployment_id: Uuid,
    pub source: ScheduleSource,
    pub fallback_cron: Option<String>,
    pub cron: Option<String>,
    pub interval_seconds: Option<i64>,
    pub anchor_at: DateTimeUtc,
    pub timezone: String,
    pub parameters: Json,
    pub active: bool,
    pub missed_policy: MissedPolicy,
    pub max_missed: i32,
    pub next_fire_at: Option<DateTimeUtc>,
    pub last_fire_at: Option<DateTimeUtc>,
    pub skipped_count: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
