//! The owner of `notification_deliveries`, the outbox: a delivery is written in the transaction of
//! the state change that causes it (at most once per rule, event and run or slot), then taken by the
//! sender, which pushes its next attempt forward while it is in flight and records the outcome.

use chap_scheduler_api::{DeliveryStatus, DeliveryView, NotificationEvent};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::rules;
use crate::db::entities::{notification_delivery, notification_rule};

/// What an event is about.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The run (run events).
    pub run_id: Option<Uuid>,
    /// Its deployment.
    pub deployment_id: Option<Uuid>,
    /// Its schedule.
    pub schedule_id: Option<Uuid>,
    /// The slot (`schedule.late`).
    pub slot: Option<DateTime<Utc>>,
    /// What else tells two events of one schedule apart: the setup of a late slot, the time of a
    /// pause.
    pub part: Option<String>,
}

impl Subject {
    /// About a run.
    pub fn run(run: &crate::db::entities::flow_run::Model) -> Subject {
        Subject {
            run_id: Some(run.id),
            deployment_id: run.deployment_id,
            schedule_id: run.schedule_id,
            slot: None,
            part: None,
        }
    }

    fn key(&self) -> String {
        let base = match (self.run_id, self.schedule_id, self.slot) {
            (Some(run), _, _) => format!("run:{run}"),
            (None, Some(s), Some(slot)) => format!("schedule:{s}:{}", slot.to_rfc3339()),
            (None, Some(s), None) => format!("schedule:{s}"),
            (None, None, _) => "none".into(),
        };
        match &self.part {
            Some(part) => format!("{base}:{part}"),
            None => base,
        }
    }
}

/// Writes a pending delivery for every active rule that sends `event` about `subject`, inside the
/// caller's transaction; a repeat of the same event changes nothing. Returns how many were new.
pub async fn enqueue(
    txn: &impl ConnectionTrait,
    event: NotificationEvent,
    subject: &Subject,
    detail: Option<serde_json::Value>,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut written = 0;
    for rule in rules::active(txn).await? {
        if !rules::matches(&rule, event, subject.deployment_id, subject.schedule_id) {
            continue;
        }
        written += notification_delivery::Entity::insert(notification_delivery::ActiveModel {
            id: Set(Uuid::now_v7()),
            rule_id: Set(rule.id),
            event: Set(event),
            run_id: Set(subject.run_id),
            schedule_id: Set(subject.schedule_id),
            slot: Set(subject.slot),
            dedupe_key: Set(format!("{}:{}:{}", rule.id, event.as_str(), subject.key())),
            detail: Set(detail.clone()),
            status: Set(DeliveryStatus::Pending),
            attempts: Set(0),
            next_attempt_at: Set(Some(at)),
            last_error: Set(None),
            occurred_at: Set(at),
            created_at: Set(at),
            sent_at: Set(None),
        })
        .on_conflict(
            OnConflict::column(notification_delivery::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(written)
}

/// Pending deliveries whose next attempt has come, oldest first.
pub async fn due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<notification_delivery::Model>, DbErr> {
    notification_delivery::Entity::find()
        .filter(notification_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(notification_delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(notification_delivery::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
}

/// Takes a due delivery for one attempt by pushing its next attempt to `until` (compare-and-set: of
/// two senders, one takes it; if this one dies, the delivery is due again at `until`).
pub async fn claim(
    db: &DatabaseConnection,
    d: &notification_delivery::Model,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut q = notification_delivery::Entity::update_many()
        .col_expr(
            notification_delivery::Column::NextAttemptAt,
            Expr::value(until),
        )
        .filter(notification_delivery::Column::Id.eq(d.id))
        .filter(notification_delivery::Column::Status.eq(DeliveryStatus::Pending));
    q = match d.next_attempt_at {
        Some(at) => q.filter(notification_delivery::Column::NextAttemptAt.eq(at)),
        None => q.filter(notification_delivery::Column::NextAttemptAt.is_null()),
    };
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// How an attempt ended.
pub enum Outcome {
    /// Accepted by the receiver.
    Sent,
    /// Failed; try again at this time.
    Retry(DateTime<Utc>, String),
    /// Failed for good.
    Failed(String),
}

/// Records an attempt's outcome.
pub async fn record(
    db: &DatabaseConnection,
    id: Uuid,
    attempts: i32,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let none = Option::<DateTime<Utc>>::None;
    let q = notification_delivery::Entity::update_many().col_expr(
        notification_delivery::Column::Attempts,
        Expr::value(attempts),
    );
    let q = match outcome {
        Outcome::Sent => q
            .col_expr(
                notification_delivery::Column::Status,
                Expr::value(DeliveryStatus::Sent),
            )
            .col_expr(notification_delivery::Column::SentAt, Expr::value(now))
            .col_expr(
                notification_delivery::Column::NextAttemptAt,
                Expr::value(none),
            ),
        Outcome::Retry(next, error) => q
            .col_expr(
                notification_delivery::Column::NextAttemptAt,
                Expr::value(next),
            )
            .col_expr(notification_delivery::Column::LastError, Expr::value(error)),
        Outcome::Failed(error) => q
            .col_expr(
                notification_delivery::Column::Status,
                Expr::value(DeliveryStatus::Failed),
            )
            .col_expr(
                notification_delivery::Column::NextAttemptAt,
                Expr::value(none),
            )
            .col_expr(notification_delivery::Column::LastError, Expr::value(error)),
    };
    q.filter(notification_delivery::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes sent and failed deliveries created before `cutoff`, in batches ([`crate::db::purge`]).
pub async fn purge(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    crate::db::purge::in_batches::<notification_delivery::Entity>(
        db,
        notification_delivery::Column::Id,
        None,
        Condition::all()
            .add(notification_delivery::Column::CreatedAt.lt(cutoff))
            .add(notification_delivery::Column::Status.ne(DeliveryStatus::Pending)),
    )
    .await
}

/// A run's deliveries, oldest first.
pub async fn for_run(db: &DatabaseConnection, run_id: Uuid) -> Result<Vec<DeliveryView>, DbErr> {
    let rows = notification_delivery::Entity::find()
        .filter(notification_delivery::Column::RunId.eq(run_id))
        .order_by_asc(notification_delivery::Column::CreatedAt)
        .all(db)
        .await?;
    views(db, rows).await
}

/// A rule's latest deliveries, newest first.
pub async fn for_rule(
    db: &DatabaseConnection,
    rule_id: Uuid,
    limit: u64,
) -> Result<Vec<DeliveryView>, DbErr> {
    let rows = notification_delivery::Entity::find()
        .filter(notification_delivery::Column::RuleId.eq(rule_id))
        .order_by_desc(notification_delivery::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?;
    views(db, rows).await
}

async fn views(
    db: &DatabaseConnection,
    rows: Vec<notification_delivery::Model>,
) -> Result<Vec<DeliveryView>, DbErr> {
    let names: std::collections::HashMap<Uuid, String> = notification_rule::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    Ok(rows
        .into_iter()
        .map(|d| DeliveryView {
            id: d.id,
            rule_id: d.rule_id,
            rule_name: names.get(&d.rule_id).cloned().unwrap_or_default(),
            event: d.event,
            run_id: d.run_id,
            schedule_id: d.schedule_id,
            slot: d.slot,
            status: d.status,
            attempts: d.attempts.max(0) as u32,
            last_error: d.last_error,
            occurred_at: d.occurred_at,
            next_attempt_at: d.next_attempt_at,
            sent_at: d.sent_at,
        })
        .collect())
}
