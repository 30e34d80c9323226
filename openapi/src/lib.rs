//! The chap-scheduler API contract: request and response bodies shared by the backend (which derives the
//! OpenAPI schema from them behind the `openapi` feature) and the Leptos frontend.

mod auth;
mod blocks;
mod chap_setups;
mod common;
mod forecasts;
#[cfg(feature = "markdown")]
pub mod markdown;
mod notifications;
mod runs;
mod schedules;
mod system;
mod users;

pub use auth::*;
pub use blocks::*;
pub use chap_setups::*;
pub use common::*;
pub use forecasts::*;
pub use notifications::*;
pub use runs::*;
pub use schedules::*;
pub use system::*;
pub use users::*;

/// Prefix of every versioned API path.
pub const API_PREFIX: &str = "/api/v1";
/// Path the refresh-token cookie is scoped to.
pub const AUTH_COOKIE_PATH: &str = "/api/v1/auth";
/// Name of the refresh-token cookie.
pub const REFRESH_COOKIE: &str = "chap_refresh";
