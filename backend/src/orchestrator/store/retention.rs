//! Retention: finished runs older than the configured age are deleted in batches, with their state
//! history, steps, logs and artifacts (foreign keys cascade), and so are sent or failed notification
//! deliveries and late slots of that age. Audit events are kept.

use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::db::entities::flow_run;
use crate::orchestrator::state::RunState;

/// Runs deleted per statement: bounded work and lock time per batch.
const BATCH: u64 = 500;

/// Deletes finished runs created more than `days` days ago; returns how many.
pub async fn purge(db: &DatabaseConnection, days: u32) -> anyhow::Result<u64> {
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    let finished: Vec<RunState> = RunState::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    let mut total = 0;
    loop {
        let ids: Vec<Uuid> = flow_run::Entity::find()
            .select_only()
            .column(flow_run::Column::Id)
            .filter(flow_run::Column::CreatedAt.lt(cutoff))
            .filter(flow_run::Column::State.is_in(finished.clone()))
            .order_by_asc(flow_run::Column::CreatedAt)
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            break;
        }
        let n = ids.len() as u64;
        flow_run::Entity::delete_many()
            .filter(flow_run::Column::Id.is_in(ids))
            .exec(db)
            .await?;
        total += n;
        if n < BATCH {
            break;
        }
        // Let other writers in between batches.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if total > 0 {
        tracing::info!(deleted = total, days, "retention: deleted old runs");
    }
    Ok(total)
}

/// Runs a retention pass every `every` (the first after `first`). `days == 0` keeps everything.
pub async fn run_retention(db: DatabaseConnection, days: u32, first: Duration, every: Duration) {
    if days == 0 {
        return;
    }
    tokio::time::sleep(first).await;
    loop {
        if let Err(e) = purge(&db, days).await {
            tracing::error!(error = %e, "retention pass failed");
        }
        // Notifications older than the runs they were about go with the same age.
        if let Err(e) = crate::notify::purge(&db, days).await {
            tracing::error!(error = %e, "retention pass over notifications failed");
        }
        tokio::time::sleep(every).await;
    }
}
