//! Deleting many old rows without keeping other writers waiting (retention's passes): batch by batch,
//! oldest first, each batch one write in turn ([`begin_housekeeping_write`]: on SQLite after every
//! request waiting), sized so that it holds the write lock about [`BATCH_TIME`], with a pause at
//! least as long as the batch took before the next. A large backlog (the first pass after the
//! retention age is lowered, or after a long downtime) then takes at most about half of the write
//! time until it is gone, and a trigger waits for at most about one batch.

use std::time::{Duration, Instant};

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{begin_housekeeping_write, checkpoint_wal};

/// How long a batch should hold the write lock.
pub const BATCH_TIME: Duration = Duration::from_millis(5);

/// Rows in the first batch of a pass; later ones are sized by how long the one before took.
const FIRST_BATCH: u64 = 20;
/// Bounds of a batch's rows.
const BATCH_ROWS: (u64, u64) = (5, 2000);

/// Deletes the rows of `E` that `which` selects (and whatever cascades from them), in batches (see
/// the module's text), oldest by `oldest_first` first when it is given (an indexed column; without
/// it, in the order the table is read, which stops at a batch's count); `id` is `E`'s primary key.
/// Returns how many rows of `E` went.
///
/// Each batch's ids are read first, outside the write (on SQLite readers never wait for the writer,
/// nor it for them); the delete then looks them up by primary key and checks `which` again, so a row
/// that stopped matching in between is kept. `which` must not offer SQLite a better-looking index
/// than the primary key for that delete: no `=` or `IN` on an indexed column (SQLite, without
/// statistics, would read every row of that value instead of the batch's ids).
pub async fn in_batches<E>(
    db: &DatabaseConnection,
    id: E::Column,
    oldest_first: Option<E::Column>,
    which: Condition,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
{
    let mut rows = FIRST_BATCH;
    let mut deleted = 0;
    loop {
        let mut find = E::find().select_only().column(id).filter(which.clone());
        if let Some(column) = oldest_first {
            find = find.order_by_asc(column);
        }
        let ids: Vec<Uuid> = find.limit(rows).into_tuple().all(db).await?;
        let found = ids.len() as u64;
        if found == 0 {
            break;
        }
        let asked = Instant::now();
        let txn = begin_housekeeping_write(db).await?;
        let t0 = Instant::now();
        let gone = E::delete_many()
            .filter(id.is_in(ids))
            .filter(which.clone())
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        let took = t0.elapsed();
        deleted += gone;
        tracing::debug!(
            table = E::default().table_name(),
            rows = gone,
            waited_ms = (t0 - asked).as_secs_f64() * 1e3,
            took_ms = took.as_secs_f64() * 1e3,
            "purge batch"
        );
        // The batch's pages copied from SQLite's WAL into the file now, outside the turn to write,
        // rather than by the commit of the next writer that finds the WAL past its limit.
        if let Err(e) = checkpoint_wal(db).await {
            tracing::debug!(error = %e, "purge: the WAL checkpoint after a batch failed");
        }
        if found < rows {
            break;
        }
        rows = next_batch(rows, took);
        tokio::time::sleep(took.max(BATCH_TIME)).await;
    }
    Ok(deleted)
}

/// The next batch's rows after `rows` took `took`: scaled toward [`BATCH_TIME`], at most halved or
/// doubled at a time, within [`BATCH_ROWS`].
fn next_batch(rows: u64, took: Duration) -> u64 {
    let scaled = rows as f64 * BATCH_TIME.as_secs_f64() / took.as_secs_f64().max(1e-6);
    (scaled as u64)
        .clamp(rows / 2, rows * 2)
        .clamp(BATCH_ROWS.0, BATCH_ROWS.1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{next_batch, BATCH_ROWS, BATCH_TIME};

    #[test]
    fn a_batch_grows_when_quick_and_shrinks_when_slow_within_bounds() {
        assert_eq!(next_batch(100, BATCH_TIME), 100);
        assert_eq!(next_batch(100, BATCH_TIME * 2), 50);
        assert_eq!(
            next_batch(100, Duration::from_millis(1)),
            200,
            "doubled at most"
        );
        assert_eq!(
            next_batch(100, Duration::from_secs(1)),
            50,
            "halved at most"
        );
        assert_eq!(next_batch(8, Duration::from_secs(1)), BATCH_ROWS.0);
        assert_eq!(next_batch(1500, Duration::ZERO), BATCH_ROWS.1);
    }
}
