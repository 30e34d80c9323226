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
    /// A slot without a COMPLETED run this long after it is late.
    pub ready_by_seconds: Option<i32>,
    /// Pause after this many failed runs in a row.
    pub pause_after_failures: Option<i32>,
    /// Failed runs in a row so far (reset by a COMPLETED run and by re-activating).
    pub consecutive_failures: i32,
    /// Why the schedule was paused automatically.
    pub paused_reason: Option<String>,
    /// Slots up to this time were checked for lateness.
    pub late_checked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
