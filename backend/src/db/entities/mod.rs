//! sea-orm entities, one module per table.

pub mod api_token;
pub mod audit_event;
pub mod refresh_token;
pub mod session;
pub mod user;
