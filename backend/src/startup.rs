//! Building and running the application: the same code path for the binary and the tests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, HttpServer};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;

use crate::auth::{self, AuthService};
use crate::blocks::BlockStore;
use crate::config::Config;
use crate::db;
use crate::http::{self, AppState};
use crate::orchestrator::{deployments, engine, store, Engine, FlowRegistry, Queue};
use crate::secrets::KeyRing;

/// A built, bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    db: DatabaseConnection,
    engine: Engine,
    blocks: BlockStore,
    background: Vec<tokio::task::JoinHandle<()>>,
    workers: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Connects, migrates and builds the engine with its queue.
pub async fn engine(config: &Config, registry: FlowRegistry) -> anyhow::Result<Engine> {
    Ok(engine_and_blocks(config, registry).await?.0)
}

/// [`engine`], and the block store the engine reads credentials through (the key ring comes from
/// `CHAP_SCHEDULER_ENCRYPTION_KEY` or the data dir's key file).
pub async fn engine_and_blocks(
    config: &Config,
    registry: FlowRegistry,
) -> anyhow::Result<(Engine, BlockStore)> {
    let keys = KeyRing::load(config.encryption_key.as_ref(), &config.data_dir)?;
    tracing::debug!(keys = ?keys.kids(), "loaded the encryption keys");
    let db = db::connect(config).await?;
    db::migrate(&db).await?;
    db::clock::sync(&db)
        .await
        .context("reading the database server's clock")?;
    deployments::ensure_defaults(&db, &registry).await?;
    let queue = match &config.redis_url {
        Some(url) => {
            Queue::redis(
                url.expose_secret(),
                &config.queue_name,
                config.dead_connection_after,
            )
            .await?
        }
        None => Queue::embedded(),
    };
    let store = BlockStore::new(db.clone(), Arc::new(keys));
    for (block, kid) in store.missing_keys().await? {
        tracing::warn!(
            %block, %kid,
            "a secret of this block was encrypted under a key that CHAP_SCHEDULER_ENCRYPTION_KEY \
             (or the key file) does not hold; its runs and tests will fail until that key is added"
        );
    }
    let blocks: crate::orchestrator::Blocks = Arc::new(store.clone());
    let engine = Engine::new(db, registry, queue, config.engine_settings(), blocks);
    tokio::spawn(db::clock::run_sync(
        engine.db().clone(),
        engine.stopping().clone(),
    ));
    Ok((engine, store))
}

/// Runs this process's workers until the engine stops and every run in flight has finished or gone
/// back to the queue. An error means the workers gave up (the process should exit non-zero).
pub async fn run_workers(engine: Engine) -> anyhow::Result<()> {
    match engine.queue().clone() {
        Queue::Embedded { wake } => {
            engine::run_embedded_workers(engine, wake, Duration::from_millis(250)).await;
            Ok(())
        }
        Queue::Redis { storage, .. } => {
            crate::orchestrator::queue::run_redis_workers(engine, *storage).await
        }
    }
}

/// The `worker` command: runs the workers until SIGINT/SIGTERM, then stops gracefully (no new runs;
/// running ones finish within the grace period or go back to the queue). With
/// `CHAP_SCHEDULER_METRICS_BIND` it also serves `/metrics` and `/health` there.
pub async fn run_worker_process(engine: Engine, config: &Config) -> anyhow::Result<()> {
    let _metrics_server = match config.metrics_bind {
        Some(bind) => {
            let handle = crate::observe::install(config.metrics, crate::observe::Role::Worker);
            let server = crate::observe::server::start_worker_server(bind, handle, engine.clone())?;
            tracing::info!(%bind, "this worker serves /metrics and /health");
            Some(server)
        }
        None => None,
    };
    let stopper = engine.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(
            grace_seconds = stopper.settings().shutdown_grace.as_secs_f64(),
            "worker stopping: no new runs; running ones finish or go back to the queue"
        );
        stopper.stop();
    });
    run_workers(engine).await
}

impl Application {
    /// [`Application::build_with`] and the production flows.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let registry = crate::flows::registry(&config);
        Self::build_with(config, registry).await
    }

    /// Connects to the database, migrates, ensures the first admin and the default deployments, starts
    /// the dispatcher (and in-process workers unless disabled), and binds the listener.
    pub async fn build_with(config: Config, registry: FlowRegistry) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let (engine, blocks) = engine_and_blocks(&config, registry).await?;
        let db = engine.db().clone();
        if let Some(password) =
            auth::users::ensure_first_admin(&db, config.admin_password.as_ref()).await?
        {
            print_first_admin(password.expose_secret());
        }
        let jwt_secret = crate::secrets::load_or_create(
            config.jwt_secret.as_ref(),
            &config.data_dir,
            "jwt-secret",
        )?;
        auth::password::warm_up().await;
        let background = vec![
            tokio::spawn(engine.clone().run_dispatcher(Duration::from_secs(2))),
            tokio::spawn(crate::orchestrator::schedules::run_scheduler(
                engine.clone(),
            )),
            tokio::spawn(
                crate::chap_schedules::ChapSchedules {
                    engine: engine.clone(),
                    blocks: blocks.clone(),
                    settings: config.chap_schedules.clone(),
                }
                .run(),
            ),
            tokio::spawn(
                crate::notify::Notifier::new(db.clone(), blocks.clone(), config.notify.clone())
                    .run(),
            ),
            tokio::spawn(crate::notify::deadlines::run(db.clone())),
            tokio::spawn(store::retention::run_retention(
                db.clone(),
                config.retention_days,
                config.retention_interval.min(Duration::from_secs(60)),
                config.retention_interval,
            )),
        ];
        let workers = config
            .in_process_workers
            .then(|| tokio::spawn(run_workers(engine.clone())));
        let state = web::Data::new(AppState {
            auth: AuthService::new(db.clone(), &config, jwt_secret.expose_secret().as_bytes()),
            engine: engine.clone(),
            blocks: blocks.clone(),
            config: config.clone(),
            started_at: chrono::Utc::now(),
            metrics: crate::observe::install(config.metrics, crate::observe::Role::Serve),
            log_streams: http::StreamSlots::new(config.log_streams_max),
        });
        let listener = TcpListener::bind(config.bind)
            .with_context(|| format!("binding {} (CHAP_SCHEDULER_BIND)", config.bind))?;
        let port = listener.local_addr()?.port();
        let open_files = http::connections::raise_open_files_limit().unwrap_or(1024);
        let http_workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let client_timeout = config.client_timeout;
        let server = HttpServer::new(move || http::app(state.clone()))
            .on_connect(move |connection, _| {
                http::connections::drop_stalled_readers(connection, client_timeout)
            })
            .workers(http_workers)
            .max_connections(http::connections::per_worker(open_files, http_workers))
            .listen(listener)?
            .shutdown_timeout(30)
            .disable_signals()
            .run();
        Ok(Application {
            server,
            port,
            db,
            engine,
            blocks,
            background,
            workers,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database connection the application uses.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The block store (the engine's block source, with the process's key ring).
    pub fn blocks(&self) -> &BlockStore {
        &self.blocks
    }

    /// Serves until SIGINT/SIGTERM. Then, at the same time: drains in-flight requests (up to 30 s),
    /// and stops the engine: the in-process workers claim nothing more and their runs finish within
    /// the grace period or go back to the queue.
    ///
    /// When the in-process workers give up (their Redis gone for good), the server stops too and
    /// this returns the error, so the process exits non-zero and its supervisor restarts it, as a
    /// `worker` would be.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let mut workers = self.workers;
        let result = tokio::select! {
            served = &mut server => served.context("HTTP server task failed")?.context("HTTP server failed"),
            gave_up = workers_gave_up(&mut workers) => {
                tracing::error!(
                    error = %gave_up,
                    "the in-process workers gave up; stopping the server so that its supervisor restarts it"
                );
                handle.stop(true).await;
                let _ = server.await;
                Err(gave_up.context("the in-process workers gave up"))
            }
            _ = shutdown_signal() => {
                tracing::info!("stopping: draining requests, finishing or handing back runs");
                self.engine.stop();
                tokio::join!(handle.stop(true), async {
                    if let Some(workers) = workers {
                        let _ = workers.await;
                    }
                });
                server.await.context("HTTP server task failed")?.context("HTTP server failed")
            }
        };
        self.engine.stop();
        for task in self.background {
            task.abort();
        }
        self.engine.flush_logs().await;
        self.db.close_by_ref().await.ok();
        result
    }
}

/// Resolves with the error when the in-process workers give up; never when there are none or they
/// end because the engine was stopped.
async fn workers_gave_up(
    workers: &mut Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
) -> anyhow::Error {
    let Some(task) = workers.as_mut() else {
        return std::future::pending().await;
    };
    let error = match task.await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(joined) => {
            Some(anyhow::Error::new(joined).context("the in-process workers' task failed"))
        }
    };
    *workers = None;
    match error {
        Some(e) => e,
        None => std::future::pending().await,
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn print_first_admin(password: &str) {
    // Printed once, to the console only: it is never logged or stored in clear.
    println!(
        "\n================================================================\n\
         First start: created user `admin` with password:\n\n    {password}\n\n\
         Sign in and change it under Account. It will not be shown again.\n\
         ================================================================\n"
    );
}
