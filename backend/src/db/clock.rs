//! The installation's clock: the database server's.
//!
//! `serve` and the workers may run on several hosts, and they compare each other's timestamps: the
//! reaper holds a run's heartbeat, written by its worker, against its own deadline; a worker's sweep
//! holds a run's `enqueued_at`, written by `serve`, against its own. A host whose clock is off by more
//! than the heartbeat timeout would have every run it executes crashed while it runs (or, ahead, its
//! runs seen silent only that much later). So every timestamp the service writes or compares is this
//! host's clock corrected by its offset from the database server's clock, measured at start and every
//! [`SYNC_EVERY`] ([`run_sync`]). On SQLite the database is a file on this host: there is no offset.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio_util::sync::CancellationToken;

/// How often the offset is measured again.
pub const SYNC_EVERY: Duration = Duration::from_secs(30);

/// Samples per measurement; the one with the shortest round trip counts.
const SAMPLES: usize = 3;

/// A sample whose round trip took longer than this says nothing useful about the offset.
const USELESS_ROUND_TRIP: Duration = Duration::from_secs(1);

/// An offset at least this large is logged as a warning (the host's time sync is broken).
const WARN_FROM: TimeDelta = TimeDelta::seconds(1);

/// The database's clock minus this host's, in microseconds.
static OFFSET_MICROS: AtomicI64 = AtomicI64::new(0);

/// Added to the system clock to make this host's clock: zero, except in the tests that stand in for a
/// host whose clock is off ([`skew_host_clock`]).
static HOST_SKEW_MICROS: AtomicI64 = AtomicI64::new(0);

/// Now, by the database server's clock, truncated to microseconds so that values round-trip exactly
/// through every database.
pub fn now() -> DateTime<Utc> {
    let t = host_now() + offset();
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// This host's clock.
fn host_now() -> DateTime<Utc> {
    Utc::now() + TimeDelta::microseconds(HOST_SKEW_MICROS.load(Ordering::Relaxed))
}

/// Makes this process's host clock read `by` off the system clock. Only for tests: a process on a
/// host whose clock is off, which no test can make of the machine it runs on (libfaketime, which
/// could, breaks Rust's monotonic clock).
#[doc(hidden)]
pub fn skew_host_clock(by: TimeDelta) {
    HOST_SKEW_MICROS.store(by.num_microseconds().unwrap_or(0), Ordering::Relaxed);
}

/// The offset [`now`] adds to this host's clock.
pub fn offset() -> TimeDelta {
    TimeDelta::microseconds(OFFSET_MICROS.load(Ordering::Relaxed))
}

/// Measures the offset of this host's clock from the database server's and applies it to [`now`];
/// returns it. The sample with the shortest round trip counts, its uncertainty is half that round
/// trip, and an offset within its uncertainty is taken as none. On SQLite: none, without a query.
/// When no sample could be taken (the database did not answer in time), the offset stays as it was.
pub async fn sync(db: &DatabaseConnection) -> Result<TimeDelta, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(TimeDelta::zero());
    }
    let mut best: Option<(Duration, TimeDelta)> = None;
    for _ in 0..SAMPLES {
        let (round_trip, sample) = sample(db).await?;
        if round_trip < best.map_or(USELESS_ROUND_TRIP, |(rt, _)| rt) {
            best = Some((round_trip, sample));
        }
    }
    let Some((round_trip, measured)) = best else {
        return Ok(offset());
    };
    let uncertainty = TimeDelta::from_std(round_trip / 2).unwrap_or(TimeDelta::MAX);
    let applied = if measured.abs() <= uncertainty {
        TimeDelta::zero()
    } else {
        measured
    };
    let before = OFFSET_MICROS.swap(applied.num_microseconds().unwrap_or(0), Ordering::Relaxed);
    if applied.abs() >= WARN_FROM && (applied - TimeDelta::microseconds(before)).abs() >= WARN_FROM
    {
        tracing::warn!(
            offset_seconds = applied.num_milliseconds() as f64 / 1000.0,
            "this host's clock is off the database server's; the service keeps the database's time \
             (fix the host's time sync)"
        );
    }
    Ok(applied)
}

/// One sample: the round trip of reading the database's clock, and the database's clock minus this
/// host's at the middle of that round trip.
async fn sample(db: &DatabaseConnection) -> Result<(Duration, TimeDelta), DbErr> {
    let sent = host_now();
    let t0 = Instant::now();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT clock_timestamp() AS t",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the clock query returned no row".into()))?;
    let round_trip = t0.elapsed();
    let theirs: DateTime<Utc> = row.try_get("", "t")?;
    let middle = sent + TimeDelta::from_std(round_trip / 2).unwrap_or_default();
    Ok((round_trip, theirs - middle))
}

/// Measures the offset every [`SYNC_EVERY`] until `stop` (the first measurement is the caller's,
/// [`sync`] at start).
pub async fn run_sync(db: DatabaseConnection, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SYNC_EVERY) => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = sync(&db).await {
            tracing::warn!(error = %e, "measuring the database server's clock failed");
        }
    }
}
