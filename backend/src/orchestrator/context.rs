//! What a flow sees of the engine: parameters, a logger, named steps recorded as task runs,
//! artifacts, a cancellation token and redaction of secret values.

use std::future::Future;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::blocks::{BlockData, Blocks};
use super::flow::FlowError;
use super::logs::{LogLine, LogSink};
use super::state::RunState;
use crate::db::entities::{artifact, flow_run, task_run};
use crate::db::users::now;

/// Replaced secret values read like this.
pub const REDACTED: &str = "******";

struct Inner {
    blocks: Blocks,
    run_id: Uuid,
    attempt: u32,
    parameters: Value,
    db: DatabaseConnection,
    logs: LogSink,
    cancel: CancellationToken,
    secrets: RwLock<Vec<String>>,
    position: AtomicI32,
}

/// The handle a flow body works through. Cheap to clone.
#[derive(Clone)]
pub struct RunContext {
    inner: Arc<Inner>,
}

impl RunContext {
    /// A context for one attempt of a run.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        blocks: Blocks,
        run_id: Uuid,
        attempt: u32,
        parameters: Value,
        db: DatabaseConnection,
        logs: LogSink,
        cancel: CancellationToken,
        first_position: i32,
    ) -> Self {
        RunContext {
            inner: Arc::new(Inner {
                blocks,
                run_id,
                attempt,
                parameters,
                db,
                logs,
                cancel,
                secrets: RwLock::new(Vec::new()),
                position: AtomicI32::new(first_position),
            }),
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> Uuid {
        self.inner.run_id
    }

    /// Which attempt this is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// The run's parameters (deployment defaults merged with the trigger's).
    pub fn parameters(&self) -> &Value {
        &self.inner.parameters
    }

    /// Cancelled when the run is cancelled or times out; long waits should select on it.
    pub fn cancellation(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// From now on, `secret` is replaced by `******` in logs, step errors and the run's messages.
    pub fn add_secret(&self, secret: &str) {
        if secret.len() >= 3 {
            let mut s = self
                .inner
                .secrets
                .write()
                .unwrap_or_else(|e| e.into_inner());
            s.push(secret.to_string());
        }
    }

    /// Replaces every registered secret in `text`.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.inner.secrets.read().unwrap_or_else(|e| e.into_inner());
        secrets
            .iter()
            .fold(text.to_string(), |acc, s| acc.replace(s.as_str(), REDACTED))
    }

    fn log(&self, level: &'static str, task: Option<Uuid>, message: &str) {
        self.inner.logs.send(LogLine {
            run_id: self.inner.run_id,
            task_run_id: task,
            at: Utc::now(),
            level,
            message: self.redact(message),
        });
    }

    /// Logs at debug level.
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log("debug", None, message.as_ref());
    }

    /// Logs at info level.
    pub fn info(&self, message: impl AsRef<str>) {
        self.log("info", None, message.as_ref());
    }

    /// Logs a warning.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log("warning", None, message.as_ref());
    }

    /// Logs an error.
    pub fn error(&self, message: impl AsRef<str>) {
        self.log("error", None, message.as_ref());
    }

    /// Runs `work` as a named step, recorded as a task run (RUNNING, then COMPLETED or FAILED with the
    /// error's text). If the run is cancelled while the step runs, the engine marks it CANCELLED.
    pub async fn step<T, E, F>(&self, name: &str, label: Option<&str>, work: F) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: Future<Output = Result<T, E>>,
    {
        let id = Uuid::new_v4();
        let position = self.inner.position.fetch_add(1, Ordering::SeqCst);
        let inserted = task_run::ActiveModel {
            id: Set(id),
            flow_run_id: Set(self.inner.run_id),
            position: Set(position),
            name: Set(name.chars().take(100).collect()),
            label: Set(label.map(|l| l.chars().take(300).collect())),
            state: Set(RunState::Running.as_str().into()),
            attempts: Set(1),
            started_at: Set(now()),
            ended_at: Set(None),
            error: Set(None),
        }
        .insert(&self.inner.db)
        .await;
        if let Err(e) = &inserted {
            tracing::error!(error = %e, run = %self.inner.run_id, step = name, "recording a step failed");
        }
        let result = work.await;
        let (state, error) = match &result {
            Ok(_) => (RunState::Completed, None),
            Err(e) => (RunState::Failed, Some(self.redact(&e.to_string()))),
        };
        if inserted.is_ok() {
            let done = task_run::Entity::update_many()
                .col_expr(task_run::Column::State, Expr::value(state.as_str()))
                .col_expr(task_run::Column::EndedAt, Expr::value(now()))
                .col_expr(task_run::Column::Error, Expr::value(error))
                .filter(task_run::Column::Id.eq(id))
                .exec(&self.inner.db)
                .await;
            if let Err(e) = done {
                tracing::error!(error = %e, run = %self.inner.run_id, step = name, "recording a step's end failed");
            }
        }
        result
    }

    /// Reads a block (e.g. DHIS2 credentials) with its secrets decrypted; every secret value is
    /// registered for redaction at once.
    pub async fn block(&self, id: Uuid) -> Result<BlockData, FlowError> {
        let block = self
            .inner
            .blocks
            .load(id)
            .await
            .map_err(|e| FlowError::retryable(format!("reading block {id} failed: {e:#}")))?
            .ok_or_else(|| FlowError::permanent(format!("there is no block with id {id}")))?;
        for secret in &block.secrets {
            self.add_secret(secret);
        }
        Ok(block)
    }

    /// Stores an artifact (e.g. the markdown run report); the same key replaces the earlier one.
    pub async fn artifact(&self, key: &str, kind: &str, content: &str) -> anyhow::Result<()> {
        artifact::Entity::delete_many()
            .filter(artifact::Column::FlowRunId.eq(self.inner.run_id))
            .filter(artifact::Column::Key.eq(key))
            .exec(&self.inner.db)
            .await?;
        artifact::ActiveModel {
            id: Set(Uuid::new_v4()),
            flow_run_id: Set(self.inner.run_id),
            key: Set(key.into()),
            kind: Set(kind.into()),
            content: Set(self.redact(content)),
            created_at: Set(now()),
        }
        .insert(&self.inner.db)
        .await?;
        Ok(())
    }

    /// Stores a flow-specific outcome summary on the run (shown in run lists).
    pub async fn set_summary(&self, summary: Value) -> anyhow::Result<()> {
        flow_run::Entity::update_many()
            .col_expr(flow_run::Column::Summary, Expr::value(summary))
            .filter(flow_run::Column::Id.eq(self.inner.run_id))
            .exec(&self.inner.db)
            .await?;
        Ok(())
    }
}
