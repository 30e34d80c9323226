//! Schema migrations, applied by `chap-scheduler migrate` and at the start of `serve`.

pub use sea_orm_migration::prelude::*;
pub use sea_orm_migration::MigrationStatus;

mod m20261126_000001_auth;
mod m20261126_000002_orchestration;
mod m20261127_000001_blocks;
mod m20261202_000001_run_checkpoints;
mod m20261202_000002_retry_index;
mod m20261202_000003_flow_states;
mod m20261202_000004_chap_schedules;
mod m20261202_000005_notifications;
mod m20261202_000006_deadlines;
mod m20261204_000001_last_completed_index;

/// All migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_auth::Migration),
            Box::new(m20261126_000002_orchestration::Migration),
            Box::new(m20261127_000001_blocks::Migration),
            Box::new(m20261202_000001_run_checkpoints::Migration),
            Box::new(m20261202_000002_retry_index::Migration),
            Box::new(m20261202_000003_flow_states::Migration),
            Box::new(m20261202_000004_chap_schedules::Migration),
            Box::new(m20261202_000005_notifications::Migration),
            Box::new(m20261202_000006_deadlines::Migration),
            Box::new(m20261204_000001_last_completed_index::Migration),
        ]
    }
}
