//! Database access: the connection (SQLite embedded or PostgreSQL), migrations, entities and repositories.

pub mod audit;
pub mod clock;
pub mod dead_peers;
pub mod entities;
pub mod purge;
pub mod users;
mod writes;

pub use writes::{
    begin_housekeeping_write, begin_run_write, begin_write, checkpoint_wal, cte, insert_together,
    writes_in, RelaxedWrites, WriteTxn, WAL_CHECKPOINT_EVERY,
};

use std::time::Duration;

use anyhow::Context;
use chap_scheduler_migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, RuntimeErr, SqlErr,
    Statement,
};
use secrecy::ExposeSecret;

use crate::config::Config;

/// How long PostgreSQL lets a session sit idle inside a transaction before ending it.
pub const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5s";

/// A PostgreSQL connection idle in the pool for this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// Opens the database named by the configuration. For SQLite the data folder and file are created and
/// the journal is switched to WAL (readers never block the writer).
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url.expose_secret();
    let sqlite = config.database_kind() == "sqlite";
    if sqlite {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data folder {}", config.data_dir.display()))?;
    }
    let mut opts = ConnectOptions::new(url.to_string());
    // A process frozen (SIGSTOP, a stalled VM) inside a transaction would keep its row locks for as
    // long as its connection lives, and the reaper, a cancel or a dispatcher would wait behind them.
    // Our transactions never wait on anything but the database: idle in one for seconds means the
    // client is gone or frozen, and PostgreSQL ends that session, releasing its locks.
    opts.map_sqlx_postgres_opts(|pg| {
        pg.options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        )])
    });
    // WAL with `synchronous=FULL`: every commit of this pool is on the disk when it returns (the WAL
    // is synced), so an answered API write or a run's final state survives a power cut. Writes that
    // need not be durable on their own go through [`RelaxedWrites`] instead.
    //
    // SQLite's own checkpoints run inside the commit that takes the WAL past `wal_autocheckpoint`
    // pages: that writer copies the pages into the database and syncs it while every other writer
    // waits. `serve`'s dispatcher checkpoints instead (`checkpoint_wal`, without blocking writers);
    // the automatic one is left as a backstop for a WAL of 40 MiB.
    opts.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
            .pragma("wal_autocheckpoint", "10000")
    });
    // sqlx pings a pooled connection before handing it out, by default: a round trip to the server, or
    // to the connection's worker thread on SQLite, in front of every query and transaction. A
    // connection that broke while in use is closed when it is returned (sqlx pings it then), so a
    // ping before use only catches one that broke while idle: a SQLite file cannot, a PostgreSQL
    // connection can (the server restarted), and only after some idle time is that worth a round trip.
    if sqlite {
        opts.test_before_acquire(false);
    } else {
        opts.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    }
    if let Some(port) = postgres_tcp_port(url) {
        dead_peers::configure(config.dead_connection_after);
        opts.map_sqlx_postgres_pool_opts(move |pool| {
            pool.after_connect(move |_, _| {
                Box::pin(async move {
                    dead_peers::after_connect(port).await;
                    Ok(())
                })
            })
        });
    }
    opts.max_connections(if sqlite { 8 } else { 16 })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let db = Database::connect(opts)
        .await
        .with_context(|| format!("connecting to {}", crate::config::mask_url(url)))?;
    if sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL;")
            .await
            .context("switching SQLite to WAL mode")?;
    }
    Ok(db)
}

/// The TCP port of a PostgreSQL URL (`None` for SQLite or a Unix socket).
fn postgres_tcp_port(url: &str) -> Option<u16> {
    use std::str::FromStr;
    if !url.starts_with("postgres") {
        return None;
    }
    let options = sea_orm::sqlx::postgres::PgConnectOptions::from_str(url).ok()?;
    if options.get_socket().is_some() || options.get_host().starts_with('/') {
        return None;
    }
    Some(options.get_port())
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("applying database migrations")
}

/// Every migration this build knows, in order, with whether the database has it (`migrate status`).
/// Reads only: it creates nothing, so a database user without DDL rights can ask.
pub async fn migration_status(db: &DatabaseConnection) -> anyhow::Result<Vec<(String, bool)>> {
    let migrations = Migrator::get_migration_with_status_read_only(db)
        .await
        .context(
        "reading the applied migrations (a newer chap-scheduler may have migrated this database)",
    )?;
    Ok(migrations
        .iter()
        .map(|m| {
            (
                m.name().to_owned(),
                m.status() == chap_scheduler_migration::MigrationStatus::Applied,
            )
        })
        .collect())
}

/// Whether an error means the database cannot serve requests at all (unreachable, connection lost,
/// database or tables missing, still locked after the busy timeout) rather than a fault of this
/// request: such requests answer 503, not 500.
pub fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailable(e)
        }
        _ => false,
    }
}

fn sqlx_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let message = db.message();
            // PostgreSQL: connection exceptions (08…), insufficient resources (53…: disk full, out
            // of memory, too many connections), shutdown (57P…), no such database (3D000), no such
            // table (42P01: the schema is gone).
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "3D000"
                || code == "42P01"
                // SQLite: busy or locked (5, 6 and their extended codes), cannot open (14), I/O (10),
                // disk full (13), not a database (26), and a missing table.
                || matches!(code.parse::<u32>().map(|c| c & 0xff), Ok(5 | 6 | 10 | 13 | 14 | 26))
                || message.starts_with("no such table")
        }
        _ => false,
    }
}

/// How long a worker keeps trying to write a run's records (log lines, steps, checkpoints, an attempt's
/// end) while the database is unavailable: an outage that long (PostgreSQL restarting, SQLite's disk
/// full for a moment) loses none of them, and leaves no run RUNNING without its worker.
pub const OUTAGE_RETRY_FOR: Duration = Duration::from_secs(60);

/// The longest wait between two tries of [`while_unavailable`].
const OUTAGE_LONGEST_WAIT: Duration = Duration::from_secs(2);

/// Runs `write` again while it fails on an unavailable database ([`is_unavailable`]), for up to
/// [`OUTAGE_RETRY_FOR`], the waits growing from 100 ms to 2 s; its first other outcome, or the last
/// failure.
pub async fn while_unavailable<T, F, Fut>(what: &str, mut write: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbErr>>,
{
    let first = std::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match write().await {
            Err(e) if is_unavailable(&e) && first.elapsed() < OUTAGE_RETRY_FOR => {
                tracing::warn!(error = %e, "{what} failed: the database is unavailable; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(OUTAGE_LONGEST_WAIT);
            }
            other => return other,
        }
    }
}

/// Where the schema stands against this build's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration of this build is applied (a newer build may have applied more).
    Current,
    /// No migration table: an empty or foreign database.
    Unmigrated,
    /// Migrations of this build not applied yet.
    Behind(Vec<String>),
}

/// Reads the applied migrations without changing anything (readiness must not migrate).
pub async fn schema_state(db: &DatabaseConnection) -> Result<SchemaState, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) if is_missing_table(&e) => return Ok(SchemaState::Unmigrated),
        Err(e) => return Err(e),
    };
    let applied: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "version").ok())
        .collect();
    let missing: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .filter(|name| !applied.contains(name))
        .collect();
    Ok(if missing.is_empty() {
        SchemaState::Current
    } else {
        SchemaState::Behind(missing)
    })
}

fn is_missing_table(err: &DbErr) -> bool {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(&**e, sea_orm::sqlx::Error::Database(db)
                if db.code().as_deref() == Some("42P01") || db.message().starts_with("no such table"))
        }
        _ => false,
    }
}

/// True when the error is a unique-constraint violation (mapped to 409 by the HTTP layer).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, DatabaseBackend, Statement};

    /// Fails unless the bundled SQLite was compiled with `option` (`LIBSQLITE3_FLAGS` in
    /// `.cargo/config.toml`), as `PRAGMA compile_options` names it.
    async fn assert_sqlite_compiled_with(option: &str) {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let options: Vec<String> = db
            .query_all_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "PRAGMA compile_options",
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).unwrap())
            .collect();
        assert!(
            options.iter().any(|o| o == option),
            "{option} is not among the compile options: {options:?}"
        );
    }

    /// The bundled SQLite is built without memory statistics: with them, every allocation and free
    /// of every connection takes one process-wide mutex, which halved the API's throughput
    /// (docs/benchmarks.md, `http`).
    #[tokio::test]
    async fn sqlite_is_built_without_memory_statistics() {
        assert_sqlite_compiled_with("DEFAULT_MEMSTATUS=0").await;
    }

    /// The bundled SQLite keeps the plan a statement was prepared with (the query planner stability
    /// guarantee). Without it, SQLite plans a statement with a bound `LIMIT` (sea-query binds every
    /// limit: each `.one()`, each page) for the value bound, so binding the next value expires the
    /// statement and its next step parses and plans it again: every such query of every request,
    /// claim and poll was compiled anew despite sqlx's statement cache (seen with a breakpoint on
    /// `sqlite3Reprepare`; issue 16, docs/benchmarks.md).
    #[tokio::test]
    async fn sqlite_keeps_one_plan_per_prepared_statement() {
        assert_sqlite_compiled_with("ENABLE_QPSG").await;
    }

    /// A full disk is an unavailable database (503 with `Retry-After`, and the workers' writer keeps
    /// trying), not an internal error: SQLite's `SQLITE_FULL`, here reached through a page limit.
    #[tokio::test]
    async fn a_full_disk_is_an_unavailable_database() {
        let mut opts = sea_orm::ConnectOptions::new("sqlite::memory:");
        opts.max_connections(1).min_connections(1);
        let db = Database::connect(opts).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (x BLOB)")
            .await
            .unwrap();
        db.execute_unprepared("PRAGMA max_page_count = 8")
            .await
            .unwrap();
        let mut full = None;
        for _ in 0..100 {
            if let Err(e) = db
                .execute_unprepared("INSERT INTO t VALUES (zeroblob(4000))")
                .await
            {
                full = Some(e);
                break;
            }
        }
        let e = full.expect("the page limit was never reached");
        assert!(e.to_string().contains("full"), "{e}");
        assert!(super::is_unavailable(&e), "{e}");
    }

    /// sqlx 0.9.0 stopped setting `TCP_NODELAY` on its sockets (sqlx issue #4335, fixed in 0.9.1).
    /// Over TLS, a statement bigger than one TLS record (16 KiB: a batch of a run's log lines, a
    /// report) went out as two writes, and the second waited for the server's delayed ACK: about
    /// 40 ms, on every such statement, in the one log writer every run's end goes through (issue 16,
    /// docs/benchmarks.md). The option cannot be read off sqlx's sockets without unsafe code, so this
    /// pins the version that sets it.
    #[test]
    fn sqlx_is_a_version_that_sends_without_delay() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("the workspace's Cargo.lock");
        let version = lock
            .split("[[package]]")
            .find_map(|p| {
                p.contains("name = \"sqlx-core\"\n")
                    .then(|| p.split("version = \"").nth(1)?.split('"').next())
                    .flatten()
            })
            .expect("sqlx-core in Cargo.lock");
        let parts: Vec<u32> = version.split('.').filter_map(|n| n.parse().ok()).collect();
        assert!(
            parts.as_slice() >= [0, 9, 1].as_slice(),
            "sqlx-core {version} does not set TCP_NODELAY"
        );
    }
}
