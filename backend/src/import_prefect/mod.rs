//! `chap-scheduler import-prefect --url <prefect api> [--dry-run]` (issue 15 §3): reads a running
//! Prefect 3 server of the old (Python) chap-scheduler and creates here its DHIS2 credentials blocks
//! (with their passwords), the prediction deployment's parameter defaults and its schedules. Prints
//! the plan first; idempotent by names; every write goes through the owner module and is audited
//! as `import-prefect`.

mod apply;
mod client;
mod mapping;
mod plan;
mod render;

use std::sync::Arc;

use anyhow::Context;
use chap_scheduler_api::ScheduleRequest;
use secrecy::SecretString;
use serde_json::Value;

pub use client::{PrefectClient, PrefectError, Snapshot};
pub use plan::Plan;

use crate::blocks::{BlockStore, DHIS2_CREDENTIALS};
use crate::config::Config;
use crate::db;
use crate::db::entities::deployment;
use crate::error::AppError;
use crate::flows::dhis2_chap_prediction::FLOW_NAME;
use crate::orchestrator::{deployments, schedules, Engine, Queue};
use crate::secrets::KeyRing;

/// This installation, as the import reads and writes it: the engine (database and flows) and the
/// block store with the key ring `serve` uses.
pub(crate) struct Here {
    engine: Engine,
    blocks: BlockStore,
}

/// An owner's refusal in one line, every field named.
fn reason(e: AppError) -> String {
    match e {
        AppError::Validation {
            details: Some(Value::Object(details)),
            ..
        } => details
            .iter()
            .map(|(field, message)| format!("{field}: {}", message.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

impl Here {
    /// Connects and migrates like `user add`, and makes sure the default deployments exist.
    async fn open(config: &Config) -> anyhow::Result<Here> {
        let keys = KeyRing::load(config.encryption_key.as_ref(), &config.data_dir)?;
        let conn = db::connect(config).await?;
        db::migrate(&conn).await?;
        let registry = crate::flows::registry(config);
        deployments::ensure_defaults(&conn, &registry).await?;
        let blocks = BlockStore::new(conn.clone(), Arc::new(keys));
        // The import creates no runs, so it needs no queue (and no Redis).
        let engine = Engine::new(
            conn,
            registry,
            Queue::embedded(),
            config.engine_settings(),
            Arc::new(blocks.clone()),
        );
        Ok(Here { engine, blocks })
    }

    /// The default prediction deployment.
    async fn deployment(&self) -> anyhow::Result<deployment::Model> {
        deployments::list(self.engine.db())
            .await?
            .into_iter()
            .find(|d| d.is_default && d.flow_name == FLOW_NAME)
            .with_context(|| format!("the default deployment of the flow `{FLOW_NAME}` is missing"))
    }

    /// What exists here: blocks (passwords of credentials blocks in clear, to compare), the
    /// deployment and its schedules.
    async fn ours(&self) -> anyhow::Result<plan::Ours> {
        let deployment = self.deployment().await?;
        let schedules = schedules::list(self.engine.db(), deployment.id).await?;
        let mut blocks = Vec::new();
        for view in self.blocks.list().await? {
            let password = match view.block_type == DHIS2_CREDENTIALS.slug {
                true => match self.blocks.open(view.id).await? {
                    Some(Ok(block)) => block.data["password"].as_str().map(SecretString::from),
                    _ => None,
                },
                false => None,
            };
            blocks.push(plan::OurBlock {
                id: view.id,
                name: view.name,
                block_type: view.block_type,
                data: view.data.as_object().cloned().unwrap_or_default(),
                password,
            });
        }
        let parameter_schema = self
            .engine
            .registry()
            .get(FLOW_NAME)
            .map(|f| f.parameter_schema())
            .with_context(|| format!("the flow `{FLOW_NAME}` is not registered"))?;
        Ok(plan::Ours {
            blocks,
            deployment,
            schedules,
            parameter_schema,
        })
    }

    /// Plans the import of `snapshot` into what exists now; a new schedule is checked exactly as
    /// the API checks it.
    async fn plan(&self, snapshot: &Snapshot) -> anyhow::Result<Plan> {
        let ours = self.ours().await?;
        let check = |defaults: &Value, req: &ScheduleRequest| {
            let mut dep = ours.deployment.clone();
            dep.parameters = defaults.clone();
            schedules::check_new(&self.engine, &dep, req).map_err(reason)
        };
        Ok(plan::plan(snapshot, &ours, &check))
    }
}

/// Runs the command: reads Prefect (an error when it cannot be read), prints the plan, applies it
/// unless `dry_run`. What cannot be mapped is reported, not an error.
pub async fn run(config: &Config, url: &str, dry_run: bool) -> anyhow::Result<()> {
    crate::install_crypto_provider();
    let client = PrefectClient::new(url)?;
    let snapshot = client.read().await?;
    let here = Here::open(config).await?;
    let plan = here.plan(&snapshot).await?;
    print!("{}", plan.render());
    if dry_run {
        println!("\ndry run: nothing was changed");
        return Ok(());
    }
    if !plan.changes_something() {
        println!(
            "\nnothing to change: everything Prefect holds that can be imported is here already"
        );
        return Ok(());
    }
    let done = apply::apply(&here, &snapshot, &plan).await?;
    println!("\n{done}");
    Ok(())
}
