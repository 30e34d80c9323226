//! Starting the simulator and controlling it from tests: [`Simulator::start`] → [`SimHandle`].

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use crate::data_values::{cell_key, DataValue};
use crate::forecast::{self, Threshold};
use crate::import::ImportRecord;
use crate::scenario::{EndpointGroup, Fault, JobResult, Rejection, Scenario, SetupBehaviour};
use crate::state::{ArmedFault, RequestRecord, RunSubmission, SimState};

/// Request bodies up to this size are accepted (a national-scale run body is tens of MB).
const MAX_BODY_BYTES: usize = 512 * 1024 * 1024;

/// Entry point: starts a simulator for a scenario.
pub struct Simulator;

impl Simulator {
    /// Starts on `127.0.0.1` with an ephemeral port.
    pub async fn start(scenario: Scenario) -> std::io::Result<SimHandle> {
        Simulator::bind(
            scenario,
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
        )
        .await
    }

    /// Starts on `addr` (port 0 picks a free port).
    pub async fn bind(scenario: Scenario, addr: SocketAddr) -> std::io::Result<SimHandle> {
        let workers = scenario.workers.max(1);
        let state = Arc::new(SimState::new(scenario));
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let server = serve(state.clone(), listener, workers)?;
        Ok(SimHandle {
            state,
            addr,
            workers,
            server: Mutex::new(Some(server)),
        })
    }
}

fn serve(
    state: Arc<SimState>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<ServerHandle> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .default_service(web::to(crate::http::dispatch))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}

/// A running simulator: its address, its credentials, what it saw, and switches to change it.
pub struct SimHandle {
    state: Arc<SimState>,
    addr: SocketAddr,
    workers: usize,
    server: Mutex<Option<ServerHandle>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` — the DHIS2 base URL (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The DHIS2 username the simulator accepts.
    pub fn username(&self) -> String {
        self.state.world().scenario.username.clone()
    }

    /// The DHIS2 password the simulator accepts.
    pub fn password(&self) -> String {
        self.state.world().scenario.password.clone()
    }

    /// The scenario as it currently stands (with runtime data changes applied).
    pub fn scenario(&self) -> Scenario {
        self.state.world().scenario.clone()
    }

    // ---- request log -------------------------------------------------------------------------

    /// Every request so far, in arrival order (control requests excluded).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.log().requests.clone()
    }

    /// Requests with this method whose path starts with `path_prefix`
    /// (e.g. `("GET", "/api/analytics")`, `("POST", "/api/routes/chap/run/v1/crud")`).
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.state
            .log()
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .count()
    }

    /// Requests to an endpoint group answered with `status`.
    pub fn count_status(&self, group: EndpointGroup, status: u16) -> usize {
        self.state
            .log()
            .requests
            .iter()
            .filter(|r| r.group == group && r.status == status)
            .count()
    }

    /// The raw query strings of the analytics calls, in order.
    pub fn analytics_queries(&self) -> Vec<String> {
        self.state
            .log()
            .requests
            .iter()
            .filter(|r| r.group == EndpointGroup::Analytics)
            .map(|r| r.query.clone())
            .collect()
    }

    /// Every run submission (accepted or not), with its body.
    pub fn run_submissions(&self) -> Vec<RunSubmission> {
        self.state.log().submissions.clone()
    }

    /// Every `POST /api/dataValueSets` that reached the importer, in arrival order (requests
    /// answered by an injected fault are only in [`SimHandle::requests`]).
    pub fn imports(&self) -> Vec<ImportRecord> {
        self.state.log().imports.clone()
    }

    /// Forgets the request log, the recorded submissions and the imports.
    pub fn clear_log(&self) {
        self.state.log().clear();
    }

    // ---- stored data values ------------------------------------------------------------------

    /// Every stored data value, ordered by data element, period and org unit.
    pub fn data_values(&self) -> Vec<DataValue> {
        self.state.data_values().sorted()
    }

    /// The stored value of a cell (weekly ids padded or not), if any.
    pub fn data_value(&self, data_element: &str, period: &str, org_unit: &str) -> Option<String> {
        self.state
            .data_values()
            .get(&cell_key(data_element, period, org_unit))
            .map(|v| v.value.clone())
    }

    /// Stores a value as if imported earlier (no checks: seeds any cell).
    pub fn set_data_value(&self, data_element: &str, period: &str, org_unit: &str, value: &str) {
        let username = self.username();
        self.state
            .data_values()
            .set(data_element, period, org_unit, value, &username);
    }

    /// Forgets every stored value.
    pub fn clear_data_values(&self) {
        self.state.data_values().clear();
    }

    // ---- chap's results ----------------------------------------------------------------------

    /// The dataset chap stored for a prediction (its job succeeded), as `predictions/{id}` names it.
    pub fn dataset_id(&self, prediction_id: i64) -> Option<i64> {
        self.state
            .jobs()
            .by_prediction(prediction_id)
            .map(|j| j.dataset_id)
    }

    /// What `POST /v1/analytics/thresholds` answers for these periods and locations, in the same
    /// order; `None` for an unknown dataset or when the setup's `thresholds` error is configured.
    pub fn thresholds_for(
        &self,
        dataset_id: i64,
        periods: &[&str],
        locations: &[&str],
    ) -> Option<Vec<Threshold>> {
        let job = self.state.jobs().by_dataset(dataset_id).cloned()?;
        let behaviour = self.state.behaviour(job.setup_id);
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        forecast::thresholds(
            self.state.world().scenario.seed,
            &job,
            &behaviour,
            &strings(periods),
            &strings(locations),
        )
        .ok()
    }

    /// `(job id, setup id, status of the last poll)` of every job chap knows.
    pub fn jobs(&self) -> Vec<(String, i64, String)> {
        self.state
            .jobs()
            .list
            .iter()
            .map(|j| (j.id.clone(), j.setup_id, j.current_status().to_string()))
            .collect()
    }

    /// Starts a job for a setup as the modeling app would (a person pressing "run"): it answers
    /// `statuses` one poll at a time and predicts the setup's org units for the 3 months after the
    /// current one. Returns the job id.
    pub fn start_job(&self, setup_id: i64, statuses: Vec<String>) -> String {
        self.state.start_job(setup_id, statuses)
    }

    /// chap revokes a job: every later poll answers `REVOKED`.
    pub fn revoke_job(&self, job_id: &str) -> bool {
        self.state.revoke_job(job_id)
    }

    /// chap forgets a job (its setup deleted): 404 for its status, gone from the listing.
    pub fn delete_job(&self, job_id: &str) -> bool {
        self.state.jobs().by_id.remove(job_id).is_some()
    }

    // ---- runtime controls --------------------------------------------------------------------

    /// `Some(status)`: every request answers `status` with a proxy error page; `None`: DHIS2 is up.
    pub fn set_dhis2_down(&self, status: Option<u16>) {
        self.state.controls().dhis2_down = status;
    }

    /// `Some(status)`: the chap route answers `status`; `None`: chap is up.
    pub fn set_chap_down(&self, status: Option<u16>) {
        self.state.controls().chap_down = status;
    }

    /// The next `n` requests of `group` answer `status`.
    pub fn fail_next(&self, group: EndpointGroup, n: u32, status: u16) {
        self.inject(Fault::next(group, n, status));
    }

    /// Arms a fault (after the scenario's own).
    pub fn inject(&self, fault: Fault) {
        self.state.controls().faults.push(ArmedFault::new(fault));
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.state.controls().faults.clear();
    }

    /// Sets the latency of an endpoint group (0 removes it).
    pub fn set_latency(&self, group: EndpointGroup, ms: u64) {
        self.state.controls().latency_ms.insert(group, ms);
    }

    /// The status sequence for jobs started from now on for this setup.
    pub fn set_job_statuses<S: Into<String>>(
        &self,
        setup_id: i64,
        statuses: impl IntoIterator<Item = S>,
    ) {
        self.state
            .controls()
            .behaviours
            .entry(setup_id)
            .or_default()
            .job_statuses = statuses.into_iter().map(Into::into).collect();
    }

    /// How `result` appears for jobs started from now on for this setup.
    pub fn set_job_result(&self, setup_id: i64, result: JobResult) {
        self.state
            .controls()
            .behaviours
            .entry(setup_id)
            .or_default()
            .job_result = result;
    }

    /// Changes how chap behaves for a setup from now on (entries, thresholds, jobs started later).
    pub fn update_behaviour(&self, setup_id: i64, change: impl FnOnce(&mut SetupBehaviour)) {
        change(
            self.state
                .controls()
                .behaviours
                .entry(setup_id)
                .or_default(),
        );
    }

    /// Rejects (or, with `None`, accepts) run submissions for this setup.
    pub fn set_rejection(&self, setup_id: i64, rejection: Option<Rejection>) {
        let mut controls = self.state.controls();
        controls.rejected.remove(&setup_id);
        controls.behaviours.entry(setup_id).or_default().rejection = rejection;
    }

    /// Changes the last period with data of a data element (`None` returns to its lag).
    pub fn set_last_period(&self, data_element_id: &str, period: Option<&str>) {
        self.state.update_scenario(|scenario| {
            for element in &mut scenario.data_elements {
                if element.id == data_element_id {
                    element.last_period = period.map(str::to_string);
                }
            }
        });
    }

    /// Every `PATCH …/prediction-setups/{id}` chap accepted, with its body.
    pub fn setup_patches(&self) -> Vec<crate::state::SetupPatch> {
        self.state.log().setup_patches.clone()
    }

    /// Sets a setup's `scheduleEnabled` and `scheduleCronExpression`, as chap's modeling app would.
    ///
    /// # Panics
    /// When chap has no such setup.
    pub fn set_setup_schedule(&self, setup_id: i64, enabled: bool, cron: Option<&str>) {
        if let Err(e) = self
            .state
            .set_setup_schedule(setup_id, enabled, cron.map(str::to_string))
        {
            panic!("{e}");
        }
    }

    /// Changes the scenario's data (org units, elements, setups, limits) for later requests.
    pub fn update_scenario(&self, change: impl FnOnce(&mut Scenario)) {
        self.state.update_scenario(change);
    }

    /// Closes the listening socket: new connections are refused until [`SimHandle::start_listening`].
    pub async fn stop_listening(&self) {
        let server = self.lock_server().take();
        if let Some(server) = server {
            server.stop(false).await;
        }
    }

    /// Listens again on the same address after [`SimHandle::stop_listening`].
    pub async fn start_listening(&self) -> std::io::Result<()> {
        if self.lock_server().is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)?;
        let server = serve(self.state.clone(), listener, self.workers)?;
        *self.lock_server() = Some(server);
        Ok(())
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.stop_listening().await;
    }

    fn lock_server(&self) -> std::sync::MutexGuard<'_, Option<ServerHandle>> {
        match self.server.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(server) = self.lock_server().take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { server.stop(false).await });
            }
        }
    }
}
