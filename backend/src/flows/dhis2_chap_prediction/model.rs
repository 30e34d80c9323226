//! Wire types of what DHIS2 and chap send and receive (reference §3), with the defaults and
//! tolerances the reference lists.
//!
//! Decisions where the reference is ambiguous:
//! - The setup listing is decoded one element at a time: an element that does not fit (missing name,
//!   null `startPeriod`, …) becomes an [`InvalidSetup`] that fails only that setup (decision 2).
//!   `startPeriod`/`periodType` may be null in chap's read model, so they are `Option` here and checked
//!   by the runner; `backtestId` is optional because the flow never uses it.
//! - A model template's `target` and covariates are accepted as plain names or as objects with `name`
//!   (chap's spec types them as objects).
//! - chap's `server_date` is kept as text: it is only shown, and chap has sent both naive and
//!   offset datetimes.
//! - A prediction entry's `value` may be null (chap turns NaN into null).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `GET /api/system/info` (DHIS2): `version` is required, the rest optional.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dhis2SystemInfo {
    /// DHIS2 version, e.g. `2.44-SNAPSHOT`.
    pub version: String,
    /// Build time as DHIS2 reports it.
    #[serde(default)]
    pub build_time: Option<String>,
    /// Instance name.
    #[serde(default)]
    pub system_name: Option<String>,
    /// Server date-time: DHIS2's local wall time, usually without an offset.
    #[serde(default)]
    pub server_date: Option<String>,
    /// The zone of `server_date`.
    #[serde(default)]
    pub server_time_zone_id: Option<String>,
    /// The instance's calendar (`iso8601`, `ethiopian`, `nepali`, …).
    #[serde(default)]
    pub calendar: Option<String>,
    /// Public base URL of the instance.
    #[serde(default)]
    pub context_path: Option<String>,
}

impl Dhis2SystemInfo {
    /// DHIS2's own date: the date part of `serverDate` as written (its local wall time, with or
    /// without an offset; never converted to UTC). `None` when DHIS2 does not say.
    pub fn today(&self) -> Option<chrono::NaiveDate> {
        let date = self.server_date.as_deref()?.trim().get(..10)?;
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
    }

    /// Why the instance cannot be used: a calendar other than ISO 8601 (the periods we compute would
    /// not be DHIS2's).
    pub fn unsupported(&self) -> Option<String> {
        let calendar = self.calendar.as_deref()?.trim();
        (!calendar.is_empty() && !calendar.eq_ignore_ascii_case("iso8601"))
            .then(|| format!("DHIS2 uses the {calendar} calendar; only iso8601 is supported"))
    }
}

/// `GET /api/me?fields=username,authorities` (DHIS2): who the credentials belong to.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct Dhis2Me {
    /// The account's username.
    #[serde(default)]
    pub username: Option<String>,
    /// The account's authorities (`ALL` for a superuser).
    #[serde(default)]
    pub authorities: Vec<String>,
}

impl Dhis2Me {
    /// Whether DHIS2 lets the account import data values (`F_DATAVALUE_ADD` or `ALL`).
    pub fn can_import_data_values(&self) -> bool {
        self.authorities
            .iter()
            .any(|a| a == "ALL" || a == "F_DATAVALUE_ADD")
    }
}

/// `GET …/system/info` (chap, snake_case keys; `revision` ignored).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChapSystemInfo {
    /// chap-core version.
    pub chap_core_version: String,
    /// Python version chap runs on.
    pub python_version: String,
    /// chap's clock.
    pub server_date: String,
    /// chap's time zone.
    pub server_time_zone_id: String,
}

/// A name that chap sends either as a string or as an object with a `name`.
fn name_or_object<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Named {
        Plain(String),
        Object { name: String },
    }
    Ok(match Named::deserialize(d)? {
        Named::Plain(s) | Named::Object { name: s } => s,
    })
}

fn names_or_objects<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "name_or_object")] String);
    let items = Option::<Vec<Wrapped>>::deserialize(d)?;
    Ok(items.unwrap_or_default().into_iter().map(|w| w.0).collect())
}

/// A configured model's template.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelTemplate {
    /// Template id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Template name.
    pub name: String,
    /// Human name (logged).
    pub display_name: String,
    /// Predicted covariate, e.g. `disease_cases`.
    #[serde(deserialize_with = "name_or_object")]
    pub target: String,
    /// Period type the template supports.
    pub supported_period_type: String,
    /// Covariates every configured model of this template needs.
    #[serde(default, deserialize_with = "names_or_objects")]
    pub required_covariates: Vec<String>,
}

/// The configured model a setup runs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfiguredModel {
    /// Configured model id.
    pub id: i64,
    /// Its name: the report's "template name".
    pub name: String,
    /// Extra covariates chosen for this configured model.
    #[serde(default, deserialize_with = "names_or_objects")]
    pub additional_continuous_covariates: Vec<String>,
    /// Its template.
    pub model_template: ModelTemplate,
}

/// A covariate and the DHIS2 data element that feeds it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CovariateSource {
    /// chap's covariate name.
    pub covariate: String,
    /// DHIS2 data element id.
    pub data_element_id: String,
}

/// One element of `GET …/v1/crud/prediction-setups`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictionSetup {
    /// Setup id (goes in the run URL).
    pub id: i64,
    /// Setup name.
    pub name: String,
    /// The backtest it belongs to.
    #[serde(default)]
    pub backtest_id: Option<i64>,
    /// The model it runs.
    pub configured_model: ConfiguredModel,
    /// First input period, as chap stores it (checked by the runner).
    #[serde(default)]
    pub start_period: Option<String>,
    /// DHIS2 org unit ids.
    #[serde(default)]
    pub org_units: Vec<String>,
    /// Covariate ↔ data element mapping.
    #[serde(default)]
    pub covariate_sources: Vec<CovariateSource>,
    /// `month`, `week` or `year` (checked by the runner).
    #[serde(default)]
    pub period_type: Option<String>,
    /// Parsed, unused: deployments' schedules drive timing.
    #[serde(default)]
    pub schedule_cron_expression: Option<String>,
    /// Whether unfiltered runs include this setup.
    #[serde(default)]
    pub schedule_enabled: bool,
    /// Where the forecast goes in DHIS2, as chap sends it (a list or an object; read by
    /// [`parse_targets`](super::import::targets::parse_targets)).
    #[serde(default)]
    pub quantile_targets: Value,
}

impl PredictionSetup {
    /// `"<setup name> (<configured model name>)"`, used in logs and task names.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.configured_model.name)
    }

    /// Covariates the model uses: template's required ones then the configured model's additional ones.
    pub fn covariates(&self) -> Vec<String> {
        let cm = &self.configured_model;
        cm.model_template
            .required_covariates
            .iter()
            .chain(&cm.additional_continuous_covariates)
            .cloned()
            .collect()
    }

    /// The data element ids of every covariate source, in source order.
    pub fn data_element_ids(&self) -> Vec<String> {
        self.covariate_sources
            .iter()
            .map(|s| s.data_element_id.clone())
            .collect()
    }
}

/// A listing element that is not a usable setup, with what could be read of it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidSetup {
    /// Its `id`, if readable.
    pub id: Option<i64>,
    /// Its `name`, if readable.
    pub name: Option<String>,
    /// Its configured model's `name`, if readable.
    pub template_name: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

/// One element of the setup listing: usable, or refused with a reason.
pub type SetupListing = Result<PredictionSetup, InvalidSetup>;

/// Decodes the setup listing element by element; only a non-array body is an error.
pub fn parse_setup_listing(body: Value) -> Result<Vec<SetupListing>, String> {
    let Value::Array(items) = body else {
        return Err(format!(
            "expected a JSON array of prediction setups, got {}",
            kind_of(&body)
        ));
    };
    Ok(items
        .into_iter()
        .map(|item| {
            let invalid = |reason: String| InvalidSetup {
                id: item.get("id").and_then(Value::as_i64),
                name: item.get("name").and_then(Value::as_str).map(str::to_string),
                template_name: item
                    .pointer("/configuredModel/name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                reason,
            };
            serde_json::from_value::<PredictionSetup>(item.clone())
                .map_err(|e| invalid(format!("invalid prediction setup: {e}")))
        })
        .collect())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `POST …/v1/crud/prediction-setups/{id}/run` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct JobCreated {
    /// The chap job id.
    pub id: String,
}

/// A job's `result`: chap sends the prediction id as a string or an integer (decision 5).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum JobResult {
    /// `42`
    Int(i64),
    /// `"42"` (or anything else chap writes there)
    Text(String),
    /// Any other JSON.
    Other(Value),
}

/// One element of `GET …/v1/jobs` (snake_case).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct JobDescription {
    /// Job id.
    pub id: String,
    /// e.g. `make_prediction`.
    #[serde(default, rename = "type")]
    pub job_type: Option<String>,
    /// Job name.
    #[serde(default)]
    pub name: Option<String>,
    /// Status at listing time.
    #[serde(default)]
    pub status: Option<String>,
    /// Start time.
    #[serde(default)]
    pub start_time: Option<String>,
    /// End time.
    #[serde(default)]
    pub end_time: Option<String>,
    /// The prediction id once successful.
    #[serde(default)]
    pub result: Option<JobResult>,
    /// The setup the job predicts for (newer chap; an integer or its decimal text).
    #[serde(default)]
    pub prediction_setup_id: Option<Value>,
}

impl JobDescription {
    /// The job's setup, when the listing says.
    pub fn setup_id(&self) -> Option<i64> {
        match self.prediction_setup_id.as_ref()? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn in_flight(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| JobStatus::new(s).is_transient())
    }
}

/// What chap's job listing says about a setup's jobs before a submit.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupJobs {
    /// A job of the setup is still going (the newest when several are): follow it.
    InFlight {
        /// The job's id.
        id: String,
        /// Its status in the listing.
        status: String,
    },
    /// None of the setup's jobs is going.
    Idle,
    /// The listing does not name jobs' setups (an older chap): a job in flight cannot be found.
    Unknown,
}

/// Looks in a job listing for a job of `setup_id` still in flight. Elements are matched on their own
/// `prediction_setup_id` (an older chap ignores the listing's filter); a listing in which no element
/// names its setup is [`SetupJobs::Unknown`].
pub fn setup_jobs(jobs: &[JobDescription], setup_id: i64) -> SetupJobs {
    if !jobs.is_empty() && jobs.iter().all(|j| j.prediction_setup_id.is_none()) {
        return SetupJobs::Unknown;
    }
    jobs.iter()
        .filter(|j| j.setup_id() == Some(setup_id) && j.in_flight())
        .max_by(|a, b| a.start_time.cmp(&b.start_time))
        .map_or(SetupJobs::Idle, |j| SetupJobs::InFlight {
            id: j.id.clone(),
            status: j.status.clone().unwrap_or_default(),
        })
}

/// Why a job's prediction id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictionIdError {
    /// The job is not listed or has no result.
    #[error("could not resolve prediction id for job {0}")]
    Unresolved(String),
    /// The result is not an integer.
    #[error("job {job} result '{result}' is not an int prediction id")]
    NotAnInt {
        /// Job id.
        job: String,
        /// The result as chap sent it.
        result: String,
    },
}

/// Finds `job_id` in a job listing and reads its prediction id (string or integer result).
pub fn prediction_id(jobs: &[JobDescription], job_id: &str) -> Result<i64, PredictionIdError> {
    let unresolved = || PredictionIdError::Unresolved(job_id.to_string());
    let job = jobs
        .iter()
        .find(|j| j.id == job_id)
        .ok_or_else(unresolved)?;
    let not_int = |result: String| PredictionIdError::NotAnInt {
        job: job_id.to_string(),
        result,
    };
    match &job.result {
        None | Some(JobResult::Other(Value::Null)) => Err(unresolved()),
        Some(JobResult::Int(n)) => Ok(*n),
        Some(JobResult::Text(s)) => s.trim().parse().map_err(|_| not_int(s.clone())),
        Some(JobResult::Other(v)) => Err(not_int(v.to_string())),
    }
}

/// A chap job status as `GET …/v1/jobs/{id}` returns it (whitespace stripped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus(String);

/// Statuses that mean "still going"; compared upper-cased. `RETRY` is transient (decision 6).
pub const TRANSIENT_STATUSES: [&str; 6] = [
    "PENDING",
    "RUNNING",
    "STARTED",
    "QUEUED",
    "PROCESSING",
    "RETRY",
];

impl JobStatus {
    /// Wraps a status string.
    pub fn new(status: &str) -> JobStatus {
        JobStatus(status.trim().to_string())
    }

    /// The status as chap sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the job is still in progress.
    pub fn is_transient(&self) -> bool {
        TRANSIENT_STATUSES.contains(&self.0.to_ascii_uppercase().as_str())
    }

    /// Whether the job ended successfully.
    pub fn is_success(&self) -> bool {
        self.0.eq_ignore_ascii_case("SUCCESS")
    }

    /// Whether chap revoked the job (its setup deleted or the job cancelled in chap).
    pub fn is_revoked(&self) -> bool {
        self.0.eq_ignore_ascii_case("REVOKED")
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One rejected (org unit, covariate) with the periods chap found missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedCells {
    /// Why.
    pub reason: String,
    /// Org unit id.
    pub org_unit: String,
    /// Covariate name.
    pub feature_name: String,
    /// Missing periods.
    #[serde(default)]
    pub time_periods: Vec<String>,
}

/// chap's structured missing-values rejection (the `detail` of a 400), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct MissingValuesRejection {
    /// e.g. "All regions rejected due to missing values".
    pub message: String,
    /// How many regions were imported anyway.
    #[serde(default)]
    pub imported_count: i64,
    /// Rejected cells.
    #[serde(default)]
    pub rejected: Vec<RejectedCells>,
}

impl MissingValuesRejection {
    /// Reads `{"detail": {message, imported_count, rejected}}`; anything else is not a rejection.
    pub fn from_body(body: &Value) -> Option<MissingValuesRejection> {
        let detail = body.as_object()?.get("detail")?;
        if !detail.is_object() {
            return None;
        }
        serde_json::from_value(detail.clone()).ok()
    }
}

/// One predicted value: `{orgUnit, period, quantile, value}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictionEntry {
    /// Org unit id.
    pub org_unit: String,
    /// Period id as chap wrote it.
    pub period: String,
    /// Quantile, e.g. 0.5.
    pub quantile: f64,
    /// Predicted value (null when chap had NaN).
    #[serde(default)]
    pub value: Option<f64>,
}

/// One observation sent to chap.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Observation {
    /// Covariate name.
    pub feature_name: String,
    /// Org unit id, verbatim from DHIS2.
    pub org_unit: String,
    /// Period id, verbatim from DHIS2.
    pub period: String,
    /// The value.
    pub value: f64,
}

/// The body of `POST …/v1/crud/prediction-setups/{id}/run`; exactly these five keys.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PredictionRequest {
    /// Prediction name shown in chap.
    pub name: String,
    /// Org-unit FeatureCollection.
    pub geojson: Value,
    /// Observations.
    pub provided_data: Vec<Observation>,
    /// Forecast horizon.
    pub n_periods: u32,
    /// Always `forecasting`.
    #[serde(rename = "type")]
    pub dataset_type: String,
}

/// A parent reference in DHIS2's org-unit listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IdRef {
    /// The parent's id.
    #[serde(default)]
    pub id: Option<String>,
}

/// An org unit from `GET /api/organisationUnits`; every field but `id` may be missing.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgUnit {
    /// Org unit id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Hierarchy level.
    #[serde(default)]
    pub level: Option<i64>,
    /// Code.
    #[serde(default)]
    pub code: Option<String>,
    /// Parent.
    #[serde(default)]
    pub parent: Option<IdRef>,
    /// GeoJSON geometry, verbatim.
    #[serde(default)]
    pub geometry: Option<Value>,
}

/// `GET /api/organisationUnits?paging=false` answer.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgUnitList {
    /// The org units.
    #[serde(default)]
    pub organisation_units: Vec<OrgUnit>,
}

/// An analytics column header; only `name` is used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AnalyticsHeader {
    /// Column name: `dx`, `pe`, `ou`, `value`, …
    pub name: String,
}

/// `GET /api/analytics` answer; only headers and rows are used.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct AnalyticsResponse {
    /// Column headers (may be absent).
    #[serde(default)]
    pub headers: Vec<AnalyticsHeader>,
    /// Rows of cells (strings in practice).
    #[serde(default)]
    pub rows: Vec<Vec<Value>>,
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
