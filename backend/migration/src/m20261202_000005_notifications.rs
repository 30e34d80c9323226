//! Notifications: rules (which events go through which channel block, for which deployment or
//! schedule) and deliveries (the outbox: one row per rule, event and run or slot, written in the
//! transaction that causes it, sent and retried by a background sender).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationRules {
    Table,
    Id,
    Name,
    ChannelId,
    Recipients,
    Events,
    DeploymentId,
    ScheduleId,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotificationDeliveries {
    Table,
    Id,
    RuleId,
    Event,
    RunId,
    ScheduleId,
    Slot,
    DedupeKey,
    Detail,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    OccurredAt,
    CreatedAt,
    SentAt,
}

fn ts<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(NotificationRules::Table)
                .col(
                    ColumnDef::new(NotificationRules::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(NotificationRules::Name)
                        .string_len(100)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(NotificationRules::ChannelId)
                        .uuid()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationRules::Recipients)
                        .json()
                        .not_null(),
                )
                .col(ColumnDef::new(NotificationRules::Events).json().not_null())
                .col(
                    ColumnDef::new(NotificationRules::DeploymentId)
                        .uuid()
                        .null(),
                )
                .col(ColumnDef::new(NotificationRules::ScheduleId).uuid().null())
                .col(
                    ColumnDef::new(NotificationRules::Active)
                        .boolean()
                        .not_null(),
                )
                .col(ts(NotificationRules::CreatedAt).not_null())
                .col(ts(NotificationRules::UpdatedAt).not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationDeliveries::Table)
                .col(
                    ColumnDef::new(NotificationDeliveries::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(NotificationDeliveries::RuleId)
                        .uuid()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationDeliveries::Event)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(NotificationDeliveries::RunId).uuid().null())
                .col(
                    ColumnDef::new(NotificationDeliveries::ScheduleId)
                        .uuid()
                        .null(),
                )
                .col(ts(NotificationDeliveries::Slot).null())
                .col(
                    ColumnDef::new(NotificationDeliveries::DedupeKey)
                        .string_len(300)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(NotificationDeliveries::Detail).json().null())
                .col(
                    ColumnDef::new(NotificationDeliveries::Status)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationDeliveries::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(ts(NotificationDeliveries::NextAttemptAt).null())
                .col(
                    ColumnDef::new(NotificationDeliveries::LastError)
                        .text()
                        .null(),
                )
                .col(ts(NotificationDeliveries::OccurredAt).not_null())
                .col(ts(NotificationDeliveries::CreatedAt).not_null())
                .col(ts(NotificationDeliveries::SentAt).null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_notification_deliveries_rule")
                        .from(
                            NotificationDeliveries::Table,
                            NotificationDeliveries::RuleId,
                        )
                        .to(NotificationRules::Table, NotificationRules::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            (
                "idx_notification_deliveries_due",
                NotificationDeliveries::NextAttemptAt,
            ),
            (
                "idx_notification_deliveries_run",
                NotificationDeliveries::RunId,
            ),
            (
                "idx_notification_deliveries_rule",
                NotificationDeliveries::RuleId,
            ),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(NotificationDeliveries::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(NotificationDeliveries::Table)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(NotificationRules::Table).to_owned())
            .await
    }
}
