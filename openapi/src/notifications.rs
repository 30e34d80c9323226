//! Notifications: rules (`/api/v1/notification-rules`) that send events about runs and schedules
//! through a channel block (`webhook` or `smtp`), and the deliveries they produced.

use chrono::{DateTime, Utc};
#[cfg(feature = "db")]
use sea_orm::sea_query::StringLen;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a rule can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
pub enum NotificationEvent {
    /// A run ended FAILED, or CRASHED after its last attempt.
    #[serde(rename = "run.failed")]
    #[cfg_attr(feature = "db", sea_orm(string_value = "run.failed"))]
    RunFailed,
    /// A run ended COMPLETED with at least one failed prediction setup (instead of `run.completed`).
    #[serde(rename = "run.partial")]
    #[cfg_attr(feature = "db", sea_orm(string_value = "run.partial"))]
    RunPartial,
    /// A run ended COMPLETED and nothing in it failed.
    #[serde(rename = "run.completed")]
    #[cfg_attr(feature = "db", sea_orm(string_value = "run.completed"))]
    RunCompleted,
    /// A slot of a schedule had no COMPLETED run within its `ready_by_minutes`.
    #[serde(rename = "schedule.late")]
    #[cfg_attr(feature = "db", sea_orm(string_value = "schedule.late"))]
    ScheduleLate,
    /// A schedule was paused after `pause_after_failures` failed runs in a row.
    #[serde(rename = "schedule.paused")]
    #[cfg_attr(feature = "db", sea_orm(string_value = "schedule.paused"))]
    SchedulePaused,
}

impl NotificationEvent {
    /// Every event.
    pub const ALL: [NotificationEvent; 5] = [
        NotificationEvent::RunFailed,
        NotificationEvent::RunPartial,
        NotificationEvent::RunCompleted,
        NotificationEvent::ScheduleLate,
        NotificationEvent::SchedulePaused,
    ];

    /// The wire name, e.g. `run.failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationEvent::RunFailed => "run.failed",
            NotificationEvent::RunPartial => "run.partial",
            NotificationEvent::RunCompleted => "run.completed",
            NotificationEvent::ScheduleLate => "schedule.late",
            NotificationEvent::SchedulePaused => "schedule.paused",
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
pub enum DeliveryStatus {
    /// Not sent yet (or being retried).
    #[cfg_attr(feature = "db", sea_orm(string_value = "pending"))]
    Pending,
    /// The receiver accepted it.
    #[cfg_attr(feature = "db", sea_orm(string_value = "sent"))]
    Sent,
    /// Given up after retrying for 24 hours (or the rule's channel cannot send at all).
    #[cfg_attr(feature = "db", sea_orm(string_value = "failed"))]
    Failed,
}

/// A notification rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRuleView {
    /// Id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// The channel: a `webhook` or `smtp` block.
    pub channel: Uuid,
    /// The channel block's name (null when it was deleted).
    pub channel_name: Option<String>,
    /// The channel block's type, `webhook` or `smtp` (null when it was deleted).
    pub channel_type: Option<String>,
    /// E-mail addresses (for an `smtp` channel).
    pub recipients: Vec<String>,
    /// The events it sends.
    pub events: Vec<NotificationEvent>,
    /// Only runs of this deployment (null: every deployment).
    pub deployment_id: Option<Uuid>,
    /// Only runs and slots of this schedule (null: any).
    pub schedule_id: Option<Uuid>,
    /// Inactive rules send nothing.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last edited.
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/notification-rules` and `PUT /api/v1/notification-rules/{id}` (which
/// replaces the rule: a field left out takes its default).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotificationRuleRequest {
    /// Unique name, 1–100 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// The channel block (`webhook` or `smtp`).
    pub channel: Uuid,
    /// E-mail addresses, required for an `smtp` channel (1–50), none for a webhook.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub recipients: Vec<String>,
    /// The events to send (at least one).
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub events: Vec<NotificationEvent>,
    /// Only runs of this deployment.
    #[serde(default)]
    pub deployment_id: Option<Uuid>,
    /// Only runs and slots of this schedule.
    #[serde(default)]
    pub schedule_id: Option<Uuid>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
}

/// One delivery of an event through a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    /// Id (sent as `X-Chap-Scheduler-Delivery`, for receivers to drop a repeat).
    pub id: Uuid,
    /// The rule.
    pub rule_id: Uuid,
    /// The rule's name.
    pub rule_name: String,
    /// The event.
    pub event: NotificationEvent,
    /// The run it is about, if any.
    pub run_id: Option<Uuid>,
    /// The schedule it is about, if any.
    pub schedule_id: Option<Uuid>,
    /// The slot it is about (`schedule.late`).
    pub slot: Option<DateTime<Utc>>,
    /// Pending, sent or failed.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// The next attempt (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
}

/// The outcome of `POST /api/v1/notification-rules/{id}/test`: a sample event sent now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationTestResult {
    /// Whether the receiver accepted it.
    pub ok: bool,
    /// What the receiver answered, or why it could not be sent.
    pub detail: String,
}
