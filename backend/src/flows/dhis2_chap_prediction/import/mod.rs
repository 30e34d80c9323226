//! Forecasts into DHIS2 (issue 11 §1, the `import_to_dhis2` step): a setup's quantile targets, the
//! outbreak indicator from chap's seasonal thresholds, the values encoded for their data elements,
//! a dry run of every value, then the import in batches, and what the report shows of it.

use serde::{Deserialize, Serialize};

pub mod report;
pub mod step;
pub mod summary;
pub mod targets;
pub mod values;

/// `GET …/v1/crud/predictions/{id}` (chap): only the dataset is read.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictionInfo {
    /// Prediction id.
    pub id: i64,
    /// The dataset the prediction was made from.
    pub dataset_id: i64,
}

/// One element of `POST …/v1/analytics/thresholds` (chap).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Threshold {
    /// Period id.
    pub period: String,
    /// Org unit id.
    pub location: String,
    /// The threshold; null when chap has none.
    #[serde(default)]
    pub value: Option<f64>,
}
