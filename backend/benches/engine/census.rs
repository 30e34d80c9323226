//! `census`: where a real prediction run's time goes. The bench binary re-executes itself in
//! `--census-mode`, which builds the real engine (as `serve` does, embedded queue, in-process workers)
//! on a connection whose every statement is reported to a callback, and with a tracing layer that
//! times the engine's `chap_scheduler::cost` spans (claim, step start/end, log batch, heartbeat watch,
//! artifact, checkpoint, finish, dispatch, trigger…) and counts the write transactions begun inside
//! them. It runs prediction runs against `dhis2-sim` (the `prediction` scenario) first one at a time,
//! then as a burst, and prints per run: statements by part, kind and table, transactions, the parts'
//! wall time and the process's CPU time. SQLite, then PostgreSQL. Nothing here asserts a figure.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chap_scheduler::blocks::BlockStore;
use chap_scheduler::config::Config;
use chap_scheduler::db::RelaxedWrites;
use chap_scheduler::orchestrator::{deployments, store, Engine, Queue, Trigger};
use chap_scheduler::secrets::KeyRing;
use chap_scheduler_api::{CreateBlockRequest, RunState, UpdateDeploymentRequest};
use serde_json::json;
use tracing::{span, Instrument};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::scale::{binary, spawn_sim};
use crate::support::{command, loadavg, Report, Services};

/// The target of the engine's cost spans.
const COST: &str = "chap_scheduler::cost";
/// Statements made outside any cost span.
const OUTSIDE: &str = "(other)";

/// Spawns the census child on SQLite, then on PostgreSQL; its tables go to stdout.
pub async fn run(services: &Services, report: &mut Report) -> Result<()> {
    let sim_bin = binary("CHAP_BENCH_SIM_BIN", "dhis2-sim")?;
    let scenario = crate::prediction::scenario_file()?;
    let (sim, sim_url) = spawn_sim(
        &sim_bin,
        &["--scenario".as_ref(), scenario.path().as_os_str()],
    )?;
    for pg in [false, true] {
        let data = tempfile::tempdir()?;
        let db = if pg {
            Some(crate::support::PgDb::create(&services.postgres).await?)
        } else {
            None
        };
        let mut vars = vec![
            ("CHAP_SCHEDULER_PREDICTION_POLL_SECONDS", "0".to_string()),
            ("CHAP_SCHEDULER_WORKERS", "16".to_string()),
            ("CHAP_BENCH_CENSUS_SIM", sim_url.clone()),
        ];
        for var in [
            "CHAP_BENCH_CENSUS_RUNS",
            "CHAP_BENCH_CENSUS_BURST",
            "CHAP_BENCH_PREDICTION_HISTORY",
        ] {
            if let Ok(v) = std::env::var(var) {
                vars.push((var, v));
            }
        }
        if let Some(db) = &db {
            vars.push(("DATABASE_URL", db.url.clone()));
        }
        let exe = std::env::current_exe()?;
        let status = command(&exe, &["--census-mode"], data.path(), &vars)
            .stdout(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::inherit())
            .status()?;
        let which = if pg { "PostgreSQL" } else { "SQLite" };
        report.add(
            format!("census: {which}"),
            if status.success() {
                "the tables above".to_string()
            } else {
                format!("failed: {status}")
            },
            "",
        );
        if let Some(db) = db {
            db.drop_db().await;
        }
    }
    sim.stop();
    Ok(())
}

/// What one part of a run cost, summed over the runs measured.
#[derive(Default, Clone)]
struct Part {
    /// Spans closed.
    calls: u64,
    /// Their wall time, creation to close.
    wall: Duration,
    /// Write transactions begun inside them.
    txns: u64,
    /// Statements by (kind, table): count and time.
    stmts: BTreeMap<(String, String), (u64, Duration)>,
}

#[derive(Default)]
struct Tally {
    parts: BTreeMap<String, Part>,
}

type Shared = Arc<Mutex<Tally>>;

fn part<'a>(tally: &'a mut Tally, name: &str) -> &'a mut Part {
    tally.parts.entry(name.to_string()).or_default()
}

/// Times cost spans and counts the transactions begun inside them.
struct CostLayer(Shared);

struct Opened(Instant);

impl<S> Layer<S> for CostLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &span::Attributes<'_>, id: &span::Id, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        if event.metadata().target() != COST {
            return;
        }
        let name = ctx
            .lookup_current()
            .map_or(OUTSIDE.to_string(), |s| s.name().to_string());
        let mut tally = self.0.lock().unwrap_or_else(|e| e.into_inner());
        part(&mut tally, &name).txns += 1;
    }

    fn on_close(&self, id: span::Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(opened) = span.extensions().get::<Opened>().map(|o| o.0) else {
            return;
        };
        let mut tally = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let p = part(&mut tally, span.name());
        p.calls += 1;
        p.wall += opened.elapsed();
    }
}

/// `SELECT`, `INSERT`… and the table a statement is about.
fn classify(sql: &str) -> (String, String) {
    let kind = sql
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_ascii_uppercase();
    let after = match kind.as_str() {
        "SELECT" | "DELETE" => " FROM ",
        "INSERT" => " INTO ",
        _ => "UPDATE ",
    };
    // `COUNT` wraps its query: the table is in the innermost `FROM`. An update's table is its first
    // word (a subquery of a claim may say `FOR NO KEY UPDATE` further on).
    let at = if kind == "UPDATE" {
        sql.find(after)
    } else {
        sql.rfind(after)
    };
    let table = at
        .map(|i| &sql[i + after.len()..])
        .and_then(|rest| rest.split_whitespace().next())
        .map(|t| t.trim_matches(|c| c == '"' || c == '(').to_string())
        .unwrap_or_else(|| "?".into());
    let kind = if kind == "SELECT" && sql.contains("COUNT(") {
        "SELECT COUNT".to_string()
    } else {
        kind
    };
    (kind, table)
}

/// CPU time (user + system) of this process so far.
fn cpu() -> Duration {
    Duration::from_secs_f64(crate::cpu::seconds(std::process::id()))
}

/// `--census-mode`: the measuring child.
pub async fn child() -> Result<()> {
    chap_scheduler::install_crypto_provider();
    let tally: Shared = Arc::default();
    let subscriber = tracing_subscriber::registry()
        .with(CostLayer(tally.clone()).with_filter(
            tracing_subscriber::filter::Targets::new().with_target(COST, tracing::Level::DEBUG),
        ))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::filter::LevelFilter::ERROR),
        );
    tracing::subscriber::set_global_default(subscriber)?;
    let config = Config::from_env()?;
    let sim_url = std::env::var("CHAP_BENCH_CENSUS_SIM").context("CHAP_BENCH_CENSUS_SIM")?;
    let runs: usize = env_number("CHAP_BENCH_CENSUS_RUNS", 50)?;
    let burst: usize = env_number("CHAP_BENCH_CENSUS_BURST", 200)?;

    let keys = KeyRing::load(config.encryption_key.as_ref(), &config.data_dir)?;
    let mut db = chap_scheduler::db::connect(&config).await?;
    // Every statement is counted, on the main pool and on the relaxed one (a second pool on SQLite).
    // The main pool's callback is set first: the relaxed writes keep a copy of it for their durable
    // commits.
    let count_into = |conn: &mut sea_orm::DatabaseConnection| {
        let counting = tally.clone();
        conn.set_metric_callback(move |info| {
            let name = tracing::Span::current()
                .metadata()
                .map_or(OUTSIDE, |m| m.name());
            let key = classify(&info.statement.sql);
            let mut tally = counting.lock().unwrap_or_else(|e| e.into_inner());
            let slot = part(&mut tally, name).stmts.entry(key).or_default();
            slot.0 += 1;
            slot.1 += info.elapsed;
        });
    };
    count_into(&mut db);
    let mut relaxed = RelaxedWrites::of(&db);
    count_into(relaxed.connection_mut());
    chap_scheduler::db::migrate(&db).await?;
    let registry = chap_scheduler::flows::registry(&config);
    deployments::ensure_defaults(&db, &registry).await?;
    let blocks = BlockStore::new(db.clone(), Arc::new(keys));
    let engine = Engine::with_relaxed_writes(
        db.clone(),
        relaxed,
        registry.clone(),
        Queue::embedded(),
        config.engine_settings(),
        Arc::new(blocks.clone()),
    );
    let block = blocks
        .create(CreateBlockRequest {
            name: "sim".into(),
            block_type: "dhis2-credentials".into(),
            data: json!({ "base_url": sim_url, "username": "admin", "password": "district" }),
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating the block: {e}"))?;
    let dep = deployments::list(&db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .find(|d| d.flow_name == "dhis2-chap-prediction")
        .context("the prediction deployment")?;
    let dep = deployments::update(
        &db,
        &registry,
        dep.id,
        UpdateDeploymentRequest {
            concurrency_limit: Some(Some(16)),
            parameters: Some(json!({ "credentials": block.id })),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("setting the deployment: {e}"))?;
    tokio::spawn(engine.clone().run_dispatcher(Duration::from_secs(5)));
    tokio::spawn(chap_scheduler::startup::run_workers(engine.clone()));

    // Warm-up: connections open, caches filled, the simulator's first answers.
    for _ in 0..3 {
        one_at_a_time(&engine, &dep, 1).await?;
    }
    let history = crate::history::wanted()?;
    if history > 0 {
        let seeded = crate::history::copy(&db, history, 1).await?;
        println!(
            "history: the warm-up runs copied into {} finished runs ({} rows) in {:.0} s",
            seeded.runs,
            seeded.rows,
            seeded.took.as_secs_f64()
        );
    }
    let backend = if config.database_kind() == "sqlite" {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    for (label, n, at_once) in [("one at a time", runs, false), ("burst", burst, true)] {
        *tally.lock().unwrap_or_else(|e| e.into_inner()) = Tally::default();
        let cpu0 = cpu();
        let t0 = Instant::now();
        if at_once {
            for _ in 0..n {
                trigger(&engine, &dep).await?;
            }
            wait_all(&engine).await?;
        } else {
            one_at_a_time(&engine, &dep, n).await?;
        }
        let elapsed = t0.elapsed();
        let cpu_used = cpu() - cpu0;
        let snapshot = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
        print_tables(
            &format!("{backend}, {label}: {n} runs, limit 16"),
            &snapshot,
            n,
            elapsed,
            cpu_used,
        );
    }
    engine.stop();
    Ok(())
}

fn env_number(var: &str, default: usize) -> Result<usize> {
    match std::env::var(var) {
        Ok(v) => v.trim().parse().with_context(|| format!("{var}: a number")),
        Err(_) => Ok(default),
    }
}

async fn trigger(
    engine: &Engine,
    dep: &chap_scheduler::db::entities::deployment::Model,
) -> Result<uuid::Uuid> {
    let (run, _) = engine
        .trigger(
            dep,
            None,
            Trigger::Manual("user:census".into()),
            None,
            None,
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("trigger: {e}"))?;
    Ok(run.id)
}

async fn one_at_a_time(
    engine: &Engine,
    dep: &chap_scheduler::db::entities::deployment::Model,
    n: usize,
) -> Result<()> {
    for _ in 0..n {
        let id = trigger(engine, dep).await?;
        let t0 = Instant::now();
        loop {
            let state = store::state_of(engine.db(), id)
                .instrument(tracing::debug_span!(target: "chap_scheduler::cost", "bench_polling"))
                .await?;
            if state.is_some_and(|s| s.is_terminal()) {
                if state != Some(RunState::Completed) {
                    bail!("run {id} ended {state:?}");
                }
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("run {id} still {state:?} after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok(())
}

async fn wait_all(engine: &Engine) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let unfinished = crate::support::unfinished_runs(engine.db())
            .instrument(tracing::debug_span!(target: "chap_scheduler::cost", "bench_polling"))
            .await?;
        if unfinished == 0 {
            let counts = crate::support::state_counts(engine.db()).await?;
            if counts.keys().any(|s| s != "COMPLETED") {
                bail!("runs did not all complete: {counts:?}");
            }
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(600) {
            bail!("runs still unfinished after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn ms(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / n as f64
}

fn print_tables(title: &str, tally: &Tally, n: usize, elapsed: Duration, cpu_used: Duration) {
    let per = |x: u64| x as f64 / n as f64;
    println!("\n### {title} (load {})\n", loadavg());
    println!(
        "{:.1} runs/s; wall {:.1} ms per run; CPU of the process {:.2} ms per run\n",
        n as f64 / elapsed.as_secs_f64(),
        ms(elapsed, n),
        ms(cpu_used, n)
    );
    println!("| part | calls/run | write txns/run | statements/run | statement time ms/run | wall ms/call |");
    println!("|---|---|---|---|---|---|");
    let mut total = (0.0, 0.0, 0.0);
    for (name, p) in &tally.parts {
        let count: u64 = p.stmts.values().map(|s| s.0).sum();
        let time: Duration = p.stmts.values().map(|s| s.1).sum();
        total.0 += per(p.txns);
        total.1 += per(count);
        total.2 += ms(time, n);
        let wall = if p.calls > 0 {
            format!("{:.2}", p.wall.as_secs_f64() * 1000.0 / p.calls as f64)
        } else {
            "–".into()
        };
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {wall} |",
            per(p.calls),
            per(p.txns),
            per(count),
            ms(time, n)
        );
    }
    println!(
        "| **total** | | **{:.2}** | **{:.2}** | **{:.2}** | |",
        total.0, total.1, total.2
    );
    let mut by_stmt: BTreeMap<(String, String), (u64, Duration)> = BTreeMap::new();
    println!("\n| part | statement | table | per run | ms per run |\n|---|---|---|---|---|");
    for (name, p) in &tally.parts {
        for ((kind, table), (count, time)) in &p.stmts {
            println!(
                "| {name} | {kind} | {table} | {:.2} | {:.2} |",
                per(*count),
                ms(*time, n)
            );
            let slot = by_stmt.entry((kind.clone(), table.clone())).or_default();
            slot.0 += count;
            slot.1 += *time;
        }
    }
    println!("\n| statement | table | per run |\n|---|---|---|");
    for ((kind, table), (count, _)) in &by_stmt {
        println!("| {kind} | {table} | {:.2} |", per(*count));
    }
}
