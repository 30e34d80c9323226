//! Who is calling: the middleware that resolves a bearer credential, the [`Principal`], [`Operator`] and
//! [`Admin`] extractors that protect a handler by its signature, and the client address.

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use chap_scheduler_api::Role;

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

/// The credential of `Authorization: Bearer <token>` (an access token or an API token), or of
/// `Authorization: ApiToken <token>` (an API token only: the scheme DHIS2 routes of auth type
/// `api-token` send). `Err` when `ApiToken` carries something that is not an API token.
pub fn bearer(req: &HttpRequest) -> Option<Result<&str, AppError>> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Ok(token))
    } else if scheme.eq_ignore_ascii_case("apitoken") {
        Some(if token.starts_with(crate::auth::API_TOKEN_PREFIX) {
            Ok(token)
        } else {
            Err(AppError::Unauthorized(
                "Authorization: ApiToken takes an API token; send access tokens as Bearer".into(),
            ))
        })
    } else {
        None
    }
}

/// A bearer credential that did not authenticate: the error the handler's extractor answers with.
struct AuthFailure(AppError);

/// Middleware: resolves an `Authorization: Bearer` credential, when the request carries one, into a
/// [`Principal`] (or the reason it was refused) before routing and before any body is read. It decides
/// nothing about access: a handler is protected by taking a [`Principal`], [`Operator`] or [`Admin`],
/// so how a path is spelled cannot matter.
pub async fn resolve_credentials(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    if let (Some(state), Some(credential)) = (state, bearer(req.request())) {
        let ip = client_ip(req.request(), state.config.trust_proxy_headers);
        let outcome = match credential {
            Ok(token) => state.auth.authenticate(token, Some(ip)).await,
            Err(refused) => Err(refused),
        };
        match outcome {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
            }
            Err(err) => {
                req.extensions_mut().insert(AuthFailure(err));
            }
        }
    }
    next.call(req).await
}

fn not_signed_in() -> AppError {
    AppError::Unauthorized(
        "sign in, or send Authorization: Bearer <token> (or ApiToken <API token>)".into(),
    )
}

/// The request's principal, or why there is none (401, or 503 when the database could not tell).
fn principal_of(req: &HttpRequest) -> Result<Principal, AppError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(principal.clone());
    }
    match req.extensions_mut().remove::<AuthFailure>() {
        Some(AuthFailure(err)) => Err(err),
        None => Err(not_signed_in()),
    }
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal_of(req))
    }
}

/// A signed-in caller with at least the operator role. Taken as a handler's first argument, the 401 or
/// 403 comes before the path, query or body is looked at.
pub struct Operator(pub Principal);

/// A signed-in admin; see [`Operator`].
pub struct Admin(pub Principal);

macro_rules! role_extractor {
    ($name:ident, $role:expr) => {
        impl FromRequest for $name {
            type Error = AppError;
            type Future = Ready<Result<Self, Self::Error>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(principal_of(req).and_then(|p| {
                    p.require($role)?;
                    Ok($name(p))
                }))
            }
        }

        impl std::ops::Deref for $name {
            type Target = Principal;

            fn deref(&self) -> &Principal {
                &self.0
            }
        }
    };
}

role_extractor!(Operator, Role::Operator);
role_extractor!(Admin, Role::Admin);

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_stripped_from_v4_and_v6_addresses() {
        assert_eq!(strip_port("10.0.0.1:5555"), "10.0.0.1");
        assert_eq!(strip_port("10.0.0.1"), "10.0.0.1");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
    }
}
