use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Liveness answer of `/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
}

/// Readiness answer of `/ready`: every dependency and whether it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Dependency name → `ok` or a short error.
    pub checks: std::collections::BTreeMap<String, String>,
}

/// What this instance is and how it runs (`/info`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceInfo {
    /// Service name, `chap-scheduler`.
    pub name: String,
    /// Version of the running binary.
    pub version: String,
    /// Database backend: `sqlite` or `postgres`.
    pub database: String,
    /// Queue backend: `embedded` or `redis`.
    pub queue: String,
    /// When this process started.
    pub started_at: DateTime<Utc>,
    /// `CHAP_SCHEDULER_PUBLIC_URL`: the address notifications link runs to (null: notifications carry
    /// no link, and the UI warns admins).
    #[serde(default)]
    pub public_url: Option<String>,
}
