//! A running installation for the run benchmarks: a serve process (this binary in `--serve-mode`,
//! the real application with the benchmark flow) and, on Redis, worker processes (`--worker-mode`).

use std::time::Duration;

use anyhow::{Context, Result};
use sea_orm::DatabaseConnection;

use crate::support::{
    command, connect, drop_queue, queue_name, sqlite_url, Api, Mem, PgDb, Proc, Services,
};

/// Where runs are queued and who executes them.
#[derive(Debug, Clone, Copy)]
pub enum Topology {
    /// SQLite, embedded queue, `slots` in-process workers in serve.
    Embedded {
        /// `CHAP_SCHEDULER_WORKERS`.
        slots: usize,
    },
    /// PostgreSQL + Redis, serve without workers, `processes` worker processes of `slots` each.
    Redis {
        /// Worker processes.
        processes: usize,
        /// `CHAP_SCHEDULER_WORKERS` of each.
        slots: usize,
    },
}

impl std::fmt::Display for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Topology::Embedded { slots } => write!(f, "embedded (SQLite), {slots} worker slots"),
            Topology::Redis { processes, slots } => write!(
                f,
                "PostgreSQL + Redis, {processes} worker processes × {slots} slots"
            ),
        }
    }
}

/// The processes, a database connection beside them, and a signed-in API client.
pub struct Cluster {
    /// The serve process.
    pub serve: Proc,
    /// Worker processes (Redis topology).
    pub workers: Vec<Proc>,
    /// The database the installation uses.
    pub db: DatabaseConnection,
    /// API client with an admin API token.
    pub api: Api,
    /// Id of the benchmark flow's default deployment.
    pub deployment: String,
    pg: Option<PgDb>,
    queue: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts the processes of `topology` on fresh storage.
    pub async fn start(services: &Services, topology: Topology) -> Result<Cluster> {
        let dir = tempfile::tempdir()?;
        let exe = std::env::current_exe().context("the bench binary's path")?;
        let (db_url, pg, queue, mut vars) = match topology {
            Topology::Embedded { slots } => (
                sqlite_url(dir.path()),
                None,
                None,
                vec![("CHAP_SCHEDULER_WORKERS", slots.to_string())],
            ),
            Topology::Redis { slots, .. } => {
                let pg = PgDb::create(&services.postgres).await?;
                let queue = queue_name();
                (
                    pg.url.clone(),
                    Some(pg),
                    Some((services.redis.clone(), queue.clone())),
                    vec![
                        ("REDIS_URL", services.redis.clone()),
                        ("CHAP_SCHEDULER_QUEUE_NAME", queue),
                        ("CHAP_SCHEDULER_WORKERS", slots.to_string()),
                    ],
                )
            }
        };
        vars.push(("DATABASE_URL", db_url.clone()));
        let mut serve_vars = vars.clone();
        if matches!(topology, Topology::Redis { .. }) {
            serve_vars.push(("CHAP_SCHEDULER_IN_PROCESS_WORKERS", "false".into()));
        }
        let serve = Proc::spawn(
            command(&exe, &["--serve-mode"], dir.path(), &serve_vars),
            "listening on ",
            Duration::from_secs(60),
        )?;
        let mut workers = Vec::new();
        if let Topology::Redis { processes, .. } = topology {
            for _ in 0..processes {
                workers.push(Proc::spawn(
                    command(&exe, &["--worker-mode"], dir.path(), &vars),
                    "worker ",
                    Duration::from_secs(60),
                )?);
            }
        }
        let api = Api::sign_in(&serve.url()?).await?;
        let deployment = api.deployment_id(crate::flow::FLOW).await?;
        Ok(Cluster {
            serve,
            workers,
            db: connect(&db_url).await?,
            api,
            deployment,
            pg,
            queue,
            _dir: dir,
        })
    }

    /// Peak RSS of every worker process (VmHWM, MiB).
    pub fn worker_peaks(&self) -> Vec<f64> {
        self.workers
            .iter()
            .filter_map(|w| w.mem().ok().map(|m: Mem| m.peak))
            .collect()
    }

    /// Stops the processes and drops the database and queue.
    pub async fn stop(self) {
        self.db.close().await.ok();
        for w in self.workers {
            w.stop();
        }
        self.serve.stop();
        if let Some(pg) = self.pg {
            pg.drop_db().await;
        }
        if let Some((url, name)) = self.queue {
            drop_queue(&url, &name).await;
        }
    }
}
