//! Reading runs for the API and for the checks of other resources: the filtered, keyset-paginated list,
//! the dashboard's statistics, and whether unfinished runs hold on to a deployment or a block.

use std::collections::BTreeMap;

use chap_scheduler_api::{DayStats, RunStats};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::few::{in_few_states, unfinished, unindexed};
use super::views::LATE_AFTER_SECONDS;
use crate::db::entities::flow_run;
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
    let today = Utc::now().date_naive();
    let first = today - chrono::Duration::days(days - 1);
    let start = first
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(Utc::now);
    let rows: Vec<(DateTime<Utc>, String)> = flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::ExpectedStartAt)
        .column(flow_run::Column::State)
        // Every state, named: SQLite then reads each state's runs of the window from the (state,
        // expected start) index. With the range alone it read the whole index, every kept run, at
        // each refresh of the dashboard (it skips over the states only after an `ANALYZE`).
        .filter(flow_run::Column::State.is_in(RunState::ALL))
        .filter(flow_run::Column::ExpectedStartAt.gte(start))
        .into_tuple()
        .all(db)
        .await?;
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<String, u64>> = (0..days)
        .map(|d| (first + chrono::Duration::days(d), BTreeMap::new()))
        .collect();
    for (at, s) in rows {
        if let Some(day) = by_day.get_mut(&at.date_naive()) {
            *day.entry(s).or_default() += 1;
        }
    }
    let backend = db.get_database_backend();
    let running = flow_run::Entity::find()
        .filter(in_few_states(
            backend,
            [RunState::Running, RunState::Cancelling],
        ))
        .count(db)
        .await?;
    let late_before = Utc::now() - chrono::Duration::seconds(LATE_AFTER_SECONDS);
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

/// How many runs of a deployment are not finished.
pub async fn deployment_has_unfinished_runs(
    db: &DatabaseConnection,
    deployment_id: Uuid,
) -> Result<u64, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::DeploymentId.eq(deployment_id))
        .filter(flow_run::Column::State.is_in(unfinished()))
        .count(db)
        .await
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
