//! How the client talks to the server: the in-memory access token, the shared refresh, and
//! `fetch` with the bearer token, one refresh-and-retry on 401 and the error body read into
//! [`ApiError`] (for calls answered at once, and for streams read as they arrive).

use std::cell::RefCell;
use std::rc::Rc;

use chap_scheduler_api::{ErrorBody, TokenResponse, UserView, API_PREFIX};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, RequestCredentials, RequestInit, Response};

use super::{field_errors, path, ApiError, SessionEvent};

type RefreshFuture = Shared<LocalBoxFuture<'static, Result<UserView, ApiError>>>;
type SessionListener = Rc<dyn Fn(SessionEvent)>;

thread_local! {
    // wasm32 is single-threaded: thread-locals are the app's in-memory globals.
    static ACCESS_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
    static SESSION_LISTENER: RefCell<Option<SessionListener>> = const { RefCell::new(None) };
    static REFRESH_IN_FLIGHT: RefCell<Option<RefreshFuture>> = const { RefCell::new(None) };
}

/// Registers the one function told about sign-in, expiry and logout.
pub fn set_session_listener(listener: impl Fn(SessionEvent) + 'static) {
    SESSION_LISTENER.with(|l| *l.borrow_mut() = Some(Rc::new(listener)));
}

pub(super) fn notify(event: SessionEvent) {
    // Clone out of the cell first so the listener may call back into this module.
    let listener = SESSION_LISTENER.with(|l| l.borrow().clone());
    if let Some(listener) = listener {
        listener(event);
    }
}

pub(super) fn access_token() -> Option<String> {
    ACCESS_TOKEN.with(|t| t.borrow().clone())
}

pub(super) fn set_access_token(token: Option<String>) {
    ACCESS_TOKEN.with(|t| *t.borrow_mut() = token);
}

/// `2026-12-01T00:00:00Z`, as the API's query parameters take it.
pub(super) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn encode<T: serde::Serialize>(request: &T) -> Result<String, ApiError> {
    serde_json::to_string(request)
        .map_err(|e| ApiError::UnexpectedResponse(format!("encoding the request: {e}")))
}

/// A URL query string, each value percent-encoded.
#[derive(Default)]
pub(super) struct Query(Vec<String>);

impl Query {
    pub(super) fn push<V: AsRef<str>>(&mut self, key: &str, value: Option<V>) {
        if let Some(value) = value {
            let encoded: String = js_sys::encode_uri_component(value.as_ref()).into();
            self.0.push(format!("{key}={encoded}"));
        }
    }

    pub(super) fn finish(self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!("?{}", self.0.join("&"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

/// Stores a fresh access token and announces the user.
pub(super) fn accept_tokens(tokens: TokenResponse) -> UserView {
    set_access_token(Some(tokens.access_token));
    notify(SessionEvent::SignedIn(tokens.user.clone()));
    tokens.user
}

/// Exchanges the refresh cookie for a new access token. Concurrent callers share one request:
/// the cookie rotates, so two parallel refreshes would race each other.
pub(super) async fn refresh() -> Result<UserView, ApiError> {
    let in_flight = REFRESH_IN_FLIGHT.with(|r| r.borrow().clone());
    let future = match in_flight {
        Some(future) => future,
        None => {
            let future = async {
                let result = match send("POST", path::REFRESH, None, None).await {
                    Ok(response) => response.json::<TokenResponse>().map(accept_tokens),
                    Err(e) => Err(e),
                };
                REFRESH_IN_FLIGHT.with(|r| *r.borrow_mut() = None);
                result
            }
            .boxed_local()
            .shared();
            REFRESH_IN_FLIGHT.with(|r| *r.borrow_mut() = Some(future.clone()));
            future
        }
    };
    future.await
}

/// An authenticated call answered with JSON.
pub(super) async fn authed<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<T, ApiError> {
    authed_answer(method, path, body).await?.json()
}

/// An authenticated call answered with text (e.g. CSV), returned as it came.
pub(super) async fn authed_text(method: &str, path: &str) -> Result<String, ApiError> {
    authed_answer(method, path, None)
        .await
        .map(|answer| answer.text)
}

/// An authenticated call answered with no content (204).
pub(super) async fn authed_empty(
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(), ApiError> {
    authed_answer(method, path, body).await.map(|_| ())
}

/// An authenticated call: Bearer token, one refresh-and-retry on 401, `Expired` when the
/// server rejects the refresh.
async fn authed_answer(method: &str, path: &str, body: Option<&str>) -> Result<Answer, ApiError> {
    with_refresh(|token| async move { send(method, path, body, token.as_deref()).await }).await
}

/// An authenticated request whose body is read as it arrives (a live stream): the response once
/// its status is 2xx, with the same refresh-and-retry on 401 as every other call. `signal` aborts
/// the request and the reading of its body.
pub(super) async fn authed_stream(
    path: &str,
    headers: &[(&str, &str)],
    signal: &AbortSignal,
) -> Result<Response, ApiError> {
    with_refresh(|token| async move { open(path, headers, token.as_deref(), signal).await }).await
}

/// Runs `attempt` with the access token; on 401 refreshes once and runs it again. Tells the
/// session listener `Expired` when the server rejects the refresh or the retry.
async fn with_refresh<T, F, Fut>(attempt: F) -> Result<T, ApiError>
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    if let Some(token) = access_token() {
        match attempt(Some(token)).await {
            Err(ApiError::Unauthorized) => {}
            other => return other,
        }
    }
    match refresh().await {
        Ok(_) => {}
        Err(
            e @ (ApiError::Unauthorized
            | ApiError::Status {
                status: 400..=499, ..
            }),
        ) => {
            set_access_token(None);
            notify(SessionEvent::Expired);
            return Err(e);
        }
        // A network or server error is not a verdict on the session: let the page show it.
        Err(e) => return Err(e),
    }
    match attempt(access_token()).await {
        Err(ApiError::Unauthorized) => {
            set_access_token(None);
            notify(SessionEvent::Expired);
            Err(ApiError::Unauthorized)
        }
        other => other,
    }
}

/// A successful (2xx) answer.
pub(super) struct Answer {
    text: String,
}

impl Answer {
    pub(super) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_str(&self.text).map_err(|e| ApiError::UnexpectedResponse(e.to_string()))
    }
}

fn js_error(_: JsValue) -> ApiError {
    ApiError::Network
}

/// The URL of `path` under the public path: under the API prefix, except the service's own
/// endpoints (`/info`).
fn url_of(path: &str) -> String {
    if super::path::OUTSIDE_API.contains(&path) {
        crate::paths::app_path(path)
    } else {
        crate::paths::app_path(&format!("{API_PREFIX}{path}"))
    }
}

pub(super) async fn send(
    method: &str,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> Result<Answer, ApiError> {
    let headers = Headers::new().map_err(js_error)?;
    headers
        .set("Accept", "application/json")
        .map_err(js_error)?;
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(js_error)?;
        init.set_body(&JsValue::from_str(body));
    }
    let response = fetch(path, &init, &headers, bearer).await?;
    let status = response.status();
    let text = body_text(&response).await?;
    if (200..300).contains(&status) {
        return Ok(Answer { text });
    }
    Err(error_of(&response, &text))
}

/// `GET path` for a stream: the response with its body unread when the status is 2xx.
async fn open(
    path: &str,
    extra: &[(&str, &str)],
    bearer: Option<&str>,
    signal: &AbortSignal,
) -> Result<Response, ApiError> {
    let headers = Headers::new().map_err(js_error)?;
    headers
        .set("Accept", "text/event-stream")
        .map_err(js_error)?;
    for (name, value) in extra {
        headers.set(name, value).map_err(js_error)?;
    }
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_signal(Some(signal));
    let response = fetch(path, &init, &headers, bearer).await?;
    if (200..300).contains(&response.status()) {
        return Ok(response);
    }
    let text = body_text(&response).await?;
    Err(error_of(&response, &text))
}

/// `fetch` of `path` with `init`, these headers and the bearer token, sending the cookies of this
/// origin.
async fn fetch(
    path: &str,
    init: &RequestInit,
    headers: &Headers,
    bearer: Option<&str>,
) -> Result<Response, ApiError> {
    if let Some(token) = bearer {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(js_error)?;
    }
    init.set_credentials(RequestCredentials::SameOrigin);
    init.set_headers(headers);
    let url = url_of(path);
    let request = Request::new_with_str_and_init(&url, init).map_err(js_error)?;
    let window = web_sys::window().ok_or(ApiError::Network)?;
    JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(js_error)?
        .dyn_into()
        .map_err(|_| ApiError::UnexpectedResponse("not a fetch Response".into()))
}

async fn body_text(response: &Response) -> Result<String, ApiError> {
    Ok(match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .map_err(js_error)?
            .as_string()
            .unwrap_or_default(),
        Err(_) => String::new(),
    })
}

/// The error an unsuccessful response stands for, from its status and error body.
fn error_of(response: &Response, text: &str) -> ApiError {
    match response.status() {
        401 => ApiError::Unauthorized,
        429 => ApiError::TooManyRequests {
            retry_after_secs: response
                .headers()
                .get("Retry-After")
                .ok()
                .flatten()
                .and_then(|v| v.trim().parse().ok()),
        },
        status => {
            let error = serde_json::from_str::<ErrorBody>(text).ok();
            ApiError::Status {
                status,
                code: error.as_ref().map(|e| e.error.clone()).unwrap_or_default(),
                fields: error
                    .as_ref()
                    .and_then(|e| e.details.as_ref())
                    .map(field_errors)
                    .unwrap_or_default(),
                message: error.map(|e| e.message).unwrap_or_default(),
            }
        }
    }
}
