//! sea-orm entities, one module per table.

pub mod api_token;
pub mod artifact;
pub mod audit_event;
pub mod block;
pub mod chap_setup;
pub mod chap_sync;
pub mod deployment;
pub mod flow_run;
pub mod flow_run_state;
pub mod flow_state;
pub mod late_slot;
pub mod log;
pub mod notification_delivery;
pub mod notification_rule;
pub mod refresh_token;
pub mod run_checkpoint;
pub mod schedule;
pub mod session;
pub mod task_run;
pub mod user;
