//! chap's prediction setups as the scenario lists them, and how chap behaves for each one's runs,
//! jobs, prediction entries and thresholds.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Cell;

/// A prediction setup as chap lists it, plus how the simulator behaves for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetupScenario {
    #[serde(flatten)]
    pub setup: PredictionSetup,
    #[serde(default)]
    pub sim: SetupBehaviour,
}

/// chap's prediction-setup read model (`GET /v1/crud/prediction-setups`), camelCase on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PredictionSetup {
    pub id: i64,
    pub name: String,
    #[serde(default = "default_created")]
    pub created: String,
    pub backtest_id: i64,
    pub configured_model: ConfiguredModel,
    /// chap allows null here; the scheduler must then skip the setup.
    pub start_period: Option<String>,
    #[serde(default)]
    pub org_units: Vec<String>,
    #[serde(default)]
    pub covariate_sources: Vec<CovariateSource>,
    /// `month`, `week`, `year` — or anything else, to test how a bad setup is handled.
    pub period_type: Option<String>,
    #[serde(default)]
    pub schedule_cron_expression: Option<String>,
    #[serde(default)]
    pub schedule_enabled: bool,
    /// Where forecasts are written back in DHIS2, served verbatim: chap's list
    /// `[{"quantile": 0.5 | "median", "dataElementId": "…"}]`, or the object some modeling-app
    /// versions store (`{"median": "<dataElementId>", "outbreak_indicator": "…"}`).
    #[serde(default = "empty_array")]
    pub quantile_targets: Value,
}

fn empty_array() -> Value {
    json!([])
}

fn default_created() -> String {
    "2026-01-05T08:30:00".into()
}

/// The configured model of a setup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfiguredModel {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub additional_continuous_covariates: Vec<String>,
    #[serde(default = "empty_object")]
    pub user_option_values: Value,
    pub model_template: ModelTemplate,
}

fn empty_object() -> Value {
    json!({})
}

/// The model template behind a configured model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelTemplate {
    #[serde(default)]
    pub id: Option<i64>,
    pub name: String,
    pub display_name: String,
    pub target: String,
    #[serde(default)]
    pub supported_period_type: Option<String>,
    #[serde(default)]
    pub required_covariates: Vec<String>,
}

/// Which DHIS2 data element feeds a covariate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CovariateSource {
    pub covariate: String,
    pub data_element_id: String,
}

/// One item of the list form of `quantileTargets`: a quantile (number or name) and its data element.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuantileTarget {
    pub quantile: Value,
    pub data_element_id: String,
}

impl PredictionSetup {
    /// A monthly, enabled setup with a CHAP-EWARS style configured model and no sources yet.
    pub fn new(id: i64, name: impl Into<String>) -> Self {
        PredictionSetup {
            id,
            name: name.into(),
            created: default_created(),
            backtest_id: id + 6,
            configured_model: ConfiguredModel {
                id: id + 11,
                name: "chapkit-ewars-model".into(),
                additional_continuous_covariates: Vec::new(),
                user_option_values: empty_object(),
                model_template: ModelTemplate {
                    id: Some(id + 10),
                    name: "chapkit-ewars-model".into(),
                    display_name: "CHAP-EWARS Model (chapkit)".into(),
                    target: "disease_cases".into(),
                    supported_period_type: Some("month".into()),
                    required_covariates: vec!["population".into()],
                },
            },
            start_period: Some("202301".into()),
            org_units: Vec::new(),
            covariate_sources: Vec::new(),
            period_type: Some("month".into()),
            schedule_cron_expression: None,
            schedule_enabled: true,
            quantile_targets: empty_array(),
        }
    }

    /// Adds a covariate fed by a data element.
    pub fn source(
        mut self,
        covariate: impl Into<String>,
        data_element_id: impl Into<String>,
    ) -> Self {
        self.covariate_sources.push(CovariateSource {
            covariate: covariate.into(),
            data_element_id: data_element_id.into(),
        });
        self
    }

    /// Sets the org units.
    pub fn org_units<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.org_units = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the period type and start period.
    pub fn periods(mut self, period_type: &str, start_period: &str) -> Self {
        self.period_type = Some(period_type.into());
        self.start_period = Some(start_period.into());
        self
    }

    /// Sets `quantileTargets` to this JSON, list or object form, served as given.
    pub fn quantile_targets(mut self, targets: Value) -> Self {
        self.quantile_targets = targets;
        self
    }

    /// Appends `{"quantile": …, "dataElementId": …}` to the list form (replacing an object form).
    pub fn quantile_target(
        mut self,
        quantile: impl Into<Value>,
        data_element_id: impl Into<String>,
    ) -> Self {
        let item = json!(QuantileTarget {
            quantile: quantile.into(),
            data_element_id: data_element_id.into(),
        });
        match &mut self.quantile_targets {
            Value::Array(items) => items.push(item),
            other => *other = json!([item]),
        }
        self
    }
}

/// How chap behaves for one setup's runs and jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SetupBehaviour {
    /// Statuses `GET /v1/jobs/{id}` answers, one step per poll, repeating the last one.
    pub job_statuses: Vec<String>,
    /// How `result` appears in the job listing once the job succeeded.
    pub job_result: JobResult,
    /// Answer run submissions with this error instead of starting a job.
    pub rejection: Option<Rejection>,
    /// The text `GET /v1/jobs/{id}/logs` returns; `None` generates a few lines.
    pub job_logs: Option<String>,
    /// The only quantiles the model produces: requested ones outside the list are absent from
    /// the prediction entries. `None` produces whatever is asked.
    pub entry_quantiles: Option<Vec<f64>>,
    /// Chosen prediction-entry values (zeros, negatives, x.5, nulls), first match wins.
    pub entry_overrides: Vec<EntryOverride>,
    /// `POST /v1/analytics/thresholds` answers this error for the setup's datasets.
    pub thresholds: Option<ErrorAnswer>,
    /// Every threshold has this value instead of the generated one.
    pub threshold: Option<f64>,
    /// (org unit, period) pairs absent from the thresholds answer.
    pub threshold_missing: Vec<Cell>,
    /// (org unit, period) pairs whose threshold is `null`.
    pub threshold_null: Vec<Cell>,
}

impl Default for SetupBehaviour {
    fn default() -> Self {
        SetupBehaviour {
            job_statuses: vec!["PENDING".into(), "RUNNING".into(), "SUCCESS".into()],
            job_result: JobResult::String,
            rejection: None,
            job_logs: None,
            entry_quantiles: None,
            entry_overrides: Vec::new(),
            thresholds: None,
            threshold: None,
            threshold_missing: Vec::new(),
            threshold_null: Vec::new(),
        }
    }
}

/// A chosen prediction-entry value: for `org_unit`, the `period` (or every forecast period) and the
/// `quantile` (or every quantile); `value: null` answers `null`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EntryOverride {
    pub org_unit: String,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default)]
    pub quantile: Option<f64>,
    pub value: Option<f64>,
}

/// An error chap answers instead of a result: `status` with `body` verbatim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorAnswer {
    pub status: u16,
    pub body: Value,
}

/// The `result` of a successful job in `GET /v1/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobResult {
    /// The prediction id as a string (`"42"`), as chap answers today.
    #[default]
    String,
    /// The prediction id as a number (`42`).
    Integer,
    /// `null`.
    Null,
    /// Exactly this JSON value (e.g. `"not-an-int"`).
    Value(Value),
}

/// A scenario-defined answer to run submissions: `status` with `body` kept verbatim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    pub status: u16,
    pub body: Value,
    /// Reject only the next N submissions, then accept; `None` rejects every one.
    #[serde(default)]
    pub times: Option<u32>,
}

impl Rejection {
    /// chap's 400 "All regions rejected due to missing values" for one covariate in one org unit.
    pub fn missing_values(org_unit: &str, feature: &str, periods: &[&str]) -> Self {
        Rejection {
            status: 400,
            body: json!({"detail": {
                "message": "All regions rejected due to missing values",
                "imported_count": 0,
                "rejected": [{
                    "reason": "Missing value for some/all time periods",
                    "orgUnit": org_unit,
                    "featureName": feature,
                    "timePeriods": periods,
                }],
            }}),
            times: None,
        }
    }
}
