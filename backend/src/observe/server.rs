//! A worker's own small HTTP server (`CHAP_SCHEDULER_METRICS_BIND`): `/metrics` and `/health`, so
//! Prometheus can scrape workers and compose can check them. Nothing else is served.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use metrics::gauge;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use super::names::UP;
use crate::orchestrator::Engine;

struct WorkerState {
    handle: Option<PrometheusHandle>,
    engine: Engine,
}

async fn metrics(state: web::Data<WorkerState>) -> HttpResponse {
    let Some(handle) = &state.handle else {
        return HttpResponse::NotFound().json(json!({
            "error": "not_found",
            "message": "metrics are off (CHAP_SCHEDULER_METRICS=false)",
        }));
    };
    gauge!(UP, "role" => "worker").set(1.0);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// 200 while the worker takes runs and reaches its database and queue; 503 otherwise.
async fn health(state: web::Data<WorkerState>) -> HttpResponse {
    let limit = Duration::from_secs(3);
    let db = tokio::time::timeout(limit, state.engine.db().ping()).await;
    let queue = tokio::time::timeout(limit, state.engine.queue().ping()).await;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let db_ok = matches!(db, Ok(Ok(())));
    let queue_ok = matches!(queue, Ok(Ok(())));
    let taking_runs = !state.engine.stopping().is_cancelled();
    let body = json!({
        "status": word(db_ok && queue_ok && taking_runs),
        "checks": {
            "database": word(db_ok),
            "queue": word(queue_ok),
            "worker": if taking_runs { "ok" } else { "stopping" },
        },
    });
    if db_ok && queue_ok && taking_runs {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Binds and starts the server; it stops with the process.
pub fn start_worker_server(
    bind: SocketAddr,
    handle: Option<PrometheusHandle>,
    engine: Engine,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let state = web::Data::new(WorkerState { handle, engine });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics))
            .route("/health", web::get().to(health))
            .default_service(web::to(|| async {
                HttpResponse::NotFound().json(json!({"error": "not_found", "message": "this worker serves /metrics and /health only"}))
            }))
    })
    .workers(1)
    .disable_signals()
    .bind(bind)
    .with_context(|| format!("binding {bind} (CHAP_SCHEDULER_METRICS_BIND)"))?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}
