//! One installation under test: PostgreSQL (a fresh database), Redis (a fresh queue), `serve`
//! processes and `worker` processes of the real release binary, and the DHIS2 + chap simulator in this
//! process (so its jobs can be counted).

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chap_scheduler::db::entities::flow_run;
use chap_scheduler_api::RunState;
use dhis2_sim::{PredictionSetup, Scenario, SetupBehaviour, SimHandle, Simulator};
use reqwest::{Method, StatusCode};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    Statement,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::packet_filter::{local_ports_to, PacketFilter};
use crate::support::{command, connect, drop_queue, queue_name, Api, PgDb, Proc, Services, BIN};

/// A fixed key, so every process of a rig decrypts the block's password.
const ENCRYPTION_KEY: &str = "ZmF1bHRzLWZhdWx0cy1mYXVsdHMtZmF1bHRzLTAxMjM=";

/// What a rig runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// `serve` processes (only the first creates the admin; none executes runs).
    pub serves: usize,
    /// Worker processes.
    pub workers: usize,
    /// `CHAP_SCHEDULER_WORKERS` of each worker process.
    pub slots: usize,
    /// Polls before a chap job succeeds (one poll every 100 ms).
    pub job_polls: usize,
    /// Prediction setups in chap (a run predicts one).
    pub setups: i64,
    /// `CHAP_SCHEDULER_SHUTDOWN_GRACE_SECONDS`.
    pub grace_seconds: u64,
    /// Redis URL (default: the shared one).
    pub redis: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            serves: 1,
            workers: 2,
            slots: 25,
            job_polls: 10,
            setups: 50,
            grace_seconds: 60,
            redis: None,
        }
    }
}

/// The running installation.
pub struct Rig {
    /// DHIS2 and chap.
    pub sim: SimHandle,
    /// `serve` processes (`None` while stopped).
    pub serves: Vec<Option<Proc>>,
    /// Worker processes (`None` once killed).
    pub workers: Vec<Option<Proc>>,
    /// The rig's database.
    pub db: DatabaseConnection,
    /// Signed in on the first serve.
    pub api: Api,
    /// The prediction flow's deployment.
    pub deployment: String,
    /// The credentials block for the simulator.
    pub block: String,
    vars: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
    pg: PgDb,
    queue: (String, String),
}

/// The simulator's world: `n` setups like the fixture's, each job succeeding after `polls` polls.
fn scenario(n: i64, polls: usize) -> Scenario {
    let mut statuses = vec!["PENDING".to_string()];
    statuses.extend((1..polls).map(|_| "STARTED".to_string()));
    statuses.push("SUCCESS".into());
    let behaviour = SetupBehaviour {
        job_statuses: statuses,
        ..SetupBehaviour::default()
    };
    let mut scenario = Scenario::fixture();
    scenario.record_bodies = false;
    let template = scenario.prediction_setups[0].setup.clone();
    scenario.prediction_setups.clear();
    for id in 1..=n {
        let setup = PredictionSetup {
            id,
            name: format!("setup {id}"),
            ..template.clone()
        };
        scenario = scenario.setup_with(setup, behaviour.clone());
    }
    scenario
}

impl Rig {
    /// Starts everything on fresh storage.
    pub async fn start(services: &Services, options: &Options) -> Result<Rig> {
        let sim = Simulator::start(scenario(options.setups, options.job_polls)).await?;
        let dir = tempfile::tempdir()?;
        let pg = PgDb::create(&services.postgres).await?;
        let redis = options
            .redis
            .clone()
            .unwrap_or_else(|| services.redis.clone());
        let queue = queue_name();
        let vars = vec![
            ("DATABASE_URL", pg.url.clone()),
            ("REDIS_URL", redis.clone()),
            ("CHAP_SCHEDULER_QUEUE_NAME", queue.clone()),
            ("CHAP_SCHEDULER_WORKERS", options.slots.to_string()),
            ("CHAP_SCHEDULER_ENCRYPTION_KEY", ENCRYPTION_KEY.into()),
            ("CHAP_SCHEDULER_PREDICTION_POLL_SECONDS", "0.1".into()),
            ("CHAP_SCHEDULER_HEARTBEAT_SECONDS", "1".into()),
            ("CHAP_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS", "5".into()),
            ("CHAP_SCHEDULER_REQUEUE_AFTER_SECONDS", "5".into()),
            (
                "CHAP_SCHEDULER_SHUTDOWN_GRACE_SECONDS",
                options.grace_seconds.to_string(),
            ),
            ("CHAP_SCHEDULER_IN_PROCESS_WORKERS", "false".into()),
        ];
        let mut vars = vars;
        if let Ok(filter) = std::env::var("CHAP_FAULTS_LOG") {
            vars.push(("CHAP_SCHEDULER_LOG", filter));
        }
        let mut rig_serves = Vec::new();
        rig_serves.push(Some(spawn_serve(dir.path(), &vars)?));
        let api = Api::sign_in(&rig_serves[0].as_ref().context("serve")?.url()?).await?;
        for _ in 1..options.serves {
            rig_serves.push(Some(spawn_serve(dir.path(), &vars)?));
        }
        let mut workers = Vec::new();
        for _ in 0..options.workers {
            workers.push(Some(spawn_worker(dir.path(), &vars)?));
        }
        let deployment = api.deployment_id("dhis2-chap-prediction").await?;
        let (status, body) = api
            .send(
                Method::PATCH,
                &format!("/api/v1/deployments/{deployment}"),
                json!({ "retries": 3, "retry_delay_seconds": 0, "concurrency_limit": null }),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("configuring the deployment: {status} {body}");
        }
        let (status, body) = api
            .send(
                Method::POST,
                "/api/v1/blocks",
                json!({ "name": "sim", "block_type": "dhis2-credentials",
                        "data": { "base_url": sim.base_url(), "username": sim.username(),
                                  "password": sim.password() } }),
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("creating the block: {status} {body}");
        }
        let block = body["id"].as_str().context("block id")?.to_string();
        Ok(Rig {
            sim,
            serves: rig_serves,
            workers,
            db: connect(&pg.url).await?,
            api,
            deployment,
            block,
            vars,
            dir,
            pg,
            queue: (redis, queue),
        })
    }

    /// The parameters of a run of one setup.
    pub fn parameters(&self, setup: i64) -> Value {
        json!({ "credentials": self.block, "prediction_setup_id": setup })
    }

    /// Triggers `n` runs, setup 1, 2, … in turn.
    pub async fn trigger(&self, n: usize, setups: i64) -> Result<Vec<Uuid>> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let setup = (i as i64 % setups) + 1;
            let (status, body) = self
                .api
                .send(
                    Method::POST,
                    &format!("/api/v1/deployments/{}/runs", self.deployment),
                    json!({ "parameters": self.parameters(setup) }),
                )
                .await?;
            if status != StatusCode::CREATED {
                bail!("trigger answered {status}: {body}");
            }
            ids.push(body["id"].as_str().context("run id")?.parse()?);
        }
        Ok(ids)
    }

    /// Adds a worker process (as compose's restart policy would).
    pub fn add_worker(&mut self) -> Result<()> {
        self.workers
            .push(Some(spawn_worker(self.dir.path(), &self.vars)?));
        Ok(())
    }

    /// Starts serve number `i` again after [`Rig::stop_serve`].
    pub fn start_serve(&mut self, i: usize) -> Result<()> {
        let serve = spawn_serve(self.dir.path(), &self.vars)?;
        if i == 0 {
            // A new process listens on a new port: the API client follows it.
            self.api.base = serve.url()?;
        }
        self.serves[i] = Some(serve);
        Ok(())
    }

    /// SIGTERM to serve number `i`, waiting for it to exit.
    pub fn stop_serve(&mut self, i: usize) {
        if let Some(serve) = self.serves[i].take() {
            serve.stop();
        }
    }

    /// The worker id a worker process announced.
    pub fn worker_id(&self, i: usize) -> Option<String> {
        let announced = &self.workers[i].as_ref()?.announced;
        Some(
            announced
                .strip_prefix("worker ")?
                .strip_suffix(" started")?
                .to_string(),
        )
    }

    /// Sends a signal (`KILL`, `TERM`, `STOP`, `CONT`) to worker `i`.
    pub fn signal_worker(&self, i: usize, signal: &str) -> Result<()> {
        let pid = self.workers[i].as_ref().context("no such worker")?.pid();
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -{signal} {pid} failed");
        }
        Ok(())
    }

    /// Forgets worker `i` (dropping its process kills it if it still runs).
    pub fn drop_worker(&mut self, i: usize) {
        self.workers[i] = None;
    }

    /// How many of `ids` are in each state.
    pub async fn states(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, RunState, Option<String>)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let rows = flow_run::Entity::find()
                .filter(flow_run::Column::Id.is_in(chunk.to_vec()))
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(|r| (r.id, r.state, r.worker_id)));
        }
        Ok(out)
    }

    /// Waits until `enough` of `ids` are in a state of `states` (false at the deadline).
    pub async fn wait_until(
        &self,
        ids: &[Uuid],
        states: &[RunState],
        enough: usize,
        within: Duration,
    ) -> Result<bool> {
        let deadline = Instant::now() + within;
        loop {
            let n = self
                .states(ids)
                .await?
                .iter()
                .filter(|(_, s, _)| states.contains(s))
                .count();
            if n >= enough {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `enough` of `ids` are terminal (false at the deadline).
    pub async fn wait_ended(&self, ids: &[Uuid], enough: usize, within: Duration) -> Result<bool> {
        let terminal: Vec<RunState> = RunState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        self.wait_until(ids, &terminal, enough, within).await
    }

    /// Waits until every run is terminal (false at the deadline).
    pub async fn settle(&self, ids: &[Uuid], within: Duration) -> Result<bool> {
        self.wait_ended(ids, ids.len(), within).await
    }

    /// The rig's database gone for `down`, as in a restart of PostgreSQL: every session on it ended
    /// at once, new ones refused until `down` has passed. How many sessions were ended.
    pub async fn database_outage(&self, down: Duration) -> Result<usize> {
        let admin = connect(&self.pg.server).await?;
        let name = &self.pg.name;
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
            ))
            .await?;
        let ended = admin
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                ),
            ))
            .await?
            .len();
        tokio::time::sleep(down).await;
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
            ))
            .await?;
        admin.close().await.ok();
        Ok(ended)
    }

    /// Every connection open now to the rig's database goes silent for good (its packets dropped both
    /// ways until the filter is dropped), as when the database's host vanishes; new connections reach
    /// the same server. The filter, and how many connections were cut.
    pub async fn cut_database_connections(&self) -> Result<(PacketFilter, usize)> {
        let admin = connect(&self.pg.server).await?;
        let rows = admin
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT client_port FROM pg_stat_activity \
                     WHERE datname = '{}' AND client_port > 0",
                    self.pg.name
                ),
            ))
            .await?;
        admin.close().await.ok();
        let server_port =
            sea_orm::sqlx::postgres::PgConnectOptions::from_str(&self.pg.server)?.get_port();
        // This harness's own connections (its tallies) stay.
        let own = local_ports_to(server_port);
        let filter = PacketFilter::install();
        let mut cut = 0;
        for row in &rows {
            let port = u16::try_from(row.try_get::<i32>("", "client_port")?)?;
            if !own.contains(&port) {
                filter.drop_connection(port, server_port);
                cut += 1;
            }
        }
        Ok((filter, cut))
    }

    /// Stops the processes and drops the database and queue.
    pub async fn stop(mut self) {
        self.db.close().await.ok();
        for w in self.workers.drain(..).flatten() {
            w.stop();
        }
        for s in self.serves.drain(..).flatten() {
            s.stop();
        }
        self.pg.drop_db().await;
        drop_queue(&self.queue.0, &self.queue.1).await;
        self.sim.stop().await;
    }
}

fn spawn_serve(dir: &Path, vars: &[(&str, String)]) -> Result<Proc> {
    Proc::spawn(
        command(Path::new(BIN), &["serve"], dir, vars),
        "listening on ",
        Duration::from_secs(60),
    )
}

fn spawn_worker(dir: &Path, vars: &[(&str, String)]) -> Result<Proc> {
    Proc::spawn(
        command(Path::new(BIN), &["worker"], dir, vars),
        "worker ",
        Duration::from_secs(60),
    )
}
