//! Retention: finished runs older than the configured age are deleted in batches, with their state
//! history, steps, logs and artifacts (foreign keys cascade), and so are sent or failed notification
//! deliveries and late slots of that age. Audit events are kept.

use std::time::Duration;

use sea_orm::{ColumnTrait, Condition, DatabaseConnection};

use crate::db::entities::flow_run;

/// The instant `days` days ago; `None` when that is before the earliest instant there is (a
/// `CHAP_SCHEDULER_RETENTION_DAYS` of millions of days): nothing is that old.
pub fn cutoff(days: u32) -> Option<chrono::DateTime<chrono::Utc>> {
    crate::db::clock::now().checked_sub_signed(chrono::TimeDelta::try_days(i64::from(days))?)
}

/// Deletes finished runs created more than `days` days ago, oldest first, in batches that keep no
/// other writer waiting long ([`crate::db::purge`]); returns how many.
pub async fn purge(db: &DatabaseConnection, days: u32) -> anyhow::Result<u64> {
    let Some(cutoff) = cutoff(days) else {
        return Ok(0);
    };
    // Finished as "none of the unfinished states": SQLite would answer `state IN (finished)` from the
    // state index, reading every finished run (see `crate::db::purge::in_batches`).
    let total = crate::db::purge::in_batches::<flow_run::Entity>(
        db,
        flow_run::Column::Id,
        Some(flow_run::Column::CreatedAt),
        Condition::all()
            .add(flow_run::Column::CreatedAt.lt(cutoff))
            .add(flow_run::Column::State.is_not_in(super::few::unfinished())),
    )
    .await?;
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
