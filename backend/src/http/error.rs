//! Maps [`AppError`] to HTTP: status, the one JSON error shape, `Retry-After`; and makes actix's own
//! extractor errors (bad JSON, oversized bodies, bad query strings) use the same shape.

use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chap_scheduler_api::ErrorBody;

use crate::auth::Principal;
use crate::error::AppError;

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (message, details) = match self {
            AppError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                ("internal error; see the server log".to_string(), None)
            }
            AppError::Validation { message, details } => (message.clone(), details.clone()),
            other => (other.to_string(), None),
        };
        let mut resp = HttpResponse::build(self.status_code());
        if let AppError::TooManyRequests { retry_after, .. } = self {
            resp.insert_header((
                header::RETRY_AFTER,
                retry_after.as_secs().max(1).to_string(),
            ));
        }
        if matches!(self, AppError::Unavailable(_)) {
            resp.insert_header((header::RETRY_AFTER, "1"));
        }
        if matches!(self, AppError::Unauthorized(_)) {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        resp.json(ErrorBody {
            error: self.code().to_string(),
            message,
            details,
        })
    }
}

/// `JsonConfig` error handler: malformed or oversized JSON bodies in the common shape.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let app = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => AppError::PayloadTooLarge(*limit),
        JsonPayloadError::ContentType => {
            AppError::BadRequest("the body must be JSON (Content-Type: application/json)".into())
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => AppError::Validation {
            message: format!("invalid request body: {e}"),
            details: None,
        },
        other => AppError::BadRequest(format!("invalid JSON body: {other}")),
    };
    app.into()
}

/// `QueryConfig` error handler.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    AppError::Validation {
        message: format!("invalid query string: {err}"),
        details: None,
    }
    .into()
}

/// `PathConfig` error handler (e.g. an id that is not a UUID).
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    AppError::NotFound(format!("no such resource ({err})")).into()
}

/// The documented routes under `/api`: each path template with the methods it answers.
fn documented_routes() -> &'static [(ResourceDef, Vec<String>)] {
    static ROUTES: OnceLock<Vec<(ResourceDef, Vec<String>)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        super::openapi()
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.starts_with("/api/"))
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(m, _)| m.to_string())
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect()
    })
}

/// Default service of the API scopes. Without credentials 401, so nothing tells an anonymous caller
/// which routes exist; a documented path asked with another method 405 with `Allow`; else a JSON 404.
pub async fn api_not_found(
    _principal: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let path = req.match_info().as_str();
    if let Some((_, methods)) = documented_routes()
        .iter()
        .find(|(def, _)| def.is_match(path))
    {
        let allow = methods.join(", ");
        let err = AppError::MethodNotAllowed(format!(
            "{} is not allowed here; use {allow}",
            req.method()
        ));
        let mut resp = err.error_response();
        if let Ok(value) = header::HeaderValue::from_str(&allow) {
            resp.headers_mut().insert(header::ALLOW, value);
        }
        return Ok(resp);
    }
    Err(AppError::NotFound(format!(
        "no API route {} {}",
        req.method(),
        req.path()
    )))
}
