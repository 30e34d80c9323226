//! `prediction`: bursts of real `dhis2-chap-prediction` runs by the release binaries against
//! `dhis2-sim` (1 setup, 2 org units, 12 monthly periods, chap's job SUCCESS at the first poll, poll
//! interval 0): 200 and 1,000 runs triggered one after another by one client, at deployment limits 5
//! and 16, embedded and on PostgreSQL + Redis with 2 worker processes. Prints runs/s (first trigger →
//! all terminal), trigger POST p50/p99 *during* the burst, started → ended p50/p99, rows written per
//! run by table, CPU per run by process (PostgreSQL's when it runs on this machine), peak RSS and the
//! machine's load. With `CHAP_BENCH_PREDICTION_HISTORY` each burst runs over that many finished
//! runs kept (`history.rs`). Nothing here asserts a figure.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chap_scheduler::db::entities::flow_run;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::{json, Value};

use crate::stack::{Mode, Stack};
use crate::support::{
    loadavg, state_counts, summarize, unfinished_runs, Api, Proc, Report, Services,
};

/// An instant from the database.
type When = chrono::DateTime<chrono::Utc>;

/// The tables a run writes, for rows per run.
const TABLES: &[&str] = &[
    "flow_runs",
    "flow_run_states",
    "task_runs",
    "logs",
    "artifacts",
    "run_checkpoints",
    "flow_states",
];

/// Every combination of mode, limit and burst size.
pub async fn run(services: &Services, report: &mut Report) -> Result<()> {
    let scenario = scenario_file()?;
    // CHAP_BENCH_PREDICTION_RUNS=20,50 for a quick look; the figures to compare use the default.
    let sizes: Vec<usize> = std::env::var("CHAP_BENCH_PREDICTION_RUNS")
        .unwrap_or_else(|_| "200,1000".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .context("CHAP_BENCH_PREDICTION_RUNS: numbers, e.g. 200,1000")
        })
        .collect::<Result<_>>()?;
    // CHAP_BENCH_PREDICTION_ONLY=cluster-16 (or embedded-5, …) for one combination, e.g. under `perf`.
    let only = std::env::var("CHAP_BENCH_PREDICTION_ONLY").unwrap_or_default();
    let history = crate::history::wanted()?;
    for mode in [Mode::Embedded, Mode::Cluster] {
        for limit in [5u32, 16] {
            let name = match mode {
                Mode::Embedded => format!("embedded-{limit}"),
                Mode::Cluster => format!("cluster-{limit}"),
            };
            if !only.is_empty() && only != name {
                continue;
            }
            for &runs in &sizes {
                burst(services, report, &scenario, mode, limit, runs, history)
                    .await
                    .with_context(|| format!("{runs} runs at limit {limit}"))?;
            }
        }
    }
    Ok(())
}

/// The demo scenario cut to one setup, two org units and twelve months, chap answering at once.
pub fn scenario_file() -> Result<tempfile::NamedTempFile> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/dhis2-sim/scenarios/demo.json");
    let mut s: Value = serde_json::from_slice(&std::fs::read(&demo)?)?;
    let start = (chrono::Utc::now() - chrono::Duration::days(365))
        .format("%Y%m")
        .to_string();
    let setups = s["prediction_setups"]
        .as_array_mut()
        .context("prediction_setups")?;
    setups.truncate(1);
    let setup = &mut setups[0];
    setup["orgUnits"] = json!(setup["orgUnits"].as_array().context("orgUnits")?[..2].to_vec());
    setup["startPeriod"] = json!(start);
    setup["sim"] = json!({ "job_statuses": ["SUCCESS"] });
    s["latency_ms"] = json!({});
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_vec(&s)?)?;
    Ok(file)
}

async fn burst(
    services: &Services,
    report: &mut Report,
    scenario: &tempfile::NamedTempFile,
    mode: Mode,
    limit: u32,
    runs: usize,
    history: usize,
) -> Result<()> {
    let stack = Stack::start(services, scenario, mode, limit, &[]).await?;
    let Stack {
        serve,
        workers,
        sim,
        api,
        deployment,
        db,
        ..
    } = &stack;
    let seeded = match history {
        0 => None,
        n => Some(crate::history::seed(api, deployment, db, n, 1).await?),
    };
    let before = rows(db).await?;
    let counts_before = state_counts(db).await?;

    // CHAP_BENCH_PREDICTION_CLIENTS=4 splits the triggers over that many clients sending at once
    // (each one after another); the target's figures are for one client.
    let clients: usize = match std::env::var("CHAP_BENCH_PREDICTION_CLIENTS") {
        Ok(n) => n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .context("CHAP_BENCH_PREDICTION_CLIENTS: a number of clients, e.g. 4")?,
        Err(_) => 1,
    };
    let served_before = served_triggers(api).await?;
    let postgres = crate::cpu::postgres_server(db).await;
    let cpu_before = Cpu::now(postgres, serve, workers, sim);
    let since = chrono::Utc::now();
    let t0 = Instant::now();
    let client = |share: usize| {
        let (api, deployment) = (api, deployment);
        async move {
            let mut posts = Vec::with_capacity(share);
            for _ in 0..share {
                let sent = Instant::now();
                api.trigger(deployment).await?;
                posts.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(posts)
        }
    };
    let shares = (0..clients).map(|c| runs / clients + usize::from(c < runs % clients));
    let mut posts = Vec::with_capacity(runs);
    for sent in futures_util::future::join_all(shares.map(client)).await {
        posts.extend(sent?);
    }
    let triggered_in = t0.elapsed();
    let served = served_triggers(api).await?;
    while unfinished_runs(db).await? > 0 {
        if t0.elapsed() > Duration::from_secs(900) {
            bail!(
                "runs still unfinished after 15 minutes: {:?}",
                state_counts(db).await?
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = t0.elapsed();
    let cpu = Cpu::now(postgres, serve, workers, sim).since(&cpu_before);
    let load = loadavg();
    let mut counts = state_counts(db).await?;
    for (state, n) in &counts_before {
        *counts.entry(state.clone()).or_default() -= n;
    }
    counts.retain(|_, n| *n > 0);
    let times: Vec<(Option<When>, Option<When>, Option<When>)> = flow_run::Entity::find()
        .filter(flow_run::Column::CreatedAt.gte(since))
        .select_only()
        .column(flow_run::Column::EnqueuedAt)
        .column(flow_run::Column::StartedAt)
        .column(flow_run::Column::EndedAt)
        .into_tuple()
        .all(db)
        .await?;
    let run_ms: Vec<f64> = times
        .iter()
        .filter_map(|(_, s, e)| Some(crate::support::ms_between((*s)?, (*e)?)))
        .collect();
    let queued_ms: Vec<f64> = times
        .iter()
        .filter_map(|(q, s, _)| Some(crate::support::ms_between((*q)?, (*s)?)))
        .collect();
    let gaps = stall_gaps(&times);
    let after = rows(db).await?;
    let alone = alone_after(api, deployment, db).await?;
    let mut peak = serve.mem()?.peak;
    for w in workers {
        peak = peak.max(w.mem()?.peak);
    }
    let completed = counts.get("COMPLETED").copied().unwrap_or(0);
    let label = format!(
        "{} limit {limit}, {runs} runs{}",
        match mode {
            Mode::Embedded => "embedded",
            Mode::Cluster => "PG + Redis, 2 workers,",
        },
        if clients > 1 {
            format!(" from {clients} clients at once")
        } else {
            String::new()
        }
    );
    let post = summarize(posts.clone());
    let took = summarize(run_ms);
    let queued = summarize(queued_ms);
    report.add(
        format!("prediction: {label}: runs/s (first trigger → all terminal)"),
        format!(
            "{:.1} ({completed} COMPLETED of {runs}; {counts:?})",
            runs as f64 / elapsed.as_secs_f64()
        ),
        match mode {
            Mode::Embedded => "≥ 100 at limit 16",
            Mode::Cluster => "≥ 200 at limit 16",
        },
    );
    report.add(
        "  trigger POST during the burst p50 / p99",
        format!(
            "{:.1} / {:.1} ms ({:.1} s for all)",
            post.p50,
            post.p99,
            triggered_in.as_secs_f64()
        ),
        "p99 < 10 ms",
    );
    report.add(
        "  slowest triggers: position in the burst (ms)",
        slowest(&posts, 5),
        "",
    );
    report.add(
        "  trigger POST as the service timed it: ≤ 5 / 10 / 25 ms",
        served_shares(&served_before, &served),
        "",
    );
    report.add(
        "  one run started → ended p50 / p99",
        format!("{:.1} / {:.1} ms", took.p50, took.p99),
        "≤ 15 ms",
    );
    report.add(
        "  then one run alone, 5 one after another: started → ended p50 / max",
        format!("{:.1} / {:.1} ms", alone.p50, alone.max),
        "≤ 15 ms",
    );
    report.add(
        "  enqueued → started p50 / p99 / max",
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            queued.p50, queued.p99, queued.max
        ),
        "",
    );
    report.add(
        "  longest gap between consecutive starts / ends",
        format!("{:.1} / {:.1} ms", gaps.0, gaps.1),
        "",
    );
    let per_run: Vec<String> = TABLES
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(t, (b, a))| format!("{t} {:.1}", (a - b) as f64 / runs as f64))
        .collect();
    report.add("  rows written per run", per_run.join(", "), "");
    report.add(
        "  CPU per run in the burst: PostgreSQL / serve / workers / simulator",
        cpu.per_run(runs, mode),
        "",
    );
    report.add("  peak RSS (largest process)", format!("{peak:.1} MiB"), "");
    if let Some(seeded) = seeded {
        report.add(
            "  kept history under the burst (written before it)",
            format!(
                "{} finished runs, {} rows copied, in {:.0} s",
                seeded.runs,
                seeded.rows,
                seeded.took.as_secs_f64()
            ),
            "",
        );
        report.add(
            "  then, with it: GET /metrics / GET /api/v1/runs?limit=10, median of 5",
            format!(
                "{:.1} / {:.1} ms",
                median_get(api, "/metrics").await?,
                median_get(api, "/api/v1/runs?limit=10").await?
            ),
            "",
        );
    }
    report.add("  load after", load, "");
    stack.stop().await;
    Ok(())
}

/// CPU seconds used so far by PostgreSQL (when it runs on this machine), `serve`, the worker
/// processes and the simulator; after [`Cpu::since`], used in between.
struct Cpu {
    postgres: Option<f64>,
    serve: f64,
    workers: f64,
    sim: f64,
}

impl Cpu {
    fn now(postgres: Option<u32>, serve: &Proc, workers: &[Proc], sim: &Proc) -> Self {
        Cpu {
            postgres: postgres.map(crate::cpu::postgres_seconds),
            serve: crate::cpu::seconds(serve.pid()),
            workers: workers.iter().map(|w| crate::cpu::seconds(w.pid())).sum(),
            sim: crate::cpu::seconds(sim.pid()),
        }
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            postgres: self.postgres.zip(before.postgres).map(|(a, b)| a - b),
            serve: self.serve - before.serve,
            workers: self.workers - before.workers,
            sim: self.sim - before.sim,
        }
    }

    /// Milliseconds per run of each, and (PostgreSQL + ours) ÷ the simulator's: the simulator does
    /// the same work in every burst, so the ratio compares binaries on a machine whose speed drifts
    /// (the clock ticks are 10 ms: a short burst's ratio is rough).
    fn per_run(&self, runs: usize, mode: Mode) -> String {
        let ms = |s: f64| s * 1000.0 / runs as f64;
        let postgres = match (mode, self.postgres) {
            (Mode::Embedded, _) => "–".to_string(),
            (Mode::Cluster, Some(s)) => format!("{:.2}", ms(s)),
            (Mode::Cluster, None) => "not local".to_string(),
        };
        let workers = match mode {
            Mode::Embedded => "–".to_string(),
            Mode::Cluster => format!("{:.2}", ms(self.workers)),
        };
        let ours = self.postgres.unwrap_or(0.0) + self.serve + self.workers;
        let ratio = if self.sim > 0.0 {
            format!("{:.2}", ours / self.sim)
        } else {
            "–".to_string()
        };
        format!(
            "{postgres} / {:.2} / {workers} / {:.2} ms; (PostgreSQL + ours) ÷ simulator {ratio}",
            ms(self.serve),
            ms(self.sim)
        )
    }
}

/// Started → ended of runs triggered one at a time after the burst, each once the one before has
/// ended: a run alone on a service that has run before (its connections open, its statements
/// prepared), as an operator's service runs. A burst of one on fresh processes measures the first
/// run after a start instead, which also prepares each statement on its connection.
async fn alone_after(
    api: &Api,
    deployment: &str,
    db: &DatabaseConnection,
) -> Result<crate::support::Summary> {
    let mut took = Vec::new();
    for _ in 0..5 {
        let id = api.trigger(deployment).await?;
        let t0 = Instant::now();
        let (started, ended) = loop {
            let times: Option<(Option<When>, Option<When>)> = flow_run::Entity::find_by_id(id)
                .select_only()
                .column(flow_run::Column::StartedAt)
                .column(flow_run::Column::EndedAt)
                .into_tuple()
                .one(db)
                .await?;
            if let Some((Some(started), Some(ended))) = times {
                break (started, ended);
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("the run {id} did not end within a minute");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        took.push(crate::support::ms_between(started, ended));
    }
    Ok(summarize(took))
}

/// The median time of 5 GETs of `path`, one after another.
async fn median_get(api: &Api, path: &str) -> Result<f64> {
    let mut took = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        api.get_bytes(path).await?;
        took.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(summarize(took).p50)
}

/// The trigger route's latency histogram from `/metrics`: (upper bound in seconds, count so far).
async fn served_triggers(api: &Api) -> Result<Vec<(f64, u64)>> {
    let body = api.get_bytes("/metrics").await?;
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| {
            l.starts_with("chap_scheduler_http_request_duration_seconds_bucket{")
                && l.contains("route=\"/api/v1/deployments/{id}/runs\"")
                && l.contains("method=\"POST\"")
        })
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((le.parse().unwrap_or(f64::INFINITY), count))
        })
        .collect())
}

/// The shares of the triggers between two [`served_triggers`] readings that the service answered
/// within 5, 10 and 25 ms, by its own clock (from the request's arrival to its answer): what the
/// client's figure adds is the wait for the client's own turn on the CPU and the connection.
fn served_shares(before: &[(f64, u64)], after: &[(f64, u64)]) -> String {
    let count = |buckets: &[(f64, u64)], le: f64| {
        buckets
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0, |(_, c)| *c)
    };
    let all = count(after, f64::INFINITY) - count(before, f64::INFINITY);
    if all == 0 {
        return "no trigger counted in /metrics".into();
    }
    [0.005, 0.01, 0.025]
        .iter()
        .map(|&le| {
            format!(
                "{:.1}%",
                100.0 * (count(after, le) - count(before, le)) as f64 / all as f64
            )
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The longest time in which no run started, and in which none ended, while the burst went on: a
/// burst that stalls shows where (a queue that delivers nothing, or runs that do not finish).
fn stall_gaps(times: &[(Option<When>, Option<When>, Option<When>)]) -> (f64, f64) {
    let longest = |mut at: Vec<When>| {
        at.sort();
        at.windows(2)
            .map(|w| crate::support::ms_between(w[0], w[1]))
            .fold(0.0, f64::max)
    };
    (
        longest(times.iter().filter_map(|(_, s, _)| *s).collect()),
        longest(times.iter().filter_map(|(_, _, e)| *e).collect()),
    )
}

/// Rows in each of [`TABLES`].
async fn rows(db: &DatabaseConnection) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for table in TABLES {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await?
            .context("COUNT(*)")?;
        out.push(row.try_get::<i64>("", "n")?);
    }
    Ok(out)
}

/// The `n` longest of `posts` (in the order they were sent, one client's after another's), each with
/// its position: whether the slow ones are the burst's first (fresh connections) or spread over it.
fn slowest(posts: &[f64], n: usize) -> String {
    let mut by_time: Vec<(usize, f64)> = posts.iter().copied().enumerate().collect();
    by_time.sort_by(|a, b| b.1.total_cmp(&a.1));
    by_time
        .iter()
        .take(n)
        .map(|(at, ms)| format!("#{} ({ms:.1})", at + 1))
        .collect::<Vec<_>>()
        .join(", ")
}
