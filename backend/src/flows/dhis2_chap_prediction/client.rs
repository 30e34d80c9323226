//! The HTTP core shared by the DHIS2 and chap clients (decision 9): one reqwest client per run, basic
//! auth, per-service timeouts, GET/HEAD retried on transport errors and 5xx with exponential backoff
//! and jitter, POST never retried, and errors that carry method, path, status and body but never the
//! password.
//!
//! Decisions where the reference is ambiguous:
//! - Backoff before retry n (n ≥ 1) is `base · 2^(n-1)` scaled by a random factor in [0.5, 1.5),
//!   capped at the maximum (0.5 s → 8 s by default).
//! - DHIS2 calls follow the same retry policy as chap calls (the reference's DHIS2 client retried
//!   without backoff; decision 9 unifies them).
//! - Error bodies are kept whole in the error value; its message shows at most 2,000 characters.
//! - As a second line of defence, error texts have the password or token (if 4+ characters) and the
//!   encoded `user:password` replaced by `[REDACTED]` should a server echo them.

use std::fmt;
use std::sync::{Arc, LazyLock, Once};
use std::time::Duration;

use base64::Engine;
use rand::Rng;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::analytics::ChunkLimits;
use super::model::MissingValuesRejection;
use crate::http_body::{self, Body};

/// How requests are signed: DHIS2's Basic auth or a personal access token.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Basic …` with a username and password.
    Basic {
        /// DHIS2 username.
        username: String,
        /// DHIS2 password; revealed only when a request is signed.
        password: SecretString,
    },
    /// `Authorization: ApiToken <token>` (a DHIS2 personal access token).
    Token(SecretString),
}

/// DHIS2 base URL and how to sign in, from a credentials block.
#[derive(Clone)]
pub struct Credentials {
    /// DHIS2 base URL (may include a context path).
    pub base_url: Url,
    /// Basic auth or a token.
    pub auth: Auth,
}

impl Credentials {
    /// Username and password.
    pub fn basic(base_url: Url, username: impl Into<String>, password: SecretString) -> Self {
        Credentials {
            base_url,
            auth: Auth::Basic {
                username: username.into(),
                password,
            },
        }
    }

    /// A personal access token.
    pub fn token(base_url: Url, token: SecretString) -> Self {
        Credentials {
            base_url,
            auth: Auth::Token(token),
        }
    }

    /// The secret the credentials carry (password or token).
    pub fn secret(&self) -> &SecretString {
        match &self.auth {
            Auth::Basic { password, .. } => password,
            Auth::Token(token) => token,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"[REDACTED]")
                .finish(),
            Auth::Token(_) => f.write_str("Token([REDACTED])"),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("base_url", &self.base_url.as_str())
            .field("auth", &self.auth)
            .finish()
    }
}

/// Timeouts, retry policy and analytics budgets of the clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Per-request timeout for DHIS2 (30 s).
    pub dhis2_timeout: Duration,
    /// Per-request timeout for chap (60 s).
    pub chap_timeout: Duration,
    /// Attempts for GET/HEAD, including the first (3).
    pub max_attempts: u32,
    /// First backoff delay (0.5 s).
    pub retry_base_delay: Duration,
    /// Longest backoff delay (8 s).
    pub retry_max_delay: Duration,
    /// Budgets of one analytics call.
    pub analytics_limits: ChunkLimits,
    /// The longest answer read from DHIS2 or chap, in bytes ([`DEFAULT_MAX_RESPONSE_BYTES`]): a 2xx
    /// answer past it fails its call; of an error's answer only this much is kept.
    pub max_response_bytes: u64,
}

/// [`HttpSettings::max_response_bytes`] by default: 256 MiB, over ten times the largest answer a
/// national-scale run receives (an analytics chunk of 50,000 rows is about 5 MB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 << 20;

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            dhis2_timeout: Duration::from_secs(30),
            chap_timeout: Duration::from_secs(60),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(8),
            analytics_limits: ChunkLimits::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Which upstream a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// DHIS2's own API.
    Dhis2,
    /// chap-core through DHIS2's route proxy.
    Chap,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Dhis2 => "DHIS2",
            Service::Chap => "chap",
        })
    }
}

/// An error response body: parsed JSON when it is JSON, else the text.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorBody {
    /// JSON body (chap's structured rejections stay verbatim here).
    Json(Value),
    /// Non-JSON body.
    Text(String),
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ErrorBody::Json(v) => v.to_string(),
            ErrorBody::Text(t) => t.clone(),
        };
        const MAX: usize = 2_000;
        if text.chars().count() > MAX {
            let cut: String = text.chars().take(MAX).collect();
            write!(f, "{cut}… (truncated)")
        } else {
            f.write_str(&text)
        }
    }
}

/// A failed call to DHIS2 or chap. Never contains the password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// A non-2xx answer.
    #[error("{service} {method} {path} -> HTTP {status}: {body}")]
    Status {
        /// Upstream.
        service: Service,
        /// HTTP method.
        method: String,
        /// Path (for chap: without the route prefix).
        path: String,
        /// HTTP status.
        status: u16,
        /// The body.
        body: ErrorBody,
    },
    /// No answer: connection failure, timeout, broken body.
    #[error("{service} {method} {path} failed after {attempts} attempt(s): {message}")]
    Transport {
        /// Upstream.
        service: Service,
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// Whether the last attempt timed out.
        timed_out: bool,
        /// What went wrong.
        message: String,
    },
    /// A 2xx answer that is not what the call expects.
    #[error("{service} {method} {path}: malformed response: {message}")]
    Decode {
        /// Upstream.
        service: Service,
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
        /// What did not fit.
        message: String,
    },
    /// A 2xx answer longer than [`HttpSettings::max_response_bytes`]; the rest of it was not read.
    #[error(
        "{service} {method} {path}: the answer is larger than {} MiB, the most this service reads \
         (CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB)",
        .limit.div_ceil(1 << 20)
    )]
    TooLarge {
        /// Upstream.
        service: Service,
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Refused before sending (e.g. an empty quantile list) or a client that cannot be built.
    #[error("{service} {path}: {message}")]
    Invalid {
        /// Upstream.
        service: Service,
        /// Path.
        path: String,
        /// Why.
        message: String,
    },
}

impl ApiError {
    /// The HTTP status, for [`ApiError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// chap's structured missing-values rejection, when this is a chap HTTP error carrying one (§2.5).
    pub fn rejection(&self) -> Option<MissingValuesRejection> {
        match self {
            ApiError::Status {
                service: Service::Chap,
                body: ErrorBody::Json(body),
                ..
            } => MissingValuesRejection::from_body(body),
            _ => None,
        }
    }

    /// A short kind name for the report's `"<kind>: <message>"` error text.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Status {
                service: Service::Chap,
                ..
            } => "ChapHttpError",
            ApiError::Status { .. } => "Dhis2HttpError",
            ApiError::Transport {
                timed_out: true, ..
            } => "TimeoutError",
            ApiError::Transport { .. } => "TransportError",
            ApiError::Decode { .. } => "DecodeError",
            ApiError::TooLarge { .. } => "ResponseTooLargeError",
            ApiError::Invalid { .. } => "RequestError",
        }
    }

    /// `"<kind>: <message>"`, as the report records a step failure.
    pub fn report_text(&self) -> String {
        format!("{}: {self}", self.kind())
    }
}

/// One prepared call.
pub(crate) struct Call {
    pub service: Service,
    pub method: Method,
    /// Path shown in errors.
    pub path: String,
    pub url: Url,
    pub query: Vec<(&'static str, String)>,
    /// A JSON body; `Bytes` so an attempt clones a reference, not the (possibly 25 MB) body.
    pub json: Option<bytes::Bytes>,
    /// Safe to repeat although not a GET (retried like one).
    pub idempotent: bool,
}

/// The per-run HTTP machinery both clients share.
pub(crate) struct Transport {
    client: reqwest::Client,
    base: Url,
    auth: Auth,
    pub settings: HttpSettings,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .field("settings", &self.settings)
            .finish()
    }
}

static RUSTLS_PROVIDER: Once = Once::new();

/// Installs rustls' ring crypto provider for the process, once.
pub fn install_crypto_provider() {
    RUSTLS_PROVIDER.call_once(|| {
        // Err means another provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// How long an idle connection to DHIS2 or chap is kept for the next call: below the keep-alive of the
/// servers in front of them (Tomcat closes after 20 s, nginx after 75 s), so that a call rarely meets a
/// connection the server is closing (a retryable error when it does).
const POOL_IDLE: Duration = Duration::from_secs(15);

/// The process's one HTTP client for DHIS2 and chap, built at its first use. A client per run cost
/// each run the reading of the platform's root certificates and new connections (with DHIS2 over
/// TLS, a handshake per run and server); the shared pool keeps connections per host, and the
/// credentials travel in each request's header, never in the client.
static CLIENT: LazyLock<Result<reqwest::Client, String>> = LazyLock::new(|| {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("chap-scheduler/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(POOL_IDLE)
        .build()
        .map_err(|e| e.without_url().to_string())
});

impl Transport {
    pub fn new(
        credentials: &Credentials,
        settings: HttpSettings,
    ) -> Result<Arc<Transport>, ApiError> {
        let client = CLIENT.clone().map_err(|e| ApiError::Invalid {
            service: Service::Dhis2,
            path: "/".into(),
            message: format!("cannot build the HTTP client: {e}"),
        })?;
        let mut base = credentials.base_url.clone();
        // Credentials travel in the Authorization header only, never in the URL.
        let _ = base.set_username("");
        let _ = base.set_password(None);
        Ok(Arc::new(Transport {
            client,
            base,
            auth: credentials.auth.clone(),
            settings,
        }))
    }

    /// `base` + `prefix` + each segment (percent-encoded), with no query.
    pub fn url(&self, prefix: &str, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(prefix.split('/').filter(|s| !s.is_empty()));
            path.extend(segments);
        }
        url
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn timeout(&self, service: Service) -> Duration {
        match service {
            Service::Dhis2 => self.settings.dhis2_timeout,
            Service::Chap => self.settings.chap_timeout,
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .settings
            .retry_base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let jittered = exp.mul_f64(rand::rng().random_range(0.5..1.5));
        jittered.min(self.settings.retry_max_delay)
    }

    /// Replaces the password or token and the encoded credentials in `text`.
    fn scrub(&self, text: String) -> String {
        let (secret, mut text) = match &self.auth {
            Auth::Basic { username, password } => {
                let password = password.expose_secret();
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                (password, text.replace(&encoded, "[REDACTED]"))
            }
            Auth::Token(token) => (token.expose_secret(), text),
        };
        if secret.chars().count() >= 4 {
            text = text.replace(secret, "[REDACTED]");
        }
        text
    }

    /// Signs a request.
    fn sign(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            Auth::Token(token) => {
                let value = format!("ApiToken {}", token.expose_secret());
                match reqwest::header::HeaderValue::from_str(&value) {
                    Ok(mut header) => {
                        header.set_sensitive(true);
                        request.header(AUTHORIZATION, header)
                    }
                    // A token that cannot be a header value (refused when the block is saved)
                    // goes unsigned: DHIS2 answers 401.
                    Err(_) => request,
                }
            }
        }
    }

    fn error_body(&self, bytes: &[u8]) -> ErrorBody {
        let text = self.scrub(String::from_utf8_lossy(bytes).into_owned());
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => ErrorBody::Json(v),
            Err(_) => ErrorBody::Text(text),
        }
    }

    fn transport_error(&self, call: &Call, attempts: u32, e: &reqwest::Error) -> ApiError {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        ApiError::Transport {
            service: call.service,
            method: call.method.to_string(),
            path: call.path.clone(),
            attempts,
            timed_out: e.is_timeout(),
            message: self.scrub(message),
        }
    }

    /// Sends `call`, retrying GET/HEAD and idempotent calls on transport errors and 5xx; returns the
    /// 2xx body.
    pub async fn execute(&self, call: &Call) -> Result<Vec<u8>, ApiError> {
        let idempotent =
            call.idempotent || call.method == Method::GET || call.method == Method::HEAD;
        let attempts = if idempotent {
            self.settings.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .sign(self.client.request(call.method.clone(), call.url.clone()))
                .header(ACCEPT, "application/json")
                .timeout(self.timeout(call.service));
            if !call.query.is_empty() {
                request = request.query(&call.query);
            }
            if let Some(body) = &call.json {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let sent_at = std::time::Instant::now();
            let outcome = match request.send().await {
                Err(e) => Err(self.transport_error(call, attempt, &e.without_url())),
                Ok(response) => self.answer(call, attempt, response).await,
            };
            self.observe(call, &outcome, sent_at.elapsed().as_secs_f64());
            let err = match outcome {
                Ok(body) => return Ok(body),
                Err(err) => err,
            };
            let retryable = match &err {
                ApiError::Status { status, .. } => *status >= 500,
                ApiError::Transport { .. } => true,
                _ => false,
            };
            if !retryable || attempt >= attempts {
                return Err(err);
            }
            tracing::debug!(error = %err, attempt, "retrying an idempotent request");
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// The 2xx body of `response`, or why not; at most [`HttpSettings::max_response_bytes`] of it is
    /// read either way.
    async fn answer(
        &self,
        call: &Call,
        attempt: u32,
        response: reqwest::Response,
    ) -> Result<Vec<u8>, ApiError> {
        let status = response.status();
        let limit = self.settings.max_response_bytes;
        let broken = |e: reqwest::Error| self.transport_error(call, attempt, &e.without_url());
        if !status.is_success() {
            let bytes = http_body::prefix(response, limit).await.map_err(broken)?;
            return Err(ApiError::Status {
                service: call.service,
                method: call.method.to_string(),
                path: call.path.clone(),
                status: status.as_u16(),
                body: self.error_body(&bytes),
            });
        }
        match http_body::read(response, limit).await.map_err(broken)? {
            Body::Whole(bytes) => Ok(bytes),
            Body::TooLarge => Err(ApiError::TooLarge {
                service: call.service,
                method: call.method.to_string(),
                path: call.path.clone(),
                limit,
            }),
        }
    }

    /// Counts one attempt of `call` in the upstream metrics.
    fn observe(&self, call: &Call, outcome: &Result<Vec<u8>, ApiError>, seconds: f64) {
        let result = match outcome {
            Ok(_) => "2xx",
            Err(ApiError::Status { status, .. }) if *status >= 500 => "5xx",
            Err(ApiError::Status { .. }) => "4xx",
            Err(ApiError::Transport {
                timed_out: true, ..
            }) => "timeout",
            Err(_) => "error",
        };
        let service = match call.service {
            Service::Dhis2 => "dhis2",
            Service::Chap => "chap",
        };
        crate::observe::upstream_call(
            service,
            call.method.as_str(),
            crate::observe::endpoint_template(&call.path),
            result,
            seconds,
        );
    }

    /// Parses a 2xx body as JSON; an empty body is `empty`.
    pub fn json_body(&self, call: &Call, bytes: &[u8], empty: Value) -> Result<Value, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(empty);
        }
        serde_json::from_slice(bytes)
            .map_err(|e| self.decode_error(call, format!("malformed JSON: {e}")))
    }

    /// Executes `call` and decodes its answer's body into `T` ([`Transport::decode`]).
    pub async fn execute_decoded<T: DeserializeOwned>(
        &self,
        call: &Call,
        empty: Value,
    ) -> Result<T, ApiError> {
        let bytes = self.execute(call).await?;
        self.decode(call, &bytes, empty)
    }

    /// Decodes a body straight into `T`, with no `Value` in between (a worker spent about 5% of its
    /// CPU building `Value`s that were decoded again, issue 16); a body of only whitespace decodes as
    /// `empty`. The errors read as those of [`Transport::json_body`] and [`Transport::typed`].
    pub fn decode<T: DeserializeOwned>(
        &self,
        call: &Call,
        bytes: &[u8],
        empty: Value,
    ) -> Result<T, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return self.typed(call, empty);
        }
        serde_json::from_slice(bytes).map_err(|e| {
            let what = if e.is_data() {
                "unexpected JSON shape"
            } else {
                "malformed JSON"
            };
            self.decode_error(call, format!("{what}: {e}"))
        })
    }

    /// Decodes a JSON value into `T`.
    pub fn typed<T: DeserializeOwned>(&self, call: &Call, value: Value) -> Result<T, ApiError> {
        serde_json::from_value(value)
            .map_err(|e| self.decode_error(call, format!("unexpected JSON shape: {e}")))
    }

    pub fn decode_error(&self, call: &Call, message: String) -> ApiError {
        ApiError::Decode {
            service: call.service,
            method: call.method.to_string(),
            path: call.path.clone(),
            message: self.scrub(message),
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
