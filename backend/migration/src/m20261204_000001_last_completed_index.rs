//! `flow_runs`' index on (deployment, state) gains the end time: a deployment's last COMPLETED run
//! (the `/metrics` gauge Prometheus alerts on) is then one probe of the index, where it was a read of
//! every COMPLETED run kept. The index serves every (deployment, state) lookup it served before, and
//! a run's writes change it as they did: its state and its end are written together.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlowRuns {
    Table,
    DeploymentId,
    State,
    EndedAt,
}

const BEFORE: &str = "idx_flow_runs_deployment_state";
const AFTER: &str = "idx_flow_runs_deployment_state_ended";

fn create(name: &str, ended: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(name)
        .table(FlowRuns::Table)
        .col(FlowRuns::DeploymentId)
        .col(FlowRuns::State);
    if ended {
        index.col(FlowRuns::EndedAt);
    }
    index.to_owned()
}

fn drop(name: &str) -> IndexDropStatement {
    Index::drop().name(name).table(FlowRuns::Table).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(create(AFTER, true)).await?;
        m.drop_index(drop(BEFORE)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(create(BEFORE, false)).await?;
        m.drop_index(drop(AFTER)).await
    }
}
