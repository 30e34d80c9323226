//! Schedules: validation, CRUD, and the scheduler tick that turns due slots into runs — exactly one run
//! per (schedule, slot), whatever the number of scheduler instances, thanks to the run's unique
//! idempotency key `schedule:<id>:<slot>`. A `chap` schedule has no timing of its own (its
//! `next_fire_at` stays empty): [`crate::chap_schedules`] fires its setups' slots with the helpers here.

use chap_scheduler_api::{ScheduleRequest, ScheduleSource, ScheduleView};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::deployments::field_errors;
use super::engine::{merge_parameters, Engine};
use super::timing::Timing;
use crate::db::entities::{deployment, schedule};
use crate::db::users::now;
use crate::error::{AppError, AppResult};

mod firing;
mod health;

pub use firing::{create_slot_runs, due_slots, plan_for, run_scheduler, tick};
pub use health::{check_health_fields, record_outcome, Paused};

/// Every database keeps microseconds: so does the grid of an interval schedule.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::DurationRound;
    t.duration_trunc(chrono::Duration::microseconds(1))
        .unwrap_or(t)
}

/// The fire-time calculator of a stored schedule.
pub fn timing_of(s: &schedule::Model) -> Result<Timing, String> {
    match (&s.cron, s.interval_seconds) {
        (Some(cron), _) => Timing::cron(cron, &s.timezone),
        (None, Some(secs)) => Timing::interval(secs.max(0) as u64, s.anchor_at, &s.timezone),
        (None, None) => Err("the schedule has neither a cron expression nor an interval".into()),
    }
}

/// The API view.
pub fn view(s: &schedule::Model) -> ScheduleView {
    ScheduleView {
        id: s.id,
        deployment_id: s.deployment_id,
        source: s.source,
        fallback_cron: s.fallback_cron.clone(),
        chap_sync: None,
        setup_slots: Vec::new(),
        cron: s.cron.clone(),
        interval_seconds: s.interval_seconds.map(|i| i.max(0) as u64),
        anchor_at: s.anchor_at,
        timezone: s.timezone.clone(),
        parameters: s.parameters.clone(),
        active: s.active,
        missed_policy: s.missed_policy,
        max_missed: s.max_missed.max(0) as u32,
        next_fire_at: s.next_fire_at,
        last_fire_at: s.last_fire_at,
        skipped_count: s.skipped_count.max(0) as u64,
        ready_by_minutes: s.ready_by_seconds.map(|secs| f64::from(secs) / 60.0),
        pause_after_failures: s.pause_after_failures.map(|n| n.max(0) as u32),
        consecutive_failures: s.consecutive_failures.max(0) as u32,
        paused_reason: s.paused_reason.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

/// Builds the timing of a request, with field errors.
pub fn timing_from(
    cron: Option<&str>,
    interval: Option<u64>,
    anchor: DateTime<Utc>,
    timezone: &str,
) -> AppResult<Timing> {
    super::timing::parse_timezone(timezone).map_err(|m| AppError::field("timezone", m))?;
    match (cron, interval) {
        (Some(_), Some(_)) => Err(AppError::field(
            "cron",
            "give either cron or interval_seconds, not both",
        )),
        (None, None) => Err(AppError::field(
            "cron",
            "give a cron expression or interval_seconds",
        )),
        (Some(c), None) => Timing::cron(c, timezone).map_err(|m| AppError::field("cron", m)),
        (None, Some(i)) => Timing::interval(i, anchor, timezone)
            .map_err(|m| AppError::field("interval_seconds", m)),
    }
}

fn check_parameters(engine: &Engine, dep: &deployment::Model, pinned: &Value) -> AppResult<()> {
    if !pinned.is_object() {
        return Err(AppError::field("parameters", "must be a JSON object"));
    }
    let Some(flow) = engine.registry().get(&dep.flow_name) else {
        return Ok(());
    };
    let merged = merge_parameters(&dep.parameters, Some(pinned));
    let errors = flow.validate(&merged);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(field_errors("parameters", errors))
    }
}

/// A `chap` schedule follows its setups' crons: it has none of its own.
fn no_own_timing(cron: Option<&str>, interval: Option<u64>) -> AppResult<()> {
    let field = match (cron, interval) {
        (Some(_), _) => "cron",
        (None, Some(_)) => "interval_seconds",
        (None, None) => return Ok(()),
    };
    Err(AppError::field(
        field,
        "a schedule with source `chap` fires at each prediction setup's own cron: give neither \
         cron nor interval_seconds (fallback_cron covers setups without a cron)",
    ))
}

/// A stored fallback cron: trimmed, an empty one is none.
fn fallback(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Creates a schedule for a deployment.
pub async fn create(
    engine: &Engine,
    dep: &deployment::Model,
    req: ScheduleRequest,
) -> AppResult<schedule::Model> {
    Ok(new_row(engine, dep, req)?.insert(engine.db()).await?)
}

/// Checks a new schedule exactly as [`create`] does, without storing it (`import-prefect` plans with
/// it; `dep` may carry the defaults the deployment is about to get).
pub fn check_new(engine: &Engine, dep: &deployment::Model, req: &ScheduleRequest) -> AppResult<()> {
    new_row(engine, dep, req.clone()).map(|_| ())
}

/// The validated row of a new schedule.
fn new_row(
    engine: &Engine,
    dep: &deployment::Model,
    req: ScheduleRequest,
) -> AppResult<schedule::ActiveModel> {
    let now = now();
    let anchor = req.anchor_at.map(micros).unwrap_or(now);
    let timezone = req.timezone.clone().unwrap_or_else(|| "UTC".into());
    let source = req.source.unwrap_or_default();
    let timing = match source {
        ScheduleSource::Own => {
            if req.fallback_cron.is_some() {
                return Err(AppError::field(
                    "fallback_cron",
                    "only a schedule with source `chap` has a fallback cron",
                ));
            }
            Some(timing_from(
                req.cron.as_deref(),
                req.interval_seconds,
                anchor,
                &timezone,
            )?)
        }
        ScheduleSource::Chap => {
            no_own_timing(req.cron.as_deref(), req.interval_seconds)?;
            super::timing::parse_timezone(&timezone).map_err(|m| AppError::field("timezone", m))?;
            None
        }
    };
    let parameters = req
        .parameters
        .clone()
        .unwrap_or_else(|| Value::Object(Default::default()));
    check_parameters(engine, dep, &parameters)?;
    let max_missed = req.max_missed.unwrap_or(100);
    if !(1..=1000).contains(&max_missed) {
        return Err(AppError::field("max_missed", "must be between 1 and 1000"));
    }
    let active = req.active.unwrap_or(true);
    let (ready_by, pause_after) = check_health_fields(&req)?;
    Ok(schedule::ActiveModel {
        id: Set(Uuid::new_v4()),
        deployment_id: Set(dep.id),
        source: Set(source),
        fallback_cron: Set(fallback(req.fallback_cron.as_deref())),
        cron: Set(req.cron.map(|c| c.trim().to_string())),
        interval_seconds: Set(req.interval_seconds.map(|i| i as i64)),
        anchor_at: Set(anchor),
        timezone: Set(timezone.trim().to_string()),
        parameters: Set(parameters),
        active: Set(active),
        missed_policy: Set(req.missed_policy.unwrap_or_default()),
        max_missed: Set(max_missed as i32),
        next_fire_at: Set(timing.filter(|_| active).and_then(|t| t.next_after(now))),
        last_fire_at: Set(None),
        skipped_count: Set(0),
        ready_by_seconds: Set(ready_by.flatten()),
        pause_after_failures: Set(pause_after.flatten()),
        consecutive_failures: Set(0),
        paused_reason: Set(None),
        late_checked_until: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    })
}

/// A schedule by id.
pub async fn get(db: &DatabaseConnection, id: Uuid) -> AppResult<schedule::Model> {
    schedule::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no schedule with id {id}")))
}

/// A deployment's schedules.
pub async fn list(db: &DatabaseConnection, deployment_id: Uuid) -> AppResult<Vec<schedule::Model>> {
    Ok(schedule::Entity::find()
        .filter(schedule::Column::DeploymentId.eq(deployment_id))
        .order_by_asc(schedule::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Every schedule, those that will fire soonest first (inactive ones, which never fire, last).
pub async fn list_all(db: &DatabaseConnection) -> AppResult<Vec<schedule::Model>> {
    let mut all = schedule::Entity::find()
        .order_by_asc(schedule::Column::CreatedAt)
        .all(db)
        .await?;
    // Sorted here: SQL puts NULLs first or last depending on the database.
    all.sort_by_key(|s| (s.next_fire_at.is_none(), s.next_fire_at));
    Ok(all)
}

/// Edits a schedule in place (its id never changes); the next fire time is recomputed from now.
pub async fn update(engine: &Engine, id: Uuid, req: ScheduleRequest) -> AppResult<schedule::Model> {
    let db = engine.db();
    let current = get(db, id).await?;
    let dep = super::deployments::get(db, current.deployment_id).await?;
    if req.source.is_some_and(|s| s != current.source) {
        return Err(AppError::field(
            "source",
            "the source of a schedule cannot be changed: create a new schedule",
        ));
    }
    if current.source == ScheduleSource::Chap {
        return update_chap(engine, current, &dep, req).await;
    }
    if req.fallback_cron.is_some() {
        return Err(AppError::field(
            "fallback_cron",
            "only a schedule with source `chap` has a fallback cron",
        ));
    }
    let (cron, interval) = match (&req.cron, req.interval_seconds) {
        (Some(c), None) => (Some(c.clone()), None),
        (None, Some(i)) => (None, Some(i)),
        (Some(c), Some(i)) => (Some(c.clone()), Some(i)),
        (None, None) => (
            current.cron.clone(),
            current.interval_seconds.map(|i| i.max(0) as u64),
        ),
    };
    let anchor = req.anchor_at.map(micros).unwrap_or(current.anchor_at);
    let timezone = req
        .timezone
        .clone()
        .unwrap_or_else(|| current.timezone.clone());
    let timing = timing_from(cron.as_deref(), interval, anchor, &timezone)?;
    let parameters = req
        .parameters
        .clone()
        .unwrap_or_else(|| current.parameters.clone());
    check_parameters(engine, &dep, &parameters)?;
    let max_missed = req.max_missed.unwrap_or(current.max_missed.max(1) as u32);
    if !(1..=1000).contains(&max_missed) {
        return Err(AppError::field("max_missed", "must be between 1 and 1000"));
    }
    let active = req.active.unwrap_or(current.active);
    let mut s = current.clone().into_active_model();
    health::apply(&mut s, &current, &req)?;
    s.cron = Set(cron.map(|c| c.trim().to_string()));
    s.interval_seconds = Set(interval.map(|i| i as i64));
    s.anchor_at = Set(anchor);
    s.timezone = Set(timezone.trim().to_string());
    s.parameters = Set(parameters);
    s.active = Set(active);
    if let Some(p) = req.missed_policy {
        s.missed_policy = Set(p);
    }
    s.max_missed = Set(max_missed as i32);
    // Resuming or editing never back-fills: the schedule continues with its next future slot.
    s.next_fire_at = Set(if active {
        timing.next_after(now())
    } else {
        None
    });
    s.updated_at = Set(now());
    Ok(s.update(db).await?)
}

/// Edits a `chap` schedule: its parameters, timezone, fallback cron and missed-run settings (its
/// setups' slots are planned again by [`crate::chap_schedules::replan`]).
async fn update_chap(
    engine: &Engine,
    current: schedule::Model,
    dep: &deployment::Model,
    req: ScheduleRequest,
) -> AppResult<schedule::Model> {
    no_own_timing(req.cron.as_deref(), req.interval_seconds)?;
    let mut s = current.clone().into_active_model();
    health::apply(&mut s, &current, &req)?;
    if let Some(tz) = &req.timezone {
        super::timing::parse_timezone(tz).map_err(|m| AppError::field("timezone", m))?;
        s.timezone = Set(tz.trim().to_string());
    }
    if let Some(parameters) = &req.parameters {
        check_parameters(engine, dep, parameters)?;
        s.parameters = Set(parameters.clone());
    }
    if let Some(raw) = &req.fallback_cron {
        s.fallback_cron = Set(fallback(Some(raw)));
    }
    if let Some(max_missed) = req.max_missed {
        if !(1..=1000).contains(&max_missed) {
            return Err(AppError::field("max_missed", "must be between 1 and 1000"));
        }
        s.max_missed = Set(max_missed as i32);
    }
    if let Some(p) = req.missed_policy {
        s.missed_policy = Set(p);
    }
    if let Some(active) = req.active {
        s.active = Set(active);
    }
    if let Some(anchor) = req.anchor_at {
        s.anchor_at = Set(micros(anchor));
    }
    s.updated_at = Set(now());
    Ok(s.update(engine.db()).await?)
}

/// The active schedules with a deadline (`ready_by`).
pub async fn with_deadline(db: &DatabaseConnection) -> AppResult<Vec<schedule::Model>> {
    Ok(schedule::Entity::find()
        .filter(schedule::Column::Active.eq(true))
        .filter(schedule::Column::ReadyBySeconds.is_not_null())
        .all(db)
        .await?)
}

/// Moves a schedule's deadline watermark from `from` to `to` (compare-and-set: of several
/// instances, one checks those slots).
pub async fn claim_late_check(
    db: &DatabaseConnection,
    s: &schedule::Model,
    to: DateTime<Utc>,
) -> AppResult<bool> {
    let mut q = schedule::Entity::update_many()
        .col_expr(
            schedule::Column::LateCheckedUntil,
            sea_orm::sea_query::Expr::value(to),
        )
        .filter(schedule::Column::Id.eq(s.id));
    q = match s.late_checked_until {
        Some(from) => q.filter(schedule::Column::LateCheckedUntil.eq(from)),
        None => q.filter(schedule::Column::LateCheckedUntil.is_null()),
    };
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// The active schedules that follow chap.
pub async fn active_chap(db: &DatabaseConnection) -> AppResult<Vec<schedule::Model>> {
    Ok(schedule::Entity::find()
        .filter(schedule::Column::Active.eq(true))
        .filter(schedule::Column::Source.eq(ScheduleSource::Chap))
        .order_by_asc(schedule::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Deletes a schedule (its runs stay).
pub async fn delete(db: &DatabaseConnection, id: Uuid) -> AppResult<schedule::Model> {
    let current = get(db, id).await?;
    schedule::Entity::delete_by_id(id).exec(db).await?;
    Ok(current)
}
