//! `/api/v1/auth/*`: login, refresh, logout, me, password.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use chap_scheduler_api::{
    ChangePasswordRequest, ErrorBody, LoginRequest, TokenResponse, UserView, AUTH_COOKIE_PATH,
    REFRESH_COOKIE,
};
use secrecy::SecretString;
use utoipa_actix_web::service_config::ServiceConfig;

use super::extract::client_ip;
use super::input::JsonBody;
use super::AppState;
use crate::auth::{IssuedSession, Principal};
use crate::db::users;
use crate::error::{AppError, AppResult};

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(login)
        .service(refresh)
        .service(logout)
        .service(me)
        .service(change_password);
}

fn secure_request(req: &HttpRequest, state: &AppState) -> bool {
    state.config.trust_proxy_headers && req.connection_info().scheme() == "https"
}

/// The refresh cookie, scoped to the auth path under the public path (`/chap-scheduler/api/v1/auth`).
fn refresh_cookie(
    state: &AppState,
    value: String,
    max_age: time::Duration,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build(REFRESH_COOKIE, value)
        .path(state.config.public_path.join(AUTH_COOKIE_PATH))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(max_age)
        .finish()
}

fn session_response(req: &HttpRequest, state: &AppState, issued: IssuedSession) -> HttpResponse {
    let secs = (issued.refresh_expires_at - crate::db::clock::now())
        .num_seconds()
        .max(0);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(refresh_cookie(
            state,
            issued.refresh_token,
            time::Duration::seconds(secs),
            secure_request(req, state),
        ))
        .json(issued.body)
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Sign in with username and password.
///
/// Returns a 15-minute access token and sets the rotating refresh token as an HttpOnly cookie.
/// A wrong password and an unknown user get the same answer.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody),
    )
)]
#[post("/auth/login")]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<LoginRequest>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    if body.username.trim().is_empty() || body.username.len() > 256 || body.password.len() > 1024 {
        return Err(AppError::InvalidCredentials);
    }
    let ip = client_ip(&req, state.config.trust_proxy_headers);
    let issued = state
        .auth
        .login(
            body.username.trim(),
            SecretString::from(body.password),
            &ip,
            user_agent(&req),
        )
        .await?;
    Ok(session_response(&req, &state, issued))
}

/// Exchange the refresh cookie for a new access token.
///
/// The refresh token rotates on every use; presenting an already-used one ends the whole session.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "New access token; the cookie is rotated", body = TokenResponse),
        (status = 401, description = "No valid refresh cookie", body = ErrorBody),
    )
)]
#[post("/auth/refresh")]
async fn refresh(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let cookie = req
        .cookie(REFRESH_COOKIE)
        .ok_or_else(|| AppError::Unauthorized("no session; sign in".into()))?;
    let ip = client_ip(&req, state.config.trust_proxy_headers);
    match state.auth.refresh(cookie.value(), &ip).await {
        Ok(issued) => Ok(session_response(&req, &state, issued)),
        Err(err) => {
            // Clear a dead cookie so the browser stops sending it.
            let mut resp = actix_web::ResponseError::error_response(&err);
            let _ = resp.add_cookie(&refresh_cookie(
                &state,
                String::new(),
                time::Duration::ZERO,
                false,
            ));
            Ok(resp)
        }
    }
}

/// Sign out: ends the session of the refresh cookie (and of the bearer token, if any) and clears the cookie.
#[utoipa::path(
    tag = "auth",
    responses((status = 204, description = "Signed out"))
)]
#[post("/auth/logout")]
async fn logout(
    principal: Option<Principal>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let cookie = req.cookie(REFRESH_COOKIE);
    state
        .auth
        .logout(cookie.as_ref().map(|c| c.value()), principal.as_ref())
        .await?;
    Ok(HttpResponse::NoContent()
        .cookie(refresh_cookie(
            &state,
            String::new(),
            time::Duration::ZERO,
            secure_request(&req, &state),
        ))
        .finish())
}

/// The signed-in user.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = UserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
#[get("/auth/me")]
async fn me(principal: Principal, state: web::Data<AppState>) -> AppResult<web::Json<UserView>> {
    let user = users::by_id(state.auth.db(), principal.user_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("user no longer exists".into()))?;
    let mut view = users::view(&user);
    // For an API token, show the role it acts with.
    view.role = principal.role;
    Ok(web::Json(view))
}

/// Change your own password. Your other sessions end; this one stays signed in.
#[utoipa::path(
    tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "Wrong current password or too weak a new one", body = ErrorBody),
    )
)]
#[put("/auth/password")]
async fn change_password(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<ChangePasswordRequest>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    state
        .auth
        .change_password(
            &principal,
            SecretString::from(body.current_password),
            SecretString::from(body.new_password),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
