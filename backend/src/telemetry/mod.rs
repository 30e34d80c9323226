//! Logging setup.

pub mod repeats;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (text or JSON lines on stderr). Safe to call more than once.
pub fn init(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
