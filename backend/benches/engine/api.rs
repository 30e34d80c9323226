//! `list` (`GET /api/v1/runs?limit=50` over 100,000 stored runs) and `http` (authenticated GET
//! throughput with wrk against the real binary).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::cluster::{Cluster, Topology};
use crate::support::{
    command, connect, insert_runs, sqlite_url, summarize, Api, Proc, Report, Services, BIN,
};

const STORED: usize = 100_000;
const REQUESTS: usize = 500;

/// Runs the `list` benchmark on SQLite and on PostgreSQL.
pub async fn list(services: &Services, report: &mut Report) -> Result<()> {
    for topology in [
        Topology::Embedded { slots: 4 },
        Topology::Redis {
            processes: 0,
            slots: 4,
        },
    ] {
        let db = match topology {
            Topology::Embedded { .. } => "SQLite",
            Topology::Redis { .. } => "PostgreSQL",
        };
        let result = async {
            let cluster = Cluster::start(services, topology).await?;
            let out = list_on(&cluster, db == "PostgreSQL").await;
            cluster.stop().await;
            out
        }
        .await;
        match result {
            Ok((inserted, s)) => {
                report.add(
                    format!("GET /api/v1/runs?limit=50, {STORED} runs, {db} ({REQUESTS} requests)"),
                    format!(
                        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                        s.p50, s.p99, s.max
                    ),
                    "p99 < 20 ms",
                );
                println!(
                    "    ({STORED} runs inserted in {:.1} s)",
                    inserted.as_secs_f64()
                );
            }
            Err(e) => report.add(
                format!("GET /api/v1/runs?limit=50, {db}"),
                format!("not measured: {e:#}"),
                "",
            ),
        }
    }
    Ok(())
}

async fn list_on(cluster: &Cluster, postgres: bool) -> Result<(Duration, crate::support::Summary)> {
    let dep: Uuid = cluster.deployment.parse()?;
    let inserted = insert_runs(
        &cluster.db,
        STORED,
        Some((dep, crate::flow::FLOW.into())),
        20,
    )
    .await?;
    if postgres {
        // What autovacuum would do shortly after a bulk load.
        cluster.db.execute_unprepared("ANALYZE flow_runs").await?;
    }
    let api = &cluster.api;
    let mut times = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS + 20 {
        let t0 = Instant::now();
        let (status, page) = api.get("/api/v1/runs?limit=50").await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let items = page["items"].as_array().map(Vec::len).unwrap_or(0);
        if status != StatusCode::OK || items != 50 {
            bail!("the list answered {status} with {items} items");
        }
        if i >= 20 {
            times.push(ms);
        }
    }
    Ok((inserted, summarize(times)))
}

/// Runs the `http` benchmark: wrk (2 threads, 32 connections, 10 s) against the real `serve` binary,
/// embedded, with an API token; a Rust client loop when wrk is not installed.
pub async fn http(_services: &Services, report: &mut Report) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let serve = Proc::spawn(
        command(Path::new(BIN), &["serve"], dir.path(), &[]),
        "listening on ",
        Duration::from_secs(60),
    )?;
    let base = serve.url()?;
    let api = Api::sign_in(&base).await?;
    {
        let db = connect(&sqlite_url(dir.path())).await?;
        insert_runs(&db, 1000, None, 20).await?;
        db.close().await.ok();
    }
    let wrk = Command::new("wrk").arg("--version").output().is_ok();
    for path in ["/api/v1/auth/me", "/api/v1/runs?limit=10"] {
        let url = format!("{base}{path}");
        let figure = format!("authenticated GET {path} (API token, 32 connections, 10 s)");
        let measured = if wrk {
            run_wrk(&url, &api.token).map(|w| {
                format!(
                    "{:.0} req/s (wrk; p50 {}, p99 {}; non-2xx {})",
                    w.rps, w.p50, w.p99, w.non_2xx
                )
            })
        } else {
            client_loop(&api, path)
                .await
                .map(|rps| format!("{rps:.0} req/s (reqwest loop; wrk not installed)"))
        };
        match measured {
            Ok(v) => report.add(figure, v, "≥ 5,000 req/s"),
            Err(e) => report.add(figure, format!("not measured: {e:#}"), ""),
        }
    }
    let mem = serve.mem()?;
    println!(
        "    serve RSS after the load: {:.1} MiB (peak {:.1} MiB)",
        mem.rss, mem.peak
    );
    serve.stop();
    Ok(())
}

struct Wrk {
    rps: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
}

fn run_wrk(url: &str, token: &str) -> Result<Wrk> {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", "-d10s", "--latency", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let after = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.split_whitespace().next().unwrap_or_default().to_string())
    };
    let rps = after("Requests/sec:")
        .context("wrk printed no Requests/sec")?
        .parse()?;
    Ok(Wrk {
        rps,
        p50: after("50%").unwrap_or_default(),
        p99: after("99%").unwrap_or_default(),
        non_2xx: after("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    })
}

async fn client_loop(api: &Api, path: &str) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let api = api.clone();
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                if api.get(&path).await?.0 == StatusCode::OK {
                    n += 1;
                }
            }
            Ok::<_, anyhow::Error>(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}
