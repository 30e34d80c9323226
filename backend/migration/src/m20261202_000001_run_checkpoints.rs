//! Run checkpoints: small values a flow records while it runs (e.g. the chap job it submitted for a
//! setup) so a later attempt of the same run continues from them instead of repeating outside work.
//! Deleted with their run.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RunCheckpoints {
    Table,
    FlowRunId,
    Key,
    Value,
    Attempt,
    WrittenAt,
}

#[derive(DeriveIden)]
enum FlowRuns {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RunCheckpoints::Table)
                .col(ColumnDef::new(RunCheckpoints::FlowRunId).uuid().not_null())
                .col(
                    ColumnDef::new(RunCheckpoints::Key)
                        .string_len(200)
                        .not_null(),
                )
                .col(ColumnDef::new(RunCheckpoints::Value).json().not_null())
                .col(ColumnDef::new(RunCheckpoints::Attempt).integer().not_null())
                .col(
                    ColumnDef::new(RunCheckpoints::WrittenAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(RunCheckpoints::FlowRunId)
                        .col(RunCheckpoints::Key),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(RunCheckpoints::Table, RunCheckpoints::FlowRunId)
                        .to(FlowRuns::Table, FlowRuns::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RunCheckpoints::Table).to_owned())
            .await
    }
}
