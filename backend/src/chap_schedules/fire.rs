//! Firing due setup slots: one run per (schedule, setup, slot), restricted to that setup, under the
//! schedule's missed-run policy; the idempotency key `schedule:<id>:setup:<setup id>:<slot>` makes it
//! safe for several scheduler instances and restarts.

use chap_scheduler_api::ScheduleSource;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::store::{self, Fired};
use crate::db::entities::chap_setup;
use crate::db::users::now;
use crate::orchestrator::engine::merge_parameters;
use crate::orchestrator::schedules::{create_slot_runs, due_slots, plan_for};
use crate::orchestrator::timing::Timing;
use crate::orchestrator::{deployments, schedules, Engine};

/// The idempotency key of a setup's slot.
pub fn slot_key(schedule_id: uuid::Uuid, setup_id: i64, slot: &DateTime<Utc>) -> String {
    format!(
        "schedule:{schedule_id}:setup:{setup_id}:{}",
        slot.to_rfc3339()
    )
}

/// One pass: every setup whose next slot has come gets its runs; how many runs were created.
pub async fn tick(engine: &Engine) -> anyhow::Result<usize> {
    let now = now();
    let mut created = 0;
    for row in store::due(engine.db(), now).await? {
        match fire_setup(engine, &row, now).await {
            Ok(n) => created += n,
            Err(e) => {
                tracing::error!(schedule = %row.schedule_id, setup = row.setup_id, error = %e,
                    "firing a prediction setup's slot failed")
            }
        }
    }
    Ok(created)
}

async fn fire_setup(
    engine: &Engine,
    row: &chap_setup::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let db = engine.db();
    let Some(from) = row.next_fire_at else {
        return Ok(0);
    };
    let s = match schedules::get(db, row.schedule_id).await {
        Ok(s) if s.active && s.source == ScheduleSource::Chap => s,
        _ => {
            store::stop(db, row).await?;
            return Ok(0);
        }
    };
    let Some(Ok(timing)) = row
        .effective_cron
        .as_deref()
        .map(|cron| Timing::cron(cron, &s.timezone))
    else {
        store::stop(db, row).await?;
        return Ok(0);
    };
    let (slots, uncounted) = due_slots(&timing, from, now);
    let dep = deployments::get(db, s.deployment_id).await.ok();
    let (to_run, skipped) = plan_for(dep.as_ref(), &s, &slots, now);
    let parameters = merge_parameters(
        &s.parameters,
        Some(&json!({ "prediction_setup_id": null, "prediction_setup_ids": [row.setup_id] })),
    );
    // A synchronisation may have changed the setup since `due` read it (disabled in chap: no next
    // slot). Read again just before creating runs, so that a slot is fired only while the setup
    // still has it (the rest of the tick can take a while on a busy machine).
    let still_due = store::row(db, row.schedule_id, row.setup_id)
        .await?
        .is_some_and(|fresh| {
            fresh.next_fire_at == Some(from) && fresh.effective_cron == row.effective_cron
        });
    if !still_due {
        return Ok(0);
    }
    let (created, last_run) = match &dep {
        Some(dep) => {
            create_slot_runs(engine, dep, &s, &parameters, &to_run, |slot| {
                slot_key(s.id, row.setup_id, slot)
            })
            .await
        }
        None => (0, None),
    };
    let last = slots.last().copied();
    let fired = Fired {
        next: timing.next_after(last.unwrap_or(now).max(now)),
        last,
        skipped: skipped + uncounted,
        last_run,
    };
    store::advance(db, row, from, fired).await?;
    Ok(created)
}
