use chrono::{DateTime, NaiveDate, Utc};
#[cfg(feature = "db")]
use sea_orm::sea_query::StringLen;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The state of a flow run. `SCHEDULED` → `PENDING` (queued) → `RUNNING` → a terminal state;
/// `CANCELLING` while a cancel is in flight; `AWAITING_RETRY` between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
pub enum RunState {
    /// Created, waiting for its time or a concurrency slot.
    #[cfg_attr(feature = "db", sea_orm(string_value = "SCHEDULED"))]
    Scheduled,
    /// In the queue, waiting for a worker.
    #[cfg_attr(feature = "db", sea_orm(string_value = "PENDING"))]
    Pending,
    /// A worker is executing it.
    #[cfg_attr(feature = "db", sea_orm(string_value = "RUNNING"))]
    Running,
    /// Finished successfully.
    #[cfg_attr(feature = "db", sea_orm(string_value = "COMPLETED"))]
    Completed,
    /// Finished with an error (after all retries).
    #[cfg_attr(feature = "db", sea_orm(string_value = "FAILED"))]
    Failed,
    /// Its worker stopped heartbeating.
    #[cfg_attr(feature = "db", sea_orm(string_value = "CRASHED"))]
    Crashed,
    /// Cancelled.
    #[cfg_attr(feature = "db", sea_orm(string_value = "CANCELLED"))]
    Cancelled,
    /// A cancel was requested; the worker is stopping it.
    #[cfg_attr(feature = "db", sea_orm(string_value = "CANCELLING"))]
    Cancelling,
    /// Failed an attempt; waiting to be retried.
    #[cfg_attr(feature = "db", sea_orm(string_value = "AWAITING_RETRY"))]
    AwaitingRetry,
}

impl RunState {
    /// Every state.
    pub const ALL: [RunState; 9] = [
        RunState::Scheduled,
        RunState::Pending,
        RunState::Running,
        RunState::Completed,
        RunState::Failed,
        RunState::Crashed,
        RunState::Cancelled,
        RunState::Cancelling,
        RunState::AwaitingRetry,
    ];

    /// The wire name, e.g. `AWAITING_RETRY`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Scheduled => "SCHEDULED",
            RunState::Pending => "PENDING",
            RunState::Running => "RUNNING",
            RunState::Completed => "COMPLETED",
            RunState::Failed => "FAILED",
            RunState::Crashed => "CRASHED",
            RunState::Cancelled => "CANCELLED",
            RunState::Cancelling => "CANCELLING",
            RunState::AwaitingRetry => "AWAITING_RETRY",
        }
    }

    /// No further transition (a retry creates a new run).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Completed | RunState::Failed | RunState::Crashed | RunState::Cancelled
        )
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunState::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown run state `{s}`"))
    }
}

/// A flow the service can run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlowView {
    /// Unique name, e.g. `dhis2-chap-prediction`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its parameters.
    pub parameter_schema: Value,
}

/// What to do with a new run when the deployment's concurrency limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
pub enum CollisionStrategy {
    /// Wait for a free slot.
    #[default]
    #[cfg_attr(feature = "db", sea_orm(string_value = "enqueue"))]
    Enqueue,
    /// Cancel the new run at once.
    #[cfg_attr(feature = "db", sea_orm(string_value = "cancel_new"))]
    CancelNew,
}

impl CollisionStrategy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CollisionStrategy::Enqueue => "enqueue",
            CollisionStrategy::CancelNew => "cancel_new",
        }
    }
}

/// A deployment: a flow with defaults and run policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentView {
    /// Id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// The flow it runs.
    pub flow_name: String,
    /// Free text.
    pub description: String,
    /// Labels.
    pub tags: Vec<String>,
    /// Parameter defaults, merged under a trigger's parameters.
    pub parameters: Value,
    /// A paused deployment's schedules create no runs, and it cannot be triggered.
    pub paused: bool,
    /// Runs of this deployment allowed at once (PENDING + RUNNING); absent = unlimited.
    pub concurrency_limit: Option<u32>,
    /// What happens to a new run at the limit.
    pub collision_strategy: CollisionStrategy,
    /// Extra attempts after a failure.
    pub retries: u32,
    /// Seconds before the first retry.
    pub retry_delay_seconds: f64,
    /// Multiplier of the delay for each further retry (1 = constant).
    pub retry_backoff: f64,
    /// A run taking longer fails as timed out; absent = no limit.
    pub timeout_seconds: Option<f64>,
    /// Created automatically for its flow.
    pub is_default: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/deployments`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateDeploymentRequest {
    /// Unique name (1–100 characters on one line).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// A registered flow.
    pub flow_name: String,
    /// Free text, several lines allowed (at most 2000 characters).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    /// Labels: at most 20, each 1–50 characters on one line.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub tags: Vec<String>,
    /// Parameter defaults (validated against the flow's schema, missing required fields allowed).
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Start paused.
    #[serde(default)]
    pub paused: bool,
    /// Concurrency limit (1–1000; absent for none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub concurrency_limit: Option<u32>,
    /// Collision strategy (default `enqueue`).
    #[serde(default)]
    pub collision_strategy: CollisionStrategy,
    /// Retries (0–10).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 10))]
    pub retries: u32,
    /// Seconds before the first retry (0–86400, default 10).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 86400))]
    pub retry_delay_seconds: Option<f64>,
    /// Backoff multiplier (1–10, default 2).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10))]
    pub retry_backoff: Option<f64>,
    /// Run timeout in seconds (more than 0, at most 604800).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 604800))]
    pub timeout_seconds: Option<f64>,
}

/// Body of `PATCH /api/v1/deployments/{id}`: only the fields present change. `null` clears the
/// optional limits (`concurrency_limit`, `timeout_seconds`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateDeploymentRequest {
    /// New name (1–100 characters on one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    /// New description (at most 2000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: Option<String>,
    /// New labels (at most 20, each 1–50 characters on one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub tags: Option<Vec<String>>,
    /// New parameter defaults (replace the old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Pause or resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// New limit (1–1000); `null` for unlimited.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub concurrency_limit: Option<Option<u32>>,
    /// New strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_strategy: Option<CollisionStrategy>,
    /// New retries (0–10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 10))]
    pub retries: Option<u32>,
    /// New retry delay (0–86400 seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 86400))]
    pub retry_delay_seconds: Option<f64>,
    /// New backoff (1–10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10))]
    pub retry_backoff: Option<f64>,
    /// New timeout (more than 0, at most 604800 seconds); `null` for none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 604800))]
    pub timeout_seconds: Option<Option<f64>>,
}

/// Body of `POST /api/v1/deployments/{id}/runs`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriggerRunRequest {
    /// Parameters merged over the deployment's defaults (top-level keys replace).
    #[serde(default)]
    pub parameters: Option<Value>,
    /// A client key (1–100 characters on one line): triggering again with the same key returns the
    /// first run instead of a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub idempotency_key: Option<String>,
}

/// Body of `POST /api/v1/runs/{id}/retry` (optional: no body retries the whole run).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetryRunRequest {
    /// Redo only what failed (the prediction flow: the setups that failed, as
    /// `prediction_setup_ids`); 409 when nothing failed.
    #[serde(default)]
    pub failed_setups_only: bool,
}

/// A flow run as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunView {
    /// Id.
    pub id: Uuid,
    /// Deployment (absent if it was deleted).
    pub deployment_id: Option<Uuid>,
    /// Deployment name at trigger time.
    pub deployment_name: String,
    /// Flow.
    pub flow_name: String,
    /// Parameters the run uses.
    pub parameters: Value,
    /// Current state.
    pub state: RunState,
    /// Why it is in this state (error, timeout, cancel reason…).
    pub state_message: Option<String>,
    /// When it entered this state.
    pub state_at: DateTime<Utc>,
    /// SCHEDULED/PENDING more than 15 s past its expected start.
    pub late: bool,
    /// When it should start.
    pub expected_start_at: DateTime<Utc>,
    /// First start.
    pub started_at: Option<DateTime<Utc>>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// Attempts so far.
    pub attempt: u32,
    /// Attempts allowed (1 + retries).
    pub max_attempts: u32,
    /// `user:<name>`, `token:<name>`, `schedule:<id>` or `retry:<run id>`.
    pub triggered_by: String,
    /// The schedule that created it.
    pub schedule_id: Option<Uuid>,
    /// The run this one retries.
    pub retry_of: Option<Uuid>,
    /// Flow-specific outcome summary (e.g. setups succeeded/failed/skipped).
    pub summary: Option<Value>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// One state change of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StateChangeView {
    /// New state.
    pub state: RunState,
    /// Reason.
    pub message: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskRunView {
    /// Id.
    pub id: Uuid,
    /// Order within the run.
    pub position: u32,
    /// Step name.
    pub name: String,
    /// What it worked on (e.g. a prediction setup).
    pub label: Option<String>,
    /// RUNNING, COMPLETED, FAILED, CANCELLED or CRASHED.
    pub state: RunState,
    /// Attempts.
    pub attempts: u32,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds taken.
    pub duration_seconds: Option<f64>,
    /// Error message when failed.
    pub error: Option<String>,
}

/// A run with its history and steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: RunView,
    /// Every state it went through, oldest first.
    pub history: Vec<StateChangeView>,
    /// Its steps in order.
    pub task_runs: Vec<TaskRunView>,
    /// Runs that retried this one, oldest first.
    #[serde(default)]
    pub retried_by: Vec<Uuid>,
}

/// How important a log line is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Detail for debugging.
    #[cfg_attr(feature = "db", sea_orm(string_value = "debug"))]
    Debug,
    /// What happened.
    #[cfg_attr(feature = "db", sea_orm(string_value = "info"))]
    Info,
    /// Something to look at.
    #[cfg_attr(feature = "db", sea_orm(string_value = "warning"))]
    Warning,
    /// Something failed.
    #[cfg_attr(feature = "db", sea_orm(string_value = "error"))]
    Error,
}

impl LogLevel {
    /// Every level, lowest first.
    pub const ALL: [LogLevel; 4] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warning,
        LogLevel::Error,
    ];

    /// The wire name, e.g. `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| "must be debug, info, warning or error".to_string())
    }
}

/// How an artifact's content is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// Markdown text (the run report).
    #[cfg_attr(feature = "db", sea_orm(string_value = "markdown"))]
    Markdown,
    /// A table.
    #[cfg_attr(feature = "db", sea_orm(string_value = "table"))]
    Table,
    /// A setup's forecast as JSON ([`crate::ForecastArtifact`]): read through
    /// `GET /api/v1/runs/{id}/forecasts`, not shown as text.
    #[cfg_attr(feature = "db", sea_orm(string_value = "forecast"))]
    Forecast,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogView {
    /// Increasing id (use as `after` to page).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// How important.
    pub level: LogLevel,
    /// The line.
    pub message: String,
    /// The step that logged it.
    pub task_run_id: Option<Uuid>,
}

/// A page of log lines, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogPage {
    /// Lines.
    pub items: Vec<LogView>,
    /// Pass as `after` for the next lines; absent when there are none yet.
    pub next_after: Option<i64>,
}

/// Something a run produced (the run report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArtifactView {
    /// Id.
    pub id: Uuid,
    /// Key, e.g. `run-report`.
    pub key: String,
    /// How to show the content.
    pub kind: ArtifactKind,
    /// The content.
    pub content: String,
    /// A markdown artifact rendered to HTML on the server, raw HTML escaped and script-capable link
    /// targets dropped: safe to insert as it is.
    #[serde(default)]
    pub html: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Runs per day and state, for the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunStats {
    /// One entry per day (UTC), oldest first, by expected start.
    pub days: Vec<DayStats>,
    /// Runs RUNNING or CANCELLING now.
    pub running: u64,
    /// Runs SCHEDULED or PENDING more than 15 s past their expected start.
    pub late: u64,
}

/// Counts for one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayStats {
    /// The day.
    pub date: NaiveDate,
    /// State → count (only states with runs).
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// A key that is present, `null` included, is `Some`: `{"concurrency_limit": null}` removes the limit,
/// while an absent key (`None`, by `default`) leaves it. serde alone reads both as `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
