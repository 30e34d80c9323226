//! The HTTP side: every response's `X-Request-Id` (in the request's log lines too), the request
//! metrics, and the `/metrics` endpoint.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use tokio::sync::Mutex;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use super::names::*;
use crate::orchestrator::store;

/// The header carrying a request's id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A caller's id is kept when it is 1–128 characters of letters, digits and `._:-` (so it cannot
/// forge log lines); otherwise a new one is made.
fn request_id_of(req: &ServiceRequest) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// Middleware (outermost): gives the request its id, answers with it, and counts the request by
/// route template (`unmatched` when no route matched), method and status.
pub async fn request_id_and_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id_of(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = super::bounded_method(req.method().as_str());
    let start = Instant::now();
    // Handlers' errors arrive as responses; an `Err` is a middleware's, answered by actix itself
    // (counted, but without our header: the request cannot be cloned before routing).
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(res) => (
            res.request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
            res.status(),
        ),
        Err(e) => ("unmatched".to_owned(), e.as_response_error().status_code()),
    };
    histogram!(HTTP_DURATION, "route" => route.clone(), "method" => method)
        .record(start.elapsed().as_secs_f64());
    counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status.as_u16().to_string())
        .increment(1);
    let mut res = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}

/// The span every request's log lines are in: method, path, status and the request id.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            request_id = %id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(res) => res.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
        let _in = span.enter();
        tracing::debug!(status = status.as_u16(), "request finished");
    }
}

/// The run gauges, read by one scrape at a time; scrapes that waited for a read begun after they
/// arrived take its result. `/metrics` needs no login, so a flood of scrapes must not become a flood
/// of queries, and a scrape never sees figures older than itself — unless the database cannot be
/// read: then the last figures read are given again (`serve` drops a gauge no scrape sets, and an
/// outage must not silence the alert on the last completed run), `None` before any was read.
async fn run_gauges(db: &DatabaseConnection) -> Option<store::RunGauges> {
    static LAST: Mutex<Option<(Instant, store::RunGauges)>> = Mutex::const_new(None);
    let arrived = Instant::now();
    let mut last = LAST.lock().await;
    if let Some((read_at, gauges)) = last.as_ref() {
        if *read_at >= arrived {
            return Some(gauges.clone());
        }
    }
    let read_at = Instant::now();
    match store::run_gauges(db).await {
        Ok(gauges) => {
            *last = Some((read_at, gauges.clone()));
            Some(gauges)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: could not read the run gauges; the last ones read are given");
            last.as_ref().map(|(_, gauges)| gauges.clone())
        }
    }
}

/// `GET /metrics`: the Prometheus text format, with the run gauges read from the database and the
/// number of live log streams open (`log_streams`).
pub async fn render(
    handle: &PrometheusHandle,
    db: &DatabaseConnection,
    log_streams: usize,
) -> HttpResponse {
    gauge!(LOG_STREAMS).set(log_streams as f64);
    match run_gauges(db).await {
        Some(g) => {
            for (state, n) in g.by_state {
                gauge!(RUNS_BY_STATE, "state" => state.as_str()).set(n as f64);
                if state == crate::orchestrator::state::RunState::Pending {
                    gauge!(QUEUE_DEPTH).set(n as f64);
                }
            }
            let age = g.oldest_pending_since.map_or(0.0, |since| {
                (crate::db::clock::now() - since).num_milliseconds().max(0) as f64 / 1000.0
            });
            gauge!(QUEUE_OLDEST_AGE).set(age);
            for (deployment, at) in g.last_completed {
                gauge!(LAST_COMPLETED, "deployment" => deployment).set(at.timestamp() as f64);
            }
        }
        None => tracing::warn!("metrics: no run gauges read yet"),
    }
    gauge!(UP, "role" => "serve").set(1.0);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(handle.render())
}
