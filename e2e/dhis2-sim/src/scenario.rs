//! What the simulated world contains and how it misbehaves: a serde struct read from JSON files
//! (`scenarios/*.json`) or built in Rust from [`Scenario::default`] and the builder methods.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

mod metadata;
mod network;
mod setup;

pub use metadata::{CategoryCombo, Cell, DataElement, DataSet, OrgUnit, SeedValue, ValueType};
pub use network::{EndpointGroup, Fault};
pub use setup::{
    ConfiguredModel, CovariateSource, EntryOverride, ErrorAnswer, JobResult, ModelTemplate,
    PredictionSetup, QuantileTarget, Rejection, SetupBehaviour, SetupScenario,
};

/// One simulated DHIS2 instance with chap-core behind its `chap` route.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Basic-auth user accepted by DHIS2 (and therefore by the chap route).
    pub username: String,
    /// Basic-auth password.
    pub password: String,
    /// A personal access token (`d2pat_…`): `Authorization: ApiToken <token>` is accepted on every
    /// path, DHIS2 and chap route alike. `None`: no token is valid.
    pub api_token: Option<String>,
    /// Whether Basic credentials are accepted (false: refused with 401 even when correct).
    pub basic_auth: bool,
    /// The simulated "today" (relative periods, default freshness); `None` is the real local date.
    pub today: Option<NaiveDate>,
    /// Seeds every generated value, job id and random fault.
    pub seed: u64,
    /// What `GET /api/system/info` reports.
    pub dhis2: Dhis2System,
    /// What chap's `GET /system/info` reports.
    pub chap: ChapSystem,
    pub org_units: Vec<OrgUnit>,
    /// Data elements and indicators analytics knows, with their freshness and import rules.
    pub data_elements: Vec<DataElement>,
    /// Data sets: where and how far ahead data elements accept imported values.
    pub data_sets: Vec<DataSet>,
    /// Values stored before the simulator starts (`GET /api/dataValueSets`, imports update them).
    pub data_values: Vec<SeedValue>,
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
            api_token: None,
            basic_auth: true,
            today: None,
            seed: 1,
            dhis2: Dhis2System::default(),
            chap: ChapSystem::default(),
            org_units: Vec::new(),
            data_elements: Vec::new(),
            data_sets: Vec::new(),
            data_values: Vec::new(),
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

/// DHIS2 `system/info` fields, the user's rights and how the server words import summaries.
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
    /// The user's authorities (`GET /api/me`).
    pub authorities: Vec<String>,
    /// Roots of the user's data-capture hierarchy: an org unit is inside when it or an ancestor is
    /// listed. `None`: everything is inside.
    pub user_org_units: Option<Vec<String>>,
    /// How `POST /api/dataValueSets` answers: wrapped in a `WebMessage` (2.38+) or bare.
    pub import_summary: ImportSummaryFormat,
    /// Whether import conflicts carry an `errorCode` (false: an older server).
    pub conflict_error_codes: bool,
}

/// The wire format of an import answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ImportSummaryFormat {
    /// DHIS2 2.38+: a `WebMessage` with the summary under `response`; 409 when there are conflicts.
    #[default]
    Wrapped,
    /// Older servers: the bare `ImportSummary`, always 200.
    TopLevel,
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
            authorities: vec!["ALL".into()],
            user_org_units: None,
            import_summary: ImportSummaryFormat::Wrapped,
            conflict_error_codes: true,
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
            self.data_sets.extend(generated.data_sets);
            self.prediction_setups.extend(generated.prediction_setups);
        }
        self
    }

    /// A national-scale world: `org_units` org units, `covariates` monthly covariates with data for
    /// the last `months` months, and one enabled setup over all of it (org_units × months ×
    /// covariates analytics rows, generated on the fly). Today is 2026-05-07. The setup writes
    /// quantiles 0.1, 0.25, 0.5, 0.75 and 0.9 back to five NUMBER elements (`Qt000000000`…) of a
    /// monthly data set open 3 months ahead over every org unit: a 3-period forecast imports
    /// org_units × 15 values.
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
        let targets: Vec<DataElement> = [0.1, 0.25, 0.5, 0.75, 0.9]
            .iter()
            .enumerate()
            .map(|(i, q)| {
                DataElement::new(format!("Qt{i:09}"), format!("Predicted cases (q{q})"))
                    .values(0.0, 400.0, 1)
            })
            .collect();
        for (target, q) in targets.iter().zip([0.1, 0.25, 0.5, 0.75, 0.9]) {
            setup = setup.quantile_target(q, target.id.clone());
        }
        let data_set = DataSet::monthly(
            "DsForecast1",
            "CHAP forecasts",
            3,
            targets.iter().map(|t| t.id.clone()),
        );
        Scenario {
            today,
            org_units: units,
            data_elements: elements.into_iter().chain(targets).collect(),
            data_sets: vec![data_set],
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

    /// Adds a data set.
    pub fn data_set(mut self, data_set: DataSet) -> Self {
        self.data_sets.push(data_set);
        self
    }

    /// Adds a value stored before the simulator starts.
    pub fn data_value(
        mut self,
        data_element: impl Into<String>,
        period: impl Into<String>,
        org_unit: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.data_values.push(SeedValue {
            data_element: data_element.into(),
            period: period.into(),
            org_unit: org_unit.into(),
            value: value.into(),
        });
        self
    }

    /// Accepts `Authorization: ApiToken <token>`.
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(token.into());
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
    /// paused one with `scheduleEnabled=false`) whose quantile targets lie in data sets open for the
    /// forecast horizon, real-time "today".
    pub fn demo() -> Scenario {
        Scenario::from_json(include_str!("../scenarios/demo.json"))
            .expect("scenarios/demo.json is a valid scenario (checked by a test)")
    }
}
