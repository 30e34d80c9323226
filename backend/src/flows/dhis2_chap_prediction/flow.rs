//! The DHIS2 → chap prediction flow as the engine runs it (reference §2.3, lineage C with the port's
//! decisions): credentials from a block, one pair of HTTP clients per run, DHIS2 and chap checks, the
//! setup listing, the per-setup pipeline with bounded parallelism, and the report in every case.
//!
//! Decisions where the reference is ambiguous:
//! - A credentials block that does not exist or is not a `dhis2-credentials` block is an invalid
//!   parameter: the report says so under `## Parameters` and the run fails without retry. A block that
//!   cannot be read (database error) fails the attempt as retryable, also with a report.
//! - The run's state message names the first reason nothing succeeded (invalid parameters, DHIS2 or
//!   chap unreachable, listing failed) or the counts.
//! - A cancelled run has no report: the engine aborts the body at once (its steps are recorded).

use std::time::Duration;

use chap_scheduler_api::ArtifactKind;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use secrecy::SecretString;
use serde_json::{json, Value};
use url::Url;

use super::chap::{RunClients, CHAP_ROUTE_PREFIX, POLL_INTERVAL};
use super::client::{Credentials, HttpSettings};
use super::import::step::ImportSettings;
use super::params::{self, describe_errors, FlowParams, CREDENTIALS_BLOCK_TYPE};
use super::pipeline::SetupRunner;
use super::report::{render, EntryStatus, RunOutcome, RunReport, ARTIFACT_KEY};
use super::selection::{describe_listing, select_setups};
use crate::config::Config;
use crate::orchestrator::schema::FieldErrors;
use crate::orchestrator::{BlockData, Flow, FlowError, RunContext};

/// The flow's name (and its default deployment's).
pub const FLOW_NAME: &str = "dhis2-chap-prediction";

/// Shown for the DHIS2 instance when the parameters never named a usable block.
const UNKNOWN_INSTANCE: &str = "(unknown)";

/// How the flow polls, waits and fans out, and its HTTP clients' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictionSettings {
    /// Pause between two polls of a chap job (5 s).
    pub poll_interval: Duration,
    /// Longest wait for one chap job (1 h).
    pub timeout: Duration,
    /// Setups processed at once within a run (1).
    pub parallelism: usize,
    /// Timeouts, retries and analytics budgets of the clients.
    pub http: HttpSettings,
    /// Most data values in one DHIS2 import request (10,000).
    pub import_batch: usize,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        PredictionSettings {
            poll_interval: POLL_INTERVAL,
            timeout: Duration::from_secs(3600),
            parallelism: 1,
            http: HttpSettings::default(),
            import_batch: 10_000,
        }
    }
}

impl PredictionSettings {
    /// The settings the service's configuration chooses.
    pub fn from_config(config: &Config) -> Self {
        PredictionSettings {
            poll_interval: config.prediction_poll_interval,
            timeout: config.prediction_timeout,
            parallelism: config.prediction_parallelism.max(1),
            http: HttpSettings {
                dhis2_timeout: config.dhis2_timeout,
                chap_timeout: config.chap_timeout,
                analytics_limits: super::analytics::ChunkLimits {
                    max_rows: config.analytics_max_rows,
                    max_url_len: config.analytics_max_url_bytes,
                },
                max_response_bytes: config.upstream_max_response_bytes,
                ..HttpSettings::default()
            },
            import_batch: config.dhis2_import_batch.max(1),
        }
    }
}

/// `dhis2-chap-prediction`: predictions in chap-core for every prediction setup of a DHIS2 instance.
#[derive(Debug, Clone, Default)]
pub struct PredictionFlow {
    settings: PredictionSettings,
}

impl PredictionFlow {
    /// The flow with these settings.
    pub fn new(settings: PredictionSettings) -> Self {
        PredictionFlow { settings }
    }

    /// Its settings.
    pub fn settings(&self) -> &PredictionSettings {
        &self.settings
    }

    async fn execute(&self, ctx: &RunContext) -> Result<(), FlowError> {
        let started = crate::db::clock::now();
        let params = match params::validate(ctx.parameters()) {
            Ok(p) => p,
            Err(errors) => {
                let mut report = RunReport::new(UNKNOWN_INSTANCE, started);
                report.parameters_error = Some(describe_errors(&errors));
                return self.finish(ctx, report, None).await;
            }
        };
        let credentials = match load_credentials(ctx, &params).await {
            Ok(c) => c,
            Err((message, error)) => {
                let mut report = RunReport::new(UNKNOWN_INSTANCE, started);
                report.parameters_error = Some(message);
                return self.finish(ctx, report, error).await;
            }
        };
        let mut report =
            RunReport::new(credentials.base_url.as_str().trim_end_matches('/'), started);
        let clients = match RunClients::new(&credentials, self.settings.http.clone()) {
            Ok(c) => c,
            Err(e) => {
                report.dhis2_error = Some(e.report_text());
                ctx.error(format!("DHIS2 not reachable: {}", e.report_text()));
                return self.finish(ctx, report, None).await;
            }
        };
        self.predict(ctx, &params, &clients, &mut report).await;
        self.finish(ctx, report, None).await
    }

    /// Checks DHIS2 and chap, lists the setups and runs them; every outcome lands in `report`.
    async fn predict(
        &self,
        ctx: &RunContext,
        params: &FlowParams,
        clients: &RunClients,
        report: &mut RunReport,
    ) {
        let url = report.dhis2_url.clone();
        let dhis2 = ctx
            .read_step("Fetch DHIS2 system info", None, async {
                clients
                    .dhis2
                    .system_info()
                    .await
                    .map_err(|e| e.report_text())
            })
            .await;
        let today = match dhis2 {
            Ok(info) => {
                ctx.info(format!("DHIS2 is up at {url} (version {})", info.version));
                if let Some(name) = &info.system_name {
                    ctx.info(format!("  system name : {name}"));
                }
                let today = info.today();
                match today {
                    Some(day) => ctx.info(format!(
                        "  today       : {day} on DHIS2 (time zone {})",
                        info.server_time_zone_id.as_deref().unwrap_or("not given")
                    )),
                    None => ctx.warn(
                        "DHIS2 does not report its date (serverDate): periods are counted from the \
                         worker's UTC date",
                    ),
                }
                let unsupported = info.unsupported();
                report.dhis2 = Some(info);
                if let Some(why) = unsupported {
                    ctx.error(&why);
                    report.dhis2_unsupported = Some(why);
                    return;
                }
                today.unwrap_or_else(|| crate::db::clock::now().date_naive())
            }
            Err(e) => {
                ctx.error(format!("DHIS2 not reachable: {e}"));
                report.dhis2_error = Some(e);
                return;
            }
        };

        let chap = ctx
            .read_step("Verify chap is reachable", None, async {
                clients
                    .chap
                    .system_info()
                    .await
                    .map_err(|e| e.report_text())
            })
            .await;
        match chap {
            Ok(info) => {
                ctx.info(format!(
                    "chap is up on {url}{CHAP_ROUTE_PREFIX} (chap-core v{})",
                    info.chap_core_version
                ));
                ctx.info(format!("  chap-core   : {}", info.chap_core_version));
                ctx.info(format!("  python      : {}", info.python_version));
                ctx.info(format!("  time zone   : {}", info.server_time_zone_id));
                ctx.info(format!("  server date : {}", info.server_date));
                report.chap = Some(info);
            }
            Err(e) => {
                ctx.error(format!("chap-core not reachable: {e}"));
                report.chap_error = Some(e);
                return;
            }
        }

        let listing = ctx
            .read_step("Fetch chap prediction setups", None, async {
                clients
                    .chap
                    .prediction_setups()
                    .await
                    .map_err(|e| e.report_text())
            })
            .await;
        let listing = match listing {
            Ok(listing) => listing,
            Err(e) => {
                ctx.error(format!("could not list prediction setups: {e}"));
                report.models_error = Some(e);
                return;
            }
        };
        for line in describe_listing(&listing) {
            ctx.info(line);
        }
        let selection = match select_setups(listing, params.setup_ids.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                ctx.error(format!("could not list prediction setups: {e}"));
                report.models_error = Some(e);
                return;
            }
        };
        let disabled: Vec<&str> = selection
            .skipped
            .iter()
            .filter(|e| e.status == EntryStatus::Skipped)
            .map(|e| e.name.as_str())
            .collect();
        if !disabled.is_empty() {
            ctx.info(format!(
                "Skipping {} disabled setup(s) (scheduleEnabled=false): {}",
                disabled.len(),
                disabled.join(", ")
            ));
        }
        report.entries = selection.skipped;

        let runner = SetupRunner {
            ctx,
            clients,
            settings: &self.settings,
            end: params.end,
            today,
            import: ImportSettings {
                mode: params.import_to_dhis2,
                outbreak_probability: params.outbreak_probability,
                batch: self.settings.import_batch,
            },
            only_new_data: params.only_new_data,
            instance: url.clone(),
        };
        // `buffered` runs up to `parallelism` setups at once and yields them in listing order.
        let entries: Vec<_> = stream::iter(selection.to_run)
            .map(|listed| runner.run(listed))
            .buffered(self.settings.parallelism.max(1))
            .collect()
            .await;
        report.entries.extend(entries);
    }

    /// Writes the report and the summary, and turns the outcome into the run's state (decision 8).
    async fn finish(
        &self,
        ctx: &RunContext,
        report: RunReport,
        error: Option<FlowError>,
    ) -> Result<(), FlowError> {
        let markdown = render(&report, crate::db::clock::now());
        ctx.artifact(ARTIFACT_KEY, ArtifactKind::Markdown, &markdown);
        let counts = report.counts();
        // The failed setups' ids let an operator retry just those (`failed_setups_only`).
        let failed_ids: Vec<i64> = report
            .entries
            .iter()
            .filter(|e| e.status == EntryStatus::Failed)
            .filter_map(|e| e.setup_id)
            .collect();
        // Each setup's outcome, for notifications (`run.failed`, `run.partial`).
        let setups: Vec<Value> = report
            .entries
            .iter()
            .map(|e| {
                json!({
                    "id": e.setup_id,
                    "name": e.name,
                    "status": match e.status {
                        EntryStatus::Succeeded => "succeeded",
                        EntryStatus::Failed => "failed",
                        EntryStatus::Skipped => "skipped",
                    },
                    "step_failed": e.step_failed,
                    "error": e.error.clone().or_else(|| e.skip_reason.clone()),
                })
            })
            .collect();
        let summary = json!({
            "succeeded": counts.succeeded,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "failed_setup_ids": failed_ids,
            "setups": setups,
        });
        ctx.set_summary(summary);
        ctx.info(format!("Prediction setups: {counts}"));
        if let Some(error) = error {
            return Err(error);
        }
        match report.outcome() {
            RunOutcome::Completed => Ok(()),
            RunOutcome::Failed => Err(FlowError::permanent(failure_message(&report))),
        }
    }
}

/// Why a run where nothing succeeded failed, in one line.
fn failure_message(report: &RunReport) -> String {
    if let Some(e) = &report.parameters_error {
        format!("invalid parameters: {e}")
    } else if let Some(e) = &report.dhis2_error {
        format!("DHIS2 not reachable: {e}")
    } else if let Some(why) = &report.dhis2_unsupported {
        why.clone()
    } else if let Some(e) = &report.chap_error {
        format!("chap-core not reachable: {e}")
    } else if let Some(e) = &report.models_error {
        format!("could not list prediction setups: {e}")
    } else if report.entries.is_empty() {
        "chap returned no prediction setups".into()
    } else {
        format!("no prediction setup succeeded ({})", report.counts())
    }
}

/// The block's credentials; on failure the report's parameter error and, for a read failure, the
/// (retryable) error to end the attempt with.
async fn load_credentials(
    ctx: &RunContext,
    params: &FlowParams,
) -> Result<Credentials, (String, Option<FlowError>)> {
    let block = match ctx.block(params.credentials).await {
        Ok(block) => block,
        Err(e) if e.retryable => {
            ctx.error(format!("reading the credentials failed: {}", e.message));
            return Err((format!("credentials: {}", e.message), Some(e)));
        }
        Err(e) => return Err((format!("credentials: {}", e.message), None)),
    };
    credentials_of(&block).map_err(|m| (format!("credentials: {m}"), None))
}

/// Reads `base_url` and, by `auth_type`, `username` and `password` (`basic`, the default) or `token`
/// (`pat`) of a `dhis2-credentials` block. Errors never contain a secret.
pub fn credentials_of(block: &BlockData) -> Result<Credentials, String> {
    if block.block_type != CREDENTIALS_BLOCK_TYPE {
        return Err(format!(
            "block '{}' is a {} block, not a {CREDENTIALS_BLOCK_TYPE} block",
            block.name, block.block_type
        ));
    }
    let field = |name: &str| -> Result<&str, String> {
        block
            .data
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("block '{}' has no {name}", block.name))
    };
    let raw_url = field("base_url")?;
    let base_url = Url::parse(raw_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            format!(
                "block '{}' has a base_url that is not an http(s) URL",
                block.name
            )
        })?;
    match block.data.get("auth_type").and_then(Value::as_str) {
        None | Some("basic") => Ok(Credentials::basic(
            base_url,
            field("username")?,
            SecretString::from(field("password")?.to_string()),
        )),
        Some("pat") => Ok(Credentials::token(
            base_url,
            SecretString::from(field("token")?.to_string()),
        )),
        Some(other) => Err(format!(
            "block '{}' has the unknown auth_type '{other}' (basic or pat)",
            block.name
        )),
    }
}

impl Flow for PredictionFlow {
    fn name(&self) -> &'static str {
        FLOW_NAME
    }

    fn description(&self) -> &'static str {
        "Runs a chap-core prediction for every prediction setup of a DHIS2 instance: fetches the \
         covariates from DHIS2 analytics up to the latest period with data (or a fixed or offset end), \
         submits them through DHIS2's chap route, waits for the job and reads the forecast back, and \
         writes a markdown run report."
    }

    fn parameter_schema(&self) -> Value {
        params::schema()
    }

    fn validate(&self, parameters: &Value) -> FieldErrors {
        params::validate(parameters).err().unwrap_or_default()
    }

    fn default_parameters(&self) -> Value {
        json!({ "end_mode": "calculated" })
    }

    fn default_concurrency_limit(&self) -> Option<u32> {
        Some(1)
    }

    /// The same parameters restricted to the setups that failed (`prediction_setup_ids`), read from
    /// the summary's `failed_setup_ids`.
    fn failed_parts(&self, parameters: &Value, summary: Option<&Value>) -> Result<Value, String> {
        let ids: Vec<i64> = summary
            .and_then(|s| s.get("failed_setup_ids"))
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        if ids.is_empty() {
            return Err(
                match summary
                    .and_then(|s| s.get("failed"))
                    .and_then(Value::as_u64)
                {
                    Some(n) if n > 0 => format!(
                        "the run's {n} failed setup(s) have no id (chap listed them without one): \
                     retry the whole run"
                    ),
                    _ => "no prediction setup failed in this run".into(),
                },
            );
        }
        let mut next = parameters.as_object().cloned().unwrap_or_default();
        next.remove("prediction_setup_id");
        next.insert("prediction_setup_ids".into(), json!(ids));
        Ok(Value::Object(next))
    }

    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>> {
        Box::pin(self.execute(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::dhis2_chap_prediction::client::Auth;
    use secrecy::ExposeSecret;
    use uuid::Uuid;

    fn block(block_type: &str, data: Value) -> BlockData {
        BlockData {
            id: Uuid::nil(),
            name: "prod-dhis2".into(),
            block_type: block_type.into(),
            data,
            secrets: vec!["hunter2".into()],
        }
    }

    #[test]
    fn a_credentials_block_gives_url_user_and_password() {
        let c = credentials_of(&block(
            CREDENTIALS_BLOCK_TYPE,
            json!({ "base_url": "https://dhis.example.org/dhis", "username": "alice", "password": "hunter2" }),
        ))
        .unwrap();
        assert_eq!(c.base_url.as_str(), "https://dhis.example.org/dhis");
        assert!(matches!(&c.auth, Auth::Basic { username, .. } if username == "alice"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_token_block_gives_a_token_and_needs_no_username() {
        let c = credentials_of(&block(
            CREDENTIALS_BLOCK_TYPE,
            json!({ "base_url": "https://dhis.example.org", "auth_type": "pat", "token": "d2pat_abc123" }),
        ))
        .unwrap();
        assert!(matches!(&c.auth, Auth::Token(t) if t.expose_secret() == "d2pat_abc123"));
        assert!(!format!("{c:?}").contains("d2pat_abc123"));
        let missing = credentials_of(&block(
            CREDENTIALS_BLOCK_TYPE,
            json!({ "base_url": "https://dhis.example.org", "auth_type": "pat", "password": "pw12" }),
        ))
        .unwrap_err();
        assert!(missing.contains("no token"), "{missing}");
    }

    #[test]
    fn a_block_of_another_type_or_without_fields_is_refused_without_its_secrets() {
        let wrong = credentials_of(&block("s3", json!({}))).unwrap_err();
        assert!(wrong.contains("not a dhis2-credentials block"), "{wrong}");
        let missing = credentials_of(&block(
            CREDENTIALS_BLOCK_TYPE,
            json!({ "base_url": "https://x.org", "username": "alice" }),
        ))
        .unwrap_err();
        assert!(missing.contains("no password"), "{missing}");
        let bad_url = credentials_of(&block(
            CREDENTIALS_BLOCK_TYPE,
            json!({ "base_url": "ftp://x.org", "username": "alice", "password": "hunter2" }),
        ))
        .unwrap_err();
        assert!(bad_url.contains("base_url"), "{bad_url}");
        assert!(!bad_url.contains("hunter2"));
    }

    #[test]
    fn the_flow_validates_combinations_the_schema_cannot_express() {
        let flow = PredictionFlow::default();
        assert_eq!(flow.name(), "dhis2-chap-prediction");
        assert_eq!(flow.default_concurrency_limit(), Some(1));
        assert_eq!(flow.settings().poll_interval, Duration::from_secs(5));
        let block = Uuid::new_v4().to_string();
        let errors = flow.validate(&json!({ "credentials": block, "end_mode": "fixed" }));
        assert!(errors["end_date"].contains("requires end_date"));
        assert!(flow
            .validate(
                &json!({ "credentials": block, "end_mode": "offset", "end_period_offset": 1 })
            )
            .is_empty());
        assert_eq!(
            flow.parameter_schema()["properties"]["credentials"]["block_type_slug"],
            CREDENTIALS_BLOCK_TYPE
        );
    }

    #[test]
    fn a_retry_of_the_failed_setups_names_them_and_drops_the_single_id() {
        let flow = PredictionFlow::default();
        let params =
            json!({ "credentials": "x", "prediction_setup_id": 1, "end_mode": "calculated" });
        let summary =
            json!({ "succeeded": 1, "failed": 2, "skipped": 0, "failed_setup_ids": [3, 7] });
        assert_eq!(
            flow.failed_parts(&params, Some(&summary)).unwrap(),
            json!({ "credentials": "x", "end_mode": "calculated", "prediction_setup_ids": [3, 7] })
        );
        let none = json!({ "succeeded": 2, "failed": 0, "skipped": 0, "failed_setup_ids": [] });
        assert_eq!(
            flow.failed_parts(&params, Some(&none)).unwrap_err(),
            "no prediction setup failed in this run"
        );
        assert!(flow.failed_parts(&params, None).is_err());
        let unnamed = json!({ "succeeded": 0, "failed": 1, "skipped": 0, "failed_setup_ids": [] });
        assert!(flow
            .failed_parts(&params, Some(&unnamed))
            .unwrap_err()
            .contains("retry the whole run"));
    }

    #[test]
    fn the_failure_message_names_the_first_reason() {
        let mut report = RunReport::new("http://x", chrono::Utc::now());
        assert_eq!(
            failure_message(&report),
            "chap returned no prediction setups"
        );
        report.chap_error = Some("TransportError: refused".into());
        assert_eq!(
            failure_message(&report),
            "chap-core not reachable: TransportError: refused"
        );
        report.dhis2_error = Some("DHIS2 down".into());
        assert!(failure_message(&report).starts_with("DHIS2 not reachable"));
    }
}
