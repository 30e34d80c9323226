//! Flows the worker runs. Each flow is a folder with its pure building blocks and its clients.

pub mod dhis2_chap_prediction;

use crate::config::Config;
use crate::orchestrator::FlowRegistry;

/// The flows production runs, with the settings the configuration chooses.
pub fn registry(config: &Config) -> FlowRegistry {
    FlowRegistry::new().register(dhis2_chap_prediction::PredictionFlow::new(
        dhis2_chap_prediction::PredictionSettings::from_config(config),
    ))
}
