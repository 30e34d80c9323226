//! The `import_to_dhis2` step of a setup (issue 11 §1): thresholds for the outbreak indicator, the
//! targets' data elements read once and checked, the values built, a dry run of all of them in
//! batches, and with `import` the same batches for real. Nothing is ever deleted in DHIS2.
//!
//! Decisions where the issue is silent:
//! - The dry run goes in the same batches as the import, so no request is larger than
//!   `CHAP_SCHEDULER_DHIS2_IMPORT_BATCH` values.
//! - A conflict in a real batch does not stop the following batches (each is independent and
//!   idempotent): the report says what was written and refused over all of them. A batch that fails
//!   outright (after the retries) stops the import; the values not sent are counted.
//! - Only a 4xx from `predictions/{id}` or `thresholds` leaves the indicator out with a note; a 5xx
//!   or transport failure (after the retries) fails the step like any other call.
//! - A setup whose every target is unreadable fails the step: the operator asked for an import and
//!   nothing could be imported.

use std::collections::BTreeSet;

use super::super::chap::RunClients;
use super::super::client::ApiError;
use super::super::model::PredictionEntry;
use super::super::params::ImportMode;
use super::super::report::thousands;
use super::report::ImportReport;
use super::summary::ImportSummary;
use super::targets::{same_quantile, Target, Targets};
use super::values::{dhis2_period, plan_values, refuse_element, DataElement, Thresholds};
use crate::orchestrator::RunContext;

/// How the run imports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImportSettings {
    /// Off, dry run or import.
    pub mode: ImportMode,
    /// `outbreak_probability`: the indicator compares quantile `1 - p` with the threshold.
    pub outbreak_probability: f64,
    /// Most values in one request.
    pub batch: usize,
}

/// Imports one setup's forecast.
pub struct Importer<'a> {
    /// The run (logs).
    pub ctx: &'a RunContext,
    /// The run's clients.
    pub clients: &'a RunClients,
    /// Mode, probability and batch size.
    pub settings: ImportSettings,
}

impl Importer<'_> {
    /// The quantile the indicator compares with the threshold.
    pub fn indicator_quantile(&self) -> f64 {
        1.0 - self.settings.outbreak_probability
    }

    /// Runs the import of a setup into `report`; the error is the step's `"<kind>: <message>"` text
    /// (also kept in the report).
    pub async fn run(
        &self,
        setup_name: &str,
        targets: &Targets,
        prediction_id: i64,
        entries: &[PredictionEntry],
        report: &mut ImportReport,
    ) -> Result<(), String> {
        let outcome = self
            .import(setup_name, targets, prediction_id, entries, report)
            .await;
        if let Err(e) = &outcome {
            if report.error.is_none() && !report.conflicts_in_dry_run {
                report.error = Some(e.clone());
            }
        }
        outcome
    }

    async fn import(
        &self,
        setup_name: &str,
        targets: &Targets,
        prediction_id: i64,
        entries: &[PredictionEntry],
        report: &mut ImportReport,
    ) -> Result<(), String> {
        report.notes.extend(targets.problems.iter().cloned());
        if targets.targets.is_empty() {
            return Err(format!(
                "ValueError: no quantile target of '{setup_name}' can be read ({})",
                targets.problems.join("; ")
            ));
        }
        let thresholds = if targets.has_indicator() {
            self.thresholds(prediction_id, entries, report).await?
        } else {
            None
        };
        report.thresholds = thresholds.clone();
        let elements = self.elements(&targets.targets, report).await?;
        let pairs: Vec<(&Target, &DataElement)> = targets.targets.iter().zip(&elements).collect();
        let plan = plan_values(
            &pairs,
            entries,
            thresholds.as_ref().map(|t| (self.indicator_quantile(), t)),
        );
        report.values = plan.values.len();
        report.left_out = plan.left_out;
        report.notes.extend(plan.missing_quantiles);
        self.ctx.info(format!(
            "DHIS2 import ({}) for '{setup_name}': {} values, {} left out",
            self.settings.mode.as_str(),
            thousands(report.values),
            thousands(report.left_out_total())
        ));
        if plan.values.is_empty() {
            return Ok(());
        }
        let batch = self.settings.batch.max(1);
        let batches = plan.values.len().div_ceil(batch);
        // The dry run: every value, nothing written.
        for (i, chunk) in plan.values.chunks(batch).enumerate() {
            let summary = self.send(chunk, true, report).await?;
            report.dry_run += summary.import_count;
            self.log_batch("dry run", i, batches, chunk.len(), &summary);
            if !summary.is_clean() {
                report.conflicts.add(&summary.conflicts);
                report.conflicts_in_dry_run = true;
            }
        }
        if report.conflicts_in_dry_run {
            return Err(format!(
                "ImportConflict: DHIS2 refused {} of {} values in the dry run; nothing was written",
                thousands(report.conflicts.values()),
                thousands(report.values)
            ));
        }
        if self.settings.mode != ImportMode::Import {
            return Ok(());
        }
        let mut done = 0;
        for (i, chunk) in plan.values.chunks(batch).enumerate() {
            let summary = match self.send(chunk, false, report).await {
                Ok(s) => s,
                Err(e) => {
                    report.not_sent = plan.values.len() - done;
                    return Err(e);
                }
            };
            done += chunk.len();
            *report.imported.get_or_insert_with(Default::default) += summary.import_count;
            self.log_batch("import", i, batches, chunk.len(), &summary);
            if !summary.is_clean() {
                report.refused += summary.rejected();
                report.conflicts.add(&summary.conflicts);
            }
        }
        if report.refused > 0 || !report.conflicts.is_empty() {
            let error = format!(
                "ImportConflict: DHIS2 refused {} values in the import (the data changed since the \
                 dry run)",
                thousands(report.refused.max(report.conflicts.values()))
            );
            return Err(error);
        }
        Ok(())
    }

    async fn send(
        &self,
        chunk: &[super::values::DataValue],
        dry_run: bool,
        report: &mut ImportReport,
    ) -> Result<ImportSummary, String> {
        let summary = self
            .clients
            .dhis2
            .import_data_values(chunk, dry_run)
            .await
            .map_err(|e| e.report_text())?;
        report.requests += 1;
        Ok(summary)
    }

    fn log_batch(&self, what: &str, i: usize, of: usize, n: usize, s: &ImportSummary) {
        let c = s.import_count;
        let mut line = format!(
            "  {what} batch {}/{of}: {} values -> {} (imported {}, updated {}, ignored {}, deleted {})",
            i + 1,
            thousands(n),
            if s.status.is_empty() { "?" } else { &s.status },
            c.imported,
            c.updated,
            c.ignored,
            c.deleted
        );
        if !s.conflicts.is_empty() {
            line.push_str(&format!(", {} conflicts", s.conflicts.len()));
            self.ctx.warn(line);
        } else {
            self.ctx.info(line);
        }
    }

    /// The targets' data elements in target order, each checked; every refusal at once.
    async fn elements(
        &self,
        targets: &[Target],
        report: &mut ImportReport,
    ) -> Result<Vec<DataElement>, String> {
        let ids: Vec<String> = targets
            .iter()
            .map(|t| t.data_element_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let found = self
            .clients
            .dhis2
            .data_elements(&ids)
            .await
            .map_err(|e| e.report_text())?;
        let mut refusals = Vec::new();
        let mut elements = Vec::new();
        for target in targets {
            let element = found.iter().find(|e| e.id == target.data_element_id);
            match refuse_element(target, element) {
                Some(why) => refusals.push(why),
                None => {
                    if let Some(e) = element {
                        let name = e.display_name().to_string();
                        if !report.elements.contains(&name) {
                            report.elements.push(name);
                        }
                        elements.push(e.clone());
                    }
                }
            }
        }
        if refusals.is_empty() {
            Ok(elements)
        } else {
            Err(format!("ValueError: {}", refusals.join("; ")))
        }
    }

    /// chap's seasonal thresholds for the indicator's cells; `None` (with a note) when chap refuses.
    async fn thresholds(
        &self,
        prediction_id: i64,
        entries: &[PredictionEntry],
        report: &mut ImportReport,
    ) -> Result<Option<Thresholds>, String> {
        let chap = &self.clients.chap;
        let left_out =
            |e: ApiError, report: &mut ImportReport| -> Result<Option<Thresholds>, String> {
                match e.status() {
                    Some(status) if (400..500).contains(&status) => {
                        let note = format!(
                            "outbreak indicator left out: chap gave no seasonal thresholds ({})",
                            e.report_text()
                        );
                        self.ctx.warn(&note);
                        report.notes.push(note);
                        Ok(None)
                    }
                    _ => Err(e.report_text()),
                }
            };
        let info = match chap.prediction_info(prediction_id).await {
            Ok(info) => info,
            Err(e) => return left_out(e, report),
        };
        let quantile = self.indicator_quantile();
        let cells = entries
            .iter()
            .filter(|e| same_quantile(e.quantile, quantile));
        let periods: BTreeSet<String> = cells.clone().map(|e| e.period.clone()).collect();
        let locations: BTreeSet<String> = cells.map(|e| e.org_unit.clone()).collect();
        let periods: Vec<String> = periods.into_iter().collect();
        let locations: Vec<String> = locations.into_iter().collect();
        match chap.thresholds(info.dataset_id, &periods, &locations).await {
            Ok(list) => Ok(Some(
                list.into_iter()
                    .map(|t| ((dhis2_period(&t.period), t.location), t.value))
                    .collect(),
            )),
            Err(e) => left_out(e, report),
        }
    }
}
