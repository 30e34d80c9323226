//! Operational endpoints: `/health`, `/ready`, `/info`.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use chap_scheduler_api::{ErrorBody, Health, Readiness, ServiceInfo};
use utoipa_actix_web::service_config::ServiceConfig;

use super::AppState;
use crate::auth::Principal;
use crate::db::SchemaState;

/// How long `/ready` waits for each dependency: one that has not answered by then is unavailable
/// (a frozen or overloaded server), and the probe gets its answer well within a health check's
/// timeout instead of waiting with the dependency (and holding a connection meanwhile).
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What `check` answered within [`READY_WAIT`], or why not (its error, or that it did not answer).
async fn within_wait<T, E: std::fmt::Display>(
    check: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(READY_WAIT, check).await {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} s", READY_WAIT.as_secs())),
    }
}

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health).service(ready).service(info);
}

/// Liveness: the process answers.
#[utoipa::path(tag = "system", responses((status = 200, description = "Alive", body = Health)))]
#[get("/health")]
async fn health() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database answers with this build's schema, and the queue answers, each within 2 s.
///
/// `checks.database` is `ok`, `not_migrated` (empty, or migrations of this build missing) or
/// `unavailable`; `checks.queue` is `ok` or `unavailable`.
#[utoipa::path(
    tag = "system",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness),
    )
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = BTreeMap::new();
    // Answering is not enough: an empty or half-migrated database would fail every request.
    let (db_ok, db_check) = match within_wait(crate::db::schema_state(state.auth.db())).await {
        Ok(SchemaState::Current) => (true, "ok"),
        Ok(SchemaState::Unmigrated) => {
            tracing::warn!("readiness: the database has no schema");
            (false, "not_migrated")
        }
        Ok(SchemaState::Behind(missing)) => {
            tracing::warn!(?missing, "readiness: database migrations missing");
            (false, "not_migrated")
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            (false, "unavailable")
        }
    };
    checks.insert("database".to_string(), db_check.to_string());
    let queue_ok = match within_wait(state.engine.queue().ping()).await {
        Ok(()) => {
            checks.insert("queue".to_string(), "ok".to_string());
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: queue unavailable");
            checks.insert("queue".to_string(), "unavailable".to_string());
            false
        }
    };
    let ready = db_ok && queue_ok;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" }.into(),
        checks,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// What this instance is: version, storage and queue backends, start time.
#[utoipa::path(
    tag = "system",
    responses(
        (status = 200, description = "Service information", body = ServiceInfo),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
#[get("/info")]
async fn info(_principal: Principal, state: web::Data<AppState>) -> web::Json<ServiceInfo> {
    web::Json(ServiceInfo {
        name: "chap-scheduler".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: state.config.database_kind().into(),
        queue: state.engine.queue().kind().into(),
        started_at: state.started_at,
        public_url: state.config.notify.public_url.clone(),
    })
}
