//! Schedules that follow chap: a schedule's `source` (`own` or `chap`) and `fallback_cron`; for `chap`
//! schedules, the state of their synchronisation with chap (`chap_syncs`) and, per prediction setup,
//! its cron and slots as last read (`chap_setups`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    Source,
    FallbackCron,
}

#[derive(DeriveIden)]
enum ChapSyncs {
    Table,
    ScheduleId,
    SyncedAt,
    AttemptedAt,
    Error,
    DueAt,
}

#[derive(DeriveIden)]
enum ChapSetups {
    Table,
    ScheduleId,
    SetupId,
    Name,
    Enabled,
    Cron,
    EffectiveCron,
    Status,
    Problem,
    NextFireAt,
    LastFireAt,
    SkippedCount,
    LastRunId,
    UpdatedAt,
}

const NEXT_INDEX: &str = "idx_chap_setups_next_fire_at";

fn ts<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn schedule_fk(table: impl IntoIden, from: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, from)
        .to(Schedules::Table, Schedules::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        m.alter_table(
            Table::alter()
                .table(Schedules::Table)
                .add_column(
                    ColumnDef::new(Schedules::Source)
                        .string_len(16)
                        .not_null()
                        .default("own"),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Schedules::Table)
                .add_column(
                    ColumnDef::new(Schedules::FallbackCron)
                        .string_len(200)
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ChapSyncs::Table)
                .col(
                    ColumnDef::new(ChapSyncs::ScheduleId)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ts(ChapSyncs::SyncedAt))
                .col(ts(ChapSyncs::AttemptedAt))
                .col(ColumnDef::new(ChapSyncs::Error).text().null())
                .col(ts(ChapSyncs::DueAt).not_null())
                .foreign_key(&mut schedule_fk(
                    ChapSyncs::Table,
                    ChapSyncs::ScheduleId,
                    "fk_chap_syncs_schedule",
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ChapSetups::Table)
                .col(ColumnDef::new(ChapSetups::ScheduleId).uuid().not_null())
                .col(ColumnDef::new(ChapSetups::SetupId).big_integer().not_null())
                .col(ColumnDef::new(ChapSetups::Name).string_len(500).not_null())
                .col(ColumnDef::new(ChapSetups::Enabled).boolean().not_null())
                .col(ColumnDef::new(ChapSetups::Cron).string_len(500).null())
                .col(
                    ColumnDef::new(ChapSetups::EffectiveCron)
                        .string_len(500)
                        .null(),
                )
                .col(ColumnDef::new(ChapSetups::Status).string_len(16).not_null())
                .col(ColumnDef::new(ChapSetups::Problem).text().null())
                .col(ts(ChapSetups::NextFireAt))
                .col(ts(ChapSetups::LastFireAt))
                .col(
                    ColumnDef::new(ChapSetups::SkippedCount)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(ColumnDef::new(ChapSetups::LastRunId).uuid().null())
                .col(ts(ChapSetups::UpdatedAt).not_null())
                .primary_key(
                    Index::create()
                        .col(ChapSetups::ScheduleId)
                        .col(ChapSetups::SetupId),
                )
                .foreign_key(&mut schedule_fk(
                    ChapSetups::Table,
                    ChapSetups::ScheduleId,
                    "fk_chap_setups_schedule",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(NEXT_INDEX)
                .table(ChapSetups::Table)
                .col(ChapSetups::NextFireAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ChapSetups::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(ChapSyncs::Table).to_owned())
            .await?;
        for col in [Schedules::FallbackCron, Schedules::Source] {
            m.alter_table(
                Table::alter()
                    .table(Schedules::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
