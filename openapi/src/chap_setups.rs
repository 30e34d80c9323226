//! The prediction setups a `chap` schedule follows: `GET /api/v1/schedules/{id}/setups`, `POST
//! /api/v1/schedules/{id}/sync` and `PATCH /api/v1/schedules/{id}/setups/{setup_id}`.

use chrono::{DateTime, Utc};
#[cfg(feature = "db")]
use sea_orm::sea_query::StringLen;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ChapSync, RunState};

/// Whether a setup of a `chap` schedule fires, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
pub enum SetupScheduleStatus {
    /// Enabled with a valid cron (its own or the schedule's fallback): it fires.
    #[cfg_attr(feature = "db", sea_orm(string_value = "scheduled"))]
    Scheduled,
    /// `scheduleEnabled` is false in chap.
    #[cfg_attr(feature = "db", sea_orm(string_value = "disabled"))]
    Disabled,
    /// Enabled in chap without a cron, and the schedule has no fallback cron: listed, not fired.
    #[cfg_attr(feature = "db", sea_orm(string_value = "no_cron"))]
    NoCron,
    /// Enabled with a cron expression that cannot be read (see `problem`): not fired.
    #[cfg_attr(feature = "db", sea_orm(string_value = "invalid_cron"))]
    InvalidCron,
}

impl SetupScheduleStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SetupScheduleStatus::Scheduled => "scheduled",
            SetupScheduleStatus::Disabled => "disabled",
            SetupScheduleStatus::NoCron => "no_cron",
            SetupScheduleStatus::InvalidCron => "invalid_cron",
        }
    }
}

/// The last run a `chap` schedule created for one setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupLastRun {
    /// The run.
    pub id: Uuid,
    /// Its state now.
    pub state: RunState,
    /// The slot it was created for.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The setup's outcome in that run once it ended: `succeeded`, `failed` or `skipped`.
    pub setup_status: Option<String>,
}

/// One prediction setup of a `chap` schedule, as last read from chap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChapSetupView {
    /// chap's prediction setup id.
    pub id: i64,
    /// Its name in chap.
    pub name: String,
    /// `scheduleEnabled` in chap.
    pub enabled: bool,
    /// `scheduleCronExpression` in chap (null: none).
    pub cron: Option<String>,
    /// The cron it fires at: its own, or the schedule's fallback (null: it does not fire).
    pub effective_cron: Option<String>,
    /// Whether it fires, and why not.
    pub status: SetupScheduleStatus,
    /// What is wrong with its cron, when `invalid_cron`.
    pub problem: Option<String>,
    /// Its next 5 fire times (empty when it does not fire).
    pub next_fire_times: Vec<DateTime<Utc>>,
    /// Slots skipped by the missed-run policy so far.
    pub skipped_count: u64,
    /// The last run the schedule created for it.
    pub last_run: Option<SetupLastRun>,
}

/// The setups of a `chap` schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChapSetupsView {
    /// The schedule.
    pub schedule_id: Uuid,
    /// The timezone the setups' crons are read in (chap stores none).
    pub timezone: String,
    /// The last synchronisation.
    pub sync: ChapSync,
    /// The setups of the last successful synchronisation, by id.
    pub setups: Vec<ChapSetupView>,
}

/// Body of `PATCH /api/v1/schedules/{id}/setups/{setup_id}`: written to chap, then synchronised.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChapSetupUpdate {
    /// `scheduleEnabled` (unchanged when absent). chap refuses a setup enabled without a cron.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `scheduleCronExpression`: exactly 5 fields (minute hour day-of-month month day-of-week), as
    /// chap accepts; an empty string removes it (unchanged when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub cron: Option<String>,
}
