//! Building and running the application: the same code path for the binary and the tests.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, HttpServer};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;

use crate::auth::{self, AuthService};
use crate::config::Config;
use crate::db;
use crate::http::{self, AppState};

/// A built, bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    db: DatabaseConnection,
}

impl Application {
    /// Connects to the database, migrates, ensures the first admin, and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let db = db::connect(&config).await?;
        db::migrate(&db).await?;
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
        let state = web::Data::new(AppState {
            auth: AuthService::new(db.clone(), &config, jwt_secret.expose_secret().as_bytes()),
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
        Ok(Application { server, port, db })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database connection the application uses.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (up to 30 s).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await.context("HTTP server failed")?;
        self.db.close_by_ref().await.ok();
        Ok(())
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
