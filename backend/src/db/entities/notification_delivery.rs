//! `notification_deliveries`: the outbox, one row per (rule, event, run or slot).

use chap_scheduler_api::{DeliveryStatus, NotificationEvent};
use sea_orm::entity::prelude::*;

/// A delivery row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub rule_id: Uuid,
    pub event: NotificationEvent,
    /// Not a foreign key: retention may delete the run, the delivery stays.
    pub run_id: Option<Uuid>,
    pub schedule_id: Option<Uuid>,
    pub slot: Option<DateTimeUtc>,
    /// `<rule>:<event>:<run or schedule:slot>`, unique: an event is delivered once per rule.
    pub dedupe_key: String,
    /// What else the event says (`schedule.late`: the setup and deadline; `schedule.paused`: why).
    pub detail: Option<Json>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When the sender may take it (pending), pushed forward while an attempt is in flight.
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub occurred_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
