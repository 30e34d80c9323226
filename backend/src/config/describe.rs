//! Every setting as `(variable, value)` for `chap-scheduler info`, secrets masked.

use secrecy::{ExposeSecret, SecretString};

use super::{mask_url, Config};

impl Config {
    /// Every setting as `(variable, value)` with secrets masked, for `chap-scheduler info`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let set_or_generated = |s: &Option<SecretString>, fallback: &str| match s {
            Some(_) => "****** (set)".to_string(),
            None => fallback.to_string(),
        };
        vec![
            ("CHAP_SCHEDULER_BIND", self.bind.to_string()),
            (
                "CHAP_SCHEDULER_DATA_DIR",
                self.data_dir.display().to_string(),
            ),
            ("DATABASE_URL", mask_url(self.database_url.expose_secret())),
            (
                "REDIS_URL",
                self.redis_url
                    .as_ref()
                    .map(|u| mask_url(u.expose_secret()))
                    .unwrap_or_else(|| "(not set: embedded queue)".into()),
            ),
            (
                "CHAP_SCHEDULER_STATIC_DIR",
                self.static_dir.display().to_string(),
            ),
            (
                super::PUBLIC_PATH_VAR,
                if self.public_path.is_root() {
                    "(not set: served at /)".into()
                } else {
                    self.public_path.to_string()
                },
            ),
            (
                "CHAP_SCHEDULER_JWT_SECRET",
                set_or_generated(
                    &self.jwt_secret,
                    "(not set: generated key file in the data dir)",
                ),
            ),
            (
                "CHAP_SCHEDULER_ADMIN_PASSWORD",
                set_or_generated(
                    &self.admin_password,
                    "(not set: random, printed once on first start)",
                ),
            ),
            (
                crate::secrets::ENCRYPTION_KEY_VAR,
                match &self.encryption_key {
                    // Key ids are not secret and tell which keys a process holds.
                    Some(spec) => match crate::secrets::KeyRing::parse(spec.expose_secret()) {
                        Ok(ring) => format!("****** (set; key ids {})", ring.kids().join(", ")),
                        Err(_) => "****** (set, invalid)".into(),
                    },
                    None => "(not set: generated key file in the data dir)".into(),
                },
            ),
            (
                "CHAP_SCHEDULER_ACCESS_TOKEN_TTL_SECONDS",
                self.access_token_ttl.as_secs().to_string(),
            ),
            (
                "CHAP_SCHEDULER_REFRESH_TOKEN_TTL_SECONDS",
                self.refresh_token_ttl.as_secs().to_string(),
            ),
            (
                "CHAP_SCHEDULER_LOGIN_MAX_FAILURES_PER_IP",
                self.throttle.max_failures_per_ip.to_string(),
            ),
            (
                "CHAP_SCHEDULER_LOGIN_MAX_FAILURES_PER_ACCOUNT",
                self.throttle.max_failures_per_account.to_string(),
            ),
            (
                "CHAP_SCHEDULER_LOGIN_WINDOW_SECONDS",
                self.throttle.window.as_secs().to_string(),
            ),
            (
                "CHAP_SCHEDULER_TRUST_PROXY_HEADERS",
                self.trust_proxy_headers.to_string(),
            ),
            (
                "CHAP_SCHEDULER_MAX_BODY_BYTES",
                self.max_body_bytes.to_string(),
            ),
            (
                "CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS",
                self.client_timeout.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_DEAD_CONNECTION_SECONDS",
                self.dead_connection_after.as_secs_f64().to_string(),
            ),
            ("CHAP_SCHEDULER_WORKERS", self.workers.to_string()),
            (
                "CHAP_SCHEDULER_IN_PROCESS_WORKERS",
                self.in_process_workers.to_string(),
            ),
            (
                "CHAP_SCHEDULER_HEARTBEAT_SECONDS",
                self.heartbeat_interval.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS",
                self.heartbeat_timeout.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_REQUEUE_AFTER_SECONDS",
                self.requeue_after.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_RETENTION_DAYS",
                self.retention_days.to_string(),
            ),
            (
                "CHAP_SCHEDULER_RETENTION_INTERVAL_SECONDS",
                self.retention_interval.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_SHUTDOWN_GRACE_SECONDS",
                self.shutdown_grace.as_secs_f64().to_string(),
            ),
            ("CHAP_SCHEDULER_LOG", self.log.clone()),
            ("CHAP_SCHEDULER_LOG_FORMAT", self.log_format.clone()),
            (
                "CHAP_SCHEDULER_PREDICTION_POLL_SECONDS",
                self.prediction_poll_interval.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_PREDICTION_TIMEOUT_SECONDS",
                self.prediction_timeout.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_PREDICTION_PARALLELISM",
                self.prediction_parallelism.to_string(),
            ),
            (
                "CHAP_SCHEDULER_DHIS2_TIMEOUT_SECONDS",
                self.dhis2_timeout.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_CHAP_TIMEOUT_SECONDS",
                self.chap_timeout.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_ANALYTICS_MAX_ROWS",
                self.analytics_max_rows.to_string(),
            ),
            (
                "CHAP_SCHEDULER_ANALYTICS_MAX_URL_BYTES",
                self.analytics_max_url_bytes.to_string(),
            ),
            (
                "CHAP_SCHEDULER_DHIS2_IMPORT_BATCH",
                self.dhis2_import_batch.to_string(),
            ),
            (
                "CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB",
                (self.upstream_max_response_bytes >> 20).to_string(),
            ),
            (
                "CHAP_SCHEDULER_CHAP_SYNC_SECONDS",
                self.chap_schedules.sync_interval.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_CHAP_CRON_SECONDS",
                self.chap_schedules.cron_seconds.to_string(),
            ),
            (
                "CHAP_SCHEDULER_PUBLIC_URL",
                self.notify
                    .public_url
                    .clone()
                    .unwrap_or_else(|| "(not set)".into()),
            ),
            (
                "CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS",
                self.notify.retry_base.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_QUEUE_LOST_SECONDS",
                self.queue_lost_after.as_secs_f64().to_string(),
            ),
            (
                "CHAP_SCHEDULER_SWEEP_AFTER_SECONDS",
                self.sweep_after.as_secs_f64().to_string(),
            ),
            ("CHAP_SCHEDULER_METRICS", self.metrics.to_string()),
            (
                "CHAP_SCHEDULER_METRICS_BIND",
                self.metrics_bind.map_or_else(
                    || "(not set: workers serve no metrics)".into(),
                    |b| b.to_string(),
                ),
            ),
            (
                "CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS",
                self.log_stream_max.as_secs().to_string(),
            ),
            (
                "CHAP_SCHEDULER_LOG_STREAMS_MAX",
                self.log_streams_max.to_string(),
            ),
        ]
    }
}
