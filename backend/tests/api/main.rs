//! Integration tests: the real application on port 0, against SQLite (default) or PostgreSQL
//! (`CHAP_TEST_DATABASE_URL=postgres://…` names a server where a fresh database is created per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod auth;
mod blocks;
mod chap_jobs;
mod chap_schedules;
mod concurrency;
mod deadlines;
mod dhis2_date;
mod dhis2_import;
mod dhis2_pat;
mod engine;
mod forecasts;
mod helpers;
mod http;
mod import_prefect;
mod log_stream;
mod metrics;
mod new_data;
mod notifications;
mod notify_email;
mod notify_restart;
mod openapi;
mod prediction;
mod processes;
mod public_path;
mod queue_loss;
mod retry_setups;
mod runs;
mod schedules;
mod security;
mod sqlite_lock;
mod test_flows;
mod tokens;
mod users;
