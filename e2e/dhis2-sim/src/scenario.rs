//! What the simulated world contains and how it misbehaves: a serde struct read from JSON files
//! (`scenarios/*.json`) or built in Rust from [`Scenario::default`] and the builder methods.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::periods::PeriodType;

/// One simulated DHIS2 instance with chap-core behind its `chap` route.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Basic-auth user accepted by DHIS2 (and therefore by the chap route).
    pub username: String,
    /// Basic-auth password.
    pub password: String,
    /// The simulated "today" (relative periods, default freshness); `None` is the real local date.
    pub today: Option<NaiveDate>,
    /// Seeds every generated value, job id and random fault.
    pub seed: u64,
    /// What `GET /api/system/info` reports.
    pub dhis2: Dhis2System,
    /// What chap's `GET /system/info` reports.
    pub chap: ChapSystem,
    pub org_units: Vec<OrgUnit>,
    /// Data elements and indicators analytics knows, with their freshness.
    pub data_elements: Vec<DataElement>,
    /// chap's prediction setups, in listing order, with how their jobs behave.
    pub prediction_setups: Vec<SetupScenario>,
    /// Added delay per endpoint group, in milliseconds.
    pub latency_ms: BTreeMap<EndpointGroup, u64>,
    /// Injected failures, checked in order; the first that fires answers the request.
    pub faults: Vec<Fault>,
    /// When set, every `/api` request answers this status with a proxy's HTML error page.
    pub dhis2_down: Option<u16>,
    /// When set, every request through the chap route answers this status (DHIS2 is up).
    pub chap_down: Option<u16>,
    /// DHIS2's analytics max limit: larger results answer 409 `E7128`. `None` is unlimited.
    pub analytics_max_rows: Option<u64>,
    /// Longest accepted request target (path + query) in bytes; longer answers 414.
    pub max_url_bytes: Option<usize>,
    /// The route's `responseTimeoutSeconds` in ms: slower chap answers become 504 from DHIS2.
    pub route_timeout_ms: Option<u64>,
    /// Keep run-submission bodies in the request log (turn off for long benchmarks).
    pub record_bodies: bool,
    /// Server worker threads.
    pub workers: usize,
    /// Expanded on load into generated org units, data elements and one monthly setup.
    pub scale: Option<Scale>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            username: "admin".into(),
            password: "district".into(),
            today: None,
            seed: 1,
            dhis2: Dhis2System::default(),
            chap: ChapSystem::default(),
            org_units: Vec::new(),
            data_elements: Vec::new(),
            prediction_setups: Vec::new(),
            latency_ms: BTreeMap::new(),
            faults: Vec::new(),
            dhis2_down: None,
            chap_down: None,
            analytics_max_rows: None,
            max_url_bytes: None,
            route_timeout_ms: None,
            record_bodies: true,
            workers: 2,
            scale: None,
        }
    }
}

/// DHIS2 `system/info` fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Dhis2System {
    pub version: String,
    pub revision: String,
    pub build_time: String,
    pub system_name: String,
    pub server_time_zone_id: String,
    /// `system/info`'s `calendar` (DHIS2 also runs `ethiopian`, `nepali`, …).
    pub calendar: String,
}

impl Default for Dhis2System {
    fn default() -> Self {
        Dhis2System {
            version: "2.41.3".into(),
            revision: "a1b2c3d".into(),
            build_time: "2025-03-18T09:12:44.000".into(),
            system_name: "DHIS 2 Simulator".into(),
            server_time_zone_id: "Etc/UTC".into(),
            calendar: "iso8601".into(),
        }
    }
}

/// chap-core `system/info` fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChapSystem {
    pub chap_core_version: String,
    pub python_version: String,
    pub server_time_zone_id: String,
    pub revision: String,
    /// Whether `GET /v1/jobs` names each job's `prediction_setup_id` and honours the
    /// `predictionSetupId` filter (false: an older chap that does neither).
    pub jobs_name_setup: bool,
}

impl Default for ChapSystem {
    fn default() -> Self {
        ChapSystem {
            chap_core_version: "2.0.0.dev1".into(),
            python_version: "3.13.12".into(),
            server_time_zone_id: "Etc/UTC".into(),
            revision: String::new(),
            jobs_name_setup: true,
        }
    }
}

/// An organisation unit. Without `geometry` a small square polygon is generated from its position.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgUnit {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default = "default_level")]
    pub level: u32,
    #[serde(default)]
    pub parent: Option<String>,
    /// A GeoJSON geometry object, returned verbatim.
    #[serde(default)]
    pub geometry: Option<Value>,
    /// No geometry at all (DHIS2 then omits the field; the flow drops the unit from its GeoJSON).
    #[serde(default)]
    pub without_geometry: bool,
}

fn default_level() -> u32 {
    2
}

impl OrgUnit {
    /// A level-2 org unit with a generated polygon.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        OrgUnit {
            id: id.into(),
            name: name.into(),
            code: None,
            level: default_level(),
            parent: None,
            geometry: None,
            without_geometry: false,
        }
    }
}

/// A data element (or indicator) with the window in which analytics has data for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DataElement {
    pub id: String,
    pub name: String,
    /// `dataElement` or `indicator`: only changes the name DHIS2 would show; both answer alike.
    pub kind: String,
    /// The period type its data is collected in; `lag` counts periods of this type.
    pub period_type: PeriodType,
    /// The last period with data (`202604`, `2026W17`). Overrides `lag`.
    pub last_period: Option<String>,
    /// Without `last_period`: how many periods behind the current one the data stops
    /// (1 = the last completed period has data).
    pub lag: u32,
    /// The first period with data; `None` means data reaches back indefinitely.
    pub first_period: Option<String>,
    /// Org units with no data at all for this element.
    pub missing_org_units: Vec<String>,
    /// Periods with no data in any org unit.
    pub missing_periods: Vec<String>,
    /// Single cells with no data.
    pub missing_cells: Vec<Cell>,
    /// Generated values lie in `[min, max]` with `decimals` decimals.
    pub min: f64,
    pub max: f64,
    pub decimals: u32,
}

impl Default for DataElement {
    fn default() -> Self {
        DataElement {
            id: String::new(),
            name: String::new(),
            kind: "dataElement".into(),
            period_type: PeriodType::Month,
            last_period: None,
            lag: 1,
            first_period: None,
            missing_org_units: Vec::new(),
            missing_periods: Vec::new(),
            missing_cells: Vec::new(),
            min: 0.0,
            max: 100.0,
            decimals: 0,
        }
    }
}

impl DataElement {
    /// A monthly element with data up to the last completed month.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        DataElement {
            id: id.into(),
            name: name.into(),
            ..DataElement::default()
        }
    }

    /// Sets the last period with data.
    pub fn last_period(mut self, period: impl Into<String>) -> Self {
        self.last_period = Some(period.into());
        self
    }

    /// Sets the value range.
    pub fn values(mut self, min: f64, max: f64, decimals: u32) -> Self {
        self.min = min;
        self.max = max;
        self.decimals = decimals;
        self
    }
}

/// One (org unit, period) cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    pub org_unit: String,
    pub period: String,
}

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
    #[serde(default)]
    pub quantile_targets: Vec<QuantileTarget>,
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

/// Where a predicted quantile would be written back in DHIS2 (unused by the flow).
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
            quantile_targets: Vec::new(),
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
}

impl Default for SetupBehaviour {
    fn default() -> Self {
        SetupBehaviour {
            job_statuses: vec!["PENDING".into(), "RUNNING".into(), "SUCCESS".into()],
            job_result: JobResult::String,
            rejection: None,
            job_logs: None,
        }
    }
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

/// Groups of endpoints that latency and faults apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointGroup {
    /// DHIS2 `GET /api/system/info`.
    SystemInfo,
    /// DHIS2 `GET /api/analytics`.
    Analytics,
    /// DHIS2 `GET /api/organisationUnits`.
    OrganisationUnits,
    /// chap `GET /system/info`.
    ChapSystemInfo,
    /// chap `GET /v1/crud/prediction-setups[/{id}]`.
    PredictionSetups,
    /// chap `POST /v1/crud/prediction-setups/{id}/run`.
    RunSetup,
    /// chap `GET /v1/jobs`.
    Jobs,
    /// chap `GET /v1/jobs/{id}`.
    JobStatus,
    /// chap `GET /v1/jobs/{id}/logs`.
    JobLogs,
    /// chap `GET /v1/analytics/prediction-entry/{id}`.
    PredictionEntries,
    /// Anything else (unknown paths, the simulator's own control endpoints).
    Other,
}

impl EndpointGroup {
    /// Whether the group is reached through DHIS2's chap route.
    pub fn is_chap(self) -> bool {
        matches!(
            self,
            EndpointGroup::ChapSystemInfo
                | EndpointGroup::PredictionSetups
                | EndpointGroup::RunSetup
                | EndpointGroup::Jobs
                | EndpointGroup::JobStatus
                | EndpointGroup::JobLogs
                | EndpointGroup::PredictionEntries
        )
    }
}

/// An injected failure: the next `next` matching requests fail, or each fails with `probability`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    pub group: EndpointGroup,
    /// Only requests with this method (`GET`, `POST`); `None` matches all.
    pub method: Option<String>,
    /// The status to answer.
    pub status: u16,
    /// Fail the next N matching requests.
    pub next: Option<u32>,
    /// Without `next`: fail each matching request with this probability (seeded, reproducible).
    pub probability: Option<f64>,
    pub seed: u64,
    /// Answer 200 with truncated JSON instead of `status`.
    pub malformed: bool,
    /// Body of the failure; `None` uses the usual error shape for that side.
    pub body: Option<String>,
}

impl Default for Fault {
    fn default() -> Self {
        Fault {
            group: EndpointGroup::Other,
            method: None,
            status: 503,
            next: None,
            probability: None,
            seed: 0,
            malformed: false,
            body: None,
        }
    }
}

impl Fault {
    /// The next `n` requests of `group` answer `status`.
    pub fn next(group: EndpointGroup, n: u32, status: u16) -> Self {
        Fault {
            group,
            status,
            next: Some(n),
            ..Fault::default()
        }
    }
}

/// The national-scale generator's size.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub org_units: usize,
    pub months: u32,
    pub covariates: usize,
}

/// Failure to read a scenario file.
#[derive(Debug)]
pub struct ScenarioError(pub String);

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

const COVARIATES: [(&str, f64, f64, u32); 8] = [
    ("disease_cases", 0.0, 400.0, 0),
    ("population", 20_000.0, 600_000.0, 0),
    ("rainfall", 0.0, 450.0, 1),
    ("mean_temperature", 18.0, 34.0, 1),
    ("humidity", 40.0, 100.0, 1),
    ("ndvi", 0.0, 1.0, 3),
    ("evapotranspiration", 50.0, 200.0, 1),
    ("wind_speed", 0.0, 12.0, 1),
];

impl Scenario {
    /// Reads a scenario from a JSON file, expanding `scale` if present.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError(format!("reading scenario {}: {e}", path.display())))?;
        Scenario::from_json(&text)
            .map_err(|e| ScenarioError(format!("scenario {}: {}", path.display(), e.0)))
    }

    /// Parses a scenario from JSON text, expanding `scale` if present.
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            serde_json::from_str(text).map_err(|e| ScenarioError(e.to_string()))?;
        Ok(scenario.expand_scale())
    }

    fn expand_scale(mut self) -> Scenario {
        if let Some(scale) = self.scale.take() {
            let generated =
                Scenario::national_scale(scale.org_units, scale.months, scale.covariates);
            self.today = self.today.or(generated.today);
            self.org_units.extend(generated.org_units);
            self.data_elements.extend(generated.data_elements);
            self.prediction_setups.extend(generated.prediction_setups);
        }
        self
    }

    /// A national-scale world: `org_units` org units, `covariates` monthly covariates with data for
    /// the last `months` months, and one enabled setup over all of it (org_units × months ×
    /// covariates analytics rows, generated on the fly). Today is 2026-05-07.
    pub fn national_scale(org_units: usize, months: u32, covariates: usize) -> Scenario {
        let today = NaiveDate::from_ymd_opt(2026, 5, 7);
        let last = crate::periods::Period::Month {
            year: 2026,
            month: 4,
        };
        let start = last.back(months.saturating_sub(1));
        let units: Vec<OrgUnit> = (0..org_units)
            .map(|i| OrgUnit {
                code: Some(format!("NS{i:05}")),
                level: 3,
                parent: Some(format!("Pa{:09}", i / 50)),
                ..OrgUnit::new(format!("Ou{i:09}"), format!("Chiefdom {i}"))
            })
            .collect();
        let elements: Vec<DataElement> = (0..covariates)
            .map(|i| {
                let (name, min, max, decimals) = COVARIATES[i % COVARIATES.len()];
                let name = if i < COVARIATES.len() {
                    name.to_string()
                } else {
                    format!("{name}_{i}")
                };
                DataElement::new(format!("De{i:09}"), name).values(min, max, decimals)
            })
            .collect();
        let mut setup = PredictionSetup::new(1, "national")
            .org_units(units.iter().map(|u| u.id.clone()))
            .periods("month", &start.to_string());
        for element in &elements {
            setup = setup.source(element.name.clone(), element.id.clone());
        }
        Scenario {
            today,
            org_units: units,
            data_elements: elements,
            prediction_setups: vec![SetupScenario {
                setup,
                sim: SetupBehaviour {
                    job_statuses: vec!["SUCCESS".into()],
                    ..SetupBehaviour::default()
                },
            }],
            record_bodies: false,
            ..Scenario::default()
        }
    }

    /// Sets the credentials.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }

    /// Sets the simulated date.
    pub fn today(mut self, today: NaiveDate) -> Self {
        self.today = Some(today);
        self
    }

    /// Adds an org unit.
    pub fn org_unit(mut self, org_unit: OrgUnit) -> Self {
        self.org_units.push(org_unit);
        self
    }

    /// Adds a data element.
    pub fn data_element(mut self, element: DataElement) -> Self {
        self.data_elements.push(element);
        self
    }

    /// Adds a setup with the default job behaviour.
    pub fn setup(self, setup: PredictionSetup) -> Self {
        self.setup_with(setup, SetupBehaviour::default())
    }

    /// Adds a setup with its job behaviour.
    pub fn setup_with(mut self, setup: PredictionSetup, sim: SetupBehaviour) -> Self {
        self.prediction_setups.push(SetupScenario { setup, sim });
        self
    }

    /// Adds a fault.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Adds latency to an endpoint group.
    pub fn latency(mut self, group: EndpointGroup, ms: u64) -> Self {
        self.latency_ms.insert(group, ms);
        self
    }

    /// The reference's test fixture: today 2026-05-07, `alice`/`hunter2`, setup 1 "test" over OU1 and
    /// OU2 with population→POP1, rainfall→RAIN1, disease_cases→DISEASE1, monthly from 202301.
    pub fn fixture() -> Scenario {
        let setup = PredictionSetup {
            configured_model: ConfiguredModel {
                additional_continuous_covariates: vec!["rainfall".into()],
                ..PredictionSetup::new(1, "test").configured_model
            },
            ..PredictionSetup::new(1, "test")
        }
        .org_units(["OU1", "OU2"])
        .source("population", "POP1")
        .source("rainfall", "RAIN1")
        .source("disease_cases", "DISEASE1");
        Scenario::default()
            .credentials("alice", "hunter2")
            .today(NaiveDate::from_ymd_opt(2026, 5, 7).unwrap_or_default())
            .org_unit(OrgUnit {
                code: Some("R1".into()),
                parent: Some("PARENT".into()),
                ..OrgUnit::new("OU1", "Region 1")
            })
            .org_unit(OrgUnit {
                code: Some("R2".into()),
                parent: Some("PARENT".into()),
                ..OrgUnit::new("OU2", "Region 2")
            })
            .data_element(DataElement::new("POP1", "Population").values(1000.0, 50_000.0, 0))
            .data_element(DataElement::new("RAIN1", "Rainfall").values(0.0, 300.0, 1))
            .data_element(DataElement::new("DISEASE1", "Disease cases").values(0.0, 200.0, 0))
            .setup(setup)
    }
}

impl Scenario {
    /// The demo world of `scenarios/demo.json`: six districts, three setups (monthly, weekly, and a
    /// paused one with `scheduleEnabled=false`), real-time "today".
    pub fn demo() -> Scenario {
        Scenario::from_json(include_str!("../scenarios/demo.json"))
            .expect("scenarios/demo.json is a valid scenario (checked by a test)")
    }
}
