//! The benchmark's own flow and the two child modes in which the bench binary re-executes itself:
//! production registers only real flows, so `serve` and `worker` processes that must run the trivial
//! flow are this binary, building the real application with [`registry`].

use anyhow::Result;
use chap_scheduler::config::Config;
use chap_scheduler::orchestrator::{Flow, FlowError, FlowRegistry, RunContext};
use chap_scheduler::startup::{self, Application};
use futures_util::future::BoxFuture;
use serde_json::{json, Value};

/// Name of the trivial flow.
pub const FLOW: &str = "bench-noop";

/// Does nothing: a run of it costs only the engine's own work (claim, logs, state changes).
pub struct Noop;

impl Flow for Noop {
    fn name(&self) -> &'static str {
        FLOW
    }
    fn description(&self) -> &'static str {
        "does nothing; measures the engine's overhead per run"
    }
    fn parameter_schema(&self) -> Value {
        json!({ "type": "object" })
    }
    fn default_concurrency_limit(&self) -> Option<u32> {
        None
    }
    fn run<'a>(&'a self, _ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The flows of every benchmark process.
pub fn registry() -> FlowRegistry {
    FlowRegistry::new().register(Noop)
}

fn config() -> Result<Config> {
    chap_scheduler::install_crypto_provider();
    let config = Config::from_env()?;
    chap_scheduler::telemetry::init(&config.log, &config.log_format);
    Ok(config)
}

/// `--serve-mode`: what `chap-scheduler serve` does, with the benchmark's flows.
pub async fn serve() -> Result<()> {
    let config = config()?;
    let bind = config.bind;
    let app = Application::build_with(config, registry()).await?;
    println!("listening on http://{}:{}", bind.ip(), app.port());
    app.run_until_stopped().await
}

/// `--worker-mode`: what `chap-scheduler worker` does, with the benchmark's flows.
pub async fn worker() -> Result<()> {
    let config = config()?;
    let engine = startup::engine(&config, registry()).await?;
    println!("worker {} started", engine.worker_id());
    startup::run_worker_process(engine, &config).await?;
    Ok(())
}
