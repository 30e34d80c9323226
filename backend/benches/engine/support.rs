//! Shared machinery of the benchmarks: child processes and their memory, the HTTP API, fresh
//! databases and queues, bulk-inserted runs, percentiles, and the report table.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chap_scheduler::db::entities::flow_run;
use chap_scheduler_api::RunState;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// Password of the first admin of every benchmark instance.
pub const ADMIN_PASSWORD: &str = "bench-admin-password-0123";
/// Shared JWT key, so a serve process and its workers agree.
pub const JWT_SECRET: &str = "bench-jwt-secret-bench-jwt-secret-0123456789";
/// The real release binary (cargo builds it for benchmark targets).
pub const BIN: &str = env!("CARGO_BIN_EXE_chap-scheduler");

/// Where the shared services are.
pub struct Services {
    /// PostgreSQL server URL (a fresh database is created per benchmark run).
    pub postgres: String,
    /// Redis URL (a fresh queue name per benchmark run).
    pub redis: String,
}

impl Services {
    /// From `CHAP_BENCH_DATABASE_URL` / `CHAP_BENCH_REDIS_URL`, with the local defaults.
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| d.into())
        };
        Services {
            postgres: var(
                "CHAP_BENCH_DATABASE_URL",
                "postgres://postgres:postgres@127.0.0.1:5432/test",
            ),
            redis: var("CHAP_BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
        }
    }
}

/// The names chosen on the command line (none, or `all`: every one of `all`); Err names an unknown one.
pub fn chosen<'a>(args: &'a [String], all: &[&'a str]) -> Result<Vec<&'a str>, String> {
    if args.is_empty() || args.iter().any(|a| a == "all") {
        return Ok(all.to_vec());
    }
    match args.iter().find(|a| !all.contains(&a.as_str())) {
        Some(unknown) => Err(format!(
            "unknown name `{unknown}`; choose from all, {}",
            all.join(", ")
        )),
        None => Ok(args.iter().map(String::as_str).collect()),
    }
}

/// The first line of a harness's output: what, when, on how many CPUs, under which load.
pub fn banner(what: &str) {
    println!(
        "{what}, {}, {} CPUs, load {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
}

/// `1.23 0.98 0.75` from /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A command for `program` with a clean environment: data dir (with a stand-in SPA), port 0, quiet
/// logs, known secrets.
pub fn command(program: &Path, args: &[&str], data_dir: &Path, vars: &[(&str, String)]) -> Command {
    let dist = data_dir.join("dist");
    if std::fs::create_dir_all(&dist).is_ok() {
        let _ = std::fs::write(
            dist.join("index.html"),
            "<!doctype html><title>bench</title>",
        );
    }
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHAP_SCHEDULER_DATA_DIR", data_dir)
        .env("CHAP_SCHEDULER_STATIC_DIR", data_dir.join("dist"))
        .env("CHAP_SCHEDULER_BIND", "127.0.0.1:0")
        .env("CHAP_SCHEDULER_LOG", "warn")
        .env("CHAP_SCHEDULER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CHAP_SCHEDULER_JWT_SECRET", JWT_SECRET);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// A child process, killed when dropped.
pub struct Proc {
    child: Child,
    /// The line that announced it was up (`listening on …` / `worker … started`).
    pub announced: String,
}

/// Memory of a process, in MiB.
#[derive(Debug, Clone, Copy)]
pub struct Mem {
    /// Resident set size now (VmRSS).
    pub rss: f64,
    /// Peak resident set size (VmHWM).
    pub peak: f64,
}

impl Proc {
    /// Starts `cmd` and waits (up to `within`) for a stdout line starting with `prefix`.
    pub fn spawn(mut cmd: Command, prefix: &str, within: Duration) -> Result<Proc> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout after the announcement so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => {
                    return Ok(Proc {
                        child,
                        announced: line,
                    })
                }
                Ok(_) => continue,
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    bail!("{cmd:?} did not print `{prefix}…` within {within:?} (exit: {status:?})");
                }
            }
        }
    }

    /// The URL of a `listening on http://…` announcement.
    pub fn url(&self) -> Result<String> {
        self.announced
            .strip_prefix("listening on ")
            .map(str::to_string)
            .with_context(|| format!("not a server: {}", self.announced))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS and VmHWM from /proc/<pid>/status.
    pub fn mem(&self) -> Result<Mem> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| -> Result<f64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("{name} missing in /proc/{}/status", self.pid()))?;
            let kib: f64 = line.split_whitespace().nth(1).context("value")?.parse()?;
            Ok(kib / 1024.0)
        };
        Ok(Mem {
            rss: field("VmRSS:")?,
            peak: field("VmHWM:")?,
        })
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(self) {
        self.stop_timed();
    }

    /// SIGTERM, then SIGKILL after 10 s; how long the process took to exit by itself.
    pub fn stop_timed(mut self) -> Option<Duration> {
        let started = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let wait = std::env::var("CHAP_BENCH_STOP_WAIT_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10);
        let deadline = started + Duration::from_secs(wait);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL database, dropped by [`PgDb::drop_db`].
pub struct PgDb {
    /// URL of the server's database this one was created from.
    pub server: String,
    /// The fresh database's name.
    pub name: String,
    /// URL of the fresh database.
    pub url: String,
}

impl PgDb {
    /// Creates `chap_bench_<uuid>` on the server.
    pub async fn create(server: &str) -> Result<PgDb> {
        let name = format!("chap_bench_{}", Uuid::new_v4().simple());
        let admin = Database::connect(server)
            .await
            .with_context(|| format!("connecting to {server}"))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await.ok();
        // The database is the URL's last path segment; the query (`?host=/var/run/postgresql` for the
        // Unix socket, `?sslmode=…`) is kept.
        let (address, query) = match server.split_once('?') {
            Some((address, query)) => (address, format!("?{query}")),
            None => (server, String::new()),
        };
        let (base, _) = address
            .rsplit_once('/')
            .context("the database URL has no path")?;
        Ok(PgDb {
            server: server.into(),
            url: format!("{base}/{name}{query}"),
            name,
        })
    }

    /// Drops the database (closing the connections left on it).
    pub async fn drop_db(self) {
        if let Ok(admin) = Database::connect(self.server.as_str()).await {
            let _ = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
            admin.close().await.ok();
        }
    }
}

/// A unique queue name for one benchmark run.
pub fn queue_name() -> String {
    format!("chap-bench:{}", Uuid::new_v4().simple())
}

/// Deletes the Redis keys of a queue.
pub async fn drop_queue(redis_url: &str, name: &str) {
    let Ok(client) = redis::Client::open(redis_url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*{name}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// Opens a database the benchmark reads (or fills) beside the server.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let db = Database::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    Ok(db)
}

/// URL of the embedded database in a data dir.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("chap-scheduler.db").display()
    )
}

/// An HTTP client of one server, signed in with an API token of the admin.
#[derive(Clone)]
pub struct Api {
    /// The client (keep-alive connections).
    pub client: reqwest::Client,
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// `chap_…`.
    pub token: String,
}

impl Api {
    /// Signs in as admin and creates an API token.
    pub async fn sign_in(base: &str) -> Result<Api> {
        let client = reqwest::Client::new();
        let login: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
            .send()
            .await?
            .error_for_status()
            .context("signing in as admin")?
            .json()
            .await?;
        let access = login["access_token"].as_str().context("no access token")?;
        let created: Value = client
            .post(format!("{base}/api/v1/tokens"))
            .bearer_auth(access)
            .json(&json!({ "name": "bench" }))
            .send()
            .await?
            .error_for_status()
            .context("creating an API token")?
            .json()
            .await?;
        Ok(Api {
            client,
            base: base.into(),
            token: created["secret"]
                .as_str()
                .context("no token secret")?
                .into(),
        })
    }

    /// GET → (status, body).
    pub async fn get(&self, path: &str) -> Result<(StatusCode, Value)> {
        let r = self.get_response(path).await?;
        let status = r.status();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// GET → the body as it came (CSV, Prometheus text, a size to measure).
    pub async fn get_bytes(&self, path: &str) -> Result<bytes::Bytes> {
        Ok(self.get_response(path).await?.bytes().await?)
    }

    async fn get_response(&self, path: &str) -> Result<reqwest::Response> {
        Ok(self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?)
    }

    /// POST/PATCH with a JSON body → (status, body).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<(StatusCode, Value)> {
        let r = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// The id of the default deployment of `flow`.
    pub async fn deployment_id(&self, flow: &str) -> Result<String> {
        let (status, all) = self.get("/api/v1/deployments").await?;
        if status != StatusCode::OK {
            bail!("listing deployments: {status} {all}");
        }
        all.as_array()
            .and_then(|a| {
                a.iter()
                    .find(|d| d["flow_name"] == flow && d["is_default"] == true)
            })
            .and_then(|d| d["id"].as_str())
            .map(str::to_string)
            .with_context(|| format!("no default deployment of {flow}: {all}"))
    }

    /// Triggers a run; Err on anything but 201.
    pub async fn trigger(&self, deployment: &str) -> Result<Uuid> {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/deployments/{deployment}/runs"),
                json!({}),
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("trigger answered {status}: {body}");
        }
        body["id"]
            .as_str()
            .context("run id")?
            .parse()
            .context("run id")
    }
}

/// Polls `/ready` until 200 (every 2 ms).
pub async fn wait_ready(base: &str, within: Duration) -> Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = client.get(format!("{base}/ready")).send().await {
            if r.status() == StatusCode::OK {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{base}/ready not 200 within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// How many runs are in each state (the states without runs left out), as `/metrics` reads them.
pub async fn state_counts(db: &DatabaseConnection) -> Result<BTreeMap<String, i64>> {
    let gauges = chap_scheduler::orchestrator::store::run_gauges(db).await?;
    Ok(gauges
        .by_state
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(state, n)| (state.as_str().to_owned(), n))
        .collect())
}

/// How many runs are not in a terminal state: one indexed count, cheap to poll however many
/// finished runs the database keeps.
pub async fn unfinished_runs(db: &DatabaseConnection) -> Result<u64> {
    let open: Vec<RunState> = RunState::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .collect();
    Ok(flow_run::Entity::find()
        .filter(flow_run::Column::State.is_in(open))
        .count(db)
        .await?)
}

/// A `dhis2-credentials` block named `name` pointing at the simulator (its default account).
pub async fn sim_block(api: &Api, name: &str, sim_url: &str) -> Result<Value> {
    let (status, block) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/blocks",
            json!({ "name": name, "block_type": "dhis2-credentials",
                    "data": { "base_url": sim_url, "username": "admin", "password": "district" } }),
        )
        .await?;
    if !status.is_success() {
        bail!("creating the block: {status} {block}");
    }
    Ok(block)
}

/// Inserts `n` finished runs directly (bypassing the engine), spread over the last `days` days,
/// in batches of 1,000 rows.
pub async fn insert_runs(
    db: &DatabaseConnection,
    n: usize,
    deployment: Option<(Uuid, String)>,
    days: i64,
) -> Result<Duration> {
    let started = Instant::now();
    let now = Utc::now();
    let span_ms = days * 86_400_000;
    let states = [
        RunState::Completed,
        RunState::Completed,
        RunState::Completed,
        RunState::Failed,
        RunState::Cancelled,
    ];
    let mut i = 0usize;
    while i < n {
        let batch: Vec<flow_run::ActiveModel> = (i..(i + 1000).min(n))
            .map(|k| {
                let at: DateTime<Utc> =
                    now - chrono::Duration::milliseconds(span_ms * k as i64 / n as i64 + 1000);
                let state = states[k % states.len()];
                flow_run::ActiveModel {
                    id: Set(Uuid::new_v4()),
                    deployment_id: Set(deployment.as_ref().map(|d| d.0)),
                    deployment_name: Set(deployment
                        .as_ref()
                        .map(|d| d.1.clone())
                        .unwrap_or_else(|| "bench".into())),
                    flow_name: Set(crate::flow::FLOW.into()),
                    parameters: Set(json!({})),
                    state: Set(state),
                    state_message: Set((state != RunState::Completed).then(|| "bench row".into())),
                    state_at: Set(at + chrono::Duration::milliseconds(40)),
                    expected_start_at: Set(at),
                    started_at: Set(Some(at + chrono::Duration::milliseconds(10))),
                    ended_at: Set(Some(at + chrono::Duration::milliseconds(40))),
                    attempt: Set(1),
                    max_attempts: Set(1),
                    triggered_by: Set("user:admin".into()),
                    schedule_id: Set(None),
                    idempotency_key: Set(None),
                    worker_id: Set(None),
                    heartbeat_at: Set(None),
                    next_attempt_at: Set(None),
                    enqueued_at: Set(Some(at)),
                    retry_of: Set(None),
                    summary: Set(None),
                    created_at: Set(at),
                }
            })
            .collect();
        i += batch.len();
        flow_run::Entity::insert_many(batch)
            .exec(db)
            .await
            .with_context(|| format!("inserting runs (batch ending at {i})"))?;
    }
    Ok(started.elapsed())
}

/// Percentiles of a sample (nearest rank).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

/// Nearest-rank percentiles of `values`.
pub fn summarize(mut values: Vec<f64>) -> Summary {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    let rank = |p: f64| -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        let i = ((p / 100.0) * n as f64).ceil() as usize;
        values[i.clamp(1, n) - 1]
    };
    Summary {
        p50: rank(50.0),
        p99: rank(99.0),
        max: values.last().copied().unwrap_or(f64::NAN),
    }
}

/// Milliseconds between two instants of the database clock.
pub fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

/// One figure of the final table.
pub struct Row {
    figure: String,
    value: String,
    target: String,
    load: String,
}

/// The figures measured in this invocation.
#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// Records a figure and prints it at once.
    pub fn add(&mut self, figure: impl Into<String>, value: impl Into<String>, target: &str) {
        let row = Row {
            figure: figure.into(),
            value: value.into(),
            target: target.into(),
            load: loadavg(),
        };
        println!(
            "  {:<58} {:<34} target {:<18} load {}",
            row.figure, row.value, row.target, row.load
        );
        self.rows.push(row);
    }

    /// The whole table, Markdown.
    pub fn print_table(&self) {
        println!("\n| figure | measured | target | load (1/5/15 min) |\n|---|---|---|---|");
        for r in &self.rows {
            println!("| {} | {} | {} | {} |", r.figure, r.value, r.target, r.load);
        }
    }
}
