//! Everything that changes while the simulator runs: runtime controls, chap's jobs, the request log.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::data_values::DataValueStore;
use crate::import::ImportRecord;
use crate::scenario::{EndpointGroup, Fault, JobResult, Scenario, SetupBehaviour};
use crate::world::{splitmix, World};

/// Shared by every server worker and the [`crate::SimHandle`].
#[derive(Debug)]
pub(crate) struct SimState {
    world: RwLock<Arc<World>>,
    pub controls: Mutex<Controls>,
    pub jobs: Mutex<Jobs>,
    pub log: Mutex<Log>,
    pub data_values: Mutex<DataValueStore>,
}

/// Runtime switches, seeded from the scenario and changed through the handle.
#[derive(Debug)]
pub(crate) struct Controls {
    pub dhis2_down: Option<u16>,
    pub chap_down: Option<u16>,
    pub latency_ms: BTreeMap<EndpointGroup, u64>,
    pub faults: Vec<ArmedFault>,
    pub behaviours: HashMap<i64, SetupBehaviour>,
    /// Rejections already answered per setup (for `Rejection::times`).
    pub rejected: HashMap<i64, u32>,
}

/// A fault with its remaining count and random state.
#[derive(Debug)]
pub(crate) struct ArmedFault {
    pub fault: Fault,
    pub remaining: Option<u32>,
    /// Matching requests still to let through before the fault starts firing.
    skip: u32,
    rng: u64,
}

impl ArmedFault {
    pub fn new(fault: Fault) -> Self {
        ArmedFault {
            remaining: fault.next,
            skip: fault.skip,
            rng: fault.seed,
            fault,
        }
    }

    /// Whether this fault answers a request of `group` with `method`; consumes one use if so.
    fn fires(&mut self, group: EndpointGroup, method: &str) -> bool {
        if self.fault.group != group
            || self
                .fault
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(method))
        {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        match (&mut self.remaining, self.fault.probability) {
            (Some(0), _) => false,
            (Some(n), _) => {
                *n -= 1;
                true
            }
            (None, Some(p)) => {
                self.rng = splitmix(self.rng);
                ((self.rng >> 11) as f64 / (1u64 << 53) as f64) < p
            }
            (None, None) => true,
        }
    }
}

/// chap's job table and predictions.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    pub list: Vec<Job>,
    pub by_id: HashMap<String, usize>,
    pub next_prediction_id: i64,
    /// chap stores the data of each job as a dataset; ids start at 101 (100 + the prediction id).
    pub next_dataset_id: i64,
    pub counter: u64,
}

/// One chap job (a prediction run).
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: String,
    pub setup_id: i64,
    pub name: String,
    pub statuses: Vec<String>,
    pub polls: usize,
    pub result: JobResult,
    pub prediction_id: i64,
    /// The dataset chap stored the job's data as (thresholds are computed from it).
    pub dataset_id: i64,
    pub logs: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    /// Org units and forecast periods the prediction covers.
    pub forecast_org_units: Vec<String>,
    pub forecast_periods: Vec<String>,
}

impl Jobs {
    /// Adds a job; returns its id.
    pub fn push(&mut self, seed: u64, mut job: Job) -> String {
        self.counter += 1;
        job.id = job_uuid(seed, self.counter);
        job.prediction_id = self.next_prediction_id;
        self.next_prediction_id += 1;
        job.dataset_id = self.next_dataset_id;
        self.next_dataset_id += 1;
        let id = job.id.clone();
        self.by_id.insert(id.clone(), self.list.len());
        self.list.push(job);
        id
    }

    /// The succeeded job that produced a prediction.
    pub fn by_prediction(&self, prediction_id: i64) -> Option<&Job> {
        let first = self.list.first()?.prediction_id;
        self.nth(prediction_id - first)
            .filter(|j| j.prediction_id == prediction_id && j.succeeded())
    }

    /// The succeeded job whose data chap stored as this dataset.
    pub fn by_dataset(&self, dataset_id: i64) -> Option<&Job> {
        let first = self.list.first()?.dataset_id;
        self.nth(dataset_id - first)
            .filter(|j| j.dataset_id == dataset_id && j.succeeded())
    }

    /// The job `offset` places after the first: prediction and dataset ids are given one by one in
    /// the order jobs are added ([`Jobs::push`]), so a lookup by either is no scan of every job.
    fn nth(&self, offset: i64) -> Option<&Job> {
        self.list.get(usize::try_from(offset).ok()?)
    }

    /// The jobs chap still knows, in the order they were added; only those named in `ids` when
    /// there are any (looked up, not found by comparing every job's id).
    pub fn known(&self, ids: &[&str]) -> Vec<&Job> {
        if ids.is_empty() {
            return self
                .list
                .iter()
                .filter(|j| self.by_id.contains_key(&j.id))
                .collect();
        }
        let mut places: Vec<usize> = ids
            .iter()
            .filter_map(|id| self.by_id.get(*id).copied())
            .collect();
        places.sort_unstable();
        places.dedup();
        places
            .into_iter()
            .filter_map(|i| self.list.get(i))
            .collect()
    }

    /// The job chap still knows by this id (a deleted job is forgotten: 404, not listed).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Job> {
        let index = *self.by_id.get(id)?;
        self.list.get_mut(index)
    }
}

impl Job {
    /// The status the last poll answered (the first status before any poll).
    pub fn current_status(&self) -> &str {
        let index = self.polls.saturating_sub(1).min(self.statuses.len() - 1);
        &self.statuses[index]
    }

    /// Advances one step and answers the new status.
    pub fn poll(&mut self) -> String {
        self.polls += 1;
        let status = self.current_status().to_string();
        if self.end_time.is_none() && !is_transient(&status) {
            self.end_time = Some(Utc::now());
        }
        status
    }

    pub fn succeeded(&self) -> bool {
        self.current_status().eq_ignore_ascii_case("SUCCESS")
    }
}

impl SimState {
    /// A job started outside the scheduler (see [`crate::SimHandle::start_job`]).
    pub fn start_job(&self, setup_id: i64, statuses: Vec<String>) -> String {
        let world = self.world();
        let org_units = world
            .scenario
            .prediction_setups
            .iter()
            .find(|s| s.setup.id == setup_id)
            .map(|s| s.setup.org_units.clone())
            .unwrap_or_default();
        let month = crate::periods::PeriodType::Month.covering(Utc::now().date_naive());
        let periods = std::iter::successors(Some(month.next()), |p| Some(p.next()))
            .take(3)
            .map(|p| p.to_string())
            .collect();
        let statuses = if statuses.is_empty() {
            vec!["STARTED".to_string()]
        } else {
            statuses
        };
        self.jobs().push(
            world.scenario.seed,
            Job {
                id: String::new(),
                setup_id,
                name: format!("started by hand for setup {setup_id}"),
                end_time: (!is_transient(&statuses[0])).then(Utc::now),
                statuses,
                polls: 0,
                result: JobResult::default(),
                prediction_id: 0,
                dataset_id: 0,
                logs: None,
                start_time: Utc::now(),
                forecast_org_units: org_units,
                forecast_periods: periods,
            },
        )
    }

    /// Every later poll of the job answers `REVOKED`; false when chap does not know it.
    pub fn revoke_job(&self, job_id: &str) -> bool {
        let mut jobs = self.jobs();
        let Some(job) = jobs.get_mut(job_id) else {
            return false;
        };
        job.statuses = vec!["REVOKED".into()];
        job.polls = 0;
        job.end_time = Some(Utc::now());
        true
    }
}

/// chap/celery statuses that mean "not finished yet".
pub(crate) fn is_transient(status: &str) -> bool {
    [
        "PENDING",
        "RUNNING",
        "STARTED",
        "QUEUED",
        "PROCESSING",
        "RETRY",
    ]
    .iter()
    .any(|s| s.eq_ignore_ascii_case(status))
}

/// The authentication scheme a request presented (whether or not it was accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthScheme {
    /// `Authorization: Basic …`.
    Basic,
    /// `Authorization: ApiToken …` (a DHIS2 personal access token).
    Token,
    /// No `Authorization` header, or a scheme DHIS2 does not know.
    None,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string (percent-encoded, without `?`).
    pub query: String,
    pub group: EndpointGroup,
    pub status: u16,
    /// The authentication scheme presented.
    pub auth: AuthScheme,
    pub at: DateTime<Utc>,
}

/// One `POST …/prediction-setups/{id}/run` as received.
#[derive(Debug, Clone)]
pub struct RunSubmission {
    pub setup_id: i64,
    /// The status the simulator answered.
    pub status: u16,
    /// The job started, when the submission was accepted.
    pub job_id: Option<String>,
    body: Option<Bytes>,
}

impl RunSubmission {
    /// The JSON body (`Value::Null` when bodies are not recorded or the body was not JSON).
    pub fn body(&self) -> Value {
        self.body
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null)
    }

    /// The raw body bytes, when recorded.
    pub fn raw_body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Log {
    pub requests: Vec<RequestRecord>,
    pub submissions: Vec<RunSubmission>,
    pub imports: Vec<ImportRecord>,
    /// Every `PATCH …/prediction-setups/{id}` chap accepted.
    pub setup_patches: Vec<SetupPatch>,
}

/// One `PATCH …/prediction-setups/{id}` chap accepted: the setup and the body as sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SetupPatch {
    pub setup_id: i64,
    pub body: serde_json::Value,
}

impl Log {
    /// Forgets every request, submission and import.
    pub fn clear(&mut self) {
        self.requests.clear();
        self.submissions.clear();
        self.imports.clear();
        self.setup_patches.clear();
    }
}

impl SimState {
    pub fn new(scenario: Scenario) -> SimState {
        let controls = Controls {
            dhis2_down: scenario.dhis2_down,
            chap_down: scenario.chap_down,
            latency_ms: scenario.latency_ms.clone(),
            faults: scenario
                .faults
                .iter()
                .cloned()
                .map(ArmedFault::new)
                .collect(),
            behaviours: scenario
                .prediction_setups
                .iter()
                .map(|s| (s.setup.id, s.sim.clone()))
                .collect(),
            rejected: HashMap::new(),
        };
        let data_values = DataValueStore::seeded(&scenario.data_values, &scenario.username);
        SimState {
            world: RwLock::new(Arc::new(World::new(scenario))),
            controls: Mutex::new(controls),
            jobs: Mutex::new(Jobs {
                next_prediction_id: 1,
                next_dataset_id: 101,
                ..Jobs::default()
            }),
            log: Mutex::new(Log::default()),
            data_values: Mutex::new(data_values),
        }
    }

    /// The current data snapshot.
    pub fn world(&self) -> Arc<World> {
        match self.world.read() {
            Ok(world) => world.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Sets a setup's `scheduleEnabled` and `scheduleCronExpression` (as chap's modeling app would).
    pub fn set_setup_schedule(
        &self,
        setup_id: i64,
        enabled: bool,
        cron: Option<String>,
    ) -> Result<(), String> {
        if !self
            .world()
            .scenario
            .prediction_setups
            .iter()
            .any(|s| s.setup.id == setup_id)
        {
            return Err(format!("chap has no prediction setup {setup_id}"));
        }
        self.update_scenario(|scenario| {
            for s in scenario
                .prediction_setups
                .iter_mut()
                .filter(|s| s.setup.id == setup_id)
            {
                s.setup.schedule_enabled = enabled;
                s.setup.schedule_cron_expression = cron.clone();
            }
        });
        Ok(())
    }

    /// Replaces the scenario's data (org units, elements, setups) for later requests.
    pub fn update_scenario(&self, change: impl FnOnce(&mut Scenario)) {
        let mut scenario = self.world().scenario.clone();
        change(&mut scenario);
        let world = Arc::new(World::new(scenario));
        match self.world.write() {
            Ok(mut guard) => *guard = world,
            Err(poisoned) => *poisoned.into_inner() = world,
        }
    }

    pub fn controls(&self) -> MutexGuard<'_, Controls> {
        lock(&self.controls)
    }

    pub fn jobs(&self) -> MutexGuard<'_, Jobs> {
        lock(&self.jobs)
    }

    pub fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    pub fn data_values(&self) -> MutexGuard<'_, DataValueStore> {
        lock(&self.data_values)
    }

    /// The behaviour of a setup as it stands now (runtime changes included).
    pub fn behaviour(&self, setup_id: i64) -> SetupBehaviour {
        self.controls()
            .behaviours
            .get(&setup_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The first armed fault that fires for this request, if any.
    pub fn fault_for(&self, group: EndpointGroup, method: &str) -> Option<Fault> {
        let mut controls = self.controls();
        controls
            .faults
            .iter_mut()
            .find_map(|f| f.fires(group, method).then(|| f.fault.clone()))
    }

    pub fn record_request(&self, record: RequestRecord) {
        self.log().requests.push(record);
    }

    /// Logs an import, keeping its body when the scenario records bodies.
    pub fn record_import(&self, mut record: ImportRecord, body: &Bytes) {
        if self.world().scenario.record_bodies {
            record.body = Some(body.clone());
        }
        self.log().imports.push(record);
    }

    pub fn record_submission(
        &self,
        setup_id: i64,
        status: u16,
        job_id: Option<String>,
        body: &Bytes,
    ) {
        let record_bodies = self.world().scenario.record_bodies;
        self.log().submissions.push(RunSubmission {
            setup_id,
            status,
            job_id,
            body: record_bodies.then(|| body.clone()),
        });
    }
}

/// A poisoned lock only means a handler panicked mid-update; the simulator keeps serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A job id shaped like chap's celery UUIDs, reproducible from the seed.
pub(crate) fn job_uuid(seed: u64, counter: u64) -> String {
    let a = splitmix(seed ^ counter.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let b = splitmix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}
