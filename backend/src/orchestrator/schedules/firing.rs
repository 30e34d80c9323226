//! Firing: the scheduler loop turns due slots into runs, exactly one per (schedule, slot) whatever
//! the number of scheduler instances (the run's unique idempotency key `schedule:<id>:<slot>`), and
//! the helpers [`crate::chap_schedules`] fires its setups' slots with.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use super::timing_of;
use crate::db::entities::{deployment, schedule};
use crate::db::users::now;
use crate::orchestrator::engine::{Engine, Trigger};
use crate::orchestrator::timing::{plan, Timing};
use crate::telemetry::repeats::{Level, Repeats};

/// Most slots examined for one schedule in one tick.
const SLOT_SCAN_CAP: usize = 10_000;

/// One scheduler pass: every active schedule whose next fire time has come gets its runs. Safe to
/// run in several processes at once.
pub async fn tick(engine: &Engine) -> anyhow::Result<usize> {
    let db = engine.db();
    let now = now();
    let due = schedule::Entity::find()
        .filter(schedule::Column::Active.eq(true))
        .filter(schedule::Column::NextFireAt.lte(now))
        .order_by_asc(schedule::Column::NextFireAt)
        .limit(100)
        .all(db)
        .await?;
    let mut created = 0;
    for s in due {
        match fire(engine, &s, now).await {
            Ok(n) => created += n,
            Err(e) => tracing::error!(schedule = %s.id, error = %e, "firing a schedule failed"),
        }
    }
    Ok(created)
}

async fn fire(engine: &Engine, s: &schedule::Model, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let db = engine.db();
    let Some(from) = s.next_fire_at else {
        return Ok(0);
    };
    let timing = match timing_of(s) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(schedule = %s.id, error = %e, "deactivating a schedule that cannot be evaluated");
            schedule::Entity::update_many()
                .col_expr(schedule::Column::Active, Expr::value(false))
                .filter(schedule::Column::Id.eq(s.id))
                .exec(db)
                .await?;
            return Ok(0);
        }
    };
    let (slots, uncounted) = due_slots(&timing, from, now);
    let dep = deployment::Entity::find_by_id(s.deployment_id)
        .one(db)
        .await?;
    let (to_run, skipped) = plan_for(dep.as_ref(), s, &slots, now);
    let mut created = 0;
    if let Some(dep) = &dep {
        created = create_slot_runs(engine, dep, s, &s.parameters, &to_run, |slot| {
            format!("schedule:{}:{}", s.id, slot.to_rfc3339())
        })
        .await
        .0;
    }
    let last = slots.last().copied();
    let next = timing.next_after(last.unwrap_or(now).max(now));
    // Compare-and-set on the old next fire time: of two schedulers, one advances the schedule.
    let mut update = schedule::Entity::update_many()
        .col_expr(schedule::Column::NextFireAt, Expr::value(next))
        .col_expr(
            schedule::Column::SkippedCount,
            sea_orm::sea_query::ExprTrait::add(
                Expr::col(schedule::Column::SkippedCount),
                (skipped + uncounted) as i64,
            ),
        );
    if let Some(last) = last {
        update = update.col_expr(schedule::Column::LastFireAt, Expr::value(last));
    }
    update
        .filter(schedule::Column::Id.eq(s.id))
        .filter(schedule::Column::NextFireAt.eq(from))
        .exec(db)
        .await?;
    if skipped + uncounted > 0 {
        tracing::info!(schedule = %s.id, skipped = skipped + uncounted, "missed slots skipped");
    }
    Ok(created)
}

/// The slots of `timing` from `from` up to `now`, and how many more were not even listed (a very long
/// downtime keeps the most recent hour exactly; the rest only counts as skipped).
pub fn due_slots(
    timing: &Timing,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Vec<DateTime<Utc>>, u64) {
    let slots = timing.slots_between(from, now, SLOT_SCAN_CAP);
    if slots.len() > SLOT_SCAN_CAP {
        let recent = timing.slots_between(now - chrono::Duration::hours(1), now, SLOT_SCAN_CAP);
        (recent, SLOT_SCAN_CAP as u64)
    } else {
        (slots, 0)
    }
}

/// Which due slots get a run under the schedule's missed-run policy, and how many are skipped (all
/// of them while the deployment is paused or gone).
pub fn plan_for(
    dep: Option<&deployment::Model>,
    s: &schedule::Model,
    slots: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> (Vec<DateTime<Utc>>, u64) {
    match dep {
        Some(d) if !d.paused => plan(slots, now, s.missed_policy, s.max_missed.max(1) as usize),
        _ => (Vec::new(), slots.len() as u64),
    }
}

/// Creates the runs of a schedule's slots (one per idempotency key, whoever asks first): how many
/// were new, and the run of the last slot.
pub async fn create_slot_runs(
    engine: &Engine,
    dep: &deployment::Model,
    s: &schedule::Model,
    parameters: &Value,
    slots: &[DateTime<Utc>],
    key: impl Fn(&DateTime<Utc>) -> String,
) -> (usize, Option<Uuid>) {
    let mut created = 0;
    let mut last_run = None;
    for slot in slots {
        let result = engine
            .trigger(
                dep,
                Some(parameters),
                Trigger::Schedule {
                    id: s.id,
                    slot: *slot,
                },
                Some(key(slot)),
                Some(*slot),
                None,
            )
            .await;
        match result {
            Ok((run, new)) => {
                created += usize::from(new);
                last_run = Some(run.id);
            }
            Err(e) => {
                tracing::error!(schedule = %s.id, %slot, error = %e, "a scheduled run could not be created")
            }
        }
    }
    (created, last_run)
}

/// The scheduler loop: a tick about five times a second. Runs forever.
pub async fn run_scheduler(engine: Engine) {
    let mut failures = Repeats::new("scheduler tick failed", Level::Error);
    loop {
        failures.record(&tick(&engine).await);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
