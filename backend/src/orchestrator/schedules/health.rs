//! A schedule's health: the deadline of its slots (`ready_by`, checked by
//! [`crate::notify::deadlines`]) and the automatic pause after `pause_after_failures` failed runs in a
//! row, counted as its runs end.

use chap_scheduler_api::ScheduleRequest;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::db::entities::{flow_run, schedule};
use crate::db::users::now;
use crate::error::{AppError, AppResult};

/// The deadline (seconds) and pause threshold a request sets: `None` unchanged, `Some(None)` removed.
pub type HealthFields = (Option<Option<i32>>, Option<Option<i32>>);

/// Checks `ready_by_minutes` (0 removes it; at most a week; at least a second) and
/// `pause_after_failures` (0 turns it off; at most 100).
pub fn check_health_fields(req: &ScheduleRequest) -> AppResult<HealthFields> {
    let ready_by = match req.ready_by_minutes {
        None => None,
        Some(0.0) => Some(None),
        Some(m) if m.is_finite() && m > 0.0 && m <= 10_080.0 => {
            Some(Some(((m * 60.0).round() as i32).max(1)))
        }
        Some(_) => {
            return Err(AppError::field(
                "ready_by_minutes",
                "must be more than 0 and at most 10080 (a week); 0 removes the deadline",
            ))
        }
    };
    let pause = match req.pause_after_failures {
        None => None,
        Some(0) => Some(None),
        Some(n) if n <= 100 => Some(Some(n as i32)),
        Some(_) => {
            return Err(AppError::field(
                "pause_after_failures",
                "must be between 1 and 100; 0 turns it off",
            ))
        }
    };
    Ok((ready_by, pause))
}

/// Applies an edit's health fields; activating a schedule again resets its failure count and pause
/// reason, and starts its deadline checks from now (slots while it was inactive are not late).
pub fn apply(
    s: &mut schedule::ActiveModel,
    current: &schedule::Model,
    req: &ScheduleRequest,
) -> AppResult<()> {
    let (ready_by, pause) = check_health_fields(req)?;
    if let Some(ready_by) = ready_by {
        if current.ready_by_seconds.is_none() {
            s.late_checked_until = Set(Some(now()));
        }
        s.ready_by_seconds = Set(ready_by);
    }
    if let Some(pause) = pause {
        s.pause_after_failures = Set(pause);
    }
    if req.active == Some(true) && !current.active {
        s.consecutive_failures = Set(0);
        s.paused_reason = Set(None);
        s.late_checked_until = Set(Some(now()));
    }
    Ok(())
}

/// A schedule just paused after failed runs.
#[derive(Debug, Clone)]
pub struct Paused {
    pub schedule_id: Uuid,
    pub deployment_id: Uuid,
    pub failures: i32,
    pub reason: String,
}

/// Counts a finished run of a schedule, inside the transaction that ended it: a failed run adds one
/// to the schedule's failures in a row and pauses it at its `pause_after_failures`; a COMPLETED run
/// resets the count.
pub async fn record_outcome(
    txn: &impl ConnectionTrait,
    run: &flow_run::Model,
    failed: bool,
) -> Result<Option<Paused>, DbErr> {
    let Some(id) = run.schedule_id else {
        return Ok(None);
    };
    if !failed {
        schedule::Entity::update_many()
            .col_expr(schedule::Column::ConsecutiveFailures, Expr::value(0))
            .filter(schedule::Column::Id.eq(id))
            .exec(txn)
            .await?;
        return Ok(None);
    }
    let Some(s) = schedule::Entity::find_by_id(id).one(txn).await? else {
        return Ok(None);
    };
    let failures = s.consecutive_failures + 1;
    let pause = s.active && s.pause_after_failures.is_some_and(|n| failures >= n);
    let reason = format!(
        "paused after {failures} failed run(s) in a row (the last: run {})",
        run.id
    );
    let mut update = schedule::Entity::update_many()
        .col_expr(schedule::Column::ConsecutiveFailures, Expr::value(failures));
    if pause {
        update = update
            .col_expr(schedule::Column::Active, Expr::value(false))
            .col_expr(
                schedule::Column::NextFireAt,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .col_expr(schedule::Column::PausedReason, Expr::value(reason.clone()))
            .col_expr(schedule::Column::UpdatedAt, Expr::value(now()));
    }
    update.filter(schedule::Column::Id.eq(id)).exec(txn).await?;
    Ok(pause.then_some(Paused {
        schedule_id: id,
        deployment_id: s.deployment_id,
        failures,
        reason,
    }))
}
