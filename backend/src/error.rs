//! The one application error. Every variant has a stable snake_case code and an HTTP status
//! (mapped in `http::error`); internal errors are logged with context and never shown to clients.

use std::time::Duration;

use serde_json::Value;

use crate::telemetry::repeats::{Level, Repeats};

/// An error a request can end with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request body or parameters are invalid; `details` maps fields to messages.
    #[error("{message}")]
    Validation {
        /// Summary.
        message: String,
        /// Field → message.
        details: Option<Value>,
    },
    /// Malformed request (unparseable JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// Missing, invalid or expired credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Wrong username or password (the same answer for unknown users).
    #[error("wrong username or password")]
    InvalidCredentials,
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The path exists, but not for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Conflicts with the current state (duplicate name, last admin, …).
    #[error("{0}")]
    Conflict(String),
    /// Too many at once or in a while (login attempts, live streams); retry after the given time.
    #[error("{message}")]
    TooManyRequests {
        /// What was refused and why.
        message: String,
        /// How long to wait.
        retry_after: Duration,
    },
    /// The request's body did not arrive in time (`CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS`).
    #[error("{0}")]
    RequestTimeout(String),
    /// The request body is larger than allowed.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A dependency (database, queue) is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// Anything unexpected; logged, answered with a generic message.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        AppError::Validation {
            message: format!("{field}: {message}"),
            details: Some(serde_json::json!({ field: message })),
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation { .. } => "validation_failed",
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::RequestTimeout(_) => "request_timeout",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }
}

/// The database found unavailable by a request or a loop (a series that never ends: nothing here sees
/// the successes).
static UNAVAILABLE: std::sync::Mutex<Repeats> =
    std::sync::Mutex::new(Repeats::new("database unavailable", Level::Warn));

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        if crate::db::is_unavailable(&err) {
            // Every request and loop meeting the outage comes here: one line a minute says so.
            if let Ok(mut unavailable) = UNAVAILABLE.lock() {
                unavailable.failed(&err);
            }
            return AppError::Unavailable("the database is unavailable; try again shortly".into());
        }
        AppError::Internal(anyhow::Error::new(err).context("database operation failed"))
    }
}

/// Result with [`AppError`].
pub type AppResult<T> = Result<T, AppError>;
