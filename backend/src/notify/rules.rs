//! The owner of `notification_rules`: which events go through which channel block, for which
//! deployment or schedule; checked, stored and shown.

use std::collections::BTreeSet;

use chap_scheduler_api::{NotificationEvent, NotificationRuleRequest, NotificationRuleView};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::blocks::BlockStore;
use crate::db::entities::notification_rule;
use crate::db::is_unique_violation;
use crate::db::users::now;
use crate::error::{AppError, AppResult};
use crate::orchestrator::{deployments, schedules};

/// Block types a rule can send through.
pub const CHANNEL_TYPES: [&str; 2] = ["webhook", "smtp"];

/// Every rule, by name.
pub async fn list(db: &DatabaseConnection) -> AppResult<Vec<notification_rule::Model>> {
    Ok(notification_rule::Entity::find()
        .order_by_asc(notification_rule::Column::Name)
        .all(db)
        .await?)
}

/// A rule by id.
pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> AppResult<notification_rule::Model> {
    notification_rule::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no notification rule with id {id}")))
}

/// The active rules (few: read whole and matched in code).
pub async fn active(db: &impl ConnectionTrait) -> Result<Vec<notification_rule::Model>, DbErr> {
    notification_rule::Entity::find()
        .filter(notification_rule::Column::Active.eq(true))
        .all(db)
        .await
}

/// The events a stored rule sends.
pub fn events_of(rule: &notification_rule::Model) -> Vec<NotificationEvent> {
    serde_json::from_value(rule.events.clone()).unwrap_or_default()
}

/// The recipients of a stored rule.
pub fn recipients_of(rule: &notification_rule::Model) -> Vec<String> {
    serde_json::from_value(rule.recipients.clone()).unwrap_or_default()
}

/// The name of a rule sending through the block, if any (such a block cannot be deleted).
pub async fn using_channel(db: &DatabaseConnection, block: Uuid) -> Result<Option<String>, DbErr> {
    Ok(notification_rule::Entity::find()
        .filter(notification_rule::Column::ChannelId.eq(block))
        .one(db)
        .await?
        .map(|r| r.name))
}

/// A rule request checked: the channel is a `webhook` or `smtp` block, e-mail recipients only and
/// always for `smtp`, at least one event, an existing deployment and schedule (of that deployment).
async fn check(
    db: &DatabaseConnection,
    blocks: &BlockStore,
    req: &NotificationRuleRequest,
) -> AppResult<(String, Vec<String>, Vec<NotificationEvent>)> {
    let name = crate::text::single_line("name", &req.name, 100)?;
    let channel = blocks.get(req.channel).await.map_err(|_| {
        AppError::field(
            "channel",
            format!("there is no block with id {}", req.channel),
        )
    })?;
    if !CHANNEL_TYPES.contains(&channel.block_type.as_str()) {
        return Err(AppError::field(
            "channel",
            format!(
                "the block `{}` is a {} block; a channel is a webhook or smtp block",
                channel.name, channel.block_type
            ),
        ));
    }
    let mut recipients = Vec::new();
    if channel.block_type == "smtp" {
        if req.recipients.is_empty() || req.recipients.len() > 50 {
            return Err(AppError::field(
                "recipients",
                "an smtp channel needs 1 to 50 e-mail addresses",
            ));
        }
        for (i, raw) in req.recipients.iter().enumerate() {
            let address = raw.trim();
            if address.parse::<lettre::Address>().is_err() {
                return Err(AppError::field(
                    &format!("recipients[{i}]"),
                    format!("`{address}` is not an e-mail address"),
                ));
            }
            recipients.push(address.to_string());
        }
    } else if !req.recipients.is_empty() {
        return Err(AppError::field(
            "recipients",
            "a webhook channel takes no e-mail recipients",
        ));
    }
    let events: Vec<NotificationEvent> = req
        .events
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if events.is_empty() {
        return Err(AppError::field("events", "give at least one event"));
    }
    if let Some(id) = req.deployment_id {
        deployments::get(db, id).await.map_err(|_| {
            AppError::field(
                "deployment_id",
                format!("there is no deployment with id {id}"),
            )
        })?;
    }
    if let Some(id) = req.schedule_id {
        let s = schedules::get(db, id).await.map_err(|_| {
            AppError::field("schedule_id", format!("there is no schedule with id {id}"))
        })?;
        if req.deployment_id.is_some_and(|d| d != s.deployment_id) {
            return Err(AppError::field(
                "schedule_id",
                "the schedule belongs to another deployment",
            ));
        }
    }
    Ok((name, recipients, events))
}

fn duplicate(name: &str) -> impl FnOnce(DbErr) -> AppError + '_ {
    move |e| {
        if is_unique_violation(&e) {
            AppError::Conflict(format!("a notification rule named `{name}` already exists"))
        } else {
            e.into()
        }
    }
}

/// Creates a rule.
pub async fn create(
    db: &DatabaseConnection,
    blocks: &BlockStore,
    req: NotificationRuleRequest,
) -> AppResult<notification_rule::Model> {
    let (name, recipients, events) = check(db, blocks, &req).await?;
    let at = now();
    notification_rule::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.clone()),
        channel_id: Set(req.channel),
        recipients: Set(json!(recipients)),
        events: Set(json!(events)),
        deployment_id: Set(req.deployment_id),
        schedule_id: Set(req.schedule_id),
        active: Set(req.active.unwrap_or(true)),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(db)
    .await
    .map_err(duplicate(&name))
}

/// Replaces a rule (its id and deliveries stay).
pub async fn replace(
    db: &DatabaseConnection,
    blocks: &BlockStore,
    id: Uuid,
    req: NotificationRuleRequest,
) -> AppResult<notification_rule::Model> {
    let current = get(db, id).await?;
    let (name, recipients, events) = check(db, blocks, &req).await?;
    let mut rule = current.into_active_model();
    rule.name = Set(name.clone());
    rule.channel_id = Set(req.channel);
    rule.recipients = Set(json!(recipients));
    rule.events = Set(json!(events));
    rule.deployment_id = Set(req.deployment_id);
    rule.schedule_id = Set(req.schedule_id);
    rule.active = Set(req.active.unwrap_or(true));
    rule.updated_at = Set(now());
    rule.update(db).await.map_err(duplicate(&name))
}

/// Deletes a rule with its deliveries.
pub async fn delete(db: &DatabaseConnection, id: Uuid) -> AppResult<notification_rule::Model> {
    let current = get(db, id).await?;
    notification_rule::Entity::delete_by_id(id).exec(db).await?;
    Ok(current)
}

/// The API view, with the channel's name and type.
pub async fn view(blocks: &BlockStore, rule: &notification_rule::Model) -> NotificationRuleView {
    let channel = blocks.get(rule.channel_id).await.ok();
    NotificationRuleView {
        id: rule.id,
        name: rule.name.clone(),
        channel: rule.channel_id,
        channel_name: channel.as_ref().map(|c| c.name.clone()),
        channel_type: channel.map(|c| c.block_type),
        recipients: recipients_of(rule),
        events: events_of(rule),
        deployment_id: rule.deployment_id,
        schedule_id: rule.schedule_id,
        active: rule.active,
        created_at: rule.created_at,
        updated_at: rule.updated_at,
    }
}

/// Whether a rule sends `event` about a run or slot of this deployment and schedule.
pub fn matches(
    rule: &notification_rule::Model,
    event: NotificationEvent,
    deployment: Option<Uuid>,
    schedule: Option<Uuid>,
) -> bool {
    rule.active
        && events_of(rule).contains(&event)
        && rule.deployment_id.is_none_or(|d| Some(d) == deployment)
        && rule.schedule_id.is_none_or(|s| Some(s) == schedule)
}

/// A stored rule, for the tests of the matching.
#[cfg(test)]
fn rule(
    events: &[NotificationEvent],
    deployment: Option<Uuid>,
    schedule: Option<Uuid>,
) -> notification_rule::Model {
    notification_rule::Model {
        id: Uuid::new_v4(),
        name: "r".into(),
        channel_id: Uuid::new_v4(),
        recipients: json!([]),
        events: json!(events),
        deployment_id: deployment,
        schedule_id: schedule,
        active: true,
        created_at: now(),
        updated_at: now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NotificationEvent::*;

    #[test]
    fn a_rule_matches_its_events_and_narrows_by_deployment_and_schedule() {
        let (d, s) = (Uuid::new_v4(), Uuid::new_v4());
        let any = rule(&[RunFailed], None, None);
        assert!(matches(&any, RunFailed, Some(d), None));
        assert!(!matches(&any, RunCompleted, Some(d), None));
        let of_d = rule(&[RunFailed, RunPartial], Some(d), None);
        assert!(matches(&of_d, RunPartial, Some(d), Some(s)));
        assert!(!matches(&of_d, RunPartial, Some(Uuid::new_v4()), Some(s)));
        let of_s = rule(&[RunFailed], None, Some(s));
        assert!(matches(&of_s, RunFailed, Some(d), Some(s)));
        assert!(
            !matches(&of_s, RunFailed, Some(d), None),
            "a manual run is not the schedule's"
        );
        let mut off = rule(&[RunFailed], None, None);
        off.active = false;
        assert!(!matches(&off, RunFailed, Some(d), None));
    }
}
