//! `logins`: the real `serve` under a burst of sign-ins: 64 parallel failed logins from one address, each
//! for another account (how many were verified, how many throttled, RSS during and 30 s after), then 100
//! ordinary logins (RSS 30 s after). Password hashing is memory-hard, so this is where memory is easiest to exhaust.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::support::{command, wait_ready, Proc, Report, Services, ADMIN_PASSWORD, BIN};

const PARALLEL_FAILURES: usize = 64;
const ORDINARY: usize = 100;
const REST: Duration = Duration::from_secs(30);

/// Samples the process's RSS every 20 ms until `stop`; returns the highest sample in MiB.
fn sample_peak(proc: &Proc, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    let status = format!("/proc/{}/status", proc.pid());
    std::thread::spawn(move || {
        let mut peak: f64 = 0.0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(text) = std::fs::read_to_string(&status) {
                if let Some(kib) = text
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    peak = peak.max(kib / 1024.0);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

/// `n` logins at once with `password`, as `admin` or each as another (unknown) user; the count of each
/// status, and the wall time in ms.
async fn burst(
    base: &str,
    n: usize,
    password: &str,
    as_admin: bool,
) -> (BTreeMap<u16, usize>, f64) {
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            let url = format!("{base}/api/v1/auth/login");
            let username = if as_admin {
                "admin".to_string()
            } else {
                format!("guess{i}")
            };
            let body = json!({ "username": username, "password": password });
            tokio::spawn(async move {
                match client.post(url).json(&body).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                }
            })
        })
        .collect();
    let mut counts = BTreeMap::new();
    for task in tasks {
        *counts.entry(task.await.unwrap_or(0)).or_default() += 1;
    }
    (counts, t0.elapsed().as_secs_f64() * 1000.0)
}

fn describe(counts: &BTreeMap<u16, usize>) -> String {
    counts
        .iter()
        .map(|(status, n)| format!("{n} × {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A fresh `serve` on its own data dir, ready.
async fn fresh_serve() -> Result<(Proc, String, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let proc = Proc::spawn(
        command(Path::new(BIN), &["serve"], dir.path(), &[]),
        "listening on ",
        Duration::from_secs(60),
    )?;
    let base = proc.url()?;
    wait_ready(&base, Duration::from_secs(60)).await?;
    Ok((proc, base, dir))
}

/// Runs `work` while sampling the RSS of `proc`; its result and the peak in MiB.
async fn sampled<T>(proc: &Proc, work: impl std::future::Future<Output = T>) -> (T, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak(proc, stop.clone());
    let out = work.await;
    stop.store(true, Ordering::Relaxed);
    (out, sampler.join().unwrap_or(0.0))
}

/// Rests, reports the RSS after the rest, and stops the process.
async fn rest_and_stop(proc: Proc, after: &str, report: &mut Report) -> Result<()> {
    tokio::time::sleep(REST).await;
    report.add(
        format!("serve RSS {} s after {after}", REST.as_secs()),
        format!("{:.1} MiB", proc.mem()?.rss),
        "< 60 MB",
    );
    proc.stop();
    Ok(())
}

/// Runs the `logins` benchmark.
pub async fn run(_services: &Services, report: &mut Report) -> Result<()> {
    let (proc, base, _dir) = fresh_serve().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = proc.mem()?.rss;
    let ((counts, ms), peak) = sampled(
        &proc,
        burst(&base, PARALLEL_FAILURES, "not-the-password", false),
    )
    .await;
    report.add(
        format!("{PARALLEL_FAILURES} parallel failed logins from one address: answers"),
        format!("{} in {ms:.0} ms (401 = verified)", describe(&counts)),
        "401s ≤ per-address limit (30), rest 429",
    );
    report.add(
        "serve RSS: idle before → peak during that burst",
        format!("{idle:.1} → {peak:.1} MiB"),
        "< 100 MB during",
    );
    rest_and_stop(proc, "the burst", report).await?;

    // A fresh process for the ordinary logins, so the failures above do not throttle them.
    let (proc, base, _dir) = fresh_serve().await?;
    let t0 = Instant::now();
    let (counts, peak) = sampled(&proc, async {
        let mut counts = BTreeMap::new();
        // Five at a time: the per-account limit counts sign-ins in flight from one address.
        for _ in 0..ORDINARY / 5 {
            for (status, n) in burst(&base, 5, ADMIN_PASSWORD, true).await.0 {
                *counts.entry(status).or_default() += n;
            }
        }
        counts
    })
    .await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    report.add(
        format!("{ORDINARY} ordinary logins, 5 at a time"),
        format!(
            "{} in {ms:.0} ms; peak RSS {peak:.1} MiB",
            describe(&counts)
        ),
        "",
    );
    rest_and_stop(proc, &format!("{ORDINARY} logins"), report).await
}
