//! The owner of `chap_syncs` and `chap_setups`: a `chap` schedule's synchronisation state and the
//! setups it follows, with their slots; and their API views.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chap_scheduler_api::{
    ChapSetupView, ChapSetupsView, ChapSync, ScheduleSource, ScheduleView, SetupLastRun,
    SetupScheduleStatus, SetupSlot,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::db::entities::{chap_setup, chap_sync, schedule};
use crate::orchestrator::store as runs;
use crate::orchestrator::timing::Timing;

/// One setup as planned from chap's answer (or from the stored rows, when the schedule changed).
#[derive(Debug, Clone)]
pub struct Planned {
    pub setup_id: i64,
    pub name: String,
    pub enabled: bool,
    pub cron: Option<String>,
    pub effective_cron: Option<String>,
    pub status: SetupScheduleStatus,
    pub problem: Option<String>,
    /// When it fires (none: it does not, or the schedule is inactive).
    pub timing: Option<Timing>,
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::seconds(300))
}

/// A synchronisation row that only says when the next is due.
fn due_row(schedule_id: Uuid, due_at: DateTime<Utc>) -> chap_sync::ActiveModel {
    chap_sync::ActiveModel {
        schedule_id: Set(schedule_id),
        synced_at: Set(None),
        attempted_at: Set(None),
        error: Set(None),
        due_at: Set(due_at),
    }
}

/// Claims the schedule's synchronisation when it is due: of several scheduler instances, one
/// moves the due time forward and syncs.
pub async fn claim_sync(
    db: &DatabaseConnection,
    schedule_id: Uuid,
    now: DateTime<Utc>,
    interval: Duration,
) -> Result<bool, DbErr> {
    let moved = chap_sync::Entity::update_many()
        .col_expr(chap_sync::Column::DueAt, Expr::value(later(now, interval)))
        .filter(chap_sync::Column::ScheduleId.eq(schedule_id))
        .filter(chap_sync::Column::DueAt.lte(now))
        .exec(db)
        .await?;
    if moved.rows_affected == 1 {
        return Ok(true);
    }
    let inserted = chap_sync::Entity::insert(due_row(schedule_id, later(now, interval)))
        .on_conflict(
            OnConflict::column(chap_sync::Column::ScheduleId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

/// Sets the next periodic synchronisation of a schedule to `interval` from now (before an on-demand
/// one).
pub async fn postpone_sync(
    db: &DatabaseConnection,
    schedule_id: Uuid,
    now: DateTime<Utc>,
    interval: Duration,
) -> Result<(), DbErr> {
    chap_sync::Entity::insert(due_row(schedule_id, later(now, interval)))
        .on_conflict(
            OnConflict::column(chap_sync::Column::ScheduleId)
                .update_column(chap_sync::Column::DueAt)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Records the outcome of a synchronisation attempt (`error` none: success) and when the next is due.
async fn record_attempt(
    db: &impl ConnectionTrait,
    schedule_id: Uuid,
    now: DateTime<Utc>,
    error: Option<String>,
    next_due: DateTime<Utc>,
) -> Result<(), DbErr> {
    let ok = error.is_none();
    let mut columns = vec![
        chap_sync::Column::AttemptedAt,
        chap_sync::Column::Error,
        chap_sync::Column::DueAt,
    ];
    if ok {
        columns.push(chap_sync::Column::SyncedAt);
    }
    chap_sync::Entity::insert(chap_sync::ActiveModel {
        schedule_id: Set(schedule_id),
        synced_at: Set(ok.then_some(now)),
        attempted_at: Set(Some(now)),
        error: Set(error),
        due_at: Set(next_due),
    })
    .on_conflict(
        OnConflict::column(chap_sync::Column::ScheduleId)
            .update_columns(columns)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A failed synchronisation: the error and its time; the setups stay as they were.
pub async fn record_failure(
    db: &DatabaseConnection,
    schedule_id: Uuid,
    now: DateTime<Utc>,
    error: String,
    interval: Duration,
) -> Result<(), DbErr> {
    record_attempt(db, schedule_id, now, Some(error), later(now, interval)).await
}

/// Replaces a schedule's setups with `planned` in one transaction. A setup whose effective cron is
/// unchanged keeps its next slot (unless `replan`: the schedule itself changed); others start with
/// their next slot after `now` (never a back-fill). Setups no longer listed are removed. With
/// `synced`, the synchronisation is recorded as successful.
pub async fn replace(
    db: &DatabaseConnection,
    schedule_id: Uuid,
    now: DateTime<Utc>,
    planned: Vec<Planned>,
    replan: bool,
    synced: Option<Duration>,
) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let existing: HashMap<i64, chap_setup::Model> = rows(&txn, schedule_id)
        .await?
        .into_iter()
        .map(|r| (r.setup_id, r))
        .collect();
    let listed: HashSet<i64> = planned.iter().map(|p| p.setup_id).collect();
    for p in planned {
        let old = existing.get(&p.setup_id);
        let kept = old.filter(|o| {
            !replan
                && o.status == SetupScheduleStatus::Scheduled
                && o.effective_cron == p.effective_cron
                && o.next_fire_at.is_some()
        });
        let next_fire_at = match (&p.timing, kept) {
            (Some(_), Some(o)) => o.next_fire_at,
            (Some(timing), None) => timing.next_after(now),
            (None, _) => None,
        };
        let mut row = match old {
            Some(o) => o.clone().into_active_model(),
            None => chap_setup::ActiveModel {
                schedule_id: Set(schedule_id),
                setup_id: Set(p.setup_id),
                last_fire_at: Set(None),
                skipped_count: Set(0),
                last_run_id: Set(None),
                ..Default::default()
            },
        };
        row.name = Set(p.name);
        row.enabled = Set(p.enabled);
        row.cron = Set(p.cron);
        row.effective_cron = Set(p.effective_cron);
        row.status = Set(p.status);
        row.problem = Set(p.problem);
        row.next_fire_at = Set(next_fire_at);
        row.updated_at = Set(now);
        if old.is_some() {
            row.update(&txn).await?;
        } else {
            row.insert(&txn).await?;
        }
    }
    let gone: Vec<i64> = existing
        .keys()
        .filter(|id| !listed.contains(id))
        .copied()
        .collect();
    if !gone.is_empty() {
        chap_setup::Entity::delete_many()
            .filter(chap_setup::Column::ScheduleId.eq(schedule_id))
            .filter(chap_setup::Column::SetupId.is_in(gone))
            .exec(&txn)
            .await?;
    }
    if let Some(interval) = synced {
        record_attempt(&txn, schedule_id, now, None, later(now, interval)).await?;
    }
    txn.commit().await
}

/// A schedule's setups, by id.
pub async fn rows(
    db: &impl ConnectionTrait,
    schedule_id: Uuid,
) -> Result<Vec<chap_setup::Model>, DbErr> {
    chap_setup::Entity::find()
        .filter(chap_setup::Column::ScheduleId.eq(schedule_id))
        .order_by_asc(chap_setup::Column::SetupId)
        .all(db)
        .await
}

/// The setups of a schedule that fire: (setup id, name, effective cron).
pub async fn scheduled_setups(
    db: &DatabaseConnection,
    schedule_id: Uuid,
) -> Result<Vec<(i64, String, String)>, DbErr> {
    Ok(rows(db, schedule_id)
        .await?
        .into_iter()
        .filter(|r| r.status == SetupScheduleStatus::Scheduled)
        .filter_map(|r| r.effective_cron.map(|cron| (r.setup_id, r.name, cron)))
        .collect())
}

/// One setup of a schedule.
pub async fn row(
    db: &DatabaseConnection,
    schedule_id: Uuid,
    setup_id: i64,
) -> Result<Option<chap_setup::Model>, DbErr> {
    chap_setup::Entity::find_by_id((schedule_id, setup_id))
        .one(db)
        .await
}

/// Setups whose next slot has come, soonest first.
pub async fn due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<chap_setup::Model>, DbErr> {
    chap_setup::Entity::find()
        .filter(chap_setup::Column::NextFireAt.lte(now))
        .order_by_asc(chap_setup::Column::NextFireAt)
        .limit(100)
        .all(db)
        .await
}

/// What one firing of a setup changes.
pub struct Fired {
    pub next: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub skipped: u64,
    pub last_run: Option<Uuid>,
}

/// Advances a setup past its fired slots, compare-and-set on the slot it started from: of two
/// scheduler instances, one advances it.
pub async fn advance(
    db: &DatabaseConnection,
    row: &chap_setup::Model,
    from: DateTime<Utc>,
    fired: Fired,
) -> Result<(), DbErr> {
    let mut update = chap_setup::Entity::update_many()
        .col_expr(chap_setup::Column::NextFireAt, Expr::value(fired.next))
        .col_expr(
            chap_setup::Column::SkippedCount,
            Expr::col(chap_setup::Column::SkippedCount).add(fired.skipped as i64),
        );
    if let Some(last) = fired.last {
        update = update.col_expr(chap_setup::Column::LastFireAt, Expr::value(last));
    }
    if let Some(run) = fired.last_run {
        update = update.col_expr(chap_setup::Column::LastRunId, Expr::value(run));
    }
    update
        .filter(chap_setup::Column::ScheduleId.eq(row.schedule_id))
        .filter(chap_setup::Column::SetupId.eq(row.setup_id))
        .filter(chap_setup::Column::NextFireAt.eq(from))
        .exec(db)
        .await?;
    Ok(())
}

/// Stops a setup's slots (its schedule is gone, inactive or no longer follows chap).
pub async fn stop(db: &DatabaseConnection, row: &chap_setup::Model) -> Result<(), DbErr> {
    chap_setup::Entity::update_many()
        .col_expr(
            chap_setup::Column::NextFireAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(chap_setup::Column::ScheduleId.eq(row.schedule_id))
        .filter(chap_setup::Column::SetupId.eq(row.setup_id))
        .exec(db)
        .await?;
    Ok(())
}

fn sync_view(state: Option<chap_sync::Model>) -> ChapSync {
    state
        .map(|s| ChapSync {
            synced_at: s.synced_at,
            attempted_at: s.attempted_at,
            error: s.error,
        })
        .unwrap_or_default()
}

/// Fills the `chap` fields of schedule views: the synchronisation, every firing setup's next slot,
/// the soonest of them as the schedule's next fire time, the latest slot fired and the slots
/// skipped over all setups.
pub async fn decorate(db: &DatabaseConnection, views: &mut [ScheduleView]) -> Result<(), DbErr> {
    for view in views
        .iter_mut()
        .filter(|v| v.source == ScheduleSource::Chap)
    {
        let state = chap_sync::Entity::find_by_id(view.id).one(db).await?;
        view.chap_sync = Some(sync_view(state));
        let setups = rows(db, view.id).await?;
        view.last_fire_at = setups.iter().filter_map(|r| r.last_fire_at).max();
        view.skipped_count = setups
            .iter()
            .map(|r| Ord::max(r.skipped_count, 0) as u64)
            .sum();
        let mut slots: Vec<SetupSlot> = setups
            .into_iter()
            .filter_map(|r| {
                r.next_fire_at.map(|fire_at| SetupSlot {
                    setup_id: r.setup_id,
                    setup_name: r.name,
                    fire_at,
                })
            })
            .collect();
        slots.sort_by_key(|s| (s.fire_at, s.setup_id));
        view.next_fire_at = slots.first().map(|s| s.fire_at);
        view.setup_slots = slots;
    }
    Ok(())
}

/// The outcome of the one setup a scheduled run was restricted to, once the run ended.
fn setup_status(summary: Option<&Value>) -> Option<String> {
    let count = |key: &str| {
        summary
            .and_then(|s| s.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    ["failed", "succeeded", "skipped"]
        .into_iter()
        .find(|key| count(key) > 0)
        .map(str::to_string)
}

async fn last_run(
    db: &DatabaseConnection,
    id: Option<Uuid>,
) -> Result<Option<SetupLastRun>, DbErr> {
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(runs::get(db, id).await?.map(|run| SetupLastRun {
        id: run.id,
        state: run.state,
        scheduled_for: Some(run.expected_start_at),
        setup_status: if run.state.is_terminal() {
            setup_status(run.summary.as_ref())
        } else {
            None
        },
    }))
}

/// `GET /schedules/{id}/setups`: the setups of a `chap` schedule as last synchronised.
pub async fn setups_view(
    db: &DatabaseConnection,
    s: &schedule::Model,
) -> Result<ChapSetupsView, DbErr> {
    let state = chap_sync::Entity::find_by_id(s.id).one(db).await?;
    let mut setups = Vec::new();
    for r in rows(db, s.id).await? {
        let next_fire_times = match (&r.effective_cron, r.next_fire_at) {
            (Some(cron), Some(next)) => {
                let mut times = vec![next];
                if let Ok(timing) = Timing::cron(cron, &s.timezone) {
                    times.extend(timing.preview(next, 4));
                }
                times
            }
            _ => Vec::new(),
        };
        setups.push(ChapSetupView {
            id: r.setup_id,
            name: r.name,
            enabled: r.enabled,
            cron: r.cron,
            effective_cron: r.effective_cron,
            status: r.status,
            problem: r.problem,
            next_fire_times,
            skipped_count: Ord::max(r.skipped_count, 0) as u64,
            last_run: last_run(db, r.last_run_id).await?,
        });
    }
    Ok(ChapSetupsView {
        schedule_id: s.id,
        timezone: s.timezone.clone(),
        sync: sync_view(state),
        setups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_setup_status_of_a_one_setup_run_comes_from_its_summary() {
        let s = |v: Value| setup_status(Some(&v));
        assert_eq!(
            s(json!({"succeeded": 1, "failed": 0, "skipped": 0})).as_deref(),
            Some("succeeded")
        );
        assert_eq!(
            s(json!({"succeeded": 0, "failed": 1, "skipped": 0})).as_deref(),
            Some("failed")
        );
        assert_eq!(
            s(json!({"succeeded": 0, "failed": 0, "skipped": 1})).as_deref(),
            Some("skipped")
        );
        assert_eq!(setup_status(None), None);
    }
}
