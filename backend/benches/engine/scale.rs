//! `import`: a national-scale prediction run with `import_to_dhis2: import`, by the real release
//! binaries: `chap-scheduler serve` (embedded) against `dhis2-sim --national-scale 1000,60,5`
//! (300k analytics rows; 1,000 org units × 3 forecast months × 5 quantile targets = 15,000 values).
//! Prints the run's and the import step's durations, the serve process's peak RSS, the import
//! requests DHIS2 received and the report's import line. Both binaries are built by `scripts/bench`
//! next to this benchmark (`target/release`), or named by CHAP_BENCH_APP_BIN and CHAP_BENCH_SIM_BIN.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::support::{command, sim_block, wait_ready, Api, Proc, Report, Services};

/// The release directory this benchmark runs from (`target/release/deps/engine-…` → `target/release`).
fn release_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .context("the benchmark's directory")
}

pub fn binary(var: &str, name: &str) -> Result<PathBuf> {
    let path = match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => release_dir()?.join(name),
    };
    if !path.exists() {
        bail!(
            "{} does not exist: build it (cargo build --release -p chap-scheduler -p dhis2-sim) or set {var}",
            path.display()
        );
    }
    Ok(path)
}

/// Starts the simulator with `args` on a free port; the process and its URL.
pub fn spawn_sim(sim_bin: &std::path::Path, args: &[&std::ffi::OsStr]) -> Result<(Proc, String)> {
    let mut cmd = std::process::Command::new(sim_bin);
    cmd.args(args).args(["--bind", "127.0.0.1:0"]);
    let sim = Proc::spawn(cmd, "dhis2-sim listening on ", Duration::from_secs(30))?;
    let url = sim
        .announced
        .trim_start_matches("dhis2-sim listening on ")
        .to_string();
    Ok((sim, url))
}

/// The national-scale import.
pub async fn import(_services: &Services, report: &mut Report) -> Result<()> {
    let app_bin = binary("CHAP_BENCH_APP_BIN", "chap-scheduler")?;
    let sim_bin = binary("CHAP_BENCH_SIM_BIN", "dhis2-sim")?;
    let data = tempfile::tempdir()?;
    let (sim, sim_url) = spawn_sim(
        &sim_bin,
        &["--national-scale".as_ref(), "1000,60,5".as_ref()],
    )?;
    let serve = Proc::spawn(
        command(
            &app_bin,
            &["serve"],
            data.path(),
            &[("CHAP_SCHEDULER_PREDICTION_POLL_SECONDS", "0.2".to_string())],
        ),
        "listening on ",
        Duration::from_secs(30),
    )?;
    let base = serve.url()?;
    wait_ready(&base, Duration::from_secs(30)).await?;
    let api = Api::sign_in(&base).await?;
    let block = sim_block(&api, "national", &sim_url).await?;
    let deployment = api.deployment_id("dhis2-chap-prediction").await?;
    let idle = serve.mem()?;
    let started = Instant::now();
    let (status, run) = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/deployments/{deployment}/runs"),
            json!({ "parameters": { "credentials": block["id"], "import_to_dhis2": "import" } }),
        )
        .await?;
    if !status.is_success() {
        bail!("triggering the run: {status} {run}");
    }
    let id = run["id"].as_str().context("run id")?.to_string();
    let detail = loop {
        let (_, detail) = api.get(&format!("/api/v1/runs/{id}")).await?;
        if matches!(
            detail["state"].as_str(),
            Some("COMPLETED" | "FAILED" | "CRASHED" | "CANCELLED")
        ) {
            break detail;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the run did not finish within 10 minutes: {detail}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed();
    let mem = serve.mem()?;
    if detail["state"] != "COMPLETED" {
        bail!(
            "the run ended {}: {}",
            detail["state"],
            detail["state_message"]
        );
    }
    let step_ms = |name: &str| -> Option<f64> {
        detail["task_runs"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == name)?["duration_seconds"]
            .as_f64()
            .map(|s| s * 1000.0)
    };
    let imports: Vec<Value> = reqwest::get(format!("{sim_url}/__sim/imports"))
        .await?
        .json()
        .await?;
    let values: Value = reqwest::get(format!("{sim_url}/__sim/data-values"))
        .await?
        .json()
        .await?;
    let (_, artifacts) = api.get(&format!("/api/v1/runs/{id}/artifacts")).await?;
    let text = artifacts[0]["content"].as_str().unwrap_or("");
    let line = text
        .lines()
        .find(|l| l.starts_with("- **DHIS2 import:**"))
        .unwrap_or("(no import line)");
    let dry = imports.iter().filter(|i| i["dry_run"] == true).count();
    let forecast_bytes = api
        .get_bytes(&format!("/api/v1/runs/{id}/forecasts"))
        .await?
        .len();
    report.add(
        "national-scale run with import (300k rows → 15,000 values)",
        format!("{:.1} s", elapsed.as_secs_f64()),
        "",
    );
    report.add(
        "  import step: dry run + import of 15,000 values",
        match step_ms("Import forecast into DHIS2") {
            Some(ms) => format!("{ms:.0} ms"),
            None => "step not found".into(),
        },
        "< 5 s",
    );
    report.add(
        "  import requests (dry run + import)",
        format!("{} ({dry} + {})", imports.len(), imports.len() - dry),
        "",
    );
    report.add(
        "  values stored in the simulated DHIS2",
        values.as_array().map_or(0, Vec::len).to_string(),
        "15,000",
    );
    report.add(
        "  forecast artifact (1,000 org units × 3 periods × 5 quantiles + 24 observations)",
        format!("{:.0} KiB", forecast_bytes as f64 / 1024.0),
        "< 2 MB",
    );
    report.add(
        "  serve RSS: idle → peak (VmHWM) over the run",
        format!("{:.1} → {:.1} MiB", idle.rss, mem.peak),
        "< 200 MB",
    );
    println!("  report: {line}");
    serve.stop();
    sim.stop();
    Ok(())
}
