//! What `/metrics` reads from the runs table at scrape time: the gauges that must hold across
//! processes and restarts (a counter in one process cannot say how many runs wait in the queue).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::db::entities::{deployment, flow_run};
use crate::orchestrator::state::RunState;

/// Run counts and queue age.
#[derive(Debug, Clone, Default)]
pub struct RunGauges {
    /// Runs per state (every state, zero included).
    pub by_state: Vec<(RunState, i64)>,
    /// When the oldest PENDING run became PENDING.
    pub oldest_pending_since: Option<DateTime<Utc>>,
    /// The end of each deployment's last COMPLETED run, by the deployment's name (deployments without
    /// one left out).
    pub last_completed: Vec<(String, DateTime<Utc>)>,
}

/// Three reads. The counts go over every run kept, so their time grows with the history (4–30 ms per
/// 100,000 runs): SQLite counts them from the state index alone (`COUNT(*)` needs no row),
/// PostgreSQL reads the table. The other two probe indexes.
pub async fn run_gauges(db: &DatabaseConnection) -> Result<RunGauges, DbErr> {
    let counts: Vec<(RunState, i64)> = flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::State)
        .column_as(Expr::col(Asterisk).count(), "n")
        .group_by(flow_run::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let by_state = RunState::ALL
        .into_iter()
        .map(|s| {
            let n = counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
            (s, n)
        })
        .collect();
    let oldest_pending_since: Option<DateTime<Utc>> = flow_run::Entity::find()
        .select_only()
        .column_as(flow_run::Column::StateAt.min(), "oldest")
        .filter(super::few::in_few_states(
            db.get_database_backend(),
            [RunState::Pending],
        ))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await?
        .flatten();
    // Per deployment as it is now (a deleted one has none; a renamed one has its new name), one
    // probe of the (deployment, state, end) index each.
    let last = Query::select()
        .expr(Expr::col((flow_run::Entity, flow_run::Column::EndedAt)).max())
        .from(flow_run::Entity)
        .and_where(
            Expr::col((flow_run::Entity, flow_run::Column::DeploymentId))
                .equals((deployment::Entity, deployment::Column::Id)),
        )
        .and_where(Expr::col((flow_run::Entity, flow_run::Column::State)).eq(RunState::Completed))
        .to_owned();
    let last_completed: Vec<(String, Option<DateTime<Utc>>)> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Name)
        .column_as(SimpleExpr::SubQuery(None, Box::new(last.into())), "last")
        .into_tuple()
        .all(db)
        .await?;
    Ok(RunGauges {
        by_state,
        oldest_pending_since,
        last_completed: last_completed
            .into_iter()
            .filter_map(|(name, at)| Some((name, at?)))
            .collect(),
    })
}
