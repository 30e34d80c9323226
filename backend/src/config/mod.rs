//! The one typed configuration, read once at start from `CHAP_SCHEDULER_*`, `DATABASE_URL` and `REDIS_URL`.
//! Every setting has a default that runs the service embedded (SQLite, embedded queue, keys in the data dir).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};

/// Where configuration values come from; `std::env::var` in production, a map in tests.
pub trait Source {
    /// The value of `key`, if set and not empty.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct Env;

impl Source for Env {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        self.get(key).cloned().filter(|v| !v.trim().is_empty())
    }
}

/// Login throttling limits: failed attempts allowed within `window`.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failed logins allowed from one client address per window.
    pub max_failures_per_ip: u32,
    /// Failed logins allowed for one account from one client address per window.
    pub max_failures_per_account: u32,
    /// Length of the sliding window.
    pub window: Duration,
}

/// The service configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Folder for the embedded database and generated keys.
    pub data_dir: PathBuf,
    /// Database connection URL (`sqlite://…` or `postgres://…`).
    pub database_url: SecretString,
    /// Redis URL; when absent the queue is embedded.
    pub redis_url: Option<SecretString>,
    /// Name of the Redis queue.
    pub queue_name: String,
    /// Folder holding the built SPA (`index.html`, wasm, js, css).
    pub static_dir: PathBuf,
    /// The sub-path everything but the probes is served under (`CHAP_SCHEDULER_PUBLIC_PATH`); empty
    /// serves at `/`.
    pub public_path: PublicPath,
    /// HMAC key for access and refresh JWTs; generated into the data dir when not given.
    pub jwt_secret: Option<SecretString>,
    /// Password of the first `admin` user; random and printed once when not given.
    pub admin_password: Option<SecretString>,
    /// Key (or `kid:key` list, first seals) encrypting secret block fields; generated into the data dir
    /// when not given.
    pub encryption_key: Option<SecretString>,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a session (and its refresh tokens) without use.
    pub refresh_token_ttl: Duration,
    /// Login throttling.
    pub throttle: ThrottleConfig,
    /// Take the client address and scheme from `X-Forwarded-For`/`Forwarded`/`X-Forwarded-Proto`
    /// (only behind a reverse proxy you control).
    pub trust_proxy_headers: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How long a client may stall: a request's body must arrive within it of its head (else 408),
    /// and a client that takes none of its answer for that long is disconnected.
    pub client_timeout: Duration,
    /// A connection to PostgreSQL or Redis whose server has acknowledged nothing and answered no
    /// keepalive probe for this long is ended as dead (a host that crashed, was cut off or replaced).
    pub dead_connection_after: Duration,
    /// Flow runs one process executes at once.
    pub workers: usize,
    /// Whether `serve` also runs workers (off when separate `worker` processes do the work).
    pub in_process_workers: bool,
    /// How often a worker writes a running run's heartbeat.
    pub heartbeat_interval: Duration,
    /// A run without a heartbeat for this long is declared CRASHED.
    pub heartbeat_timeout: Duration,
    /// A PENDING run whose queue entry is older than this is enqueued again (lost queue entries).
    pub requeue_after: Duration,
    /// Runs (with their logs, steps and artifacts) older than this many days are deleted; 0 keeps all.
    pub retention_days: u32,
    /// How often the retention pass runs (the first one at most a minute after start).
    pub retention_interval: Duration,
    /// How long a stopping worker lets its running runs finish before handing them back.
    pub shutdown_grace: Duration,
    /// A `worker` whose Redis has not answered for this long exits non-zero (for its supervisor).
    pub queue_lost_after: Duration,
    /// A Redis worker with a free slot claims PENDING runs enqueued longer ago than this itself.
    pub sweep_after: Duration,
    /// Log filter (`tracing_subscriber::EnvFilter` syntax).
    pub log: String,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// How often the prediction flow polls a chap job.
    pub prediction_poll_interval: Duration,
    /// How long the prediction flow waits for one chap job before giving up (chap keeps running).
    pub prediction_timeout: Duration,
    /// Prediction setups one run processes at once.
    pub prediction_parallelism: usize,
    /// Per-request timeout of calls to DHIS2.
    pub dhis2_timeout: Duration,
    /// Per-request timeout of calls to chap (through DHIS2's route).
    pub chap_timeout: Duration,
    /// Most rows one analytics call may return (larger requests are chunked).
    pub analytics_max_rows: usize,
    /// Longest URL of one analytics call, in bytes (larger requests are chunked).
    pub analytics_max_url_bytes: usize,
    /// Most data values in one DHIS2 import request (`import_to_dhis2`).
    pub dhis2_import_batch: usize,
    /// The longest answer read from DHIS2 or chap, in bytes (a longer 2xx answer fails its call).
    pub upstream_max_response_bytes: u64,
    /// Schedules that follow chap's prediction setups.
    pub chap_schedules: crate::chap_schedules::Settings,
    /// Notifications.
    pub notify: crate::notify::Settings,
    /// Whether `/metrics` is served (`serve`, and a worker with `metrics_bind`).
    pub metrics: bool,
    /// Where a `worker` serves `/metrics` and `/health`; none by default.
    pub metrics_bind: Option<SocketAddr>,
    /// A live log stream ends after this long (without `end`), and its client resumes: long-held
    /// connections recycle through proxies and rebalance across replicas.
    pub log_stream_max: Duration,
    /// Most live log streams this process serves at once (each user holds at most 10 of them).
    pub log_streams_max: usize,
}

/// Configuration keys and defaults, for `info` and the README.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

fn parse<T: std::str::FromStr>(src: &dyn Source, key: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match src.get(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{key}={raw:?} is not valid: {e}")),
    }
}

fn parse_bool(src: &dyn Source, key: &str, default: bool) -> anyhow::Result<bool> {
    match src.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => bail!("{key}={v:?} is not a boolean (use true or false)"),
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&Env)
    }

    /// Reads the configuration from any source (tests use a map).
    pub fn from_source(src: &dyn Source) -> anyhow::Result<Self> {
        let with_files = secret_files::resolve(src)?;
        let src: &dyn Source = &with_files;
        let data_dir = PathBuf::from(
            src.get("CHAP_SCHEDULER_DATA_DIR")
                .unwrap_or_else(|| "./data".into()),
        );
        let database_url = src.get("DATABASE_URL").unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("chap-scheduler.db").display()
            )
        });
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!("DATABASE_URL must start with sqlite:, postgres:// or postgresql://");
        }
        let redis_url = src.get("REDIS_URL");
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!("REDIS_URL must start with redis:// or rediss://");
            }
        }
        let jwt_secret = src.get("CHAP_SCHEDULER_JWT_SECRET");
        if let Some(s) = &jwt_secret {
            if s.len() < 32 {
                bail!("CHAP_SCHEDULER_JWT_SECRET must be at least 32 characters");
            }
        }
        let encryption_key = src.get(crate::secrets::ENCRYPTION_KEY_VAR);
        if let Some(spec) = &encryption_key {
            crate::secrets::KeyRing::parse(spec)
                .map_err(|e| anyhow::anyhow!("{}: {e}", crate::secrets::ENCRYPTION_KEY_VAR))?;
        }
        let admin_password = src.get("CHAP_SCHEDULER_ADMIN_PASSWORD");
        if let Some(p) = &admin_password {
            crate::auth::password::check_strength(p)
                .map_err(|e| anyhow::anyhow!("CHAP_SCHEDULER_ADMIN_PASSWORD: {e}"))?;
        }
        let log_format = src
            .get("CHAP_SCHEDULER_LOG_FORMAT")
            .unwrap_or_else(|| "text".into());
        if !["text", "json"].contains(&log_format.as_str()) {
            bail!("CHAP_SCHEDULER_LOG_FORMAT must be text or json");
        }
        let access_secs = whole_seconds(src, "CHAP_SCHEDULER_ACCESS_TOKEN_TTL_SECONDS", 900)?;
        let refresh_secs =
            whole_seconds(src, "CHAP_SCHEDULER_REFRESH_TOKEN_TTL_SECONDS", 14 * 86_400)?;
        if access_secs == 0 || refresh_secs < access_secs {
            bail!("token lifetimes must be positive and the refresh lifetime at least the access lifetime");
        }
        let window_secs = whole_seconds(src, "CHAP_SCHEDULER_LOGIN_WINDOW_SECONDS", 900)?;
        let workers: usize = parse(src, "CHAP_SCHEDULER_WORKERS", 4)?;
        let heartbeat = seconds(src, "CHAP_SCHEDULER_HEARTBEAT_SECONDS", 5.0)?;
        let heartbeat_timeout = seconds(src, "CHAP_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS", 30.0)?;
        if !(heartbeat > 0.0 && heartbeat_timeout >= 2.0 * heartbeat) {
            bail!("CHAP_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS must be at least twice CHAP_SCHEDULER_HEARTBEAT_SECONDS (> 0)");
        }
        let client_timeout = seconds_between(
            src,
            "CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS",
            10.0,
            (0.1, 600.0),
        )?;
        let dead_connection = seconds_between(
            src,
            "CHAP_SCHEDULER_DEAD_CONNECTION_SECONDS",
            30.0,
            (1.0, 3600.0),
        )?;
        let poll = seconds_between(
            src,
            "CHAP_SCHEDULER_PREDICTION_POLL_SECONDS",
            5.0,
            (0.0, 3600.0),
        )?;
        let prediction_timeout = seconds(src, "CHAP_SCHEDULER_PREDICTION_TIMEOUT_SECONDS", 3600.0)?;
        if !(prediction_timeout.is_finite() && prediction_timeout > 0.0) {
            bail!("CHAP_SCHEDULER_PREDICTION_TIMEOUT_SECONDS must be a positive number of seconds");
        }
        let dhis2_timeout = seconds(src, "CHAP_SCHEDULER_DHIS2_TIMEOUT_SECONDS", 30.0)?;
        let chap_timeout = seconds(src, "CHAP_SCHEDULER_CHAP_TIMEOUT_SECONDS", 60.0)?;
        for (key, v) in [
            ("CHAP_SCHEDULER_DHIS2_TIMEOUT_SECONDS", dhis2_timeout),
            ("CHAP_SCHEDULER_CHAP_TIMEOUT_SECONDS", chap_timeout),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
                bail!("{key} must be more than 0 and at most 3600 seconds");
            }
        }
        let analytics_max_rows: usize = parse(src, "CHAP_SCHEDULER_ANALYTICS_MAX_ROWS", 50_000)?;
        let analytics_max_url_bytes: usize =
            parse(src, "CHAP_SCHEDULER_ANALYTICS_MAX_URL_BYTES", 8 * 1024)?;
        let dhis2_import_batch: usize = parse(src, "CHAP_SCHEDULER_DHIS2_IMPORT_BATCH", 10_000)?;
        if dhis2_import_batch == 0 {
            bail!("CHAP_SCHEDULER_DHIS2_IMPORT_BATCH must be positive");
        }
        let max_response_mib: u64 = parse(
            src,
            "CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB",
            crate::flows::dhis2_chap_prediction::client::DEFAULT_MAX_RESPONSE_BYTES >> 20,
        )?;
        if !(1..=16 * 1024).contains(&max_response_mib) {
            bail!("CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB must be between 1 and 16384 (MiB)");
        }
        if analytics_max_rows == 0 || analytics_max_url_bytes < 512 {
            bail!("CHAP_SCHEDULER_ANALYTICS_MAX_ROWS must be positive and CHAP_SCHEDULER_ANALYTICS_MAX_URL_BYTES at least 512");
        }
        let chap_sync = seconds_between(
            src,
            "CHAP_SCHEDULER_CHAP_SYNC_SECONDS",
            300.0,
            (1.0, 86_400.0),
        )?;
        let retry_base = seconds_between(
            src,
            "CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS",
            30.0,
            (0.01, 3600.0),
        )?;
        let public_path = PublicPath::parse(&src.get(PUBLIC_PATH_VAR).unwrap_or_default())
            .map_err(anyhow::Error::msg)?;
        let public_url = match src
            .get("CHAP_SCHEDULER_PUBLIC_URL")
            .filter(|u| !u.trim().is_empty())
        {
            Some(raw) => Some(
                public_path.ui_address(
                    &crate::blocks::check_base_url(&raw)
                        .map_err(|m| anyhow::anyhow!("CHAP_SCHEDULER_PUBLIC_URL {m}"))?,
                ),
            ),
            None => None,
        };
        let log_stream_max = whole_seconds(src, "CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS", 300)?;
        // No "0 = forever": a stream that never ends is what this setting exists to prevent.
        if !(1..=86_400).contains(&log_stream_max) {
            bail!("CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS must be between 1 and 86400");
        }
        let log_streams_max: usize = parse(src, "CHAP_SCHEDULER_LOG_STREAMS_MAX", 200)?;
        if !(1..=100_000).contains(&log_streams_max) {
            bail!("CHAP_SCHEDULER_LOG_STREAMS_MAX must be between 1 and 100000");
        }
        let parallelism: usize = parse(src, "CHAP_SCHEDULER_PREDICTION_PARALLELISM", 1)?;
        if !(1..=64).contains(&parallelism) {
            bail!("CHAP_SCHEDULER_PREDICTION_PARALLELISM must be between 1 and 64");
        }
        Ok(Config {
            bind: parse(
                src,
                "CHAP_SCHEDULER_BIND",
                DEFAULT_BIND.parse().context("default bind")?,
            )?,
            static_dir: PathBuf::from(
                src.get("CHAP_SCHEDULER_STATIC_DIR")
                    .unwrap_or_else(|| "frontend/dist".into()),
            ),
            public_path,
            data_dir,
            database_url: database_url.into(),
            redis_url: redis_url.map(Into::into),
            queue_name: src
                .get("CHAP_SCHEDULER_QUEUE_NAME")
                .unwrap_or_else(|| "chap-scheduler:runs".into()),
            jwt_secret: jwt_secret.map(Into::into),
            admin_password: admin_password.map(Into::into),
            encryption_key: encryption_key.map(Into::into),
            access_token_ttl: Duration::from_secs(access_secs),
            refresh_token_ttl: Duration::from_secs(refresh_secs),
            throttle: ThrottleConfig {
                max_failures_per_ip: parse(src, "CHAP_SCHEDULER_LOGIN_MAX_FAILURES_PER_IP", 30)?,
                max_failures_per_account: parse(
                    src,
                    "CHAP_SCHEDULER_LOGIN_MAX_FAILURES_PER_ACCOUNT",
                    5,
                )?,
                window: Duration::from_secs(window_secs.max(1)),
            },
            trust_proxy_headers: parse_bool(src, "CHAP_SCHEDULER_TRUST_PROXY_HEADERS", false)?,
            max_body_bytes: parse(src, "CHAP_SCHEDULER_MAX_BODY_BYTES", 1024 * 1024)?,
            client_timeout: Duration::from_secs_f64(client_timeout),
            dead_connection_after: Duration::from_secs_f64(dead_connection),
            workers: workers.clamp(1, 256),
            in_process_workers: parse_bool(src, "CHAP_SCHEDULER_IN_PROCESS_WORKERS", true)?,
            heartbeat_interval: Duration::from_secs_f64(heartbeat),
            heartbeat_timeout: Duration::from_secs_f64(heartbeat_timeout),
            requeue_after: Duration::from_secs_f64(
                seconds(src, "CHAP_SCHEDULER_REQUEUE_AFTER_SECONDS", 60.0)?.max(1.0),
            ),
            retention_days: parse(src, "CHAP_SCHEDULER_RETENTION_DAYS", 90)?,
            retention_interval: Duration::from_secs_f64(
                seconds(src, "CHAP_SCHEDULER_RETENTION_INTERVAL_SECONDS", 3600.0)?.max(1.0),
            ),
            shutdown_grace: Duration::from_secs_f64(
                seconds(src, "CHAP_SCHEDULER_SHUTDOWN_GRACE_SECONDS", 60.0)?.max(0.0),
            ),
            queue_lost_after: Duration::from_secs_f64(
                seconds(src, "CHAP_SCHEDULER_QUEUE_LOST_SECONDS", 60.0)?.clamp(1.0, 86_400.0),
            ),
            sweep_after: Duration::from_secs_f64(
                seconds(src, "CHAP_SCHEDULER_SWEEP_AFTER_SECONDS", 0.5)?.clamp(0.05, 3600.0),
            ),
            log: src
                .get("CHAP_SCHEDULER_LOG")
                .unwrap_or_else(|| "info".into()),
            log_format,
            prediction_poll_interval: Duration::from_secs_f64(poll),
            prediction_timeout: Duration::from_secs_f64(prediction_timeout),
            prediction_parallelism: parallelism,
            dhis2_timeout: Duration::from_secs_f64(dhis2_timeout),
            chap_timeout: Duration::from_secs_f64(chap_timeout),
            analytics_max_rows,
            analytics_max_url_bytes,
            dhis2_import_batch,
            upstream_max_response_bytes: max_response_mib << 20,
            chap_schedules: crate::chap_schedules::Settings {
                sync_interval: Duration::from_secs_f64(chap_sync),
                cron_seconds: parse_bool(src, "CHAP_SCHEDULER_CHAP_CRON_SECONDS", false)?,
                chap_timeout: Duration::from_secs_f64(chap_timeout.min(30.0)),
                max_response_bytes: max_response_mib << 20,
            },
            notify: crate::notify::Settings {
                public_url,
                retry_base: Duration::from_secs_f64(retry_base),
            },
            metrics: parse_bool(src, "CHAP_SCHEDULER_METRICS", true)?,
            metrics_bind: match src.get("CHAP_SCHEDULER_METRICS_BIND") {
                Some(raw) => Some(raw.trim().parse().map_err(|e| {
                    anyhow::anyhow!("CHAP_SCHEDULER_METRICS_BIND={raw:?} is not an address like 0.0.0.0:9100: {e}")
                })?),
                None => None,
            },
            log_stream_max: Duration::from_secs(log_stream_max),
            log_streams_max,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn database_kind(&self) -> &'static str {
        if self.database_url.expose_secret().starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    }

    /// `embedded` or `redis`.
    pub fn queue_kind(&self) -> &'static str {
        if self.redis_url.is_some() {
            "redis"
        } else {
            "embedded"
        }
    }

    /// The engine's timing and sizing from this configuration.
    pub fn engine_settings(&self) -> crate::orchestrator::EngineSettings {
        crate::orchestrator::EngineSettings {
            heartbeat_interval: self.heartbeat_interval,
            heartbeat_timeout: self.heartbeat_timeout,
            worker_concurrency: self.workers,
            requeue_after: self.requeue_after,
            shutdown_grace: self.shutdown_grace,
            queue_lost_after: self.queue_lost_after,
            sweep_after: self.sweep_after,
            ..Default::default()
        }
    }
}

/// Replaces the password of a URL's userinfo with `******`.
pub fn mask_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("******"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparseable URL)".into(),
    }
}

mod describe;
mod public_path;
mod seconds;
mod secret_files;

use seconds::{seconds, seconds_between, whole_seconds};

pub use public_path::{PublicPath, PUBLIC_PATH_VAR};
pub use secret_files::SECRET_VARS;

#[cfg(test)]
mod tests;
