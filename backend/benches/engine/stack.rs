//! The processes a real prediction benchmark runs (`prediction`, `purge`): `dhis2-sim` with the
//! bench's scenario, the release `serve` (embedded, or on PostgreSQL + Redis with 2 `worker`
//! processes), signed in, with the simulator's credentials block and the prediction deployment
//! set to a concurrency limit.

use std::time::Duration;

use anyhow::{bail, Result};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::scale::{binary, spawn_sim};
use crate::support::{
    command, connect, drop_queue, queue_name, sim_block, sqlite_url, wait_ready, Api, PgDb, Proc,
    Services,
};

#[derive(Clone, Copy)]
pub enum Mode {
    Embedded,
    Cluster,
}

/// The running processes and what the benchmark reads them with.
pub struct Stack {
    pub mode: Mode,
    pub sim: Proc,
    pub serve: Proc,
    pub workers: Vec<Proc>,
    pub api: Api,
    /// The prediction deployment's id.
    pub deployment: String,
    /// The service's database, read directly.
    pub db: DatabaseConnection,
    /// Every process's environment (`serve` also gets `CHAP_SCHEDULER_IN_PROCESS_WORKERS=false` in
    /// cluster mode).
    vars: Vec<(&'static str, String)>,
    pg: Option<PgDb>,
    queue: Option<String>,
    redis: String,
    data: tempfile::TempDir,
}

impl Stack {
    /// Starts everything; `extra` is added to every process's environment.
    pub async fn start(
        services: &Services,
        scenario: &tempfile::NamedTempFile,
        mode: Mode,
        limit: u32,
        extra: &[(&'static str, String)],
    ) -> Result<Stack> {
        let sim_bin = binary("CHAP_BENCH_SIM_BIN", "dhis2-sim")?;
        let data = tempfile::tempdir()?;
        let (sim, sim_url) = spawn_sim(
            &sim_bin,
            &["--scenario".as_ref(), scenario.path().as_os_str()],
        )?;
        let mut vars = vec![
            ("CHAP_SCHEDULER_PREDICTION_POLL_SECONDS", "0".to_string()),
            ("CHAP_SCHEDULER_WORKERS", "16".to_string()),
            // `CHAP_BENCH_LOG=info` shows what the processes log during the burst (on stderr).
            (
                "CHAP_SCHEDULER_LOG",
                std::env::var("CHAP_BENCH_LOG").unwrap_or_else(|_| "error".to_string()),
            ),
        ];
        let (pg, queue) = match mode {
            Mode::Embedded => (None, None),
            Mode::Cluster => {
                let pg = PgDb::create(&services.postgres).await?;
                let queue = queue_name();
                vars.push(("DATABASE_URL", pg.url.clone()));
                vars.push(("REDIS_URL", services.redis.clone()));
                vars.push(("CHAP_SCHEDULER_QUEUE_NAME", queue.clone()));
                // Workers decrypt the block's password: one key ring for every process.
                vars.push((
                    "CHAP_SCHEDULER_ENCRYPTION_KEY",
                    "YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtMDE=".to_string(),
                ));
                (Some(pg), Some(queue))
            }
        };
        let db_url = pg
            .as_ref()
            .map_or_else(|| sqlite_url(data.path()), |p| p.url.clone());
        let (serve, workers) = processes(mode, &data, &vars, extra).await?;
        let api = Api::sign_in(&serve.url()?).await?;
        let block = sim_block(&api, "sim", &sim_url).await?;
        let deployment = api.deployment_id("dhis2-chap-prediction").await?;
        let (status, body) = api
            .send(
                reqwest::Method::PATCH,
                &format!("/api/v1/deployments/{deployment}"),
                json!({ "concurrency_limit": limit, "collision_strategy": "enqueue",
                        "parameters": { "credentials": block["id"] } }),
            )
            .await?;
        if !status.is_success() {
            bail!("setting the deployment's limit: {status} {body}");
        }
        let db = connect(&db_url).await?;
        Ok(Stack {
            mode,
            sim,
            serve,
            workers,
            api,
            deployment,
            db,
            vars,
            pg,
            queue,
            redis: services.redis.clone(),
            data,
        })
    }

    /// Stops `serve` and the workers, and starts them again on the same database with `extra`
    /// added to their environment (the simulator keeps running; the API token stays valid).
    pub async fn restart(&mut self, extra: &[(&'static str, String)]) -> Result<()> {
        for w in self.workers.drain(..) {
            w.stop();
        }
        let (serve, workers) = processes(self.mode, &self.data, &self.vars, extra).await?;
        std::mem::replace(&mut self.serve, serve).stop();
        self.workers = workers;
        self.api.base = self.serve.url()?;
        Ok(())
    }

    /// Stops every process and drops the PostgreSQL database and the queue it made.
    pub async fn stop(self) {
        self.db.close().await.ok();
        for w in self.workers {
            w.stop();
        }
        self.serve.stop();
        self.sim.stop();
        if let (Some(pg), Some(queue)) = (self.pg, self.queue) {
            drop_queue(&self.redis, &queue).await;
            pg.drop_db().await;
        }
    }
}

/// Starts `serve` (and in cluster mode 2 workers) on `data`, ready to answer.
async fn processes(
    mode: Mode,
    data: &tempfile::TempDir,
    vars: &[(&'static str, String)],
    extra: &[(&'static str, String)],
) -> Result<(Proc, Vec<Proc>)> {
    let app_bin = binary("CHAP_BENCH_APP_BIN", "chap-scheduler")?;
    let mut vars = vars.to_vec();
    vars.extend_from_slice(extra);
    let mut serve_vars = vars.clone();
    if let Mode::Cluster = mode {
        serve_vars.push(("CHAP_SCHEDULER_IN_PROCESS_WORKERS", "false".to_string()));
    }
    let serve = Proc::spawn(
        command(&app_bin, &["serve"], data.path(), &serve_vars),
        "listening on ",
        Duration::from_secs(30),
    )?;
    wait_ready(&serve.url()?, Duration::from_secs(30)).await?;
    let mut workers = Vec::new();
    if let Mode::Cluster = mode {
        for i in 0..2 {
            let dir = data.path().join(format!("worker-{i}"));
            workers.push(Proc::spawn(
                command(&app_bin, &["worker"], &dir, &vars),
                "worker ",
                Duration::from_secs(30),
            )?);
        }
    }
    Ok((serve, workers))
}
