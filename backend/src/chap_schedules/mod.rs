//! Schedules that follow chap (`source: chap`, issue 12 §1): the prediction setups of the chap behind
//! the schedule's `credentials` block are read every `CHAP_SCHEDULER_CHAP_SYNC_SECONDS` (and on
//! demand), and each enabled setup fires one run restricted to it (`prediction_setup_ids: [id]`) at
//! each slot of its own `scheduleCronExpression` (or the schedule's `fallback_cron`), read in the
//! schedule's timezone.
//!
//! - [`store`] owns `chap_syncs` (per schedule: the last synchronisation, and when the next is due)
//!   and `chap_setups` (per setup: its cron as last read, its status and its slots).
//! - [`sync`] reads chap and replaces a schedule's setups; a failure keeps the last known ones.
//! - [`fire`] turns due setup slots into runs, with idempotency keys
//!   `schedule:<id>:setup:<setup id>:<slot>`, so several scheduler instances never duplicate one.
//! - [`edit`] switches a setup's schedule in chap (`PATCH …/prediction-setups/{id}`), then syncs.
//!
//! The orchestrator stays generic: it only stores a schedule's `source` and `fallback_cron`, and
//! never fires a `chap` schedule itself (its `next_fire_at` stays empty).

mod client;
mod cron;
mod edit;
mod fire;
mod store;
mod sync;

use std::time::Duration;

use tokio::task::JoinSet;

pub use edit::update_setup;
pub use fire::slot_key;
pub use store::{decorate, scheduled_setups, setups_view};
pub use sync::{chap_schedule, replan, sync_now};

use serde_json::Value;

use crate::blocks::BlockStore;
use crate::db::entities::deployment;
use crate::error::{AppError, AppResult};
use crate::flows::dhis2_chap_prediction::FLOW_NAME;
use crate::orchestrator::Engine;
use crate::telemetry::repeats::{Level, Repeats};

/// What a `chap` schedule needs beyond the generic checks: a deployment of the prediction flow, a
/// `credentials` block among its parameters (pinned over the deployment's), and a readable fallback.
pub fn check_schedule(
    dep: &deployment::Model,
    pinned: &Value,
    fallback_cron: Option<&str>,
    timezone: &str,
    settings: &Settings,
) -> AppResult<()> {
    if dep.flow_name != FLOW_NAME {
        return Err(AppError::field(
            "source",
            format!(
                "only a deployment of the `{FLOW_NAME}` flow can follow chap's prediction setups; \
                 `{}` runs `{}`",
                dep.name, dep.flow_name
            ),
        ));
    }
    client::credentials_id(&dep.parameters, pinned)
        .map_err(|m| AppError::field("parameters.credentials", m))?;
    for key in ["prediction_setup_id", "prediction_setup_ids"] {
        if pinned.get(key).is_some_and(|v| !v.is_null()) {
            return Err(AppError::field(
                &format!("parameters.{key}"),
                "a schedule that follows chap runs each setup on its own: pin no setup ids",
            ));
        }
    }
    cron::check_fallback(fallback_cron, timezone, settings.cron_seconds)
}

/// Settings of the chap-following schedules.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often each active `chap` schedule reads chap's setups (`CHAP_SCHEDULER_CHAP_SYNC_SECONDS`).
    pub sync_interval: Duration,
    /// Tests only (`CHAP_SCHEDULER_CHAP_CRON_SECONDS`): accept 6-field crons (seconds first) from chap
    /// and as fallback, to run a schedule in seconds instead of minutes. chap itself stores 5 fields.
    pub cron_seconds: bool,
    /// Per-request timeout of the calls to chap made for schedules.
    pub chap_timeout: Duration,
    /// The longest answer read from chap (`CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB`).
    pub max_response_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sync_interval: Duration::from_secs(300),
            cron_seconds: false,
            chap_timeout: Duration::from_secs(30),
            max_response_bytes:
                crate::flows::dhis2_chap_prediction::client::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// What the chap-following scheduler needs.
#[derive(Clone)]
pub struct ChapSchedules {
    /// The engine (database, flows, triggers).
    pub engine: Engine,
    /// The credentials blocks.
    pub blocks: BlockStore,
    /// Settings.
    pub settings: Settings,
}

impl ChapSchedules {
    /// The loop of `serve`: claims due synchronisations (each in a task of its own, so a slow chap
    /// delays no other schedule) and fires due setup slots, about twice a second. Runs forever.
    pub async fn run(self) {
        let mut syncs = JoinSet::new();
        let mut claiming = Repeats::new("claiming chap synchronisations failed", Level::Error);
        let mut firing = Repeats::new("firing chap setup slots failed", Level::Error);
        loop {
            claiming.record(&self.start_due_syncs(&mut syncs).await);
            firing.record(&fire::tick(&self.engine).await);
            while syncs.try_join_next().is_some() {}
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn start_due_syncs(&self, syncs: &mut JoinSet<()>) -> anyhow::Result<()> {
        let now = crate::db::users::now();
        let db = self.engine.db();
        for schedule in crate::orchestrator::schedules::active_chap(db).await? {
            if store::claim_sync(db, schedule.id, now, self.settings.sync_interval).await? {
                let this = self.clone();
                syncs.spawn(async move {
                    // The outcome is stored with the schedule; nothing else to do with it here.
                    let _ = sync::sync_schedule(&this, &schedule).await;
                });
            }
        }
        Ok(())
    }
}
