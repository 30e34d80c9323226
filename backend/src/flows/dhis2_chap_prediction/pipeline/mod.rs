//! The per-setup pipeline (reference §2.4): end period, input window, analytics, org-unit GeoJSON,
//! request, submission, polling, result and the import into DHIS2 (issue 11), each a recorded step labelled with the setup. A failed
//! step fails only its setup (decision 2) and is mapped to the report as §2.5 says.
//!
//! Decisions where the reference is ambiguous:
//! - Every step is recorded, the pure ones too (`Resolve end period` for fixed/offset,
//!   `Validate period range`, `Build prediction request`): the step view then names the step the
//!   report names. Task names are the reference's display names; the label is the setup's label.
//! - A failed step's text is `"<kind>: <message>"` with Python-like kinds (`ValueError` for bad
//!   periods, `RuntimeError` for the probe and job outcomes) so reports read like the reference's.
//! - A job that ends in a non-success status gets its log tail fetched (decision 7), outside any step:
//!   a failure to fetch it is noted in the report, never fatal.

use std::fmt;

use chrono::NaiveDate;

use super::analytics::{describe_latest, latest_periods, probed_end, AnalyticsRequest};
use super::chap::{JobError, RunClients};
use super::client::ApiError;
use super::end_period::{input_window, resolve_end, EndResolution, EndSpec, ResolvedEnd};
use super::flow::PredictionSettings;
use super::forecast;
use super::import::report::ImportReport;
use super::import::step::{ImportSettings, Importer};
use super::import::targets::{parse_targets, Targets};
use super::model::{
    InvalidSetup, MissingValuesRejection, PredictionRequest, PredictionSetup, SetupJobs,
    SetupListing,
};
use super::params::ImportMode;
use super::periods::{forecast_horizon, probe_window, PeriodId, PeriodType};
use super::report::{EntryStatus, JobOrigin, ReportEntry, Step};
use super::request::{build_request, into_observations, prediction_name};
use crate::orchestrator::RunContext;

mod memory;

/// Why a step failed: the step, the `"<kind>: <message>"` text and chap's rejection if any.
#[derive(Debug, Clone)]
pub struct StepFailure {
    /// The failed step.
    pub step: Step,
    /// The report's error text (`None`: the bare step label).
    pub error: Option<String>,
    /// chap's structured missing-values rejection.
    pub rejection: Option<MissingValuesRejection>,
    /// The job ended in a non-success status: its log is worth fetching.
    job_ended: bool,
}

impl StepFailure {
    fn new(step: Step, kind: &str, message: impl fmt::Display) -> Self {
        StepFailure {
            step,
            error: Some(format!("{kind}: {message}")),
            rejection: None,
            job_ended: false,
        }
    }

    /// A failure whose text is already `"<kind>: <message>"`.
    fn text(step: Step, text: String) -> Self {
        StepFailure {
            step,
            error: Some(text),
            rejection: None,
            job_ended: false,
        }
    }

    fn api(step: Step) -> impl Fn(ApiError) -> StepFailure {
        move |e| StepFailure {
            step,
            error: Some(e.report_text()),
            rejection: e.rejection(),
            job_ended: false,
        }
    }

    fn job(step: Step) -> impl Fn(JobError) -> StepFailure {
        move |e| match e {
            JobError::Api(api) => StepFailure::api(step)(api),
            other => StepFailure::new(step, other.kind(), &other),
        }
    }
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error.as_deref().unwrap_or(self.step.label()))
    }
}

/// Records the setup's job for later attempts; a failure costs only that protection.
async fn remember_job(ctx: &RunContext, key: &str, job_id: &str) {
    if let Err(e) = ctx.remember(key, job_id.into()).await {
        ctx.warn(format!(
            "could not record chap job {job_id} for a later attempt of this run: {e:#}"
        ));
    }
}

/// What every setup of one run shares.
pub struct SetupRunner<'a> {
    /// The run.
    pub ctx: &'a RunContext,
    /// The run's clients.
    pub clients: &'a RunClients,
    /// Polling and parallelism.
    pub settings: &'a PredictionSettings,
    /// The run's end mode.
    pub end: EndSpec,
    /// DHIS2's date (the worker's UTC date when DHIS2 does not say).
    pub today: NaiveDate,
    /// Whether and how forecasts go into DHIS2.
    pub import: ImportSettings,
    /// Skip setups without a period newer than their last successful prediction.
    pub only_new_data: bool,
    /// The DHIS2 instance (base URL): what a setup's memory of its last success is kept under.
    pub instance: String,
}

impl SetupRunner<'_> {
    /// Runs one listed setup to its report entry; never fails the run.
    pub async fn run(&self, listed: SetupListing) -> ReportEntry {
        match listed {
            Ok(setup) => self.run_setup(&setup).await,
            Err(invalid) => self.refuse(&invalid).await,
        }
    }

    /// A listing element that is not a usable setup fails at `read_prediction_setup`.
    async fn refuse(&self, invalid: &InvalidSetup) -> ReportEntry {
        let name = invalid.name.clone().unwrap_or_else(|| match invalid.id {
            Some(id) => format!("setup {id}"),
            None => "(unnamed setup)".into(),
        });
        let template = invalid.template_name.clone().unwrap_or_else(|| "?".into());
        let label = format!("{name} ({template})");
        let mut entry = ReportEntry::new(name, template);
        entry.setup_id = invalid.id;
        let failure = self
            .step(Step::ReadSetup, &label, async {
                Err::<(), _>(StepFailure::new(
                    Step::ReadSetup,
                    "ValueError",
                    &invalid.reason,
                ))
            })
            .await
            .err();
        if let Some(failure) = failure {
            self.record_failure(&label, &mut entry, failure);
        }
        entry
    }

    async fn run_setup(&self, setup: &PredictionSetup) -> ReportEntry {
        let label = setup.label();
        let mut entry = ReportEntry::new(&setup.name, &setup.configured_model.name);
        entry.setup_id = Some(setup.id);
        match self.pipeline(setup, &label, &mut entry).await {
            Ok(Some(no_new_data)) => {
                self.ctx.info(format!("[skip] {label}: {no_new_data}"));
                entry.status = EntryStatus::Skipped;
                entry.skip_reason = Some(no_new_data);
            }
            Ok(None) => {
                entry.status = EntryStatus::Succeeded;
                self.remember_success(setup, &entry);
            }
            Err(failure) => self.record_failure(&label, &mut entry, failure),
        }
        entry
    }

    fn record_failure(&self, label: &str, entry: &mut ReportEntry, failure: StepFailure) {
        self.ctx.warn(format!(
            "[skip] {label}: failed at {} -- {failure}",
            failure.step.label()
        ));
        entry.fail(failure.step, failure.error, failure.rejection);
    }

    async fn step<T>(
        &self,
        step: Step,
        label: &str,
        work: impl std::future::Future<Output = Result<T, StepFailure>>,
    ) -> Result<T, StepFailure> {
        // Only these change something outside the database: their start is a leased write before
        // their work (see `RunContext::step`).
        if matches!(step, Step::RunPredictionSetup | Step::ImportToDhis2) {
            self.ctx.step(step.display_name(), Some(label), work).await
        } else {
            self.ctx
                .read_step(step.display_name(), Some(label), work)
                .await
        }
    }

    /// Runs the setup's steps; `Ok(Some(reason))` when it is skipped for lack of new data.
    async fn pipeline(
        &self,
        setup: &PredictionSetup,
        label: &str,
        entry: &mut ReportEntry,
    ) -> Result<Option<String>, StepFailure> {
        let ctx = self.ctx;
        let raw_type = setup.period_type.as_deref().unwrap_or("");

        // a: end period.
        let end = match self.end {
            EndSpec::Calculated => {
                self.step(Step::ProbeLatestCovariatePeriods, label, self.probe(setup))
                    .await?
            }
            spec => {
                self.step(Step::ResolveEndPeriod, label, async {
                    let step = Step::ResolveEndPeriod;
                    let period_type = PeriodType::parse(raw_type)
                        .map_err(|e| StepFailure::new(step, "ValueError", e))?;
                    match resolve_end(period_type, &spec, self.today) {
                        EndResolution::Resolved(end) => Ok(end),
                        EndResolution::NeedsProbe(_) => Err(StepFailure::new(
                            step,
                            "RuntimeError",
                            "end mode needs a probe",
                        )),
                    }
                })
                .await?
            }
        };
        ctx.info(end.log_line(&self.end));
        entry.last_input_period = Some(end.period.canonical());
        if self.only_new_data {
            if let Some(reason) = self.no_new_data(setup, &end.period).await? {
                return Ok(Some(reason));
            }
        }

        // b: the input window.
        let (start_raw, periods) = self
            .step(Step::ValidatePeriodRange, label, async {
                let step = Step::ValidatePeriodRange;
                let invalid = |e| StepFailure::new(step, "ValueError", e);
                let period_type = PeriodType::parse(raw_type).map_err(invalid)?;
                let start_raw = setup.start_period.clone().ok_or_else(|| {
                    StepFailure::new(step, "ValueError", "the setup has no startPeriod")
                })?;
                let start = PeriodId::parse(&start_raw)
                    .and_then(|p| p.expect_type(period_type))
                    .map_err(invalid)?;
                let end_period = end
                    .period
                    .clone()
                    .expect_type(period_type)
                    .map_err(invalid)?;
                let end = ResolvedEnd {
                    period: end_period,
                    source: end.source,
                };
                Ok((start_raw, input_window(&start, &end).map_err(invalid)?))
            })
            .await?;
        entry.org_units_covered = Some(setup.org_units.len());
        entry.periods_covered = Some(periods.len());

        // c: analytics.
        let request = AnalyticsRequest::input(&setup.covariate_sources, &periods, &setup.org_units);
        ctx.info(format!(
            "Fetching analytics for '{}': {} dx x {} pe ({}..{}) x {} ou",
            setup.name,
            setup.covariate_sources.len(),
            periods.len(),
            periods.first().map(PeriodId::canonical).unwrap_or_default(),
            periods.last().map(PeriodId::canonical).unwrap_or_default(),
            setup.org_units.len()
        ));
        let table = self
            .step(Step::FetchDhis2ForSetup, label, async {
                self.clients
                    .dhis2
                    .analytics_chunked(&request)
                    .await
                    .map_err(StepFailure::api(Step::FetchDhis2ForSetup))
            })
            .await?;
        drop(request);
        ctx.info(format!(
            "  -> {} rows; columns: [{}]",
            table.row_count(),
            table.columns.join(", ")
        ));
        entry.analytics_rows = Some(table.row_count());

        // d: org-unit GeoJSON.
        let geojson = self
            .step(Step::FetchOrgUnitsGeojson, label, async {
                self.clients
                    .dhis2
                    .org_unit_features(&setup.org_units)
                    .await
                    .map_err(StepFailure::api(Step::FetchOrgUnitsGeojson))
            })
            .await?;
        let features = geojson["features"].as_array().map_or(0, Vec::len);
        ctx.info(format!(
            "Fetched {features} org-unit features for '{}'",
            setup.name
        ));

        // e: the request body (the rows are dropped as soon as the observations exist); the forecast
        // artifact keeps the target's recent observations and the org unit names from it.
        let (body, observed) = self
            .step(Step::BuildPredictionRequest, label, async {
                let built = into_observations(table, &setup.covariate_sources);
                ctx.info(built.summary());
                let name = prediction_name(
                    &setup.name,
                    &setup.configured_model.name,
                    &start_raw,
                    &end.period,
                );
                let body = build_request(
                    name,
                    geojson,
                    built.observations,
                    forecast_horizon(raw_type),
                )
                .map_err(|e| StepFailure::new(Step::BuildPredictionRequest, "ValueError", e))?;
                let target = &setup.configured_model.model_template.target;
                let observed = forecast::observed(&body, target, &periods);
                Ok((body, observed))
            })
            .await?;

        // f: the setup's chap job: one this run already has, one in flight in chap, or a new one.
        let (job_id, origin) = self
            .step(Step::RunPredictionSetup, label, self.chap_job(setup, body))
            .await?;
        entry.job_id = Some(job_id.clone());
        entry.job_origin = origin;

        // g: wait for the job.
        let waited = self
            .step(Step::WaitForPrediction, label, async {
                let step = Step::WaitForPrediction;
                let status = self
                    .clients
                    .chap
                    .wait_for_job(
                        &job_id,
                        self.settings.timeout,
                        self.settings.poll_interval,
                        |s| ctx.info(format!("  job {job_id}: status={s}")),
                    )
                    .await
                    .map_err(StepFailure::job(step))?;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(StepFailure {
                        job_ended: true,
                        ..StepFailure::new(
                            step,
                            "RuntimeError",
                            format!("job ended with status='{status}'"),
                        )
                    })
                }
            })
            .await;
        if let Err(failure) = waited {
            if failure.job_ended {
                let log = self.clients.chap.job_logs(&job_id).await;
                entry.set_job_log(log.as_deref().map_err(ApiError::report_text));
            }
            return Err(failure);
        }

        // The targets are read before the result so chap is asked for their quantiles too.
        let targets = match self.import.mode {
            ImportMode::Off => Targets::default(),
            _ => parse_targets(&setup.quantile_targets),
        };
        let importer = Importer {
            ctx,
            clients: self.clients,
            settings: self.import,
        };
        let quantiles = targets.quantiles(importer.indicator_quantile());

        // h: the result.
        let (prediction_id, entries) = self
            .step(Step::FetchPredictionResult, label, async {
                let step = Step::FetchPredictionResult;
                let id = self
                    .clients
                    .chap
                    .prediction_id(&job_id)
                    .await
                    .map_err(StepFailure::job(step))?;
                let entries = self
                    .clients
                    .chap
                    .prediction_entries(id, &quantiles)
                    .await
                    .map_err(StepFailure::api(step))?;
                Ok((id, entries))
            })
            .await?;
        ctx.info(format!(
            "Fetched {} prediction entries (prediction id={prediction_id})",
            entries.len()
        ));
        entry.prediction_id = Some(prediction_id);
        entry.prediction_values = Some(entries.len());
        entry.set_predicted_periods(entries.iter().map(|e| e.period.as_str()));
        ctx.info(format!(
            "Prediction returned {} values for '{}' across {} periods",
            entries.len(),
            setup.name,
            entry.predicted_periods.len()
        ));

        // i: the forecast into DHIS2.
        if !targets.is_empty() {
            let mut report = ImportReport::new(self.import.mode);
            let imported = self
                .step(Step::ImportToDhis2, label, async {
                    importer
                        .run(&setup.name, &targets, prediction_id, &entries, &mut report)
                        .await
                        .map_err(|text| StepFailure::text(Step::ImportToDhis2, text))
                })
                .await;
            entry.import = Some(report);
            imported?;
        }

        // j: the forecast artifact (the run page's charts).
        let thresholds = entry.import.as_ref().and_then(|r| r.thresholds.as_ref());
        let href = self
            .store_forecast(setup, observed, &entries, thresholds, prediction_id)
            .await;
        entry.forecast_href = Some(href);
        Ok(None)
    }

    /// The chap job of a setup (issue: exactly one chap job per setup and run). A job this run recorded
    /// in an earlier attempt is followed whatever its state; else a job of the setup still in flight in
    /// chap (started by hand, or submitted by an attempt that died before recording it) is followed;
    /// else the request is submitted (never retried) and the job recorded for later attempts.
    async fn chap_job(
        &self,
        setup: &PredictionSetup,
        body: PredictionRequest,
    ) -> Result<(String, JobOrigin), StepFailure> {
        let step = Step::RunPredictionSetup;
        let ctx = self.ctx;
        let key = format!("chap-job:setup:{}", setup.id);
        let recalled = ctx.recall(&key).await.map_err(|e| {
            StepFailure::new(
                step,
                "RuntimeError",
                format!("reading the run's record of its chap jobs failed: {e:#}"),
            )
        })?;
        if let Some(id) = recalled.as_ref().and_then(|v| v.as_str()) {
            ctx.info(format!(
                "Following job {id}: an earlier attempt of this run submitted it for '{}'",
                setup.name
            ));
            return Ok((id.to_string(), JobOrigin::EarlierAttempt));
        }
        let chap = &self.clients.chap;
        match chap.setup_jobs(setup.id).await.map_err(StepFailure::api(step))? {
            SetupJobs::InFlight { id, status } => {
                ctx.info(format!(
                    "Followed job {id} already running in chap for '{}' (status {status}); no new \
                     job submitted",
                    setup.name
                ));
                self.remember_job(&key, &id).await;
                return Ok((id, JobOrigin::InFlight));
            }
            SetupJobs::Idle => {}
            SetupJobs::Unknown => ctx.warn(format!(
                "chap's job listing does not say which setup a job is for (an older chap): a job already \
                 running for '{}' cannot be found, so a new one is submitted",
                setup.name
            )),
        }
        // The submit and its record run as one task of their own: a cancel (which drops the flow's
        // body at its next await) cannot fall between them and leave a job in chap that the run
        // does not know; once the attempt has ended the record is refused by the lease anyway.
        let (chap, task_ctx, setup_id) = (chap.clone(), ctx.clone(), setup.id);
        let id = tokio::spawn(async move {
            let id = chap.run_prediction_setup(setup_id, body).await?;
            task_ctx.info(format!("Submitted prediction; job id = {id}"));
            remember_job(&task_ctx, &key, &id).await;
            Ok(id)
        })
        .await
        .map_err(|e| {
            StepFailure::new(step, "RuntimeError", format!("the submit task failed: {e}"))
        })?
        .map_err(StepFailure::api(step))?;
        Ok((id, JobOrigin::Submitted))
    }

    async fn remember_job(&self, key: &str, job_id: &str) {
        remember_job(self.ctx, key, job_id).await;
    }

    /// The freshness probe (§4.3): the latest period where every covariate has data.
    async fn probe(&self, setup: &PredictionSetup) -> Result<ResolvedEnd, StepFailure> {
        let step = Step::ProbeLatestCovariatePeriods;
        let raw_type = setup.period_type.as_deref().unwrap_or("");
        let window = probe_window(raw_type).map_err(|e| StepFailure::new(step, "ValueError", e))?;
        self.ctx.info(format!(
            "Probing DHIS2 covariate freshness over {}",
            window.name
        ));
        let request = AnalyticsRequest::probe(&setup.covariate_sources, window, &setup.org_units);
        let table = self
            .clients
            .dhis2
            .analytics_chunked(&request)
            .await
            .map_err(StepFailure::api(step))?;
        let latest = latest_periods(&table).map_err(|e| StepFailure::new(step, "ValueError", e))?;
        self.ctx.info(format!(
            "  {}",
            describe_latest(&setup.covariate_sources, &latest)
        ));
        let period = probed_end(&setup.covariate_sources, &latest, window)
            .map_err(|e| StepFailure::new(step, "RuntimeError", e))?;
        Ok(ResolvedEnd {
            period,
            source: super::end_period::EndSource::Probed,
        })
    }
}
