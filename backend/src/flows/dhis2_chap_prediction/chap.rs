//! The typed chap client (reference §3.3), reached only through DHIS2's route proxy, and the run's
//! pair of clients over one HTTP client (decision 9).
//!
//! Decision: `wait_for_job` lives here (it is pure HTTP polling); the runner passes a callback to log
//! status changes and may drop the future to cancel. Timing uses tokio's clock so tests can pause it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::client::{ApiError, Call, Credentials, ErrorBody, HttpSettings, Service, Transport};
use super::dhis2::Dhis2Client;
use super::import::{PredictionInfo, Threshold};
use super::model::{
    self, parse_setup_listing, setup_jobs, ChapSystemInfo, JobCreated, JobDescription, JobStatus,
    PredictionEntry, PredictionIdError, PredictionRequest, SetupJobs, SetupListing,
    TRANSIENT_STATUSES,
};

/// chap is always reached through this DHIS2 route.
pub const CHAP_ROUTE_PREFIX: &str = "/api/routes/chap/run";
/// Quantiles read back from a prediction.
pub const QUANTILES: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];
/// How often a job is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The DHIS2 and chap clients of one run, sharing one connection pool.
#[derive(Debug, Clone)]
pub struct RunClients {
    /// DHIS2's API.
    pub dhis2: Dhis2Client,
    /// chap via the route proxy.
    pub chap: ChapClient,
}

impl RunClients {
    /// Builds both clients for a run from a credentials block.
    pub fn new(credentials: &Credentials, settings: HttpSettings) -> Result<RunClients, ApiError> {
        let transport = Transport::new(credentials, settings)?;
        Ok(RunClients {
            dhis2: Dhis2Client::new(transport.clone()),
            chap: ChapClient { transport },
        })
    }
}

/// Why waiting for a job or reading its result failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// The HTTP call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// chap does not list the job.
    #[error("unknown job id: '{0}' (chap's job listing does not contain it)")]
    UnknownJob(String),
    /// The job was still running at the deadline.
    #[error("chap job {job} did not finish within {timeout_secs}s (last status: '{last}')")]
    Timeout {
        /// Job id.
        job: String,
        /// The timeout, in seconds.
        timeout_secs: u64,
        /// Last status seen.
        last: String,
    },
    /// The prediction id could not be read.
    #[error(transparent)]
    PredictionId(#[from] PredictionIdError),
    /// chap says REVOKED, or no longer knows the job (404) while it is followed.
    #[error("the chap job {0} was revoked (the setup was deleted or the job cancelled in chap)")]
    Revoked(String),
}

impl JobError {
    /// A short kind name for the report's `"<kind>: <message>"` error text.
    pub fn kind(&self) -> &'static str {
        match self {
            JobError::Api(e) => e.kind(),
            JobError::UnknownJob(_) => "ValueError",
            JobError::Revoked(_) => "RuntimeError",
            JobError::Timeout { .. } => "TimeoutError",
            JobError::PredictionId(_) => "RuntimeError",
        }
    }
}

/// chap-core's API under `<dhis2>/api/routes/chap/run`.
#[derive(Clone)]
pub struct ChapClient {
    transport: Arc<Transport>,
}

impl fmt::Debug for ChapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChapClient")
            .field("transport", &self.transport)
            .finish()
    }
}

impl ChapClient {
    fn call(&self, method: Method, segments: &[&str], query: Vec<(&'static str, String)>) -> Call {
        Call {
            service: Service::Chap,
            method,
            path: format!("/{}", segments.join("/")),
            url: self.transport.url(CHAP_ROUTE_PREFIX, segments),
            query,
            json: None,
            idempotent: false,
        }
    }

    /// The answer's JSON body decoded into `T` (an empty body as `null`).
    async fn decoded<T: DeserializeOwned>(&self, call: &Call) -> Result<T, ApiError> {
        self.transport.execute_decoded(call, Value::Null).await
    }

    /// The answer's JSON body as it came (an empty body as `null`).
    async fn json(&self, call: &Call) -> Result<Value, ApiError> {
        let bytes = self.transport.execute(call).await?;
        self.transport.json_body(call, &bytes, Value::Null)
    }

    /// `GET …/system/info`.
    pub async fn system_info(&self) -> Result<ChapSystemInfo, ApiError> {
        let call = self.call(Method::GET, &["system", "info"], Vec::new());
        self.decoded(&call).await
    }

    /// `GET …/v1/crud/prediction-setups`, decoded setup by setup.
    pub async fn prediction_setups(&self) -> Result<Vec<SetupListing>, ApiError> {
        let call = self.call(
            Method::GET,
            &["v1", "crud", "prediction-setups"],
            Vec::new(),
        );
        let value = self.json(&call).await?;
        parse_setup_listing(value).map_err(|m| self.transport.decode_error(&call, m))
    }

    /// `PATCH …/v1/crud/prediction-setups/{id}` with `{"scheduleEnabled", "scheduleCronExpression"}`:
    /// switches a setup's schedule in chap (both fields are always sent; repeating it is harmless).
    pub async fn set_setup_schedule(
        &self,
        setup_id: i64,
        enabled: bool,
        cron: Option<&str>,
    ) -> Result<(), ApiError> {
        let id = setup_id.to_string();
        let mut call = self.call(
            Method::PATCH,
            &["v1", "crud", "prediction-setups", &id],
            Vec::new(),
        );
        let body = json!({ "scheduleEnabled": enabled, "scheduleCronExpression": cron });
        call.json = Some(body.to_string().into_bytes().into());
        call.idempotent = true;
        self.transport.execute(&call).await.map(|_| ())
    }

    /// `POST …/v1/crud/prediction-setups/{id}/run` (never retried); returns the job id. The request is
    /// serialised once into a buffer sized for it and dropped before sending, so a national-scale body
    /// is held once, not three times (observations, JSON text, per-attempt copy).
    pub async fn run_prediction_setup(
        &self,
        setup_id: i64,
        body: PredictionRequest,
    ) -> Result<String, ApiError> {
        let id = setup_id.to_string();
        let mut call = self.call(
            Method::POST,
            &["v1", "crud", "prediction-setups", &id, "run"],
            Vec::new(),
        );
        // About 90 bytes per observation in practice; the geojson is small beside them.
        let mut json = Vec::with_capacity(body.provided_data.len() * 96 + 64 * 1024);
        serde_json::to_writer(&mut json, &body).map_err(|e| ApiError::Invalid {
            service: Service::Chap,
            path: call.path.clone(),
            message: format!("cannot serialise the request body: {e}"),
        })?;
        drop(body);
        call.json = Some(json.into());
        let created: JobCreated = self.decoded(&call).await?;
        Ok(created.id)
    }

    /// `GET …/v1/jobs?ids={id}`: the listing of one job. chap keeps every job it ever ran, so the
    /// whole listing (what the replaced service read, twice per setup) grows with each run. A chap
    /// that ignores `ids` answers its whole table, in which the job is looked for all the same.
    pub async fn job_listing(&self, job_id: &str) -> Result<Vec<JobDescription>, ApiError> {
        self.jobs_where(vec![("ids", job_id.to_string())]).await
    }

    /// `GET …/v1/jobs?predictionSetupId={id}&status=PENDING&status=…`, read for a job of the setup
    /// still in flight: only those are asked for, since the setup's finished jobs, which chap keeps,
    /// grow with each run (a listing of a setup run 1,000 times was ~200 KB to send and parse).
    pub async fn setup_jobs(&self, setup_id: i64) -> Result<SetupJobs, ApiError> {
        let mut filter = vec![("predictionSetupId", setup_id.to_string())];
        filter.extend(TRANSIENT_STATUSES.map(|s| ("status", s.to_string())));
        let jobs = self.jobs_where(filter).await?;
        Ok(setup_jobs(&jobs, setup_id))
    }

    /// `GET …/v1/jobs?{filter}`.
    async fn jobs_where(
        &self,
        filter: Vec<(&'static str, String)>,
    ) -> Result<Vec<JobDescription>, ApiError> {
        let call = self.call(Method::GET, &["v1", "jobs"], filter);
        self.decoded(&call).await
    }

    /// `GET …/v1/jobs/{id}`: a bare JSON string; anything else is an error (status 200).
    pub async fn job_status(&self, job_id: &str) -> Result<JobStatus, ApiError> {
        let call = self.call(Method::GET, &["v1", "jobs", job_id], Vec::new());
        match self.json(&call).await? {
            Value::String(s) => Ok(JobStatus::new(&s)),
            other => Err(ApiError::Status {
                service: Service::Chap,
                method: "GET".into(),
                path: call.path.clone(),
                status: 200,
                body: ErrorBody::Text(format!("expected a JSON string job status, got {other}")),
            }),
        }
    }

    /// `GET …/v1/jobs/{id}/logs` as text.
    pub async fn job_logs(&self, job_id: &str) -> Result<String, ApiError> {
        let call = self.call(Method::GET, &["v1", "jobs", job_id, "logs"], Vec::new());
        let bytes = self.transport.execute(&call).await?;
        Ok(match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::String(s)) => s,
            Ok(other) => serde_json::to_string_pretty(&other).unwrap_or_default(),
            Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// `GET …/v1/analytics/prediction-entry/{id}?quantiles=…` (repeated); an empty list is refused.
    pub async fn prediction_entries(
        &self,
        prediction_id: i64,
        quantiles: &[f64],
    ) -> Result<Vec<PredictionEntry>, ApiError> {
        let id = prediction_id.to_string();
        let query = quantiles
            .iter()
            .map(|q| ("quantiles", q.to_string()))
            .collect();
        let call = self.call(
            Method::GET,
            &["v1", "analytics", "prediction-entry", &id],
            query,
        );
        if quantiles.is_empty() {
            return Err(ApiError::Invalid {
                service: Service::Chap,
                path: call.path,
                message: "at least one quantile is required (chap answers 422 otherwise)".into(),
            });
        }
        self.decoded(&call).await
    }

    /// `GET …/v1/crud/predictions/{id}`: the prediction's dataset (for thresholds).
    pub async fn prediction_info(&self, prediction_id: i64) -> Result<PredictionInfo, ApiError> {
        let id = prediction_id.to_string();
        let call = self.call(Method::GET, &["v1", "crud", "predictions", &id], Vec::new());
        self.decoded(&call).await
    }

    /// `POST …/v1/analytics/thresholds` with the seasonal strategy: chap's outbreak threshold per
    /// period and location. A pure computation, so retried like a GET.
    pub async fn thresholds(
        &self,
        dataset_id: i64,
        periods: &[String],
        locations: &[String],
    ) -> Result<Vec<Threshold>, ApiError> {
        let body = json!({
            "datasetId": dataset_id,
            "periodIds": periods,
            "strategy": "seasonal",
            "locations": locations,
        });
        let mut call = self.call(Method::POST, &["v1", "analytics", "thresholds"], Vec::new());
        call.json = Some(body.to_string().into_bytes().into());
        call.idempotent = true;
        self.decoded(&call).await
    }

    /// The prediction id of a finished job, from the job listing (string or integer `result`).
    pub async fn prediction_id(&self, job_id: &str) -> Result<i64, JobError> {
        let jobs = self.job_listing(job_id).await?;
        Ok(model::prediction_id(&jobs, job_id)?)
    }

    /// Polls a job until its status is terminal (success or not), calling `on_status` on each change.
    /// Checks first that chap lists the job; fails with [`JobError::Timeout`] past `timeout`, and with
    /// [`JobError::Revoked`] when chap revokes the job or stops knowing it (404).
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        timeout: Duration,
        poll_interval: Duration,
        mut on_status: impl FnMut(&JobStatus),
    ) -> Result<JobStatus, JobError> {
        if !self
            .job_listing(job_id)
            .await?
            .iter()
            .any(|j| j.id == job_id)
        {
            return Err(JobError::UnknownJob(job_id.to_string()));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last: Option<JobStatus> = None;
        loop {
            let status = match self.job_status(job_id).await {
                Err(e) if e.status() == Some(404) => {
                    return Err(JobError::Revoked(job_id.to_string()))
                }
                other => other?,
            };
            if last.as_ref() != Some(&status) {
                on_status(&status);
            }
            if status.is_revoked() {
                return Err(JobError::Revoked(job_id.to_string()));
            }
            if !status.is_transient() {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(JobError::Timeout {
                    job: job_id.to_string(),
                    timeout_secs: timeout.as_secs(),
                    last: status.to_string(),
                });
            }
            last = Some(status);
            tokio::time::sleep(poll_interval).await;
        }
    }
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
