//! Reading chap's prediction setups into a `chap` schedule: every `CHAP_SCHEDULER_CHAP_SYNC_SECONDS`,
//! on demand, and after an edit. A failure keeps the last known setups and is recorded with its time.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use chap_scheduler_api::{ChapSetupsView, SetupScheduleStatus};
use uuid::Uuid;

use super::cron::chap_timing;
use super::store::{self, Planned};
use super::ChapSchedules;
use crate::db::entities::{chap_setup, schedule};
use crate::db::users::now;
use crate::error::{AppError, AppResult};
use crate::flows::dhis2_chap_prediction::model::SetupListing;

/// One setup's status and timing under the schedule's timezone and fallback cron.
fn plan(
    s: &schedule::Model,
    seconds_allowed: bool,
    (setup_id, name, enabled, cron): (i64, String, bool, Option<String>),
) -> Planned {
    let cron = cron.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    let mut planned = Planned {
        setup_id,
        name,
        enabled,
        cron: cron.clone(),
        effective_cron: None,
        status: SetupScheduleStatus::Disabled,
        problem: None,
        timing: None,
    };
    if !enabled {
        return planned;
    }
    let Some(effective) = cron.or_else(|| s.fallback_cron.clone()) else {
        planned.status = SetupScheduleStatus::NoCron;
        return planned;
    };
    match chap_timing(&effective, &s.timezone, seconds_allowed) {
        Ok(timing) => {
            planned.status = SetupScheduleStatus::Scheduled;
            planned.effective_cron = Some(effective);
            planned.timing = s.active.then_some(timing);
        }
        Err(problem) => {
            planned.status = SetupScheduleStatus::InvalidCron;
            planned.problem = Some(problem);
        }
    }
    planned
}

fn plan_listing(s: &schedule::Model, seconds: bool, listing: Vec<SetupListing>) -> Vec<Planned> {
    listing
        .into_iter()
        .filter_map(|item| match item {
            Ok(setup) => Some(plan(
                s,
                seconds,
                (
                    setup.id,
                    setup.name,
                    setup.schedule_enabled,
                    setup.schedule_cron_expression,
                ),
            )),
            Err(invalid) => {
                tracing::warn!(schedule = %s.id, setup = ?invalid.id, reason = %invalid.reason,
                    "a prediction setup chap listed cannot be read; it is not scheduled");
                None
            }
        })
        .collect()
}

/// The lock serialising one schedule's synchronisations in this process.
fn sync_lock(id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    // Forget the locks nobody holds or waits for, so the map stays as small as the schedules.
    locks.retain(|_, l| Arc::strong_count(l) > 1);
    locks.entry(id).or_default().clone()
}

/// Reads chap and replaces the schedule's setups, or records why it could not.
pub async fn sync_schedule(app: &ChapSchedules, s: &schedule::Model) -> Result<(), String> {
    // One synchronisation of a schedule at a time in this process: the last to finish is the last
    // to have read chap.
    let lock = sync_lock(s.id);
    let _held = lock.lock().await;
    let db = app.engine.db();
    let interval = app.settings.sync_interval;
    let result = match super::client::open(app, s).await {
        Ok(chap) => chap
            .chap
            .prediction_setups()
            .await
            .map_err(|e| chap.error_text(&e)),
        Err(e) => Err(e),
    };
    let now = now();
    let outcome = match result {
        Ok(listing) => {
            let planned = plan_listing(s, app.settings.cron_seconds, listing);
            store::replace(db, s.id, now, planned, false, Some(interval))
                .await
                .map_err(|e| format!("storing the setups failed: {e}"))
        }
        Err(e) => Err(e),
    };
    if let Err(error) = &outcome {
        tracing::warn!(schedule = %s.id, %error, "synchronising with chap failed; the last known setups stay");
        if let Err(e) = store::record_failure(db, s.id, now, error.clone(), interval).await {
            tracing::error!(schedule = %s.id, error = %e, "recording a failed synchronisation failed");
        }
    }
    outcome
}

/// A `chap` schedule by id (404 when there is none, 409 when it follows its own timing).
pub async fn chap_schedule(app: &ChapSchedules, id: Uuid) -> AppResult<schedule::Model> {
    let s = crate::orchestrator::schedules::get(app.engine.db(), id).await?;
    if s.source != chap_scheduler_api::ScheduleSource::Chap {
        return Err(AppError::Conflict(format!(
            "the schedule {id} has its own timing (source `own`); only a schedule with source \
             `chap` follows prediction setups"
        )));
    }
    Ok(s)
}

/// `POST /schedules/{id}/sync`: synchronises now; the answer shows the setups and, when it failed,
/// the error (the last known setups stay).
pub async fn sync_now(app: &ChapSchedules, id: Uuid) -> AppResult<ChapSetupsView> {
    let s = chap_schedule(app, id).await?;
    // Moves the next periodic synchronisation forward, so that the loop does not read chap again now.
    store::postpone_sync(app.engine.db(), s.id, now(), app.settings.sync_interval).await?;
    let _ = sync_schedule(app, &s).await;
    Ok(store::setups_view(app.engine.db(), &s).await?)
}

/// Plans a schedule's known setups again after the schedule changed (timezone, fallback cron,
/// active): no call to chap; every firing setup continues with its next slot after now.
pub async fn replan(app: &ChapSchedules, s: &schedule::Model) -> AppResult<()> {
    let db = app.engine.db();
    let seconds = app.settings.cron_seconds;
    let planned = store::rows(db, s.id)
        .await?
        .into_iter()
        .map(|r: chap_setup::Model| plan(s, seconds, (r.setup_id, r.name, r.enabled, r.cron)))
        .collect();
    store::replace(db, s.id, now(), planned, true, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chap_scheduler_api::{MissedPolicy, ScheduleSource};
    use serde_json::json;

    fn schedule(fallback: Option<&str>, active: bool) -> schedule::Model {
        let t = now();
        schedule::Model {
            id: Uuid::new_v4(),
            deployment_id: Uuid::new_v4(),
            source: ScheduleSource::Chap,
            fallback_cron: fallback.map(str::to_string),
            cron: None,
            interval_seconds: None,
            anchor_at: t,
            timezone: "Africa/Nairobi".into(),
            parameters: json!({}),
            active,
            missed_policy: MissedPolicy::Skip,
            max_missed: 100,
            next_fire_at: None,
            last_fire_at: None,
            skipped_count: 0,
            ready_by_seconds: None,
            pause_after_failures: None,
            consecutive_failures: 0,
            paused_reason: None,
            late_checked_until: None,
            created_at: t,
            updated_at: t,
        }
    }

    fn one(s: &schedule::Model, enabled: bool, cron: Option<&str>) -> Planned {
        plan(
            s,
            false,
            (7, "alpha".into(), enabled, cron.map(str::to_string)),
        )
    }

    #[test]
    fn each_setup_gets_a_status_and_only_scheduled_ones_fire() {
        let s = schedule(None, true);
        let p = one(&s, true, Some(" 0 6 * * 1 "));
        assert_eq!(p.status, SetupScheduleStatus::Scheduled);
        assert_eq!(p.effective_cron.as_deref(), Some("0 6 * * 1"));
        let next = p.timing.unwrap().next_after(now()).unwrap();
        // 06:00 in Nairobi (UTC+3) is 03:00 UTC.
        assert_eq!(next.format("%H:%M").to_string(), "03:00");
        let p = one(&s, false, Some("0 6 * * 1"));
        assert_eq!(p.status, SetupScheduleStatus::Disabled);
        assert!(p.timing.is_none());
        let p = one(&s, true, None);
        assert_eq!(p.status, SetupScheduleStatus::NoCron);
        let p = one(&s, true, Some("0 6 * *"));
        assert_eq!(p.status, SetupScheduleStatus::InvalidCron);
        assert!(p.problem.unwrap().contains("exactly 5 fields"));
    }

    #[test]
    fn a_setup_without_a_cron_follows_the_fallback_and_an_inactive_schedule_fires_none() {
        let s = schedule(Some("30 2 * * *"), true);
        let p = one(&s, true, Some(""));
        assert_eq!(p.status, SetupScheduleStatus::Scheduled);
        assert_eq!(p.effective_cron.as_deref(), Some("30 2 * * *"));
        let inactive = schedule(Some("30 2 * * *"), false);
        let p = one(&inactive, true, Some("0 6 * * 1"));
        assert_eq!(p.status, SetupScheduleStatus::Scheduled);
        assert!(p.timing.is_none());
    }
}
