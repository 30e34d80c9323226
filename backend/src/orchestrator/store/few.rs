//! Conditions on the states that few runs are in at any time.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, DbBackend};

use crate::db::entities::flow_run;
use crate::orchestrator::state::RunState;

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
