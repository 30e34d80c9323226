//! What `/metrics` reads from the runs table at scrape time: the gauges that must hold across
//! processes and restarts (a counter in one process cannot say how many runs wait in the queue).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::db::entities::flow_run;
use crate::orchestrator::state::RunState;

/// Run counts and queue age.
#[derive(Debug, Clone, Default)]
pub struct RunGauges {
    /// Runs per state (every state, zero included).
    pub by_state: Vec<(RunState, i64)>,
    /// When the oldest PENDING run became PENDING.
    pub oldest_pending_since: Option<DateTime<Utc>>,
    /// The last COMPLETED run's end per deployment name.
    pub last_completed: Vec<(String, DateTime<Utc>)>,
}

/// Three grouped reads.
pub async fn run_gauges(db: &DatabaseConnection) -> Result<RunGauges, DbErr> {
    let counts: Vec<(RunState, i64)> = flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::State)
        .column_as(flow_run::Column::Id.count(), "n")
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
        .filter(flow_run::Column::State.eq(RunState::Pending))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await?
        .flatten();
    let last_completed: Vec<(String, Option<DateTime<Utc>>)> = flow_run::Entity::find()
        .select_only()
        .column(flow_run::Column::DeploymentName)
        .column_as(flow_run::Column::EndedAt.max(), "last")
        .filter(flow_run::Column::State.eq(RunState::Completed))
        .group_by(flow_run::Column::DeploymentName)
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
