//! Flow states: small values a flow keeps across runs (the prediction flow: the last input period of
//! each setup's last successful prediction, for `only_new_data`), with the run that wrote them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlowStates {
    Table,
    FlowName,
    Key,
    Value,
    RunId,
    WrittenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(FlowStates::Table)
                .col(
                    ColumnDef::new(FlowStates::FlowName)
                        .string_len(100)
                        .not_null(),
                )
                .col(ColumnDef::new(FlowStates::Key).string_len(500).not_null())
                .col(ColumnDef::new(FlowStates::Value).json().not_null())
                .col(ColumnDef::new(FlowStates::RunId).uuid().null())
                .col(
                    ColumnDef::new(FlowStates::WrittenAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(FlowStates::FlowName)
                        .col(FlowStates::Key),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(FlowStates::Table).to_owned())
            .await
    }
}
