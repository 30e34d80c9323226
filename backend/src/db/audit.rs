//! The audit log: append and list newest first with keyset pagination.

use base64::Engine;
use chap_scheduler_api::{AuditEventView, Page};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::audit_event;
use super::users::now;

/// Who did something.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The user's id, when authenticated.
    pub id: Option<Uuid>,
    /// The username (or the attempted one).
    pub name: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

/// Appends an event.
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: &str,
    target: Option<String>,
    detail: Value,
) -> Result<(), sea_orm::DbErr> {
    // Not read back.
    db.execute(&insert(actor, action, target, detail))
        .await
        .map(|_| ())
}

/// The statement that records an event (see [`record`]), for a caller that writes it together with
/// other rows in one statement (`db::insert_together`).
pub fn insert(
    actor: &Actor,
    action: &str,
    target: Option<String>,
    detail: Value,
) -> InsertStatement {
    audit_event::Entity::insert(audit_event::ActiveModel {
        id: Set(Uuid::new_v4()),
        at: Set(now()),
        actor_id: Set(actor.id),
        actor: Set(actor.name.as_ref().map(|n| n.chars().take(64).collect())),
        action: Set(action.into()),
        target: Set(target),
        ip: Set(actor.ip.clone()),
        detail: Set(detail),
    })
    .into_query()
}

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor (username).
    pub actor: Option<String>,
    /// Not before.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// A position in the newest-first order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    at: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    /// A cursor at a row.
    pub fn new(at: DateTime<Utc>, id: Uuid) -> Self {
        Cursor { at, id }
    }

    /// The row's time.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The row's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Opaque text form.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.at.timestamp_micros(),
            self.id
        ))
    }

    /// Parses the text form; `None` when it was not produced by [`Cursor::encode`].
    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('|')?;
        Some(Cursor {
            at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// One page, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &Filter,
    limit: u64,
    cursor: Option<Cursor>,
) -> Result<Page<AuditEventView>, sea_orm::DbErr> {
    let mut q = audit_event::Entity::find();
    if let Some(a) = &filter.action {
        q = q.filter(audit_event::Column::Action.eq(a.as_str()));
    }
    if let Some(a) = &filter.actor {
        q = q.filter(audit_event::Column::Actor.eq(a.to_lowercase()));
    }
    if let Some(s) = filter.since {
        q = q.filter(audit_event::Column::At.gte(s));
    }
    if let Some(u) = filter.until {
        q = q.filter(audit_event::Column::At.lt(u));
    }
    if let Some(c) = cursor {
        q = q.filter(
            Condition::any().add(audit_event::Column::At.lt(c.at)).add(
                Condition::all()
                    .add(audit_event::Column::At.eq(c.at))
                    .add(audit_event::Column::Id.lt(c.id)),
            ),
        );
    }
    let mut rows = q
        .order_by_desc(audit_event::Column::At)
        .order_by_desc(audit_event::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| Cursor { at: r.at, id: r.id }.encode())
    } else {
        None
    };
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| AuditEventView {
                id: r.id,
                at: r.at,
                actor_id: r.actor_id,
                actor: r.actor,
                action: r.action,
                target: r.target,
                ip: r.ip,
                detail: r.detail,
            })
            .collect(),
        next_cursor,
    })
}
