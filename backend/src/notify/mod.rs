//! Notifications (issue 13): rules send events about runs (and schedules) through channel blocks —
//! `webhook` (JSON signed with HMAC-SHA256, or Slack/Teams text) and `smtp` (lettre) — durably:
//!
//! - [`events`] decides which final run states notify; it is called inside the transaction that ends
//!   the run, and [`deliveries`] (the outbox's owner) writes one row per rule and event there;
//! - the [`sender`] takes due rows in the background, sends them, retries with exponential backoff
//!   from `CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS` for 24 hours, and survives restarts (a taken row
//!   is due again if its sender dies);
//! - [`rules`] owns the rules; [`payload`] says what is sent.

pub mod deadlines;
pub mod deliveries;
pub mod events;
pub mod payload;
pub mod rules;
pub mod sender;
mod smtp;
mod webhook;

use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::blocks::BlockStore;

/// Notification settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `CHAP_SCHEDULER_PUBLIC_URL`: where people open the UI (links in notifications), without a
    /// trailing slash; none: events carry no link.
    pub public_url: Option<String>,
    /// `CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS`: the first retry's delay, doubled each time.
    pub retry_base: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: None,
            retry_base: Duration::from_secs(30),
        }
    }
}

/// Deletes deliveries that are no longer pending and late slots, older than `days` days; returns how
/// many rows went.
pub async fn purge(db: &DatabaseConnection, days: u32) -> Result<u64, sea_orm::DbErr> {
    let Some(cutoff) = crate::orchestrator::store::retention::cutoff(days) else {
        return Ok(0);
    };
    Ok(deliveries::purge(db, cutoff).await? + deadlines::purge(db, cutoff).await?)
}

/// What sending needs.
#[derive(Clone)]
pub struct Notifier {
    /// The database.
    pub db: DatabaseConnection,
    /// The channel blocks.
    pub blocks: BlockStore,
    /// Settings.
    pub settings: Settings,
    client: reqwest::Client,
}

impl Notifier {
    /// A notifier; its HTTP client follows no redirects (a webhook URL is a secret endpoint).
    pub fn new(db: DatabaseConnection, blocks: BlockStore, settings: Settings) -> Self {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Notifier {
            db,
            blocks,
            settings,
            client,
        }
    }
}
