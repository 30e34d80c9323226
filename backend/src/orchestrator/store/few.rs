//! Conditions on runs' states and deployments, written so that the databases' plans for them depend
//! neither on whether someone analyzed the data nor on how many runs it keeps.

use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ColumnTrait, DbBackend};
use uuid::Uuid;

use crate::db::entities::flow_run;
use crate::orchestrator::state::RunState;

/// The states of runs that have not ended: the few that [`in_few_states`] is for.
pub(super) fn unfinished() -> impl Iterator<Item = RunState> {
    RunState::ALL.into_iter().filter(|s| !s.is_terminal())
}

/// `flow_runs.state IN (states)`, for states that few runs are in at any time: the unfinished ones.
/// Every run ends finished, so a kept history is nearly all COMPLETED and FAILED runs.
///
/// On SQLite the condition is wrapped in `likelihood(…, 0.001)`. Without statistics SQLite reckons
/// that an equality on an indexed column matches a handful of rows, and reads the unfinished runs
/// through the state index. After an `ANALYZE` (an operator's, or `PRAGMA optimize`) it plans with
/// the average rows per state instead, a fifth to all of the history, and reads the whole table for
/// the reaper's pass and others (the `sqlite_plans` test). The hint keeps the index whatever the
/// statistics say. PostgreSQL keeps the most common values of a column with its statistics, so it
/// knows which states are rare.
pub(super) fn in_few_states(
    backend: DbBackend,
    states: impl IntoIterator<Item = RunState>,
) -> SimpleExpr {
    let condition = flow_run::Column::State.is_in(states);
    match backend {
        DbBackend::Sqlite => Expr::cust_with_expr("likelihood(?, 0.001)", condition),
        _ => condition,
    }
}

/// `column` as the run list's filters name it: on SQLite written `+column`, which no index serves, so
/// that SQLite walks the creation index newest first, within the list's window and until the page is
/// full. Its cost is then bounded by the window, whatever the history holds. With an index on the
/// filter SQLite (without statistics) read every run of that state or deployment in the whole history
/// and sorted them: the dashboard's last failures and last forecasts did that at every refresh, a
/// deployment's page at every visit. PostgreSQL plans with its statistics.
pub(super) fn unindexed(backend: DbBackend, column: flow_run::Column) -> SimpleExpr {
    match backend {
        DbBackend::Sqlite => Expr::cust_with_expr("+?", Expr::col(column)),
        _ => Expr::col(column),
    }
}

/// How many runs of a deployment are in `states`, as an expression: one count per state, added up.
///
/// Written `deployment_id = ? AND state IN (…)`, PostgreSQL without statistics on the deployment (a
/// new installation's first burst until autovacuum analyzes, or a deployment created after the last
/// `ANALYZE`) guessed that it had a couple of runs, searched the (deployment, state, end) index by the
/// deployment alone and filtered the states: a read of every run the deployment ever had, at each
/// trigger and each end of a run (issue 16: 2,189 index entries and 144 pages for 1 active run,
/// 2,190 runs into a burst). An equality on both columns is always searched in the index.
pub(super) fn runs_in_states_of(
    deployment_id: Uuid,
    states: impl IntoIterator<Item = RunState>,
) -> SimpleExpr {
    states
        .into_iter()
        .map(|state| {
            let count = Query::select()
                .expr(Expr::col(Asterisk).count())
                .from(flow_run::Entity)
                .and_where(flow_run::Column::DeploymentId.eq(deployment_id))
                .and_where(flow_run::Column::State.eq(state))
                .to_owned();
            SimpleExpr::SubQuery(None, Box::new(count.into()))
        })
        .reduce(|sum, count| sum.add(count))
        .unwrap_or_else(|| Expr::value(0i64))
}
