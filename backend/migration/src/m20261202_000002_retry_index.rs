//! An index on `flow_runs.retry_of`: a run's page lists the runs that retried it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlowRuns {
    Table,
    RetryOf,
}

const INDEX: &str = "idx_flow_runs_retry_of";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(FlowRuns::Table)
                .col(FlowRuns::RetryOf)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(FlowRuns::Table).to_owned())
            .await
    }
}
