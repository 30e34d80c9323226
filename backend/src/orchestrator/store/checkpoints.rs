//! Checkpoints: what an attempt recorded so that a later attempt of the same run continues from it
//! (the prediction flow's chap job per setup). Written only while the lease holds, read by any attempt.

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use super::lease::{insert_while_held, Lease};
use crate::db::entities::run_checkpoint;
use crate::db::users::now;

/// Longest key stored (the column's width).
pub const KEY_MAX: usize = 200;

/// Records `value` under `key` for the run while `lease` holds it, replacing an earlier value; false
/// (nothing written) when the lease is gone.
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "checkpoint_write",
    skip_all
)]
pub async fn put_checkpoint(
    db: &DatabaseConnection,
    lease: &Lease,
    key: &str,
    value: Value,
) -> Result<bool, DbErr> {
    let insert = Query::insert()
        .into_table(run_checkpoint::Entity)
        .columns([
            run_checkpoint::Column::FlowRunId,
            run_checkpoint::Column::Key,
            run_checkpoint::Column::Value,
            run_checkpoint::Column::Attempt,
            run_checkpoint::Column::WrittenAt,
        ])
        .on_conflict(
            OnConflict::columns([
                run_checkpoint::Column::FlowRunId,
                run_checkpoint::Column::Key,
            ])
            .update_columns([
                run_checkpoint::Column::Value,
                run_checkpoint::Column::Attempt,
                run_checkpoint::Column::WrittenAt,
            ])
            .to_owned(),
        )
        .to_owned();
    let values = vec![
        Expr::value(key.chars().take(KEY_MAX).collect::<String>()),
        Expr::value(value),
        Expr::value(lease.attempt),
        Expr::value(now()),
    ];
    // One statement: on PostgreSQL a durable commit of its own; on SQLite in this process's turn.
    if db.get_database_backend() == DbBackend::Postgres {
        return insert_while_held(db, lease, insert, values).await;
    }
    let txn = crate::db::begin_run_write(db).await?;
    let held = insert_while_held(&txn, lease, insert, values).await?;
    txn.commit().await?;
    Ok(held)
}

/// The value recorded under `key` for the run, by any attempt.
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "checkpoint_read",
    skip_all
)]
pub async fn checkpoint(
    db: &DatabaseConnection,
    run_id: Uuid,
    key: &str,
) -> Result<Option<Value>, DbErr> {
    Ok(run_checkpoint::Entity::find()
        .filter(run_checkpoint::Column::FlowRunId.eq(run_id))
        .filter(run_checkpoint::Column::Key.eq(key))
        .one(db)
        .await?
        .map(|c| c.value))
}
