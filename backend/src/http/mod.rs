//! The HTTP layer: application state, the app factory (routes, middleware, error mapping), the OpenAPI
//! document and Swagger UI, and the SPA.

mod audit;
mod auth;
mod blocks;
mod body_deadline;
mod chap_setups;
pub mod connections;
mod deployments;
pub mod error;
pub mod extract;
mod flows;
mod forecasts;
pub mod input;
mod log_stream;
pub use log_stream::StreamSlots;
mod notifications;
mod prefix;
mod runs;
mod schedules;
mod sliced;
mod spa;
mod system;
mod tokens;
mod users;

use std::sync::Arc;

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App};
use chrono::{DateTime, Utc};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr, SecurityRequirement};
use utoipa_actix_web::{scope, AppExt, UtoipaApp};

use crate::auth::AuthService;
use crate::config::Config;
use crate::orchestrator::Engine;

/// What every handler can reach.
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// Authentication (and the database through it).
    pub auth: AuthService,
    /// The orchestration engine.
    pub engine: Engine,
    /// Credentials blocks (with the key ring that seals their secrets).
    pub blocks: crate::blocks::BlockStore,
    /// When this process started.
    pub started_at: DateTime<Utc>,
    /// The metrics recorder's handle; `None` when metrics are off.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The live log streams served, bounded per user and in all.
    pub log_streams: StreamSlots,
}

impl AppState {
    /// What sending notifications needs.
    pub fn notifier(&self) -> crate::notify::Notifier {
        crate::notify::Notifier::new(
            self.engine.db().clone(),
            self.blocks.clone(),
            self.config.notify.clone(),
        )
    }

    /// What the chap-following schedules need.
    pub fn chap_schedules(&self) -> crate::chap_schedules::ChapSchedules {
        crate::chap_schedules::ChapSchedules {
            engine: self.engine.clone(),
            blocks: self.blocks.clone(),
            settings: self.config.chap_schedules.clone(),
        }
    }
}

/// Operations anyone may call without credentials: `(method, path)`.
pub const PUBLIC_OPERATIONS: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
];

/// Content-Security-Policy: the wasm SPA and Swagger UI load only from this origin.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

fn base_doc() -> OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("chap-scheduler API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Runs DHIS2 → chap-core predictions on demand or on a schedule. Authenticate with \
                     `POST /api/v1/auth/login` (access token in the body) or an API token; send either as \
                     `Authorization: Bearer <token>` (an API token also as `Authorization: ApiToken <token>`). \
                     Every response carries `X-Request-Id`. Errors share one shape: \
                     `{\"error\": code, \"message\": text, \"details\"?: object}`.",
                ))
                .build(),
        )
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An access token from login, or an API token"))
                    .build(),
            ),
        );
    doc
}

/// Marks every operation but the public ones as requiring the bearer scheme, and documents the answers
/// every operation of its kind can give (so the document lists every status a client can see):
/// 401 when protected, 400/413/422 with a body, 422 with query parameters, 404 with path parameters,
/// and 503 when the database is unavailable.
fn apply_conventions(doc: &mut OpenApi) {
    let requirement = SecurityRequirement::new("bearer", Vec::<String>::new());
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            let public = PUBLIC_OPERATIONS.contains(&(method, path.as_str()));
            if !public {
                op.security = Some(vec![requirement.clone()]);
            }
            let params = op.parameters.clone().unwrap_or_default();
            let has = |location: ParameterIn| {
                params
                    .iter()
                    .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == location))
            };
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error_response(description));
            };
            if !public {
                add("401", "Missing, invalid or expired credentials");
            }
            if op.request_body.is_some() {
                add(
                    "400",
                    "Malformed JSON, or not `Content-Type: application/json`",
                );
                add("413", "The body is larger than the configured limit");
                add(
                    "422",
                    "Invalid input (not an object, a wrong type, a control character, a value out \
                     of range); `details` maps fields to messages",
                );
            }
            if has(ParameterIn::Query) {
                add("422", "Invalid query parameter; `details` names it");
            }
            if has(ParameterIn::Path) {
                add("404", "No such resource (or an id that is not one)");
            }
            if path != "/health" {
                add(
                    "503",
                    "The database is unavailable, or the server is busy checking passwords; \
                     retry after `Retry-After` seconds",
                );
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> Vec<(&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// Registers every documented route; the same function feeds the server and `chap-scheduler openapi`,
/// so the document cannot drift from the routes.
fn documented<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.openapi(base_doc())
        .service(
            scope::scope("/api/v1")
                .configure(auth::routes)
                .configure(users::routes)
                .configure(tokens::routes)
                .configure(audit::routes)
                .configure(flows::routes)
                .configure(deployments::routes)
                .configure(runs::routes)
                .configure(schedules::routes)
                .configure(chap_setups::routes)
                .configure(notifications::routes)
                .configure(forecasts::routes)
                .configure(blocks::routes)
                .default_service(web::to(error::api_not_found)),
        )
        .configure(system::routes)
}

/// The OpenAPI document of this build.
pub fn openapi() -> OpenApi {
    let (_, mut doc) = documented(App::new().into_utoipa_app()).split_for_parts();
    apply_conventions(&mut doc);
    doc
}

/// Builds the application for one server worker.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = state.config.max_body_bytes;
    let static_dir = state.config.static_dir.clone();
    let public_path = state.config.public_path.clone();
    let (app, mut doc) = documented(App::new().into_utoipa_app()).split_for_parts();
    apply_conventions(&mut doc);
    // Routes are matched with the public path stripped (see `prefix`); what the browser and Swagger
    // UI are told carries it.
    if !public_path.is_root() {
        doc.servers = Some(vec![utoipa::openapi::server::Server::new(
            public_path.as_str(),
        )]);
    }
    // Served as the bytes serialized here: the document's tree (hundreds of schemas) is dropped instead
    // of being held by every server worker and serialized again for every request.
    let doc = web::Bytes::from(serde_json::to_vec(&doc).expect("the OpenAPI document serializes"));
    let swagger = std::sync::Arc::new(
        utoipa_swagger_ui::Config::new([public_path.join("/api/openapi.json")])
            .persist_authorization(true),
    );
    app.app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(limit))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .route("/metrics", web::get().to(metrics))
        .service(web::redirect("/docs", public_path.join("/docs/")))
        .route(
            "/api/openapi.json",
            web::get().to(move || {
                let doc = doc.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/json")
                        .body(doc)
                }
            }),
        )
        .route(
            "/docs/{file:.*}",
            web::get().to(move |file: web::Path<String>| {
                let swagger = swagger.clone();
                async move { sliced::swagger_file(&file, swagger) }
            }),
        )
        .service(web::scope("/api").default_service(web::to(error::api_not_found)))
        .service(spa::index(static_dir.clone(), public_path.clone()))
        .service(spa::precompressed(static_dir.clone()))
        .service(spa::service(static_dir, public_path))
        .default_service(web::to(spa::not_found))
        // Innermost: a body's deadline and big answers' slicing (see their modules); then the
        // public path stripped: the routes see the path without it, the log and metrics around them
        // see it as sent.
        .wrap(actix_web::middleware::from_fn(body_deadline::body_deadline))
        .wrap(actix_web::middleware::from_fn(sliced::slice_large_bodies))
        .wrap(actix_web::middleware::from_fn(prefix::strip_public_path))
        .wrap(actix_web::middleware::from_fn(extract::resolve_credentials))
        .wrap(
            DefaultHeaders::new()
                .add(("Content-Security-Policy", CSP))
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "no-referrer"))
                .add(("Cross-Origin-Opener-Policy", "same-origin"))
                .add((
                    "Permissions-Policy",
                    "camera=(), microphone=(), geolocation=()",
                )),
        )
        .wrap(tracing_actix_web::TracingLogger::<
            crate::observe::http::RequestSpan,
        >::new())
        .wrap(actix_web::middleware::from_fn(
            crate::observe::http::request_id_and_metrics,
        ))
}

/// `GET /metrics` (Prometheus text; no login, outside `/api`, blocked by the shipped nginx config);
/// 404 when `CHAP_SCHEDULER_METRICS=false`.
async fn metrics(state: web::Data<AppState>) -> actix_web::HttpResponse {
    match &state.metrics {
        Some(handle) => {
            let streams = state.log_streams.open();
            crate::observe::http::render(handle, state.engine.db(), streams).await
        }
        None => actix_web::HttpResponse::NotFound().json(chap_scheduler_api::ErrorBody {
            error: "not_found".into(),
            message: "metrics are off (CHAP_SCHEDULER_METRICS=false)".into(),
            details: None,
        }),
    }
}
