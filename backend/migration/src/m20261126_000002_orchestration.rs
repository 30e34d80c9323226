//! Deployments, schedules, flow runs with their state history, task runs, logs and artifacts.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
    Name,
    FlowName,
    Description,
    Tags,
    Parameters,
    Paused,
    ConcurrencyLimit,
    CollisionStrategy,
    Retries,
    RetryDelaySeconds,
    RetryBackoff,
    TimeoutSeconds,
    IsDefault,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    DeploymentId,
    Cron,
    IntervalSeconds,
    AnchorAt,
    Timezone,
    Parameters,
    Active,
    MissedPolicy,
    MaxMissed,
    NextFireAt,
    LastFireAt,
    SkippedCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FlowRuns {
    Table,
    Id,
    DeploymentId,
    DeploymentName,
    FlowName,
    Parameters,
    State,
    StateMessage,
    StateAt,
    ExpectedStartAt,
    StartedAt,
    EndedAt,
    Attempt,
    MaxAttempts,
    TriggeredBy,
    ScheduleId,
    IdempotencyKey,
    WorkerId,
    HeartbeatAt,
    NextAttemptAt,
    EnqueuedAt,
    RetryOf,
    Summary,
    CreatedAt,
}

#[derive(DeriveIden)]
enum FlowRunStates {
    Table,
    Id,
    FlowRunId,
    State,
    Message,
    At,
}

#[derive(DeriveIden)]
enum TaskRuns {
    Table,
    Id,
    FlowRunId,
    Position,
    Name,
    Label,
    State,
    Attempts,
    StartedAt,
    EndedAt,
    Error,
}

#[derive(DeriveIden)]
enum Logs {
    Table,
    Id,
    FlowRunId,
    TaskRunId,
    At,
    Level,
    Message,
}

#[derive(DeriveIden)]
enum Artifacts {
    Table,
    Id,
    FlowRunId,
    Key,
    Kind,
    Content,
    CreatedAt,
}

fn ts<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn ts_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, cols: Vec<DynIden>) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for c in cols {
        idx.col(c);
    }
    idx.to_owned()
}

fn cascade(from: (DynIden, DynIden), to: (DynIden, DynIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Deployments::Table)
                .col(
                    ColumnDef::new(Deployments::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(Deployments::Name)
                        .string_len(100)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(Deployments::FlowName)
                        .string_len(100)
                        .not_null(),
                )
                .col(ColumnDef::new(Deployments::Description).text().not_null())
                .col(ColumnDef::new(Deployments::Tags).json().not_null())
                .col(ColumnDef::new(Deployments::Parameters).json().not_null())
                .col(
                    ColumnDef::new(Deployments::Paused)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new(Deployments::ConcurrencyLimit)
                        .integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(Deployments::CollisionStrategy)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Deployments::Retries)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(Deployments::RetryDelaySeconds)
                        .double()
                        .not_null()
                        .default(0.0),
                )
                .col(
                    ColumnDef::new(Deployments::RetryBackoff)
                        .double()
                        .not_null()
                        .default(1.0),
                )
                .col(ColumnDef::new(Deployments::TimeoutSeconds).double().null())
                .col(
                    ColumnDef::new(Deployments::IsDefault)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(ts(Deployments::CreatedAt))
                .col(ts(Deployments::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Schedules::Table)
                .col(
                    ColumnDef::new(Schedules::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Schedules::DeploymentId).uuid().not_null())
                .col(ColumnDef::new(Schedules::Cron).string_len(128).null())
                .col(
                    ColumnDef::new(Schedules::IntervalSeconds)
                        .big_integer()
                        .null(),
                )
                .col(ts(Schedules::AnchorAt))
                .col(
                    ColumnDef::new(Schedules::Timezone)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(Schedules::Parameters).json().not_null())
                .col(
                    ColumnDef::new(Schedules::Active)
                        .boolean()
                        .not_null()
                        .default(true),
                )
                .col(
                    ColumnDef::new(Schedules::MissedPolicy)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Schedules::MaxMissed)
                        .integer()
                        .not_null()
                        .default(100),
                )
                .col(ts_null(Schedules::NextFireAt))
                .col(ts_null(Schedules::LastFireAt))
                .col(
                    ColumnDef::new(Schedules::SkippedCount)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(ts(Schedules::CreatedAt))
                .col(ts(Schedules::UpdatedAt))
                .foreign_key(&mut cascade(
                    (
                        Schedules::Table.into_iden(),
                        Schedules::DeploymentId.into_iden(),
                    ),
                    (Deployments::Table.into_iden(), Deployments::Id.into_iden()),
                ))
                .to_owned(),
        )
        .await?;
        // The scheduler reads only due schedules.
        m.create_index(index(
            "idx_schedules_due",
            Schedules::Table,
            vec![
                Schedules::Active.into_iden(),
                Schedules::NextFireAt.into_iden(),
            ],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(FlowRuns::Table)
                .col(ColumnDef::new(FlowRuns::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(FlowRuns::DeploymentId).uuid().null())
                .col(
                    ColumnDef::new(FlowRuns::DeploymentName)
                        .string_len(100)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(FlowRuns::FlowName)
                        .string_len(100)
                        .not_null(),
                )
                .col(ColumnDef::new(FlowRuns::Parameters).json().not_null())
                .col(ColumnDef::new(FlowRuns::State).string_len(16).not_null())
                .col(ColumnDef::new(FlowRuns::StateMessage).text().null())
                .col(ts(FlowRuns::StateAt))
                .col(ts(FlowRuns::ExpectedStartAt))
                .col(ts_null(FlowRuns::StartedAt))
                .col(ts_null(FlowRuns::EndedAt))
                .col(
                    ColumnDef::new(FlowRuns::Attempt)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(FlowRuns::MaxAttempts)
                        .integer()
                        .not_null()
                        .default(1),
                )
                .col(
                    ColumnDef::new(FlowRuns::TriggeredBy)
                        .string_len(160)
                        .not_null(),
                )
                .col(ColumnDef::new(FlowRuns::ScheduleId).uuid().null())
                .col(
                    ColumnDef::new(FlowRuns::IdempotencyKey)
                        .string_len(200)
                        .null()
                        .unique_key(),
                )
                .col(ColumnDef::new(FlowRuns::WorkerId).string_len(100).null())
                .col(ts_null(FlowRuns::HeartbeatAt))
                .col(ts_null(FlowRuns::NextAttemptAt))
                .col(ts_null(FlowRuns::EnqueuedAt))
                .col(ColumnDef::new(FlowRuns::RetryOf).uuid().null())
                .col(ColumnDef::new(FlowRuns::Summary).json().null())
                .col(ts(FlowRuns::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(FlowRuns::Table, FlowRuns::DeploymentId)
                        .to(Deployments::Table, Deployments::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "idx_flow_runs_state_expected",
                vec![
                    FlowRuns::State.into_iden(),
                    FlowRuns::ExpectedStartAt.into_iden(),
                ],
            ),
            (
                "idx_flow_runs_deployment_state",
                vec![
                    FlowRuns::DeploymentId.into_iden(),
                    FlowRuns::State.into_iden(),
                ],
            ),
            (
                "idx_flow_runs_created_id",
                vec![FlowRuns::CreatedAt.into_iden(), FlowRuns::Id.into_iden()],
            ),
        ] {
            m.create_index(index(name, FlowRuns::Table, cols)).await?;
        }

        m.create_table(
            Table::create()
                .table(FlowRunStates::Table)
                .col(
                    ColumnDef::new(FlowRunStates::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(FlowRunStates::FlowRunId).uuid().not_null())
                .col(
                    ColumnDef::new(FlowRunStates::State)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(FlowRunStates::Message).text().null())
                .col(ts(FlowRunStates::At))
                .foreign_key(&mut cascade(
                    (
                        FlowRunStates::Table.into_iden(),
                        FlowRunStates::FlowRunId.into_iden(),
                    ),
                    (FlowRuns::Table.into_iden(), FlowRuns::Id.into_iden()),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_flow_run_states_run",
            FlowRunStates::Table,
            vec![
                FlowRunStates::FlowRunId.into_iden(),
                FlowRunStates::At.into_iden(),
            ],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(TaskRuns::Table)
                .col(ColumnDef::new(TaskRuns::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(TaskRuns::FlowRunId).uuid().not_null())
                .col(ColumnDef::new(TaskRuns::Position).integer().not_null())
                .col(ColumnDef::new(TaskRuns::Name).string_len(100).not_null())
                .col(ColumnDef::new(TaskRuns::Label).string_len(300).null())
                .col(ColumnDef::new(TaskRuns::State).string_len(16).not_null())
                .col(
                    ColumnDef::new(TaskRuns::Attempts)
                        .integer()
                        .not_null()
                        .default(1),
                )
                .col(ts(TaskRuns::StartedAt))
                .col(ts_null(TaskRuns::EndedAt))
                .col(ColumnDef::new(TaskRuns::Error).text().null())
                .foreign_key(&mut cascade(
                    (TaskRuns::Table.into_iden(), TaskRuns::FlowRunId.into_iden()),
                    (FlowRuns::Table.into_iden(), FlowRuns::Id.into_iden()),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_task_runs_run",
            TaskRuns::Table,
            vec![TaskRuns::FlowRunId.into_iden()],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Logs::Table)
                .col(
                    ColumnDef::new(Logs::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(Logs::FlowRunId).uuid().not_null())
                .col(ColumnDef::new(Logs::TaskRunId).uuid().null())
                .col(ts(Logs::At))
                .col(ColumnDef::new(Logs::Level).string_len(8).not_null())
                .col(ColumnDef::new(Logs::Message).text().not_null())
                .foreign_key(&mut cascade(
                    (Logs::Table.into_iden(), Logs::FlowRunId.into_iden()),
                    (FlowRuns::Table.into_iden(), FlowRuns::Id.into_iden()),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_logs_run_id",
            Logs::Table,
            vec![Logs::FlowRunId.into_iden(), Logs::Id.into_iden()],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Artifacts::Table)
                .col(
                    ColumnDef::new(Artifacts::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Artifacts::FlowRunId).uuid().not_null())
                .col(ColumnDef::new(Artifacts::Key).string_len(100).not_null())
                .col(ColumnDef::new(Artifacts::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Artifacts::Content).text().not_null())
                .col(ts(Artifacts::CreatedAt))
                .foreign_key(&mut cascade(
                    (
                        Artifacts::Table.into_iden(),
                        Artifacts::FlowRunId.into_iden(),
                    ),
                    (FlowRuns::Table.into_iden(), FlowRuns::Id.into_iden()),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_artifacts_run",
            Artifacts::Table,
            vec![Artifacts::FlowRunId.into_iden()],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Artifacts::Table.into_iden(),
            Logs::Table.into_iden(),
            TaskRuns::Table.into_iden(),
            FlowRunStates::Table.into_iden(),
            FlowRuns::Table.into_iden(),
            Schedules::Table.into_iden(),
            Deployments::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
