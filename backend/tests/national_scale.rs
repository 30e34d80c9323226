//! National-scale figures (TARGETS.md, "data scale"): one prediction run over 1,000 org units × 60 months
//! × 5 covariates (300k analytics rows) against the simulator, through the engine. Prints, never asserts:
//!
//! ```text
//! cargo build --release -p dhis2-sim
//! cargo test --release -p chap-scheduler --test national_scale -- --ignored --nocapture
//! ```
//!
//! The simulator runs as its own process (`target/<profile>/dhis2-sim`), so the peak RSS printed
//! (`VmHWM`) is this process's alone: the engine, the flow and an SQLite database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use chap_scheduler::config::Config;
use chap_scheduler::db::entities::{artifact, deployment, flow_run, task_run};
use chap_scheduler::flows::dhis2_chap_prediction::{PredictionFlow, PredictionSettings};
use chap_scheduler::orchestrator::{
    deployments, BlockData, BlockSource, Engine, EngineSettings, FlowRegistry, Queue, Trigger,
};
use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use uuid::Uuid;

/// Serves one credentials block from memory.
struct OneBlock(BlockData);

impl BlockSource for OneBlock {
    fn load(&self, id: Uuid) -> BoxFuture<'_, anyhow::Result<Option<BlockData>>> {
        let block = (id == self.0.id).then(|| self.0.clone());
        Box::pin(async move { Ok(block) })
    }
}

struct Sim {
    child: Child,
    url: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(scenario: &std::path::Path) -> Sim {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("dhis2-sim"))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build [--release] -p dhis2-sim`",
        bin.display()
    );
    let mut child = Command::new(&bin)
        .args(["--scenario", &scenario.display().to_string()])
        .args(["--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("dhis2-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected simulator output: {line}"))
        .to_string();
    Sim { child, url }
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures; run with --ignored --nocapture (release)"]
async fn national_scale_run_prints_its_figures() {
    chap_scheduler::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("national.json");
    std::fs::write(
        &scenario,
        json!({
            "username": "admin", "password": "district", "today": "2026-05-07",
            "record_bodies": true,
            "scale": { "org_units": 1000, "months": 60, "covariates": 5 }
        })
        .to_string(),
    )
    .unwrap();
    let sim = start_sim(&scenario);

    let vars: HashMap<String, String> = [(
        "DATABASE_URL".to_string(),
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        ),
    )]
    .into_iter()
    .collect();
    let config = Config::from_source(&vars).unwrap();
    let db = chap_scheduler::db::connect(&config).await.unwrap();
    chap_scheduler::db::migrate(&db).await.unwrap();
    let settings = PredictionSettings {
        poll_interval: std::time::Duration::ZERO,
        ..PredictionSettings::default()
    };
    let registry = FlowRegistry::new().register(PredictionFlow::new(settings));
    deployments::ensure_defaults(&db, &registry).await.unwrap();
    let block = BlockData {
        id: Uuid::new_v4(),
        name: "national".into(),
        block_type: "dhis2-credentials".into(),
        data: json!({ "base_url": sim.url, "username": "admin", "password": "district" }),
        secrets: vec!["district".into()],
    };
    let block_id = block.id;
    let engine = Engine::new(
        db.clone(),
        registry,
        Queue::embedded(),
        EngineSettings::default(),
        Arc::new(OneBlock(block)),
    );
    let dep = deployment::Entity::find()
        .filter(deployment::Column::FlowName.eq("dhis2-chap-prediction"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let before = vm_hwm_kib();

    let started = Instant::now();
    let (run, _) = engine
        .trigger(
            &dep,
            Some(&json!({ "credentials": block_id })),
            Trigger::Manual("bench".into()),
            None,
            None,
            None,
        )
        .await
        .unwrap();
    engine.execute(run.id).await.unwrap();
    let wall = started.elapsed();
    let peak = vm_hwm_kib();

    let run = flow_run::Entity::find_by_id(run.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let steps = task_run::Entity::find()
        .filter(task_run::Column::FlowRunId.eq(run.id))
        .order_by_asc(task_run::Column::Position)
        .all(&db)
        .await
        .unwrap();
    let report = artifact::Entity::find()
        .filter(artifact::Column::FlowRunId.eq(run.id))
        .one(&db)
        .await
        .unwrap()
        .map(|a| a.content)
        .unwrap_or_default();
    let http = reqwest::Client::new();
    let requests: Vec<Value> = http
        .get(format!("{}/__sim/requests", sim.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let analytics_calls = requests
        .iter()
        .filter(|r| r["path"] == "/api/analytics")
        .count();
    let submissions: Vec<Value> = http
        .get(format!("{}/__sim/submissions", sim.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = &submissions[0]["body"];
    let body_bytes = serde_json::to_vec(body).unwrap().len();

    println!("\n== national-scale run: 1,000 org units x 60 months x 5 covariates ==");
    println!(
        "run state              : {} ({:?})",
        run.state, run.state_message
    );
    let mut job_time = 0.0;
    for s in &steps {
        let secs = s
            .ended_at
            .map(|e| (e - s.started_at).num_milliseconds() as f64 / 1000.0)
            .unwrap_or(f64::NAN);
        if s.name == "Wait for prediction job" {
            job_time = secs;
        }
        println!("  step {:<40} {:>9} {:>8.3} s", s.name, s.state, secs);
    }
    println!(
        "wall time              : {:.3} s (excluding the simulated job wait of {job_time:.3} s: {:.3} s)",
        wall.as_secs_f64(),
        wall.as_secs_f64() - job_time
    );
    println!(
        "peak RSS (VmHWM)       : {:.1} MiB (before the run: {:.1} MiB)",
        mib(peak),
        mib(before)
    );
    println!(
        "request body           : {body_bytes} bytes ({:.1} MiB), {} observations",
        body_bytes as f64 / 1024.0 / 1024.0,
        body["providedData"].as_array().map_or(0, Vec::len)
    );
    println!("analytics calls        : {analytics_calls} (probe + input chunks)");
    println!(
        "report excerpt         : {}",
        report
            .lines()
            .filter(|l| l.starts_with("- ") || l.starts_with("## Prediction"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
}
