//! Serving under `CHAP_SCHEDULER_PUBLIC_PATH` (e.g. `/chap-scheduler`), behind a proxy that serves DHIS2
//! at `/` and forwards the prefix unchanged. The app itself accepts only paths under the prefix, so it
//! answers the same with and without the proxy: a middleware strips the prefix before routing (every
//! route, the SPA's guards included, sees the path as it would be at `/`), redirects the bare prefix to
//! `prefix/`, and answers 404 to anything outside it but the probes at the root.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::uri::{PathAndQuery, Uri};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};

use super::AppState;
use crate::config::PublicPath;
use crate::error::AppError;

/// Answered at the root as well as under the prefix: container health checks and Prometheus reach
/// the service directly, not through the proxy.
const ROOT_PROBES: &[&str] = &["/health", "/ready", "/metrics"];

/// Where a request's path (as sent, not decoded) goes with the public path `prefix` (non-empty).
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// Under the prefix: route this path (`/prefix/api/v1/x` → `/api/v1/x`).
    Inside(&'a str),
    /// The bare prefix: redirect to `prefix/`.
    Bare,
    /// A probe at the root, routed as it is.
    Probe,
    /// Anything else: 404.
    Outside,
}

/// Decides on the raw path, compared byte for byte: `/Chap-Scheduler/…`, `/chap-scheduler%2F…` or
/// `//chap-scheduler/…` are not the prefix, and what follows the prefix keeps its spelling, so the
/// hardening of the routes behind (odd spellings never reach the SPA) applies unchanged.
fn route<'a>(prefix: &str, path: &'a str) -> Route<'a> {
    match path.strip_prefix(prefix) {
        Some("") => Route::Bare,
        Some(rest) if rest.starts_with('/') => Route::Inside(rest),
        _ if ROOT_PROBES.contains(&path) => Route::Probe,
        _ => Route::Outside,
    }
}

/// Middleware: applies [`route`] when a public path is set; without one it passes every request on.
pub async fn strip_public_path(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let prefix = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.public_path.clone())
        .unwrap_or_default();
    if prefix.is_root() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let uri = req.uri().clone();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let inside = match route(prefix.as_str(), uri.path()) {
        Route::Probe => return Ok(next.call(req).await?.map_into_left_body()),
        Route::Inside(rest) => format!("{rest}{query}"),
        Route::Bare if matches!(*req.method(), Method::GET | Method::HEAD) => {
            let to = format!("{prefix}/{query}");
            let response = HttpResponse::TemporaryRedirect()
                .insert_header((header::LOCATION, to))
                .finish();
            return Ok(req.into_response(response).map_into_right_body());
        }
        Route::Bare | Route::Outside => return Ok(outside(req, &prefix)),
    };
    let mut parts = uri.into_parts();
    parts.path_and_query = match PathAndQuery::try_from(inside) {
        Ok(pq) => Some(pq),
        Err(_) => return Ok(outside(req, &prefix)),
    };
    let Ok(uri) = Uri::from_parts(parts) else {
        return Ok(outside(req, &prefix));
    };
    // The router matches on its own copy of the path: update both, as actix's NormalizePath does.
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
    Ok(next.call(req).await?.map_into_left_body())
}

/// The JSON 404 of a path outside the public path.
fn outside<B>(req: ServiceRequest, prefix: &PublicPath) -> ServiceResponse<EitherBody<B>> {
    let response = AppError::NotFound(format!(
        "no such page or API route: this service is served under {prefix}/"
    ))
    .error_response();
    req.into_response(response).map_into_right_body()
}

#[cfg(test)]
mod tests {
    use super::{route, Route};

    #[test]
    fn only_the_exact_prefix_and_the_root_probes_are_served() {
        let p = "/chap-scheduler";
        assert_eq!(route(p, "/chap-scheduler/"), Route::Inside("/"));
        assert_eq!(
            route(p, "/chap-scheduler/api/v1/runs"),
            Route::Inside("/api/v1/runs")
        );
        // What follows the prefix keeps its spelling for the routes behind to judge.
        assert_eq!(
            route(p, "/chap-scheduler//api/v1/runs"),
            Route::Inside("//api/v1/runs")
        );
        assert_eq!(
            route(p, "/chap-scheduler/%61pi/v1/runs"),
            Route::Inside("/%61pi/v1/runs")
        );
        assert_eq!(
            route(p, "/chap-scheduler/../api/v1/runs"),
            Route::Inside("/../api/v1/runs")
        );
        assert_eq!(route(p, "/chap-scheduler"), Route::Bare);
        for probe in ["/health", "/ready", "/metrics"] {
            assert_eq!(route(p, probe), Route::Probe, "{probe}");
        }
        for outside in [
            "/",
            "/api/v1/runs",
            "/docs/",
            "/info",
            "/runs/x",
            "/Chap-Scheduler/api/v1/runs",
            "/chap-scheduler%2Fapi/v1/runs",
            "/chap-schedulerx/api",
            "//chap-scheduler/api/v1/runs",
            "/./chap-scheduler/api/v1/runs",
            "/%63hap-scheduler/api/v1/runs",
            "/health/",
            "//health",
            "/HEALTH",
        ] {
            assert_eq!(route(p, outside), Route::Outside, "{outside}");
        }
    }
}
