//! `/api/v1/audit`: the audit log for admins.

use actix_web::{get, web};
use chap_scheduler_api::{AuditEventView, ErrorBody, Page};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::extract::Admin;
use super::input::QueryParams;
use super::AppState;
use crate::db::audit::{self, Cursor, Filter};
use crate::error::{AppError, AppResult};

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_audit);
}

/// Days of history listed when no `since` is given.
const DEFAULT_DAYS: i64 = 90;

/// Query of the audit list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only this action, e.g. `auth.login_failed`.
    action: Option<String>,
    /// Only this actor's username.
    actor: Option<String>,
    /// Not before this time (default: 90 days ago).
    since: Option<DateTime<Utc>>,
    /// Before this time.
    until: Option<DateTime<Utc>>,
}

/// The audit log, newest first (admin).
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of events", body = Page<AuditEventView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
    )
)]
#[get("/audit")]
async fn list_audit(
    _principal: Admin,
    state: web::Data<AppState>,
    query: QueryParams<AuditQuery>,
) -> AppResult<web::Json<Page<AuditEventView>>> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::field("limit", "limit must be between 1 and 500"));
    }
    let cursor = match q.cursor.as_deref() {
        Some(raw) => Some(
            Cursor::decode(raw)
                .ok_or_else(|| AppError::field("cursor", "not a cursor from this list"))?,
        ),
        None => None,
    };
    let filter = Filter {
        action: q.action,
        actor: q.actor,
        since: Some(
            q.since
                .unwrap_or_else(|| crate::db::clock::now() - chrono::Duration::days(DEFAULT_DAYS)),
        ),
        until: q.until,
    };
    Ok(web::Json(
        audit::list(state.auth.db(), &filter, limit, cursor).await?,
    ))
}
