//! What a setup's runs remember across runs (flow states): the last input period of its last
//! successful prediction on this DHIS2 (for `only_new_data`), and the run that made it (the
//! revision the forecast artifact names); and the forecast artifact itself.

use chap_scheduler_api::ArtifactKind;
use uuid::Uuid;

use super::super::forecast::{self, Observed};
use super::super::import::values::Thresholds;
use super::super::model::{PredictionEntry, PredictionSetup};
use super::super::periods::PeriodId;
use super::super::report::{ReportEntry, Step};
use super::{SetupRunner, StepFailure};

impl SetupRunner<'_> {
    /// What a setup's last successful prediction is kept under: the DHIS2 instance and the setup.
    pub(super) fn success_key(&self, setup: &PredictionSetup) -> String {
        format!("last-success:{}:{}", setup.id, self.instance)
    }

    /// Keeps the last input period of a successful prediction for `only_new_data` (written with the
    /// run's end).
    pub(super) fn remember_success(&self, setup: &PredictionSetup, entry: &ReportEntry) {
        let Some(period) = &entry.last_input_period else {
            return;
        };
        let value = serde_json::json!({ "end_period": period });
        self.ctx.set_flow_state(&self.success_key(setup), value);
    }

    /// `Some(reason)` when the setup's last successful prediction already used `end` or later.
    pub(super) async fn no_new_data(
        &self,
        setup: &PredictionSetup,
        end: &PeriodId,
    ) -> Result<Option<String>, StepFailure> {
        let state = self
            .ctx
            .flow_state(&self.success_key(setup))
            .await
            .map_err(|e| {
                StepFailure::new(
                    Step::ResolveEndPeriod,
                    "RuntimeError",
                    format!("reading the setup's last successful prediction failed: {e:#}"),
                )
            })?;
        let Some(state) = state else {
            return Ok(None);
        };
        let Some(previous) = state.value["end_period"]
            .as_str()
            .and_then(|p| PeriodId::parse(p).ok())
        else {
            return Ok(None);
        };
        if previous.end() < end.end() {
            return Ok(None);
        }
        let run = match state.run_id {
            Some(id) => format!(
                " (previous successful run: [{}](/runs/{id}))",
                &id.to_string()[..8]
            ),
            None => String::new(),
        };
        Ok(Some(format!(
            "no new data since {}{run}",
            previous.canonical()
        )))
    }

    /// The run of the setup's previous successful prediction on this DHIS2 (not this run's own).
    async fn previous_success(&self, setup: &PredictionSetup) -> Option<Uuid> {
        self.ctx
            .flow_state(&self.success_key(setup))
            .await
            .ok()
            .flatten()
            .and_then(|state| state.run_id)
            .filter(|id| *id != self.ctx.run_id())
    }

    /// Stores a succeeded setup's forecast artifact (written with the run's end). Returns the run
    /// page's address of the setup's forecast tab, for the report.
    pub(super) async fn store_forecast(
        &self,
        setup: &PredictionSetup,
        observed: Observed,
        entries: &[PredictionEntry],
        thresholds: Option<&Thresholds>,
        prediction_id: i64,
    ) -> String {
        let previous = self.previous_success(setup).await;
        let artifact = forecast::build(
            setup,
            observed,
            entries,
            thresholds,
            (prediction_id, previous),
        );
        let key = format!("forecast:{}", setup.id);
        self.ctx
            .artifact(&key, ArtifactKind::Forecast, &forecast::to_json(&artifact));
        // The SPA chooses the tab from `setup` and scrolls to `#forecast`.
        format!("/runs/{}?setup={}#forecast", self.ctx.run_id(), setup.id)
    }
}
