//! Credentials blocks: a named instance of a code-defined block type; secret fields of `data` hold
//! AES-256-GCM ciphertext objects, never clear values.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Blocks {
    Table,
    Id,
    Name,
    BlockType,
    Data,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Blocks::Table)
                .col(ColumnDef::new(Blocks::Id).uuid().not_null().primary_key())
                .col(
                    ColumnDef::new(Blocks::Name)
                        .string_len(100)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Blocks::BlockType).string_len(64).not_null())
                .col(ColumnDef::new(Blocks::Data).json().not_null())
                .col(
                    ColumnDef::new(Blocks::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Blocks::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Blocks::Table).to_owned())
            .await
    }
}
