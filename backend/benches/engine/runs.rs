//! `latency`, `throughput` and `schedule`: runs of the trivial flow through the real engine.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chap_scheduler::db::entities::flow_run;
use chap_scheduler_api::RunState;
use chrono::{DateTime, DurationRound, Utc};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use uuid::Uuid;

use crate::cluster::{Cluster, Topology};
use crate::support::{ms_between, state_counts, summarize, Report, Services};

const SEQUENTIAL: usize = 200;
const WARM_UP: usize = 5;
const BURST: usize = 1000;
const CLIENTS: usize = 16;

/// Polls a run until it is finished; returns it.
async fn until_finished(db: &DatabaseConnection, id: Uuid) -> Result<flow_run::Model> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(run) = flow_run::Entity::find_by_id(id).one(db).await? {
            if run.ended_at.is_some() {
                return Ok(run);
            }
        }
        if Instant::now() > deadline {
            bail!("run {id} did not finish within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs the `latency` benchmark on both topologies.
pub async fn latency(services: &Services, report: &mut Report) -> Result<()> {
    for topology in [
        Topology::Embedded { slots: 4 },
        Topology::Redis {
            processes: 2,
            slots: 4,
        },
    ] {
        if let Err(e) = latency_on(services, topology, report).await {
            report.add(
                format!("trigger → RUNNING, {topology}"),
                format!("not measured: {e:#}"),
                "",
            );
        }
    }
    Ok(())
}

async fn latency_on(services: &Services, topology: Topology, report: &mut Report) -> Result<()> {
    let cluster = Cluster::start(services, topology).await?;
    let mut to_running = Vec::new();
    let mut to_done = Vec::new();
    let mut http = Vec::new();
    for i in 0..WARM_UP + SEQUENTIAL {
        let at = Utc::now();
        let t0 = Instant::now();
        let id = cluster.api.trigger(&cluster.deployment).await?;
        let answered = t0.elapsed().as_secs_f64() * 1000.0;
        let run = until_finished(&cluster.db, id).await?;
        if run.state != RunState::Completed {
            bail!("run {id} ended {}: {:?}", run.state, run.state_message);
        }
        if i >= WARM_UP {
            let started = run
                .started_at
                .context("a finished run without started_at")?;
            to_running.push(ms_between(at, started));
            to_done.push(ms_between(at, run.ended_at.unwrap_or(started)));
            http.push(answered);
        }
    }
    let worker_peaks = cluster.worker_peaks();
    cluster.stop().await;
    for (i, ms) in to_running
        .iter()
        .enumerate()
        .filter(|(_, ms)| **ms > 1000.0)
    {
        println!(
            "    slow start: trigger #{} waited {ms:.0} ms for RUNNING",
            i + 1
        );
    }
    let r = summarize(to_running);
    report.add(
        format!("trigger → RUNNING, {topology} ({SEQUENTIAL} sequential)"),
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            r.p50, r.p99, r.max
        ),
        "p50 < 50 ms, p99 < 250 ms",
    );
    let d = summarize(to_done);
    let h = summarize(http);
    report.add(
        format!("  trigger → COMPLETED / POST answered, {topology}"),
        format!(
            "p50 {:.1} / {:.1} ms, p99 {:.1} / {:.1} ms",
            d.p50, h.p50, d.p99, h.p99
        ),
        "(Prefect: 2.3–10.8 s)",
    );
    if !worker_peaks.is_empty() {
        println!("    worker peak RSS (VmHWM): {worker_peaks:.1?} MiB");
    }
    Ok(())
}

/// Runs the `throughput` benchmark on every topology.
pub async fn throughput(services: &Services, report: &mut Report) -> Result<()> {
    for topology in [
        Topology::Embedded { slots: 4 },
        Topology::Embedded { slots: 16 },
        Topology::Redis {
            processes: 2,
            slots: 4,
        },
        Topology::Redis {
            processes: 2,
            slots: 16,
        },
    ] {
        if let Err(e) = throughput_on(services, topology, report).await {
            report.add(
                format!("throughput, {topology}"),
                format!("not measured: {e:#}"),
                "",
            );
        }
    }
    Ok(())
}

async fn throughput_on(services: &Services, topology: Topology, report: &mut Report) -> Result<()> {
    let cluster = Cluster::start(services, topology).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (api, dep, next, refused) = (
            cluster.api.clone(),
            cluster.deployment.clone(),
            next.clone(),
            refused.clone(),
        );
        clients.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < BURST {
                // A refused trigger (e.g. 503 when the database is busy) is retried, and counted.
                let mut tries = 0;
                while let Err(e) = api.trigger(&dep).await {
                    refused.fetch_add(1, Ordering::SeqCst);
                    tries += 1;
                    if tries > 20 {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    let mut triggered_in = None;
    let mut peak_rss: f64 = 0.0;
    let deadline = Instant::now() + Duration::from_secs(600);
    let counts = loop {
        if let Ok(m) = cluster.serve.mem() {
            peak_rss = peak_rss.max(m.peak);
        }
        if triggered_in.is_none() && clients.iter().all(|c| c.is_finished()) {
            triggered_in = Some(t0.elapsed());
            for c in clients.drain(..) {
                c.await??;
            }
        }
        let counts = state_counts(&cluster.db).await?;
        let finished: i64 = counts
            .iter()
            .filter(|(s, _)| matches!(s.as_str(), "COMPLETED" | "FAILED" | "CRASHED" | "CANCELLED"))
            .map(|(_, n)| n)
            .sum();
        if triggered_in.is_some() && finished >= BURST as i64 {
            break counts;
        }
        if Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = t0.elapsed().as_secs_f64();
    let completed = counts.get("COMPLETED").copied().unwrap_or(0);
    let worker_peaks = cluster.worker_peaks();
    if let Ok(m) = cluster.serve.mem() {
        peak_rss = peak_rss.max(m.peak);
    }
    let target = match topology {
        Topology::Embedded { .. } => "≥ 100 runs/s; 0 lost",
        Topology::Redis { .. } => "≥ 200 runs/s; 0 lost",
    };
    report.add(
        format!("throughput, {BURST} runs, {topology}"),
        format!(
            "{:.0} runs/s ({:.1} s), {} lost",
            completed as f64 / elapsed,
            elapsed,
            BURST as i64 - completed
        ),
        target,
    );
    let triggered = triggered_in.map(|d| d.as_secs_f64()).unwrap_or(f64::NAN);
    report.add(
        format!("  create rate ({CLIENTS} clients) / retried triggers / states"),
        format!(
            "{:.0} runs/s / {} / {}",
            BURST as f64 / triggered,
            refused.load(Ordering::SeqCst),
            states_text(&counts)
        ),
        "(Prefect 16–55 runs/s)",
    );
    let workers = if worker_peaks.is_empty() {
        String::new()
    } else {
        format!(
            "; workers {}",
            worker_peaks
                .iter()
                .map(|p| format!("{p:.1}"))
                .collect::<Vec<_>>()
                .join(" + ")
        )
    };
    report.add(
        "  peak RSS during the burst (VmHWM, MiB)",
        format!("serve {peak_rss:.1}{workers}"),
        "< 150 MB",
    );
    cluster.stop().await;
    Ok(())
}

fn states_text(counts: &BTreeMap<String, i64>) -> String {
    counts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the `schedule` benchmark: a per-second cron schedule for `CHAP_BENCH_SCHEDULE_SECONDS`
/// (default 120) seconds, embedded.
pub async fn schedule(services: &Services, report: &mut Report) -> Result<()> {
    let seconds: u64 = std::env::var("CHAP_BENCH_SCHEDULE_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let cluster = Cluster::start(services, Topology::Embedded { slots: 4 }).await?;
    let out = schedule_on(&cluster, seconds, report).await;
    cluster.stop().await;
    out
}

async fn schedule_on(cluster: &Cluster, seconds: u64, report: &mut Report) -> Result<()> {
    let api = &cluster.api;
    let created_at = Utc::now();
    let (status, schedule) = api
        .send(
            Method::POST,
            &format!("/api/v1/deployments/{}/schedules", cluster.deployment),
            json!({ "cron": "* * * * * *" }),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!("creating the schedule: {status} {schedule}");
    }
    let id: Uuid = schedule["id"].as_str().context("schedule id")?.parse()?;
    for left in (0..seconds).rev() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if left % 30 == 0 && left > 0 {
            println!("    schedule running, {left} s left");
        }
    }
    let (status, body) = api
        .send(
            Method::PATCH,
            &format!("/api/v1/schedules/{id}"),
            json!({ "active": false }),
        )
        .await?;
    if status != StatusCode::OK {
        bail!("pausing the schedule: {status} {body}");
    }
    let paused_at = Utc::now();
    // Let the last runs finish.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = flow_run::Entity::find()
        .filter(flow_run::Column::ScheduleId.eq(id))
        .order_by_asc(flow_run::Column::ExpectedStartAt)
        .all(&cluster.db)
        .await?;
    let slots: BTreeSet<DateTime<Utc>> = runs.iter().map(|r| r.expected_start_at).collect();
    let duplicates = runs.len() - slots.len();
    // Every whole second strictly after creation and at least 1 s before pausing must have a run.
    let second = chrono::Duration::seconds(1);
    let mut slot = created_at.duration_trunc(second)? + second;
    let mut expected = 0;
    let mut missed = 0;
    while slot <= paused_at - second {
        expected += 1;
        if !slots.contains(&slot) {
            missed += 1;
        }
        slot += second;
    }
    let to_created = summarize(
        runs.iter()
            .map(|r| ms_between(r.expected_start_at, r.created_at))
            .collect(),
    );
    let to_started = summarize(
        runs.iter()
            .filter_map(|r| r.started_at.map(|s| ms_between(r.expected_start_at, s)))
            .collect(),
    );
    let not_completed = runs
        .iter()
        .filter(|r| r.state != RunState::Completed)
        .count();
    report.add(
        format!("schedule lateness, `* * * * * *` for {seconds} s: slot → started_at"),
        format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            to_started.p50, to_started.p99, to_started.max
        ),
        "p99 < 1 s",
    );
    report.add(
        "  slot → created_at",
        format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            to_created.p50, to_created.p99, to_created.max
        ),
        "(Prefect p95 1.7 s, max 3.8 s)",
    );
    report.add(
        "  runs / expected slots / duplicates / missed / not COMPLETED",
        format!(
            "{} / {expected} / {duplicates} / {missed} / {not_completed}",
            runs.len()
        ),
        "0 duplicates, 0 missed",
    );
    Ok(())
}
