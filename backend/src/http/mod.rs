//! The HTTP layer: application state, the app factory (routes, middleware, error mapping), the OpenAPI
//! document and Swagger UI, and the SPA.

mod audit;
mod auth;
mod blocks;
mod deployments;
pub mod error;
pub mod extract;
mod flows;
pub mod input;
mod runs;
mod schedules;
mod spa;
mod system;
mod tokens;
mod users;

use std::sync::Arc;

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App};
use chrono::{DateTime, Utc};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, SecurityRequirement};
use utoipa_actix_web::{scope, AppExt, UtoipaApp};
use utoipa_swagger_ui::SwaggerUi;

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
                     `Authorization: Bearer <token>`. Errors share one shape: \
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

/// Marks every operation but the public ones as requiring the bearer scheme.
fn apply_security(doc: &mut OpenApi) {
    let requirement = SecurityRequirement::new("bearer", Vec::<String>::new());
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            if !PUBLIC_OPERATIONS.contains(&(method, path.as_str())) {
                op.security = Some(vec![requirement.clone()]);
            }
        }
    }
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
                .configure(blocks::routes)
                .default_service(web::to(error::api_not_found)),
        )
        .configure(system::routes)
}

/// The OpenAPI document of this build.
pub fn openapi() -> OpenApi {
    let (_, mut doc) = documented(App::new().into_utoipa_app()).split_for_parts();
    apply_security(&mut doc);
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
    let (app, mut doc) = documented(App::new().into_utoipa_app()).split_for_parts();
    apply_security(&mut doc);
    app.app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(limit))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .service(web::redirect("/docs", "/docs/"))
        .service(
            SwaggerUi::new("/docs/{_:.*}")
                .url("/api/openapi.json", doc)
                .config(utoipa_swagger_ui::Config::default().persist_authorization(true)),
        )
        .service(web::scope("/api").default_service(web::to(error::api_not_found)))
        .service(spa::precompressed(static_dir.clone()))
        .service(spa::service(static_dir))
        .default_service(web::to(spa::not_found))
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
        .wrap(tracing_actix_web::TracingLogger::default())
}
