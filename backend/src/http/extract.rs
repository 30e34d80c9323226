//! Request extractors: the authenticated [`Principal`] and the client address.

use std::future::{ready, Ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::AppState;
use crate::auth::Principal;
use crate::error::AppError;

/// The client's address: the TCP peer, or the proxy-reported one when proxy headers are trusted.
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> String {
    if trust_proxy_headers {
        if let Some(ip) = req.connection_info().realip_remote_addr() {
            return strip_port(ip).to_string();
        }
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn strip_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host
        }
        _ => addr,
    }
}

/// The `Authorization: Bearer` value, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether a request needs credentials: everything under `/api/` and `/info`, except the public
/// operations and the OpenAPI document. Default-deny, so a new route is protected without extra code.
pub fn is_protected(method: &Method, path: &str) -> bool {
    let under_api = path.starts_with("/api/") && path != "/api/openapi.json";
    let method = method.as_str().to_ascii_lowercase();
    (under_api || path == "/info")
        && !super::PUBLIC_OPERATIONS
            .iter()
            .any(|(m, p)| *m == method && *p == path)
}

/// Middleware: authenticates every protected request before any handler or body extractor runs,
/// and leaves the [`Principal`] in the request for handlers.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !is_protected(req.method(), req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let outcome = match req.app_data::<web::Data<AppState>>().cloned() {
        None => Err(AppError::Internal(anyhow::anyhow!(
            "application state missing"
        ))),
        Some(state) => match bearer(req.request()) {
            None => Err(AppError::Unauthorized(
                "sign in, or send Authorization: Bearer <token>".into(),
            )),
            Some(token) => {
                let ip = client_ip(req.request(), state.config.trust_proxy_headers);
                state.auth.authenticate(token, Some(ip)).await
            }
        },
    };
    match outcome {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(err) => Ok(req.error_response(err).map_into_right_body()),
    }
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Principal>().cloned().ok_or_else(|| {
            AppError::Unauthorized("sign in, or send Authorization: Bearer <token>".into())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::{is_protected, strip_port, Method};

    #[test]
    fn api_routes_are_protected_unless_listed_public() {
        assert!(is_protected(&Method::GET, "/api/v1/users"));
        assert!(is_protected(&Method::GET, "/api/v1/anything-new"));
        assert!(is_protected(&Method::GET, "/info"));
        assert!(is_protected(&Method::GET, "/api/v1/auth/login"));
        assert!(!is_protected(&Method::POST, "/api/v1/auth/login"));
        assert!(!is_protected(&Method::GET, "/api/openapi.json"));
        assert!(!is_protected(&Method::GET, "/health"));
        assert!(!is_protected(&Method::GET, "/runs/42"));
    }

    #[test]
    fn ports_are_stripped_from_v4_and_v6_addresses() {
        assert_eq!(strip_port("10.0.0.1:5555"), "10.0.0.1");
        assert_eq!(strip_port("10.0.0.1"), "10.0.0.1");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
    }
}
