//! Deadlines and automatic pause per schedule: `ready_by_seconds` (a slot without a COMPLETED run by
//! then is late), `pause_after_failures` with the running count and the reason of a pause, the
//! watermark of the late check; and `late_slots`, the slots found late.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    ReadyBySeconds,
    PauseAfterFailures,
    ConsecutiveFailures,
    PausedReason,
    LateCheckedUntil,
}

#[derive(DeriveIden)]
enum LateSlots {
    Table,
    Id,
    SlotKey,
    ScheduleId,
    SetupId,
    SetupName,
    Slot,
    Deadline,
    DetectedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        let columns = [
            ColumnDef::new(Schedules::ReadyBySeconds)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(Schedules::PauseAfterFailures)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(Schedules::ConsecutiveFailures)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Schedules::PausedReason)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Schedules::LateCheckedUntil)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            m.alter_table(
                Table::alter()
                    .table(Schedules::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(LateSlots::Table)
                .col(
                    ColumnDef::new(LateSlots::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(LateSlots::SlotKey)
                        .string_len(200)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(LateSlots::ScheduleId).uuid().not_null())
                .col(ColumnDef::new(LateSlots::SetupId).big_integer().null())
                .col(ColumnDef::new(LateSlots::SetupName).string_len(500).null())
                .col(
                    ColumnDef::new(LateSlots::Slot)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(LateSlots::Deadline)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(LateSlots::DetectedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_late_slots_schedule")
                        .from(LateSlots::Table, LateSlots::ScheduleId)
                        .to(Schedules::Table, Schedules::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_late_slots_detected_at")
                .table(LateSlots::Table)
                .col(LateSlots::DetectedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LateSlots::Table).to_owned())
            .await?;
        for col in [
            Schedules::LateCheckedUntil,
            Schedules::PausedReason,
            Schedules::ConsecutiveFailures,
            Schedules::PauseAfterFailures,
            Schedules::ReadyBySeconds,
        ] {
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
