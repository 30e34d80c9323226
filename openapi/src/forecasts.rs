//! What chap predicted for one prediction setup in one run (`GET /api/v1/runs/{id}/forecasts`): the
//! quantiles per org unit and forecast period, the recent observations of the predicted variable that
//! the run sent to chap, and chap's seasonal outbreak thresholds when the run fetched them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An org unit of a forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForecastOrgUnit {
    /// DHIS2 id.
    pub id: String,
    /// Its name in DHIS2 (the id when DHIS2 gave none).
    pub name: String,
}

/// One setup's forecast, as stored by the run (artifact kind `forecast`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForecastArtifact {
    /// chap's prediction setup id.
    pub setup_id: i64,
    /// Its name.
    pub setup_name: String,
    /// `month`, `week` or `year`.
    pub period_type: String,
    /// The variable chap predicted, e.g. `disease_cases`.
    pub target: String,
    /// The org units, in the order of the other tables.
    pub org_units: Vec<ForecastOrgUnit>,
    /// Quantiles of the forecast, ascending (e.g. 0.1, 0.25, 0.5, 0.75, 0.9).
    pub quantiles: Vec<f64>,
    /// Forecast periods (DHIS2 ids), ascending.
    pub forecast_periods: Vec<String>,
    /// Per org unit id: per forecast period, the value of each quantile (null where chap gave none).
    pub forecast: BTreeMap<String, Vec<Vec<Option<f64>>>>,
    /// The last (up to 24) input periods (DHIS2 ids), ascending.
    pub observed_periods: Vec<String>,
    /// Per org unit id: the observed value of `target` in each observed period (null: missing).
    pub observed: BTreeMap<String, Vec<Option<f64>>>,
    /// Per org unit id: chap's seasonal threshold in each forecast period, when the run fetched them
    /// (for the outbreak indicator of an import); null otherwise.
    pub thresholds: Option<BTreeMap<String, Vec<Option<f64>>>>,
    /// chap's prediction id.
    pub prediction_id: i64,
    /// The run that made the previous successful prediction of this setup on the same DHIS2, if any
    /// (the view draws its forecast as the revision).
    pub previous_run_id: Option<Uuid>,
}

/// A forecast with the run that made it (`GET /api/v1/runs/{id}/forecasts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunForecast {
    /// The run.
    pub run_id: Uuid,
    /// The forecast.
    pub forecast: ForecastArtifact,
}
