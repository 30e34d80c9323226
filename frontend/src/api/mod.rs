//! The one HTTP client of the SPA. Every call to the backend lives here; pages never build URLs.
//!
//! The access token is kept in memory only (never in web storage). The refresh token is an HttpOnly
//! cookie scoped to the auth path, which the browser sends by itself (`credentials: same-origin`).
//! On a 401 from an authenticated call the client refreshes once and retries; when the server
//! rejects the refresh, the session listener hears [`SessionEvent::Expired`].

use std::fmt;

use chap_scheduler_api::{
    ApiTokenView, ArtifactView, AuditEventView, BlockTestResult, BlockTypeView, BlockView,
    ChangePasswordRequest, ChapSetupUpdate, ChapSetupsView, CreateApiTokenRequest,
    CreateBlockRequest, CreateUserRequest, CreatedApiToken, DeploymentView, FlowView, LoginRequest,
    Page, PreviewRequest, PreviewResponse, RetryRunRequest, RunDetail, RunForecast, RunState,
    RunStats, RunView, ScheduleRequest, ScheduleView, TokenResponse, TriggerRunRequest,
    UpdateBlockRequest, UpdateDeploymentRequest, UpdateUserRequest, UserView,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

mod log_stream;
mod notifications;
mod sse;
mod transport;

pub use log_stream::{follow_run_log, LogEvent, StreamEnd};
pub use notifications::{
    create_notification_rule, delete_notification_rule, late_slots, list_notification_rules,
    replace_notification_rule, rule_deliveries, run_deliveries, service_info,
    test_notification_rule,
};
pub use transport::set_session_listener;
use transport::{
    accept_tokens, access_token, authed, authed_empty, authed_text, encode, notify, refresh,
    rfc3339, send, set_access_token, Query,
};

/// What happened to the signed-in session, as the rest of the app needs to know it.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// A login or refresh succeeded: this user is signed in.
    SignedIn(UserView),
    /// There is no usable session (refresh rejected, or none to restore).
    Expired,
    /// The user logged out on purpose.
    LoggedOut,
}

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 401: not signed in, or wrong credentials on login.
    Unauthorized,
    /// 429: throttled; retry after this many seconds when the server said so.
    TooManyRequests {
        /// Value of the `Retry-After` header.
        retry_after_secs: Option<u64>,
    },
    /// Any other error status, with the server's error body when it sent one.
    Status {
        /// HTTP status code.
        status: u16,
        /// Stable machine code from the error body (empty if there was none).
        code: String,
        /// Human-readable message from the error body.
        message: String,
        /// Field → message, from a 422's `details`.
        fields: Vec<(String, String)>,
    },
    /// The request never got an answer (server down, network gone).
    Network,
    /// The server answered with something this client does not understand.
    UnexpectedResponse(String),
}

impl ApiError {
    /// The server's message for `field` (from a 422's `details`), if it named that field.
    pub fn field_error(&self, field: &str) -> Option<String> {
        match self {
            ApiError::Status { fields, .. } => fields
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, message)| message.clone()),
            _ => None,
        }
    }
}

/// `details` of an error body as field → message; accepts `{field: msg}` and `{fields: {field: msg}}`.
fn field_errors(details: &serde_json::Value) -> Vec<(String, String)> {
    let map = match details.get("fields") {
        Some(serde_json::Value::Object(map)) => map,
        _ => match details {
            serde_json::Value::Object(map) => map,
            _ => return Vec::new(),
        },
    };
    map.iter()
        .filter_map(|(k, v)| v.as_str().map(|m| (k.clone(), m.to_owned())))
        .collect()
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized => f.write_str("You are not signed in."),
            ApiError::TooManyRequests {
                retry_after_secs: Some(secs),
            } => write!(f, "Too many requests; try again in {secs} s."),
            ApiError::TooManyRequests {
                retry_after_secs: None,
            } => f.write_str("Too many requests; try again shortly."),
            ApiError::Status {
                status, message, ..
            } if message.is_empty() => write!(f, "The server answered with status {status}."),
            ApiError::Status { message, .. } => f.write_str(message),
            ApiError::Network => {
                f.write_str("Cannot reach the server. Check your connection and try again.")
            }
            ApiError::UnexpectedResponse(what) => {
                write!(f, "The server sent an unexpected answer ({what}).")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

mod path {
    pub const LOGIN: &str = "/auth/login";
    pub const REFRESH: &str = "/auth/refresh";
    pub const LOGOUT: &str = "/auth/logout";
    pub const ME: &str = "/auth/me";
    pub const PASSWORD: &str = "/auth/password";
    /// What this instance is (`ServiceInfo`); outside `/api/v1`, like `/health`.
    pub const INFO: &str = "/info";
    /// Paths served at the root, not under the API prefix.
    pub const OUTSIDE_API: [&str; 1] = [INFO];
}

/// Signs in with a username and password; on success the session listener hears `SignedIn`.
pub async fn login(request: &LoginRequest) -> Result<UserView, ApiError> {
    let body = serde_json::to_string(request)
        .map_err(|e| ApiError::UnexpectedResponse(format!("encoding the login request: {e}")))?;
    let response = send("POST", path::LOGIN, Some(&body), None).await?;
    let tokens: TokenResponse = response.json()?;
    Ok(accept_tokens(tokens))
}

/// Restores the session after a page load from the refresh cookie. Any failure counts as signed out.
pub async fn restore_session() -> Result<UserView, ApiError> {
    let result = refresh().await;
    if result.is_err() {
        notify(SessionEvent::Expired);
    }
    result
}

/// Ends the session on the server (clears the refresh cookie) and forgets the access token.
///
/// The user is signed out locally even if the server cannot be reached.
pub async fn logout() -> Result<(), ApiError> {
    let token = access_token();
    let result = send("POST", path::LOGOUT, None, token.as_deref())
        .await
        .map(|_| ());
    set_access_token(None);
    notify(SessionEvent::LoggedOut);
    result
}

/// The signed-in user as the server sees it now.
pub async fn me() -> Result<UserView, ApiError> {
    authed("GET", path::ME, None).await
}

/// Filters and position of a page of the run list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Only runs in one of these states (any state when empty).
    pub states: Vec<RunState>,
    /// Only runs of this deployment.
    pub deployment_id: Option<Uuid>,
    /// Only runs created at or after this instant (the server's default: 30 days ago).
    pub since: Option<DateTime<Utc>>,
    /// Only runs created before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /runs`: one page of runs, newest first.
pub async fn list_runs(filter: &RunFilter) -> Result<Page<RunView>, ApiError> {
    let mut query = Query::default();
    let states: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
    query.push("state", (!states.is_empty()).then(|| states.join(",")));
    query.push("deployment_id", filter.deployment_id.map(|d| d.to_string()));
    query.push("since", filter.since.map(rfc3339));
    query.push("until", filter.until.map(rfc3339));
    query.push("limit", filter.limit.map(|l| l.to_string()));
    query.push("cursor", filter.cursor.as_deref());
    authed("GET", &format!("/runs{}", query.finish()), None).await
}

/// `GET /runs/stats?days=`: runs per day by state, and how many run or are late now.
pub async fn run_stats(days: u32) -> Result<RunStats, ApiError> {
    authed("GET", &format!("/runs/stats?days={days}"), None).await
}

/// `GET /runs/{id}`: a run with its history and steps.
pub async fn get_run(id: Uuid) -> Result<RunDetail, ApiError> {
    authed("GET", &format!("/runs/{id}"), None).await
}

/// `POST /runs/{id}/cancel` (operator).
pub async fn cancel_run(id: Uuid) -> Result<RunView, ApiError> {
    authed("POST", &format!("/runs/{id}/cancel"), None).await
}

/// `POST /runs/{id}/retry` (operator): the new run, with the same parameters.
pub async fn retry_run(id: Uuid) -> Result<RunView, ApiError> {
    authed("POST", &format!("/runs/{id}/retry"), None).await
}

/// `POST /runs/{id}/retry` with `failed_setups_only` (operator): a new run of only the prediction
/// setups that failed in this one; 409 when none failed.
pub async fn retry_failed_setups(id: Uuid) -> Result<RunView, ApiError> {
    let body = encode(&RetryRunRequest {
        failed_setups_only: true,
    })?;
    authed("POST", &format!("/runs/{id}/retry"), Some(&body)).await
}

/// `GET /runs/{id}/artifacts`: what the run produced (its report).
pub async fn run_artifacts(id: Uuid) -> Result<Vec<ArtifactView>, ApiError> {
    authed("GET", &format!("/runs/{id}/artifacts"), None).await
}

/// `GET /runs/{id}/forecasts`: what chap predicted in the run, one forecast per succeeded setup.
pub async fn run_forecasts(id: Uuid) -> Result<Vec<RunForecast>, ApiError> {
    authed("GET", &format!("/runs/{id}/forecasts"), None).await
}

/// `GET /runs/{id}/forecasts?format=csv&setup_id=`: one setup's forecast as CSV
/// (`org_unit_id,org_unit_name,period,quantile,value`).
pub async fn forecast_csv(id: Uuid, setup_id: i64) -> Result<String, ApiError> {
    authed_text(
        "GET",
        &format!("/runs/{id}/forecasts?format=csv&setup_id={setup_id}"),
    )
    .await
}

/// `GET /deployments`: every deployment.
pub async fn list_deployments() -> Result<Vec<DeploymentView>, ApiError> {
    authed("GET", "/deployments", None).await
}

/// `GET /deployments/{id}`.
pub async fn get_deployment(id: Uuid) -> Result<DeploymentView, ApiError> {
    authed("GET", &format!("/deployments/{id}"), None).await
}

/// `PATCH /deployments/{id}` (operator): only the fields set change.
pub async fn update_deployment(
    id: Uuid,
    request: &UpdateDeploymentRequest,
) -> Result<DeploymentView, ApiError> {
    let body = encode(request)?;
    authed("PATCH", &format!("/deployments/{id}"), Some(&body)).await
}

/// `POST /deployments/{id}/runs` (operator): the new run.
pub async fn trigger_run(id: Uuid, request: &TriggerRunRequest) -> Result<RunView, ApiError> {
    let body = encode(request)?;
    authed("POST", &format!("/deployments/{id}/runs"), Some(&body)).await
}

/// `GET /flows/{name}`: the flow with its parameter schema.
pub async fn get_flow(name: &str) -> Result<FlowView, ApiError> {
    let name: String = js_sys::encode_uri_component(name).into();
    authed("GET", &format!("/flows/{name}"), None).await
}

/// `GET /blocks`: every credentials block (secrets never included).
pub async fn list_blocks() -> Result<Vec<BlockView>, ApiError> {
    let page: Page<BlockView> = authed("GET", "/blocks", None).await?;
    Ok(page.items)
}

/// `GET /block-types`: the kinds of block, each with its form schema.
pub async fn list_block_types() -> Result<Vec<BlockTypeView>, ApiError> {
    authed("GET", "/block-types", None).await
}

/// `POST /blocks` (admin).
pub async fn create_block(request: &CreateBlockRequest) -> Result<BlockView, ApiError> {
    let body = encode(request)?;
    authed("POST", "/blocks", Some(&body)).await
}

/// `PATCH /blocks/{id}` (admin): an empty or absent secret keeps the stored one.
pub async fn update_block(id: Uuid, request: &UpdateBlockRequest) -> Result<BlockView, ApiError> {
    let body = encode(request)?;
    authed("PATCH", &format!("/blocks/{id}"), Some(&body)).await
}

/// `DELETE /blocks/{id}` (admin): refused (409) while a deployment, schedule or unfinished run uses it.
pub async fn delete_block(id: Uuid) -> Result<(), ApiError> {
    authed_empty("DELETE", &format!("/blocks/{id}"), None).await
}

/// `POST /blocks/{id}/test` (operator): reach DHIS2 and chap with the block's credentials.
pub async fn test_block(id: Uuid) -> Result<BlockTestResult, ApiError> {
    authed("POST", &format!("/blocks/{id}/test"), None).await
}

/// `GET /deployments/{id}/schedules`.
pub async fn list_schedules(deployment_id: Uuid) -> Result<Vec<ScheduleView>, ApiError> {
    authed(
        "GET",
        &format!("/deployments/{deployment_id}/schedules"),
        None,
    )
    .await
}

/// `GET /schedules`: every schedule, the soonest to fire first.
pub async fn list_all_schedules() -> Result<Vec<ScheduleView>, ApiError> {
    authed("GET", "/schedules", None).await
}

/// `POST /deployments/{id}/schedules` (operator).
pub async fn create_schedule(
    deployment_id: Uuid,
    request: &ScheduleRequest,
) -> Result<ScheduleView, ApiError> {
    let body = encode(request)?;
    authed(
        "POST",
        &format!("/deployments/{deployment_id}/schedules"),
        Some(&body),
    )
    .await
}

/// `PATCH /schedules/{id}` (operator): only the fields set change.
pub async fn update_schedule(
    id: Uuid,
    request: &ScheduleRequest,
) -> Result<ScheduleView, ApiError> {
    let body = encode(request)?;
    authed("PATCH", &format!("/schedules/{id}"), Some(&body)).await
}

/// `DELETE /schedules/{id}` (operator); its runs stay.
pub async fn delete_schedule(id: Uuid) -> Result<(), ApiError> {
    authed_empty("DELETE", &format!("/schedules/{id}"), None).await
}

/// `GET /schedules/{id}/setups`: the prediction setups a `chap` schedule follows, as last read from
/// chap (409 for a schedule with its own timing).
pub async fn list_schedule_setups(id: Uuid) -> Result<ChapSetupsView, ApiError> {
    authed("GET", &format!("/schedules/{id}/setups"), None).await
}

/// `POST /schedules/{id}/sync` (operator): reads chap's setups now. A failed read still answers 200,
/// with `sync.error` set and the last known setups.
pub async fn sync_schedule(id: Uuid) -> Result<ChapSetupsView, ApiError> {
    authed("POST", &format!("/schedules/{id}/sync"), None).await
}

/// `PATCH /schedules/{id}/setups/{setup_id}` (operator): switches a setup's schedule on or off, or
/// changes its cron, in chap; the setups after a new sync. chap's refusal is a 422 at `cron` or
/// `enabled`; 503 when chap cannot be reached.
pub async fn update_schedule_setup(
    id: Uuid,
    setup_id: i64,
    request: &ChapSetupUpdate,
) -> Result<ChapSetupsView, ApiError> {
    let body = encode(request)?;
    authed(
        "PATCH",
        &format!("/schedules/{id}/setups/{setup_id}"),
        Some(&body),
    )
    .await
}

/// `POST /schedules/preview`: the next fire times of an unsaved expression.
pub async fn preview_schedule(request: &PreviewRequest) -> Result<PreviewResponse, ApiError> {
    let body = encode(request)?;
    authed("POST", "/schedules/preview", Some(&body)).await
}

/// `GET /users` (admin): every user by name.
pub async fn list_users() -> Result<Vec<UserView>, ApiError> {
    let page: Page<UserView> = authed("GET", "/users", None).await?;
    Ok(page.items)
}

/// `POST /users` (admin).
pub async fn create_user(request: &CreateUserRequest) -> Result<UserView, ApiError> {
    let body = encode(request)?;
    authed("POST", "/users", Some(&body)).await
}

/// `PATCH /users/{id}` (admin): role, disabled, or a new password.
pub async fn update_user(id: Uuid, request: &UpdateUserRequest) -> Result<UserView, ApiError> {
    let body = encode(request)?;
    authed("PATCH", &format!("/users/{id}"), Some(&body)).await
}

/// `GET /tokens`: your API tokens, or everyone's for admins (never their secrets).
pub async fn list_tokens() -> Result<Vec<ApiTokenView>, ApiError> {
    let page: Page<ApiTokenView> = authed("GET", "/tokens", None).await?;
    Ok(page.items)
}

/// `POST /tokens`: the new token with its secret, shown this once.
pub async fn create_token(request: &CreateApiTokenRequest) -> Result<CreatedApiToken, ApiError> {
    let body = encode(request)?;
    authed("POST", "/tokens", Some(&body)).await
}

/// `DELETE /tokens/{id}`: the token stops working at once.
pub async fn revoke_token(id: Uuid) -> Result<(), ApiError> {
    authed_empty("DELETE", &format!("/tokens/{id}"), None).await
}

/// Filters and position of a page of the audit log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Only this action, e.g. `auth.login_failed`.
    pub action: Option<String>,
    /// Only this actor's username.
    pub actor: Option<String>,
    /// Not before this instant (the server's default: 90 days ago).
    pub since: Option<DateTime<Utc>>,
    /// Before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /audit` (admin): one page of events, newest first.
pub async fn list_audit(filter: &AuditFilter) -> Result<Page<AuditEventView>, ApiError> {
    let mut query = Query::default();
    query.push("action", filter.action.as_deref());
    query.push("actor", filter.actor.as_deref());
    query.push("since", filter.since.map(rfc3339));
    query.push("until", filter.until.map(rfc3339));
    query.push("limit", filter.limit.map(|l| l.to_string()));
    query.push("cursor", filter.cursor.as_deref());
    authed("GET", &format!("/audit{}", query.finish()), None).await
}

/// `PUT /auth/password`: your other sessions end, this one stays signed in.
pub async fn change_password(request: &ChangePasswordRequest) -> Result<(), ApiError> {
    let body = encode(request)?;
    authed_empty("PUT", path::PASSWORD, Some(&body)).await
}
