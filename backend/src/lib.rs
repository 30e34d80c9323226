//! chap-scheduler: runs DHIS2 → chap-core disease-forecast predictions on demand or on a schedule and
//! keeps an auditable history of every run. `main.rs` only parses the command line; everything is here.

pub mod auth;
pub mod blocks;
pub mod chap_schedules;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod flows;
pub mod http;
pub mod http_body;
pub mod import_prefect;
pub mod notify;
pub mod observe;
pub mod orchestrator;
pub mod secrets;
pub mod startup;
pub mod telemetry;
pub mod text;

/// Installs the TLS crypto provider (rustls with ring) for the process; call before building any
/// HTTP client. Idempotent.
pub fn install_crypto_provider() {
    flows::dhis2_chap_prediction::client::install_crypto_provider();
}
