//! Deadlines (`ready_by_minutes` of a schedule): a slot (of each firing setup, for a `chap` schedule)
//! without a COMPLETED run by `slot + ready_by` is late — including a slot that never got a run (the
//! scheduler was down, the deployment paused). Each late slot is recorded once in `late_slots` (this
//! module owns it; the dashboard lists them) and notifies `schedule.late` in the same transaction.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::time::Duration;

use chap_scheduler_api::{LateSlotView, NotificationEvent, RunState, ScheduleSource};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::deliveries::{self, Subject};
use crate::db::entities::{late_slot, schedule};
use crate::db::users::now;
use crate::orchestrator::timing::Timing;
use crate::orchestrator::{deployments, schedules, store};
use crate::telemetry::repeats::{Level, Repeats};

/// Most slots checked for one schedule in one pass.
const CAP: usize = 1000;

/// One slot to check: its run's idempotency key and, for a `chap` schedule, the setup.
struct Slot {
    at: DateTime<Utc>,
    key: String,
    setup: Option<(i64, String)>,
}

/// The slots of `s` in `(from, to]`.
async fn slots(
    db: &DatabaseConnection,
    s: &schedule::Model,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<Slot>> {
    let after = from + chrono::Duration::microseconds(1);
    let mut out = Vec::new();
    if s.source == ScheduleSource::Chap {
        for (setup, name, cron) in crate::chap_schedules::scheduled_setups(db, s.id).await? {
            let Ok(timing) = Timing::cron(&cron, &s.timezone) else {
                continue;
            };
            for at in timing.slots_between(after, to, CAP).into_iter().take(CAP) {
                out.push(Slot {
                    at,
                    key: crate::chap_schedules::slot_key(s.id, setup, &at),
                    setup: Some((setup, name.clone())),
                });
            }
        }
    } else if let Ok(timing) = schedules::timing_of(s) {
        for at in timing.slots_between(after, to, CAP).into_iter().take(CAP) {
            out.push(Slot {
                at,
                key: format!("schedule:{}:{}", s.id, at.to_rfc3339()),
                setup: None,
            });
        }
    }
    Ok(out)
}

/// One pass over every active schedule with a deadline; how many late slots were found.
pub async fn check(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let now = now();
    let mut late = 0;
    for s in schedules::with_deadline(db).await? {
        let Some(ready_by) = s.ready_by_seconds else {
            continue;
        };
        let ready_by = chrono::Duration::seconds(i64::from(ready_by.max(1)));
        let to = now - ready_by;
        let from = s.late_checked_until.unwrap_or(to);
        if to <= from || !schedules::claim_late_check(db, &s, to).await? {
            continue;
        }
        for slot in slots(db, &s, from, to).await? {
            let deadline = slot.at + ready_by;
            let in_time = store::by_idempotency_key(db, &slot.key)
                .await?
                .is_some_and(|run| {
                    run.state == RunState::Completed && run.ended_at.is_some_and(|e| e <= deadline)
                });
            if !in_time && record(db, &s, &slot, deadline, ready_by).await? {
                late += 1;
            }
        }
    }
    Ok(late)
}

/// Records a late slot and its `schedule.late` deliveries in one transaction; false if it was
/// already recorded.
async fn record(
    db: &DatabaseConnection,
    s: &schedule::Model,
    slot: &Slot,
    deadline: DateTime<Utc>,
    ready_by: chrono::Duration,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let part = slot.setup.as_ref().map(|(id, _)| format!("setup:{id}"));
    let slot_key = format!(
        "{}:{}:{}",
        s.id,
        part.as_deref().unwrap_or("-"),
        slot.at.to_rfc3339()
    );
    let at = now();
    let inserted = late_slot::Entity::insert(late_slot::ActiveModel {
        id: Set(Uuid::now_v7()),
        slot_key: Set(slot_key),
        schedule_id: Set(s.id),
        setup_id: Set(slot.setup.as_ref().map(|(id, _)| *id)),
        setup_name: Set(slot.setup.as_ref().map(|(_, name)| name.clone())),
        slot: Set(slot.at),
        deadline: Set(deadline),
        detected_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(late_slot::Column::SlotKey)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if inserted == 1 {
        let subject = Subject {
            run_id: None,
            deployment_id: Some(s.deployment_id),
            schedule_id: Some(s.id),
            slot: Some(slot.at),
            part,
        };
        let detail = json!({
            "setup_id": slot.setup.as_ref().map(|(id, _)| id),
            "setup_name": slot.setup.as_ref().map(|(_, name)| name),
            "deadline": deadline,
            "ready_by_minutes": ready_by.num_milliseconds() as f64 / 60_000.0,
        });
        deliveries::enqueue(
            &txn,
            NotificationEvent::ScheduleLate,
            &subject,
            Some(detail),
            at,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(inserted == 1)
}

/// Deletes late slots found before `cutoff`, in batches ([`crate::db::purge`]).
pub async fn purge(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    crate::db::purge::in_batches::<late_slot::Entity>(
        db,
        late_slot::Column::Id,
        Some(late_slot::Column::DetectedAt),
        Condition::all().add(late_slot::Column::DetectedAt.lt(cutoff)),
    )
    .await
}

/// Late slots found since `since`, the latest first (at most 200).
pub async fn late_since(
    db: &DatabaseConnection,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<LateSlotView>> {
    let rows = late_slot::Entity::find()
        .filter(late_slot::Column::DetectedAt.gte(since))
        .order_by_desc(late_slot::Column::Slot)
        .limit(200)
        .all(db)
        .await?;
    // Each schedule and deployment read once, however many of its slots are listed.
    let mut owners: HashMap<Uuid, (Option<Uuid>, Option<String>)> = HashMap::new();
    let mut views = Vec::with_capacity(rows.len());
    for r in rows {
        if let Entry::Vacant(owner) = owners.entry(r.schedule_id) {
            let s = schedules::get(db, r.schedule_id).await.ok();
            let dep = match &s {
                Some(s) => deployments::get(db, s.deployment_id).await.ok(),
                None => None,
            };
            owner.insert((s.map(|s| s.deployment_id), dep.map(|d| d.name)));
        }
        let (deployment_id, deployment_name) = owners[&r.schedule_id].clone();
        views.push(LateSlotView {
            schedule_id: r.schedule_id,
            deployment_id,
            deployment_name,
            setup_id: r.setup_id,
            setup_name: r.setup_name,
            slot: r.slot,
            deadline: r.deadline,
            detected_at: r.detected_at,
        });
    }
    Ok(views)
}

/// The deadline loop of `serve`: a pass every second. Runs forever.
pub async fn run(db: DatabaseConnection) {
    let mut failures = Repeats::new("checking schedule deadlines failed", Level::Error);
    loop {
        failures.record(&check(&db).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
