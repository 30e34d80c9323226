//! Reading a Prefect 3 server's REST API: the `chap-dhis2-credentials` block documents (with their
//! secrets), the `dhis2-chap-prediction` deployment with its schedules, and the other deployments'
//! names. Nothing is written to Prefect.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Slug of the old service's credentials block type (reference §5).
pub const PREFECT_BLOCK_TYPE: &str = "chap-dhis2-credentials";
/// Flow and deployment name of the old service's prediction deployment.
pub const PREFECT_DEPLOYMENT: &str = "dhis2-chap-prediction";
/// How Prefect shows a secret read without `include_secrets`.
pub const MASKED: &str = "********";
/// Page size of Prefect's `/filter` endpoints (its default limit is 200).
const PAGE: usize = 200;

/// Why Prefect could not be read. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum PrefectError {
    /// The URL given is not an http(s) URL.
    #[error("`{url}` is not a Prefect API URL: {reason}")]
    BadUrl {
        /// What was given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// No answer (connection refused, timeout, TLS…).
    #[error("cannot reach Prefect at {url}: {reason}")]
    Unreachable {
        /// The request's URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer other than 2xx.
    #[error("Prefect at {url} answered HTTP {status}: {detail}{hint}")]
    Status {
        /// The request's URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the body.
        detail: String,
        /// A hint for a URL that is probably wrong.
        hint: &'static str,
    },
    /// A 2xx answer that is not what Prefect 3 sends.
    #[error("cannot read Prefect's answer from {url}: {reason}")]
    Decode {
        /// The request's URL.
        url: String,
        /// What did not fit.
        reason: String,
    },
}

/// A named `chap-dhis2-credentials` block document, its secret fields apart.
#[derive(Clone)]
pub struct PrefectBlock {
    /// Prefect's block document id (what `$ref`s name).
    pub id: Uuid,
    /// Its name (unique per block type).
    pub name: String,
    /// The fields that are not secret.
    pub fields: Map<String, Value>,
    /// The secret fields (`password`), in clear.
    pub secrets: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for PrefectBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefectBlock")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("fields", &self.fields)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A schedule of a Prefect deployment (`DeploymentSchedule`).
#[derive(Debug, Clone, Deserialize)]
pub struct PrefectSchedule {
    /// Prefect's id.
    pub id: Uuid,
    /// When it was created (schedules are imported in that order).
    #[serde(default)]
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    /// `{cron, timezone, day_or}`, `{interval, anchor_date, timezone}` or `{rrule, timezone}`.
    pub schedule: Value,
    /// Whether it fires.
    #[serde(default = "yes")]
    pub active: bool,
    /// Pinned parameters (Prefect 3.1+).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// Prefect's cap of runs scheduled ahead.
    #[serde(default)]
    pub max_scheduled_runs: Option<u64>,
}

fn yes() -> bool {
    true
}

/// The prediction deployment (`DeploymentResponse`, the fields read).
#[derive(Debug, Clone, Deserialize)]
pub struct PrefectDeployment {
    /// Prefect's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Whether Prefect's scheduler skips it.
    #[serde(default)]
    pub paused: bool,
    /// Parameter defaults.
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// Its schedules.
    #[serde(default)]
    pub schedules: Vec<PrefectSchedule>,
}

#[derive(Deserialize)]
struct DeploymentName {
    id: Uuid,
    name: String,
}

#[derive(Deserialize)]
struct RawBlock {
    id: Uuid,
    name: Option<String>,
    #[serde(default)]
    is_anonymous: bool,
    #[serde(default)]
    data: Map<String, Value>,
    block_schema: Option<RawSchema>,
}

#[derive(Deserialize)]
struct RawSchema {
    #[serde(default)]
    fields: RawSchemaFields,
}

#[derive(Default, Deserialize)]
struct RawSchemaFields {
    #[serde(default)]
    secret_fields: Vec<String>,
}

/// What was read from Prefect.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The API URL read.
    pub url: String,
    /// Prefect's version (`/admin/version`).
    pub version: String,
    /// Every named `chap-dhis2-credentials` block, by name.
    pub blocks: Vec<PrefectBlock>,
    /// The `dhis2-chap-prediction` deployment, if there is one.
    pub deployment: Option<PrefectDeployment>,
    /// The names of the other deployments (not imported).
    pub other_deployments: Vec<String>,
}

/// A read-only client of one Prefect API.
#[derive(Debug, Clone)]
pub struct PrefectClient {
    http: reqwest::Client,
    base: String,
}

/// A transport error with its causes ("error sending request: … Connection refused"), without the
/// URL (the message names it once).
fn transport(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn detail_of(body: &str) -> String {
    let detail = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("detail")
                .map(|d| d.as_str().map_or(d.to_string(), str::to_string))
        })
        .unwrap_or_else(|| body.trim().to_string());
    let mut short: String = detail.chars().take(200).collect();
    if short.is_empty() {
        short = "(no body)".into();
    }
    short
}

impl PrefectClient {
    /// A client of the API at `url`, e.g. `http://127.0.0.1:9090/prefect/api` (the old service's).
    /// Call [`crate::install_crypto_provider`] first.
    pub fn new(url: &str) -> Result<PrefectClient, PrefectError> {
        let bad = |reason: &str| PrefectError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("it must start with http:// or https://"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| bad(&format!("building the HTTP client: {e}")))?;
        Ok(PrefectClient {
            http,
            base: parsed.as_str().trim_end_matches('/').to_string(),
        })
    }

    /// The API URL (without a trailing slash).
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<T>, PrefectError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PrefectError::Unreachable {
                url: url.clone(),
                reason: transport(e),
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| PrefectError::Unreachable {
                url: url.clone(),
                reason: transport(e),
            })?;
        if status == StatusCode::NOT_FOUND && path.starts_with("/deployments/name/") {
            return Ok(None);
        }
        if !status.is_success() {
            let hint = if status == StatusCode::NOT_FOUND && path == "/health" {
                " (is this Prefect's API URL? The old chap-scheduler's is http://<host>:9090/prefect/api)"
            } else {
                ""
            };
            return Err(PrefectError::Status {
                url,
                status,
                detail: detail_of(&text),
                hint,
            });
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| PrefectError::Decode {
                url,
                reason: e.to_string(),
            })
    }

    async fn post_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        filter: Value,
    ) -> Result<Vec<T>, PrefectError> {
        let mut all = Vec::new();
        loop {
            let mut body = filter.clone();
            body["limit"] = json!(PAGE);
            body["offset"] = json!(all.len());
            let page: Vec<T> = self
                .call(Method::POST, path, Some(body))
                .await?
                .unwrap_or_default();
            let last = page.len() < PAGE;
            all.extend(page);
            if last {
                return Ok(all);
            }
        }
    }

    /// Reads everything the import needs; fails on the first request Prefect does not answer well.
    pub async fn read(&self) -> Result<Snapshot, PrefectError> {
        self.call::<Value>(Method::GET, "/health", None).await?;
        let version = self
            .call::<Value>(Method::GET, "/admin/version", None)
            .await?
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        let raw: Vec<RawBlock> = self
            .post_pages(
                "/block_documents/filter",
                json!({
                    "include_secrets": true,
                    "block_types": { "slug": { "any_": [PREFECT_BLOCK_TYPE] } },
                    "block_documents": { "is_anonymous": { "eq_": false } },
                    "sort": "NAME_ASC",
                }),
            )
            .await?;
        let blocks = raw.into_iter().filter_map(split_secrets).collect();
        let mut deployment: Option<PrefectDeployment> = self
            .call(
                Method::GET,
                &format!("/deployments/name/{PREFECT_DEPLOYMENT}/{PREFECT_DEPLOYMENT}"),
                None,
            )
            .await?;
        if let Some(d) = deployment.as_mut() {
            d.schedules.sort_by_key(|s| s.created);
        }
        let all: Vec<DeploymentName> = self
            .post_pages("/deployments/filter", json!({ "sort": "NAME_ASC" }))
            .await?;
        let other_deployments = all
            .into_iter()
            .filter(|d| deployment.as_ref().is_none_or(|p| p.id != d.id))
            .map(|d| d.name)
            .collect();
        Ok(Snapshot {
            url: self.base.clone(),
            version,
            blocks,
            deployment,
            other_deployments,
        })
    }
}

/// A named block with its secret fields (as its schema lists them, `password` at least) moved
/// out of `data`.
fn split_secrets(raw: RawBlock) -> Option<PrefectBlock> {
    let name = raw.name.filter(|_| !raw.is_anonymous)?;
    let mut secret_names = raw
        .block_schema
        .map(|s| s.fields.secret_fields)
        .unwrap_or_default();
    secret_names.push("password".into());
    let mut fields = raw.data;
    let mut secrets = BTreeMap::new();
    for field in secret_names {
        if let Some(value) = fields.remove(&field) {
            let clear = match value {
                Value::Null => continue,
                Value::String(s) => s,
                other => other.to_string(),
            };
            secrets.insert(field, SecretString::from(clear));
        }
    }
    Some(PrefectBlock {
        id: raw.id,
        name,
        fields,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_block_documents_secret_fields_are_kept_apart_and_never_debug_printed() {
        let raw: RawBlock = serde_json::from_value(json!({
            "id": "e611776d-5716-414a-8025-7f06bf957b89",
            "name": "prod-dhis2",
            "is_anonymous": false,
            "data": { "base_url": "https://dhis.example.org", "username": "admin", "password": "district" },
            "block_schema": { "fields": { "secret_fields": ["password"] } }
        }))
        .unwrap();
        let block = split_secrets(raw).unwrap();
        assert_eq!(block.fields.len(), 2);
        assert_eq!(block.secrets["password"].expose_secret(), "district");
        assert!(!format!("{block:?}").contains("district"));
    }

    #[test]
    fn anonymous_block_documents_are_left_out() {
        let raw: RawBlock = serde_json::from_value(json!({
            "id": "e611776d-5716-414a-8025-7f06bf957b89",
            "name": "anonymous-3f2a",
            "is_anonymous": true,
            "data": {}
        }))
        .unwrap();
        assert!(split_secrets(raw).is_none());
    }

    #[test]
    fn an_error_answer_is_shortened_to_prefects_detail() {
        assert_eq!(
            detail_of(r#"{"detail":"Deployment not found"}"#),
            "Deployment not found"
        );
        assert_eq!(detail_of("x".repeat(500).as_str()).len(), 200);
        assert_eq!(detail_of(""), "(no body)");
    }

    #[test]
    fn only_http_urls_are_accepted_and_a_trailing_slash_is_dropped() {
        crate::install_crypto_provider();
        assert_eq!(
            PrefectClient::new("http://127.0.0.1:9090/prefect/api/")
                .unwrap()
                .url(),
            "http://127.0.0.1:9090/prefect/api"
        );
        assert!(PrefectClient::new("127.0.0.1:9090").is_err());
        assert!(PrefectClient::new("ftp://host/api").is_err());
    }
}
