use chrono::{DateTime, Utc};
#[cfg(feature = "db")]
use sea_orm::sea_query::StringLen;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// What to do with slots missed while the service was down (older than a few seconds when seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
pub enum MissedPolicy {
    /// Run none of them; resume with the next future slot (they are counted as skipped).
    #[default]
    #[cfg_attr(feature = "db", sea_orm(string_value = "skip"))]
    Skip,
    /// Run one, for the most recent missed slot.
    #[cfg_attr(feature = "db", sea_orm(string_value = "latest"))]
    Latest,
    /// Run every missed slot, up to `max_missed` (the rest are counted as skipped).
    #[cfg_attr(feature = "db", sea_orm(string_value = "all"))]
    All,
}

impl MissedPolicy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MissedPolicy::Skip => "skip",
            MissedPolicy::Latest => "latest",
            MissedPolicy::All => "all",
        }
    }
}

/// Where a schedule's timing comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
pub enum ScheduleSource {
    /// Its own cron expression or interval.
    #[default]
    #[cfg_attr(feature = "db", sea_orm(string_value = "own"))]
    Own,
    /// The schedules of chap's prediction setups (`scheduleEnabled`, `scheduleCronExpression`), read
    /// through the schedule's `credentials` block: one run per setup at each slot of its cron.
    #[cfg_attr(feature = "db", sea_orm(string_value = "chap"))]
    Chap,
}

impl ScheduleSource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleSource::Own => "own",
            ScheduleSource::Chap => "chap",
        }
    }
}

/// The next slot of one setup of a `chap` schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupSlot {
    /// chap's prediction setup id.
    pub setup_id: i64,
    /// The setup's name.
    pub setup_name: String,
    /// When its next run is due.
    pub fire_at: DateTime<Utc>,
}

/// The last synchronisation of a `chap` schedule with chap's prediction setups.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChapSync {
    /// The last successful read of chap's setups (null: never).
    pub synced_at: Option<DateTime<Utc>>,
    /// The last attempt, successful or not.
    pub attempted_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (null when it succeeded); the setups of the last success are kept.
    pub error: Option<String>,
}

/// A schedule of a deployment: a cron expression or a fixed interval, in a timezone, or (`source`
/// `chap`) the schedules of chap's prediction setups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleView {
    /// Id (never changes, also when edited).
    pub id: Uuid,
    /// The deployment it triggers.
    pub deployment_id: Uuid,
    /// `own` (its cron or interval) or `chap` (each prediction setup's own cron).
    pub source: ScheduleSource,
    /// `chap` schedules: the cron of setups enabled in chap without a cron of their own (null: those
    /// are listed, not fired).
    pub fallback_cron: Option<String>,
    /// `chap` schedules: the last synchronisation with chap (null for `own` schedules).
    pub chap_sync: Option<ChapSync>,
    /// `chap` schedules: the next slot of every setup that fires, soonest first (empty for `own`).
    pub setup_slots: Vec<SetupSlot>,
    /// Cron expression (5 fields, or 6 with seconds first), when a cron schedule.
    pub cron: Option<String>,
    /// Interval in seconds, when an interval schedule.
    pub interval_seconds: Option<u64>,
    /// Interval schedules fire at `anchor_at + k × interval`.
    pub anchor_at: DateTime<Utc>,
    /// IANA timezone the expression is read in, e.g. `Europe/Oslo`.
    pub timezone: String,
    /// Parameters pinned by this schedule, merged over the deployment's defaults.
    pub parameters: Value,
    /// Inactive schedules create no runs.
    pub active: bool,
    /// Missed-slot policy.
    pub missed_policy: MissedPolicy,
    /// Cap of the `all` policy.
    pub max_missed: u32,
    /// The next slot it will fire for (`chap` schedules: the soonest of its setups').
    pub next_fire_at: Option<DateTime<Utc>>,
    /// The last slot it fired for.
    pub last_fire_at: Option<DateTime<Utc>>,
    /// Slots skipped so far (missed-slot policy, paused deployment).
    pub skipped_count: u64,
    /// A slot without a COMPLETED run this many minutes after it is late (`schedule.late`).
    #[serde(default)]
    pub ready_by_minutes: Option<f64>,
    /// Paused after this many failed runs in a row (`schedule.paused`).
    #[serde(default)]
    pub pause_after_failures: Option<u32>,
    /// Failed runs in a row so far.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Why the schedule was paused automatically (cleared when it is activated again).
    #[serde(default)]
    pub paused_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last edited.
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/deployments/{id}/schedules` and of `PATCH /api/v1/schedules/{id}` (there
/// every field is optional; giving `cron` clears `interval_seconds` and the other way round).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleRequest {
    /// `own` (default: `cron` or `interval_seconds` is required) or `chap` (neither is allowed; the
    /// parameters must name a `credentials` block). Set at creation; it cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ScheduleSource>,
    /// `chap` schedules: a 5-field cron for setups enabled in chap without a cron; an empty string
    /// removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub fallback_cron: Option<String>,
    /// Cron expression: 5 fields (minute first) or 6 (seconds first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Fixed interval in seconds (1 to 31,536,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31536000))]
    pub interval_seconds: Option<u64>,
    /// Start of the interval grid (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_at: Option<DateTime<Utc>>,
    /// IANA timezone (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Pinned parameters (e.g. the credentials block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Active (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Missed-slot policy (default `skip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_policy: Option<MissedPolicy>,
    /// Cap of the `all` policy, 1–1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub max_missed: Option<u32>,
    /// A slot without a COMPLETED run this many minutes after it is late and notifies
    /// `schedule.late` once (fractions allowed, rounded to whole seconds; at most a week); 0 removes the
    /// deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10080))]
    pub ready_by_minutes: Option<f64>,
    /// Pause the schedule after this many failed runs in a row (1–100) and notify
    /// `schedule.paused`; 0 turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub pause_after_failures: Option<u32>,
}

/// A slot of a schedule (of one setup, for a `chap` schedule) without a COMPLETED run by its
/// deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LateSlotView {
    /// The schedule.
    pub schedule_id: Uuid,
    /// Its deployment.
    pub deployment_id: Option<Uuid>,
    /// The deployment's name.
    pub deployment_name: Option<String>,
    /// The setup (`chap` schedules).
    pub setup_id: Option<i64>,
    /// The setup's name.
    pub setup_name: Option<String>,
    /// The slot.
    pub slot: DateTime<Utc>,
    /// When its run had to be COMPLETED.
    pub deadline: DateTime<Utc>,
    /// When it was found late.
    pub detected_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/schedules/preview`: an unsaved expression.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewRequest {
    /// Cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Or a fixed interval in seconds (1 to 31,536,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31536000))]
    pub interval_seconds: Option<u64>,
    /// Start of the interval grid (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_at: Option<DateTime<Utc>>,
    /// IANA timezone (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How many fire times, 1–100 (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub count: Option<u32>,
}

/// The next fire times of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewResponse {
    /// The timezone used.
    pub timezone: String,
    /// Fire times in UTC.
    pub fire_times: Vec<DateTime<Utc>>,
    /// The same instants as local wall-clock times with offset, e.g. `2026-03-29T03:00:00+02:00`.
    pub local_times: Vec<String>,
}
