//! Reading runs for the API and for the checks of other resources: the filtered, keyset-paginated list,
//! the dashboard's statistics, and whether unfinished runs hold on to a deployment or a block.

use std::collections::BTreeMap;

use chap_scheduler_api::{DayStats, RunStats};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::few::{in_few_states, runs_in_states_of, unfinished, unindexed};
use super::queue::count_of;
use super::views::LATE_AFTER_SECONDS;
use crate::db::entities::flow_run;
use crate::db::users::now;
use crate::orchestrator::state::RunState;

/// What the run list shows.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only these states (all when empty).
    pub states: Vec<RunState>,
    /// Only this deployment's runs.
    pub deployment_id: Option<Uuid>,
    /// Only this flow's runs.
    pub flow_name: Option<String>,
    /// Created at or after.
    pub since: DateTime<Utc>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// After this `(created_at, id)` in the list's order (the previous page's last run).
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// Up to `limit` runs, newest first, and whether more follow.
pub async fn list_runs(
    db: &DatabaseConnection,
    filter: &RunFilter,
    limit: u64,
) -> Result<(Vec<flow_run::Model>, bool), DbErr> {
    // The window's runs newest first from the creation index, until the page is full: no index on
    // a filtered column, except for unfinished states only ("running now"), a handful of runs that
    // the state index gives at once (see `few`).
    let backend = db.get_database_backend();
    let mut find = flow_run::Entity::find();
    if !filter.states.is_empty() {
        let states = filter.states.iter().copied();
        find = find.filter(if filter.states.iter().all(|s| !s.is_terminal()) {
            in_few_states(backend, states)
        } else {
            unindexed(backend, flow_run::Column::State).is_in(states.map(Expr::val))
        });
    }
    if let Some(d) = filter.deployment_id {
        find = find.filter(unindexed(backend, flow_run::Column::DeploymentId).eq(d));
    }
    if let Some(f) = &filter.flow_name {
        find = find.filter(flow_run::Column::FlowName.eq(f.as_str()));
    }
    find = find.filter(flow_run::Column::CreatedAt.gte(filter.since));
    if let Some(u) = filter.until {
        find = find.filter(flow_run::Column::CreatedAt.lt(u));
    }
    if let Some((at, id)) = filter.after {
        find = find.filter(
            Condition::any()
                .add(flow_run::Column::CreatedAt.lt(at))
                .add(
                    Condition::all()
                        .add(flow_run::Column::CreatedAt.eq(at))
                        .add(flow_run::Column::Id.lt(id)),
                ),
        );
    }
    let mut rows = find
        .order_by_desc(flow_run::Column::CreatedAt)
        .order_by_desc(flow_run::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Runs per day (by expected start, UTC) and state for the last `days` days including today, and how
/// many run and are late now.
pub async fn run_stats(db: &DatabaseConnection, days: i64) -> Result<RunStats, DbErr> {
    let today = now().date_naive();
    let first = today - chrono::Duration::days(days - 1);
    let start = first
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(now);
    let backend = db.get_database_backend();
    // Counted by the database, one row per day and state: the window's runs themselves never leave
    // it (a busy installation starts tens of thousands a day, and the dashboard asks every few
    // seconds).
    let (day, day_text) = start_day(backend);
    let rows: Vec<(String, String, i64)> = flow_run::Entity::find()
        .select_only()
        .column_as(day_text, "day")
        .column(flow_run::Column::State)
        // `*`, not a column: the state index has all the read needs, and SQLite need not visit the
        // table's rows.
        .column_as(Expr::cust("COUNT(*)"), "runs")
        // Every state, named: SQLite then reads each state's runs of the window from the (state,
        // expected start) index. With the range alone it read the whole index, every kept run, at
        // each refresh of the dashboard (it skips over the states only after an `ANALYZE`).
        .filter(flow_run::Column::State.is_in(RunState::ALL))
        .filter(flow_run::Column::ExpectedStartAt.gte(start))
        .group_by(day)
        .group_by(flow_run::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<String, u64>> = (0..days)
        .map(|d| (first + chrono::Duration::days(d), BTreeMap::new()))
        .collect();
    for (day, s, runs) in rows {
        let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
            .map_err(|e| DbErr::Type(format!("the day {day:?} of a run's start: {e}")))?;
        // Runs expected after today (scheduled ahead) are not in the window.
        if let Some(counts) = by_day.get_mut(&day) {
            counts.insert(s, runs as u64);
        }
    }
    let running = flow_run::Entity::find()
        .filter(in_few_states(
            backend,
            [RunState::Running, RunState::Cancelling],
        ))
        .count(db)
        .await?;
    let late_before = now() - chrono::Duration::seconds(LATE_AFTER_SECONDS);
    let late = flow_run::Entity::find()
        .filter(in_few_states(
            backend,
            [RunState::Scheduled, RunState::Pending],
        ))
        .filter(flow_run::Column::ExpectedStartAt.lt(late_before))
        .count(db)
        .await?;
    Ok(RunStats {
        days: by_day
            .into_iter()
            .map(|(date, counts)| DayStats { date, counts })
            .collect(),
        running,
        late,
    })
}

/// The UTC day a run is expected to start: what to group by, and the same as `YYYY-MM-DD` text.
fn start_day(backend: DbBackend) -> (SimpleExpr, SimpleExpr) {
    match backend {
        // Stored as text in UTC, the date first ("2026-12-05T05:46:15.123+00:00").
        DbBackend::Sqlite => {
            let day = Expr::cust("substr(\"expected_start_at\", 1, 10)");
            (day.clone(), day)
        }
        // Grouped by the date, made text once per group: `to_char` on every run took longer than
        // the runs took to send.
        _ => (
            Expr::cust("(\"expected_start_at\" AT TIME ZONE 'UTC')::date"),
            Expr::cust("(\"expected_start_at\" AT TIME ZONE 'UTC')::date::text"),
        ),
    }
}

/// How many runs of a deployment are not finished.
pub async fn deployment_has_unfinished_runs(
    db: &DatabaseConnection,
    deployment_id: Uuid,
) -> Result<u64, DbErr> {
    let read = Query::select()
        .expr_as(
            runs_in_states_of(deployment_id, unfinished()),
            Alias::new("unfinished"),
        )
        .to_owned();
    count_of(db, read, "unfinished").await
}

/// The first unfinished run whose parameters `refers` to something (e.g. a credentials block).
pub async fn unfinished_run_referring(
    db: &DatabaseConnection,
    refers: impl Fn(&Value) -> bool,
) -> Result<Option<Uuid>, DbErr> {
    let runs = flow_run::Entity::find()
        .filter(in_few_states(db.get_database_backend(), unfinished()))
        .all(db)
        .await?;
    Ok(runs.iter().find(|r| refers(&r.parameters)).map(|r| r.id))
}
