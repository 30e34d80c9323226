//! The markdown run report (reference §6): its data model, the step labels it names, the renderer
//! (byte for byte), and the run outcome rule (decision 8).
//!
//! Decisions where the reference is ambiguous:
//! - `Started` is printed to whole seconds with an offset (`2026-05-07T11:38:23+00:00`).
//! - Invalid parameters (decision 8: the report is written in every case) add a `## Parameters`
//!   section with `**INVALID** -- \`<errors>\`` after the header, and the report stops there.
//! - A failed entry's job log tail (decision 7) comes last in its block: `- Job log (last N lines):`
//!   and a fenced block, or `- Job log: not available -- \`<why>\`` when fetching it failed.
//! - Decision 10 pluralises the rejection summary ("1 org unit"); the `- Org units: <n>` label stays.
//! - Entries render in the order they were added; the runner adds skipped setups first, then the run
//!   ones in chap's listing order (§2.3), whatever order they completed in (decision 11).
//! - A run with no succeeded setup is FAILED when a setup failed or chap listed none; a run where
//!   every setup was skipped and none failed is COMPLETED (issue 12: only failed setups fail a run).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use super::import::report::{render_import, render_total, ImportReport};
use super::model::{ChapSystemInfo, Dhis2SystemInfo, MissingValuesRejection};
use super::periods::sort_period_strings;

/// Key under which the report artifact is stored.
pub const ARTIFACT_KEY: &str = "dhis2-chap-prediction-report";
/// Description of the report artifact.
pub const ARTIFACT_DESCRIPTION: &str = "chap-scheduler run summary";
/// Lines of a failed job's log kept in the report.
pub const JOB_LOG_TAIL_LINES: usize = 20;
/// Most characters of a failed job's log kept in the report.
pub const JOB_LOG_TAIL_CHARS: usize = 4_000;

/// The labelled steps of the per-setup pipeline, as recorded in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The setup's listing element could not be read (decision 2).
    ReadSetup,
    /// `fixed`/`offset` end resolution (unsupported period type).
    ResolveEndPeriod,
    /// The freshness probe (`calculated`).
    ProbeLatestCovariatePeriods,
    /// Start period vs end, and the 120-period cap.
    ValidatePeriodRange,
    /// Analytics input data.
    FetchDhis2ForSetup,
    /// Org-unit geometry.
    FetchOrgUnitsGeojson,
    /// The run body.
    BuildPredictionRequest,
    /// `POST …/run`.
    RunPredictionSetup,
    /// Polling the chap job.
    WaitForPrediction,
    /// Prediction id and entries.
    FetchPredictionResult,
    /// The forecast into DHIS2 (`import_to_dhis2`).
    ImportToDhis2,
}

impl Step {
    /// The label written in the report (`step_failed`).
    pub fn label(self) -> &'static str {
        match self {
            Step::ReadSetup => "read_prediction_setup",
            Step::ResolveEndPeriod => "resolve_end_period",
            Step::ProbeLatestCovariatePeriods => "probe_latest_covariate_periods",
            Step::ValidatePeriodRange => "validate_period_range",
            Step::FetchDhis2ForSetup => "fetch_dhis2_for_setup",
            Step::FetchOrgUnitsGeojson => "fetch_org_units_geojson",
            Step::BuildPredictionRequest => "build_prediction_request",
            Step::RunPredictionSetup => "run_prediction_setup",
            Step::WaitForPrediction => "wait_for_prediction",
            Step::FetchPredictionResult => "fetch_prediction_result",
            Step::ImportToDhis2 => "import_to_dhis2",
        }
    }

    /// The task-run display name, e.g. "Fetch DHIS2 analytics".
    pub fn display_name(self) -> &'static str {
        match self {
            Step::ReadSetup => "Read prediction setup",
            Step::ResolveEndPeriod => "Resolve end period",
            Step::ProbeLatestCovariatePeriods => "Probe DHIS2 for latest covariate periods",
            Step::ValidatePeriodRange => "Validate period range",
            Step::FetchDhis2ForSetup => "Fetch DHIS2 analytics",
            Step::FetchOrgUnitsGeojson => "Fetch org-unit geojson",
            Step::BuildPredictionRequest => "Build prediction request",
            Step::RunPredictionSetup => "Run prediction setup",
            Step::WaitForPrediction => "Wait for prediction job",
            Step::FetchPredictionResult => "Fetch prediction result",
            Step::ImportToDhis2 => "Import forecast into DHIS2",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What became of one setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntryStatus {
    /// Prediction made and read back.
    Succeeded,
    /// A step failed (the default until the pipeline finishes).
    #[default]
    Failed,
    /// Not run (e.g. `schedule_enabled=false`).
    Skipped,
}

/// Where a setup's chap job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobOrigin {
    /// This attempt submitted it.
    #[default]
    Submitted,
    /// It was already running in chap for the setup, and was followed instead of submitting another.
    InFlight,
    /// An earlier attempt of this run submitted it (the run was retried or handed back).
    EarlierAttempt,
}

/// One setup's line in the report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportEntry {
    /// chap's setup id, when known (a retry of the failed setups names them by it).
    pub setup_id: Option<i64>,
    /// Setup name.
    pub name: String,
    /// Configured model name.
    pub template_name: String,
    /// Outcome.
    pub status: EntryStatus,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
    /// Label of the failed step.
    pub step_failed: Option<String>,
    /// The failure, `"<kind>: <message>"`.
    pub error: Option<String>,
    /// chap's structured missing-values rejection, shown instead of the raw error.
    pub rejection_detail: Option<MissingValuesRejection>,
    /// chap job id.
    pub job_id: Option<String>,
    /// Whether the run submitted the job or followed one.
    pub job_origin: JobOrigin,
    /// chap prediction id.
    pub prediction_id: Option<i64>,
    /// Analytics rows fetched.
    pub analytics_rows: Option<usize>,
    /// Org units in the setup.
    pub org_units_covered: Option<usize>,
    /// Input periods.
    pub periods_covered: Option<usize>,
    /// Prediction entries read back.
    pub prediction_values: Option<usize>,
    /// Distinct periods of the prediction entries.
    pub predicted_periods: Vec<String>,
    /// Tail of the chap job's log, for failed jobs (decision 7).
    pub job_log_tail: Option<String>,
    /// Why the job log could not be fetched.
    pub job_log_error: Option<String>,
    /// The forecast's import into DHIS2, when the run imports and the setup has targets.
    pub import: Option<ImportReport>,
    /// The last input period the run resolved for the setup.
    pub last_input_period: Option<String>,
    /// The run page's forecast of the setup (relative), once its forecast artifact is stored.
    pub forecast_href: Option<String>,
}

impl ReportEntry {
    /// A fresh entry (status `failed` until marked otherwise).
    pub fn new(name: impl Into<String>, template_name: impl Into<String>) -> Self {
        ReportEntry {
            name: name.into(),
            template_name: template_name.into(),
            ..ReportEntry::default()
        }
    }

    /// A skipped entry with its reason.
    pub fn skipped(
        name: impl Into<String>,
        template_name: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ReportEntry {
            status: EntryStatus::Skipped,
            skip_reason: Some(reason.into()),
            ..ReportEntry::new(name, template_name)
        }
    }

    /// Records a failed step (§2.5): the error, or the bare step label when there is no cause.
    pub fn fail(
        &mut self,
        step: Step,
        error: Option<String>,
        rejection: Option<MissingValuesRejection>,
    ) {
        self.status = EntryStatus::Failed;
        self.step_failed = Some(step.label().to_string());
        self.error = Some(error.unwrap_or_else(|| step.label().to_string()));
        self.rejection_detail = rejection;
    }

    /// Records the job's log tail (or why it could not be fetched).
    pub fn set_job_log(&mut self, log: Result<&str, String>) {
        match log {
            Ok(text) => {
                self.job_log_tail = Some(log_tail(text, JOB_LOG_TAIL_LINES, JOB_LOG_TAIL_CHARS))
            }
            Err(why) => self.job_log_error = Some(why),
        }
    }

    /// Records the prediction entries' periods as distinct, in period order.
    pub fn set_predicted_periods<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, periods: I) {
        self.predicted_periods = sort_period_strings(periods);
    }
}

/// Everything the report shows about one run (§6.2).
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The credentials block's base URL (or a placeholder when unknown).
    pub dhis2_url: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Invalid parameters, one line.
    pub parameters_error: Option<String>,
    /// DHIS2 system info when reachable.
    pub dhis2: Option<Dhis2SystemInfo>,
    /// Why DHIS2 was not reachable.
    pub dhis2_error: Option<String>,
    /// Why a reachable DHIS2 cannot be used (e.g. its calendar).
    pub dhis2_unsupported: Option<String>,
    /// chap system info when reachable.
    pub chap: Option<ChapSystemInfo>,
    /// Why chap was not reachable.
    pub chap_error: Option<String>,
    /// Why setups could not be listed (or the requested id was not found).
    pub models_error: Option<String>,
    /// One per setup, in report order.
    pub entries: Vec<ReportEntry>,
}

impl RunReport {
    /// An empty report for a run against `dhis2_url` that started at `started_at`.
    pub fn new(dhis2_url: impl Into<String>, started_at: DateTime<Utc>) -> Self {
        RunReport {
            dhis2_url: dhis2_url.into(),
            started_at,
            parameters_error: None,
            dhis2: None,
            dhis2_error: None,
            dhis2_unsupported: None,
            chap: None,
            chap_error: None,
            models_error: None,
            entries: Vec::new(),
        }
    }

    /// Succeeded / failed / skipped counts over the entries.
    pub fn counts(&self) -> RunCounts {
        let count = |s: EntryStatus| self.entries.iter().filter(|e| e.status == s).count();
        RunCounts {
            succeeded: count(EntryStatus::Succeeded),
            failed: count(EntryStatus::Failed),
            skipped: count(EntryStatus::Skipped),
        }
    }

    /// The run's final state (decision 8).
    pub fn outcome(&self) -> RunOutcome {
        run_outcome(self.counts())
    }
}

/// Setup counts stored on the run and shown in run lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunCounts {
    /// Setups that produced a prediction.
    pub succeeded: usize,
    /// Setups that failed at some step.
    pub failed: usize,
    /// Setups not run.
    pub skipped: usize,
}

impl fmt::Display for RunCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} succeeded, {} failed, {} skipped",
            self.succeeded, self.failed, self.skipped
        )
    }
}

/// The final state of a prediction run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// At least one setup succeeded.
    Completed,
    /// No setup succeeded (unreachable services, listing failure, invalid parameters, all failed).
    Failed,
}

/// Decision 8 as issue 12 settles it: `COMPLETED` when a setup succeeded, or when none failed and
/// some were skipped (nothing to do is not a failure); `FAILED` when nothing succeeded and a setup
/// failed, or when chap listed no setup at all.
pub fn run_outcome(counts: RunCounts) -> RunOutcome {
    if counts.succeeded > 0 || (counts.failed == 0 && counts.skipped > 0) {
        RunOutcome::Completed
    } else {
        RunOutcome::Failed
    }
}

/// The last `max_lines` lines of `text`, at most `max_chars` characters (cut at a line start).
pub fn log_tail(text: &str, max_lines: usize, max_chars: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut chars = 0;
    for line in lines.iter().rev().take(max_lines) {
        let n = line.chars().count() + 1;
        if chars + n > max_chars && !kept.is_empty() {
            break;
        }
        chars += n;
        kept.push(line);
    }
    kept.reverse();
    kept.join("\n")
}

/// `1,234`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let seconds = (end - start).num_seconds().max(0);
    format!("{}m {:02}s", seconds / 60, seconds % 60)
}

fn org_units(n: usize) -> String {
    if n == 1 {
        "1 org unit".to_string()
    } else {
        format!("{n} org units")
    }
}

fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn render_error(lines: &mut Vec<String>, error: &str) {
    if error.chars().count() <= 200 && !error.contains('\n') {
        lines.push(format!("- **Error:** `{error}`"));
    } else {
        let fence = fence_for(error);
        lines.extend([
            "- **Error:**".into(),
            String::new(),
            fence.clone(),
            error.to_string(),
            fence,
        ]);
    }
}

fn render_rejection(lines: &mut Vec<String>, detail: &MissingValuesRejection) {
    lines.push(format!(
        "- **Error:** {} (imported {})",
        detail.message, detail.imported_count
    ));
    if detail.rejected.is_empty() {
        return;
    }
    type Groups = (BTreeSet<String>, Vec<String>, BTreeSet<String>);
    let mut by_feature: BTreeMap<&str, Groups> = BTreeMap::new();
    for r in &detail.rejected {
        let g = by_feature.entry(&r.feature_name).or_default();
        g.0.insert(r.org_unit.clone());
        g.1.extend(r.time_periods.iter().cloned());
        g.2.insert(r.reason.clone());
    }
    lines.push("- **Rejected cells (grouped by covariate):**".into());
    for (feature, (orgs, periods, reasons)) in by_feature {
        let periods = sort_period_strings(periods);
        let summary = match periods.as_slice() {
            [first, .., last] if periods.len() > 4 => {
                format!("{first}..{last} ({} periods)", periods.len())
            }
            _ => periods.join(", "),
        };
        let reasons: Vec<String> = reasons.into_iter().collect();
        lines.push(format!(
            "  - `{feature}`: {}; periods affected: {summary} -- {}",
            org_units(orgs.len()),
            reasons.join("; ")
        ));
    }
}

fn render_entry(lines: &mut Vec<String>, e: &ReportEntry) {
    lines.push(format!("### `{}` -- {}", e.name, e.template_name));
    lines.push(String::new());
    match e.status {
        EntryStatus::Succeeded => lines.push("- **Status:** SUCCEEDED".into()),
        EntryStatus::Skipped => lines.push(format!(
            "- **Status:** SKIPPED -- {}",
            e.skip_reason.as_deref().unwrap_or("(no reason recorded)")
        )),
        EntryStatus::Failed => {
            let step = e.step_failed.as_deref().unwrap_or("unknown step");
            lines.push(format!("- **Status:** FAILED at `{step}`"));
            if let Some(detail) = &e.rejection_detail {
                render_rejection(lines, detail);
            } else if let Some(error) = e.error.as_deref().filter(|s| !s.is_empty()) {
                render_error(lines, error);
            }
        }
    }
    if let Some(job) = e.job_id.as_deref().filter(|s| !s.is_empty()) {
        lines.push(match e.job_origin {
            JobOrigin::Submitted => format!("- Job: `{job}`"),
            JobOrigin::InFlight => {
                format!("- Job: `{job}` (followed job {job} already running in chap)")
            }
            JobOrigin::EarlierAttempt => {
                format!("- Job: `{job}` (submitted by an earlier attempt of this run, followed)")
            }
        });
    }
    if let Some(id) = e.prediction_id {
        lines.push(format!("- Prediction: `{id}`"));
    }
    if let Some(n) = e.org_units_covered {
        lines.push(format!("- Org units: {n}"));
    }
    if let Some(n) = e.periods_covered {
        lines.push(format!("- Input periods: {n}"));
    }
    if let (EntryStatus::Succeeded, Some(p)) = (e.status, &e.last_input_period) {
        lines.push(format!("- Last input period: {p}"));
    }
    if let Some(n) = e.analytics_rows {
        lines.push(format!("- Analytics rows fetched: {}", thousands(n)));
    }
    if let Some(n) = e.prediction_values {
        lines.push(format!("- Prediction values returned: {}", thousands(n)));
    }
    if !e.predicted_periods.is_empty() {
        let periods = sort_period_strings(&e.predicted_periods);
        let text = match periods.as_slice() {
            [first, .., last] if periods.len() > 6 => {
                format!("{first}..{last} ({} periods)", periods.len())
            }
            _ => periods.join(", "),
        };
        lines.push(format!("- Predicted periods: {text}"));
    }
    if let Some(href) = &e.forecast_href {
        lines.push(format!("- Forecast: [chart and numbers]({href})"));
    }
    if let Some(import) = &e.import {
        render_import(lines, import);
    }
    if e.status == EntryStatus::Failed {
        if let Some(tail) = e.job_log_tail.as_deref().filter(|t| !t.is_empty()) {
            let fence = fence_for(tail);
            lines.push(format!("- Job log (last {} lines):", tail.lines().count()));
            lines.extend([String::new(), fence.clone(), tail.to_string(), fence]);
        } else if let Some(why) = &e.job_log_error {
            lines.push(format!("- Job log: not available -- `{why}`"));
        }
    }
    lines.push(String::new());
}

fn finish(lines: Vec<String>) -> String {
    let mut text = lines.join("\n").trim_end().to_string();
    text.push('\n');
    text
}

/// Renders the report as markdown; `finished_at` is the end used for the duration.
pub fn render(report: &RunReport, finished_at: DateTime<Utc>) -> String {
    let mut lines: Vec<String> = vec![
        "# chap-scheduler run report".into(),
        String::new(),
        format!("- DHIS2 instance: `{}`", report.dhis2_url),
        format!(
            "- Started: {}",
            report
                .started_at
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        ),
        format!("- Duration: {}", duration(report.started_at, finished_at)),
        String::new(),
    ];
    if let Some(err) = &report.parameters_error {
        lines.extend([
            "## Parameters".into(),
            String::new(),
            format!("**INVALID** -- `{err}`"),
        ]);
        return finish(lines);
    }
    lines.extend(["## DHIS2".into(), String::new()]);
    match &report.dhis2 {
        Some(d) => {
            let mut line = format!("**REACHABLE** -- DHIS2 {}", d.version);
            if let Some(name) = d.system_name.as_deref().filter(|n| !n.is_empty()) {
                line.push_str(&format!(" ({name})"));
            }
            lines.extend([line, String::new()]);
            if let Some(why) = &report.dhis2_unsupported {
                lines.push(format!("**UNSUPPORTED** -- {why}"));
                return finish(lines);
            }
        }
        None => {
            let err = report
                .dhis2_error
                .as_deref()
                .unwrap_or("(no error captured)");
            lines.push(format!("**NOT REACHABLE** -- `{err}`"));
            return finish(lines);
        }
    }
    lines.extend(["## chap-core".into(), String::new()]);
    match &report.chap {
        Some(c) => lines.extend([
            format!(
                "**REACHABLE** -- chap-core {} (python {})",
                c.chap_core_version, c.python_version
            ),
            String::new(),
        ]),
        None => {
            let err = report
                .chap_error
                .as_deref()
                .unwrap_or("(no error captured)");
            lines.push(format!("**NOT REACHABLE** -- `{err}`"));
            return finish(lines);
        }
    }
    if let Some(err) = &report.models_error {
        lines.extend([
            "## Prediction setups".into(),
            String::new(),
            format!("Could not list prediction setups: `{err}`"),
        ]);
        return finish(lines);
    }
    let c = report.counts();
    let mut heading = format!(
        "## Prediction setups ({} succeeded, {} failed",
        c.succeeded, c.failed
    );
    if c.skipped > 0 {
        heading.push_str(&format!(", {} skipped", c.skipped));
    }
    heading.push(')');
    lines.extend([heading, String::new()]);
    if report.entries.is_empty() {
        lines.push("chap returned no prediction setups.".into());
        return finish(lines);
    }
    for entry in &report.entries {
        render_entry(&mut lines, entry);
    }
    render_total(
        &mut lines,
        report.entries.iter().filter_map(|e| e.import.as_ref()),
    );
    finish(lines)
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
