//! `purge`: what a large retention pass costs the service while it is used. A history of
//! `CHAP_BENCH_PURGE_RUNS` (default 50,000) finished prediction runs older than the retention age is
//! written (`history.rs`) while `serve` keeps everything; then `serve` (and the workers) restart with
//! the default retention of 90 days and a pass every second, so the first pass finds the whole
//! backlog, as after `CHAP_SCHEDULER_RETENTION_DAYS` is lowered or after a long downtime. Meanwhile
//! one client triggers a real prediction run every 40 ms (25 a second, under what the service can
//! run), until the backlog is gone and 5 s more. Prints how long the purge took, and trigger POST
//! and started → ended times during it and after it, embedded and on PostgreSQL + Redis.
//! `CHAP_BENCH_PURGE_ONLY=embedded` (or `cluster`) for one of the two.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chap_scheduler::db::entities::flow_run;
use chap_scheduler::orchestrator::state::RunState;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::stack::{Mode, Stack};
use crate::support::{loadavg, ms_between, summarize, Report, Services, Summary};

/// An instant from the database.
type When = chrono::DateTime<chrono::Utc>;

/// The service's default retention, in days.
const RETENTION_DAYS: i64 = 90;
/// Time between two triggers of the client.
const PACE: Duration = Duration::from_millis(40);
/// How long the client goes on after the backlog is gone.
const AFTER: Duration = Duration::from_secs(5);
/// Longest a purge may take before the benchmark gives up.
const LONGEST: Duration = Duration::from_secs(900);

pub async fn run(services: &Services, report: &mut Report) -> Result<()> {
    let scenario = crate::prediction::scenario_file()?;
    let old: usize = match std::env::var("CHAP_BENCH_PURGE_RUNS") {
        Ok(n) => n
            .trim()
            .parse()
            .context("CHAP_BENCH_PURGE_RUNS: a number of runs, e.g. 50000")?,
        Err(_) => 50_000,
    };
    let only = std::env::var("CHAP_BENCH_PURGE_ONLY").unwrap_or_default();
    for (name, mode) in [("embedded", Mode::Embedded), ("cluster", Mode::Cluster)] {
        if only.is_empty() || only == name {
            measure(services, report, &scenario, mode, old)
                .await
                .with_context(|| format!("{name}: a purge of {old} runs"))?;
        }
    }
    Ok(())
}

/// One trigger: when it was sent (since the restart) and how long the POST took.
struct Post {
    at: Duration,
    ms: f64,
}

async fn measure(
    services: &Services,
    report: &mut Report,
    scenario: &tempfile::NamedTempFile,
    mode: Mode,
    old: usize,
) -> Result<()> {
    let keep = [("CHAP_SCHEDULER_RETENTION_DAYS", "0".to_string())];
    let mut stack = Stack::start(services, scenario, mode, 16, &keep).await?;
    let seeded = crate::history::seed(
        &stack.api,
        &stack.deployment,
        &stack.db,
        old,
        RETENTION_DAYS + 1,
    )
    .await?;
    let backlog = Backlog::of(&stack.db).await?;
    let every = [("CHAP_SCHEDULER_RETENTION_INTERVAL_SECONDS", "1".to_string())];
    stack.restart(&every).await?;
    let (t0, since) = (Instant::now(), chrono::Utc::now());
    let watch = tokio::spawn(backlog.clone().watch(stack.db.clone(), t0));
    let mut posts = Vec::new();
    loop {
        let sent = Instant::now();
        stack.api.trigger(&stack.deployment).await?;
        posts.push(Post {
            at: sent - t0,
            ms: sent.elapsed().as_secs_f64() * 1000.0,
        });
        if let Some(end) = backlog.ended() {
            if t0.elapsed() > end + AFTER {
                break;
            }
        }
        if t0.elapsed() > LONGEST {
            bail!("{} old runs left after {LONGEST:?}", backlog.left());
        }
        tokio::time::sleep(PACE.saturating_sub(sent.elapsed())).await;
    }
    watch.await??;
    let (start, end) = (
        backlog.started().unwrap_or_default(),
        backlog.ended().unwrap_or_default(),
    );
    while crate::support::unfinished_runs(&stack.db).await? > 0 {
        if t0.elapsed() > LONGEST + Duration::from_secs(60) {
            bail!("runs still unfinished a minute after the last trigger");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let runs = run_times(&stack.db, since, start, end).await?;
    let completed = flow_run::Entity::find()
        .filter(flow_run::Column::CreatedAt.gte(since))
        .filter(flow_run::Column::State.eq(RunState::Completed))
        .count(&stack.db)
        .await?;
    let during = |p: &&Post| p.at >= start && p.at < end;
    let label = match mode {
        Mode::Embedded => "embedded",
        Mode::Cluster => "PG + Redis, 2 workers",
    };
    report.add(
        format!(
            "purge: {label}: {} runs older than {RETENTION_DAYS} days deleted",
            backlog.at_start
        ),
        format!(
            "in {:.1} s ({:.0} runs/s; first deletion {:.1} s after the restart; written in {:.0} s)",
            (end - start).as_secs_f64(),
            backlog.at_start as f64 / (end - start).as_secs_f64().max(0.001),
            start.as_secs_f64(),
            seeded.took.as_secs_f64()
        ),
        "",
    );
    report.add(
        "  runs triggered meanwhile",
        format!("{} ({completed} COMPLETED)", posts.len()),
        "none lost",
    );
    let line = |what: &str, s: Summary, n: usize| {
        format!("{:.1} / {:.1} / {:.1} ms ({n} {what})", s.p50, s.p99, s.max)
    };
    let posts_during: Vec<f64> = posts.iter().filter(during).map(|p| p.ms).collect();
    let posts_after: Vec<f64> = posts.iter().filter(|p| p.at >= end).map(|p| p.ms).collect();
    report.add(
        "  trigger POST during the purge p50 / p99 / max",
        line(
            "triggers",
            summarize(posts_during.clone()),
            posts_during.len(),
        ),
        "p99 < 10 ms",
    );
    report.add(
        "  trigger POST after it p50 / p99 / max",
        line(
            "triggers",
            summarize(posts_after.clone()),
            posts_after.len(),
        ),
        "",
    );
    report.add(
        "  runs triggered during it: started → ended p50 / p99 / max",
        line("runs", summarize(runs.clone()), runs.len()),
        "",
    );
    report.add("  load after", loadavg(), "");
    stack.stop().await;
    Ok(())
}

/// The old runs left, and when (since the restart) the first was seen gone and the last.
#[derive(Clone)]
struct Backlog {
    cutoff: chrono::DateTime<chrono::Utc>,
    at_start: u64,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    left: u64,
    started: Option<Duration>,
    ended: Option<Duration>,
}

impl Backlog {
    async fn of(db: &DatabaseConnection) -> Result<Backlog> {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(RETENTION_DAYS);
        let at_start = old_runs(db, cutoff).await?;
        anyhow::ensure!(
            at_start > 0,
            "no run older than {RETENTION_DAYS} days to purge"
        );
        Ok(Backlog {
            cutoff,
            at_start,
            seen: Arc::new(Mutex::new(Seen {
                left: at_start,
                ..Seen::default()
            })),
        })
    }

    /// Counts the old runs every 50 ms until none is left.
    async fn watch(self, db: DatabaseConnection, t0: Instant) -> Result<()> {
        loop {
            let left = old_runs(&db, self.cutoff).await?;
            let at = t0.elapsed();
            {
                let mut seen = self.seen();
                seen.left = left;
                if left < self.at_start && seen.started.is_none() {
                    seen.started = Some(at);
                }
                if left == 0 {
                    seen.ended = Some(at);
                }
            }
            if left == 0 || at > LONGEST {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn started(&self) -> Option<Duration> {
        self.seen().started
    }

    fn ended(&self) -> Option<Duration> {
        self.seen().ended
    }

    fn left(&self) -> u64 {
        self.seen().left
    }
}

/// Runs created before `cutoff`.
async fn old_runs(db: &DatabaseConnection, cutoff: chrono::DateTime<chrono::Utc>) -> Result<u64> {
    Ok(flow_run::Entity::find()
        .filter(flow_run::Column::CreatedAt.lt(cutoff))
        .count(db)
        .await?)
}

/// Started → ended of the runs triggered between `start` and `end` after the restart (at `since`).
async fn run_times(
    db: &DatabaseConnection,
    since: chrono::DateTime<chrono::Utc>,
    start: Duration,
    end: Duration,
) -> Result<Vec<f64>> {
    let at = |d: Duration| since + chrono::Duration::from_std(d).unwrap_or_default();
    let rows: Vec<(Option<When>, Option<When>)> = flow_run::Entity::find()
        .filter(flow_run::Column::CreatedAt.gte(at(start)))
        .filter(flow_run::Column::CreatedAt.lt(at(end)))
        .select_only()
        .column(flow_run::Column::StartedAt)
        .column(flow_run::Column::EndedAt)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, e)| Some(ms_between(s?, e?)))
        .collect())
}
