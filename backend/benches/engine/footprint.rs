//! `startup`: the real binary's start to `/ready` and its idle memory, for `serve` and `worker`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::support::{
    command, drop_queue, queue_name, summarize, wait_ready, PgDb, Proc, Report, Services, BIN,
};

const STARTS: usize = 5;
const IDLE: Duration = Duration::from_secs(10);

/// Spawns `serve` and times it from the spawn to the first `/ready` 200, in ms.
async fn timed_start(data_dir: &Path) -> Result<(Proc, f64, Instant)> {
    let t0 = Instant::now();
    let proc = Proc::spawn(
        command(Path::new(BIN), &["serve"], data_dir, &[]),
        "listening on ",
        Duration::from_secs(60),
    )?;
    wait_ready(&proc.url()?, Duration::from_secs(60)).await?;
    Ok((proc, t0.elapsed().as_secs_f64() * 1000.0, t0))
}

/// Runs the `startup` benchmark.
pub async fn run(services: &Services, report: &mut Report) -> Result<()> {
    let mut fresh = Vec::new();
    let mut kept = None;
    for i in 0..STARTS {
        let dir = tempfile::tempdir()?;
        let (proc, ms, t0) = timed_start(dir.path()).await?;
        fresh.push(ms);
        if i + 1 == STARTS {
            kept = Some((proc, dir, t0));
        } else {
            proc.stop();
        }
    }
    let fresh_s = summarize(fresh.clone());
    report.add(
        format!("serve start → /ready 200, fresh data dir (median of {STARTS})"),
        format!("{:.0} ms (all: {})", fresh_s.p50, join_ms(&fresh)),
        "< 500 ms",
    );
    let Some((proc, dir, t0)) = kept else {
        return Ok(());
    };
    tokio::time::sleep(IDLE.saturating_sub(t0.elapsed())).await;
    let mem = proc.mem()?;
    report.add(
        "serve idle RSS 10 s after start (embedded, 4 in-process workers)",
        format!(
            "{:.1} MiB = {:.1} MB (peak so far {:.1} MiB)",
            mem.rss,
            mem.rss * 1.048_576,
            mem.peak
        ),
        "< 40 MB (issue 16: < 30 MB)",
    );
    proc.stop();

    // Restarts on the data dir just created: migrations already applied, admin already there.
    let mut again = Vec::new();
    for _ in 0..STARTS {
        let (proc, ms, _) = timed_start(dir.path()).await?;
        again.push(ms);
        proc.stop();
    }
    report.add(
        format!("serve restart → /ready 200, existing data dir (median of {STARTS})"),
        format!(
            "{:.0} ms (all: {})",
            summarize(again.clone()).p50,
            join_ms(&again)
        ),
        "< 500 ms",
    );

    match worker_idle_rss(services).await {
        Ok((rss, ms)) => report.add(
            "worker idle RSS 10 s after start (PostgreSQL + Redis, 4 slots)",
            format!("{rss:.1} MiB (started in {ms:.0} ms)"),
            "(Prefect worker 95 MiB)",
        ),
        Err(e) => report.add(
            "worker idle RSS (PostgreSQL + Redis)",
            format!("not measured: {e:#}"),
            "",
        ),
    }
    Ok(())
}

/// The real `chap-scheduler worker` on a fresh PostgreSQL database and Redis queue: (VmRSS MiB after
/// 10 s, ms to its `worker … started` line).
async fn worker_idle_rss(services: &Services) -> Result<(f64, f64)> {
    let pg = PgDb::create(&services.postgres).await?;
    let queue = queue_name();
    let dir = tempfile::tempdir()?;
    let out = async {
        let t0 = Instant::now();
        let proc = Proc::spawn(
            command(
                Path::new(BIN),
                &["worker"],
                dir.path(),
                &[
                    ("DATABASE_URL", pg.url.clone()),
                    ("REDIS_URL", services.redis.clone()),
                    ("CHAP_SCHEDULER_QUEUE_NAME", queue.clone()),
                ],
            ),
            "worker ",
            Duration::from_secs(60),
        )?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        tokio::time::sleep(IDLE.saturating_sub(t0.elapsed())).await;
        let rss = proc.mem()?.rss;
        proc.stop();
        Ok::<_, anyhow::Error>((rss, ms))
    }
    .await;
    pg.drop_db().await;
    drop_queue(&services.redis, &queue).await;
    out
}

fn join_ms(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
