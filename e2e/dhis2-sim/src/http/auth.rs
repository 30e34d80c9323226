//! DHIS2's authentication: HTTP Basic with the scenario's credentials (unless turned off) or a
//! personal access token (`Authorization: ApiToken d2pat_…`), on every path including the chap route.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;

use super::web_message;
use crate::scenario::Scenario;
use crate::state::AuthScheme;

/// The `Authorization` header, split into its scheme and credentials.
fn authorization(req: &HttpRequest) -> Option<(&str, &str)> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, credentials) = value.split_once(' ')?;
    Some((scheme, credentials.trim()))
}

/// The scheme a request presents.
pub(crate) fn scheme(req: &HttpRequest) -> AuthScheme {
    match authorization(req) {
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("basic") => AuthScheme::Basic,
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("apitoken") => AuthScheme::Token,
        _ => AuthScheme::None,
    }
}

/// DHIS2's 401 when the request may not proceed; `None` when it may.
pub(crate) fn refusal(req: &HttpRequest, scenario: &Scenario) -> Option<HttpResponse> {
    match (scheme(req), authorization(req)) {
        (AuthScheme::Basic, Some((_, encoded))) => {
            let expected = format!("{}:{}", scenario.username, scenario.password);
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded);
            let accepted = scenario.basic_auth && decoded.is_ok_and(|d| d == expected.as_bytes());
            (!accepted).then(|| unauthorized("Unauthorized"))
        }
        (AuthScheme::Token, Some((_, token))) => {
            let accepted = scenario.api_token.as_deref() == Some(token);
            (!accepted).then(|| unauthorized("The API token does not exist"))
        }
        _ => Some(unauthorized("Unauthorized")),
    }
}

fn unauthorized(message: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"DHIS2\""))
        .json(web_message(StatusCode::UNAUTHORIZED, message, None))
}
