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
use crate::orchestrator::{deployments, engine, Engine, FlowRegistry, Queue};
use crate::secrets::KeyRing;

/// A built, bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    db: DatabaseConnection,
    engine: Engine,
    blocks: BlockStore,
    background: Vec<tokio::task::JoinHandle<()>>,
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
    deployments::ensure_defaults(&db, &registry).await?;
    let queue = match &config.redis_url {
        Some(url) => Queue::redis(url.expose_secret(), &config.queue_name).await?,
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
    Ok((engine, store))
}

/// Runs this process's workers until the process stops.
pub async fn run_workers(engine: Engine) {
    match engine.queue().clone() {
        Queue::Embedded { wake } => {
            engine::run_embedded_workers(engine, wake, Duration::from_millis(250)).await
        }
        Queue::Redis { storage, .. } => {
            crate::orchestrator::queue::run_redis_workers(engine, *storage).await
        }
    }
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
        let mut background = vec![
            tokio::spawn(engine.clone().run_dispatcher(Duration::from_secs(2))),
            tokio::spawn(crate::orchestrator::schedules::run_scheduler(
                engine.clone(),
            )),
        ];
        if config.in_process_workers {
            background.push(tokio::spawn(run_workers(engine.clone())));
        }
        let state = web::Data::new(AppState {
            auth: AuthService::new(db.clone(), &config, jwt_secret.expose_secret().as_bytes()),
            engine: engine.clone(),
            blocks: blocks.clone(),
            config: config.clone(),
            started_at: chrono::Utc::now(),
        });
        let listener = TcpListener::bind(config.bind)
            .with_context(|| format!("binding {} (CHAP_SCHEDULER_BIND)", config.bind))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || http::app(state.clone()))
            .listen(listener)?
            .shutdown_timeout(30)
            .run();
        Ok(Application {
            server,
            port,
            db,
            engine,
            blocks,
            background,
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

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (up to 30 s).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = self.server.await.context("HTTP server failed");
        for task in self.background {
            task.abort();
        }
        self.db.close_by_ref().await.ok();
        result
    }
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
