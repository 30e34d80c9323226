//! Database access: the connection (SQLite embedded or PostgreSQL), migrations, entities and repositories.

pub mod audit;
pub mod entities;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use chap_scheduler_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, SqlErr};
use secrecy::ExposeSecret;

use crate::config::Config;

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

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("applying database migrations")
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

/// True when the error is a unique-constraint violation (mapped to 409 by the HTTP layer).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
