//! A simulated DHIS2 with chap-core behind its `chap` route, for chap-scheduler's integration tests,
//! browser tests, demo and benchmarks. It speaks the wire contract of
//! `reference/prediction-flow.md`: same paths, query parameters, JSON shapes and status codes.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let sim = dhis2_sim::Simulator::start(dhis2_sim::Scenario::fixture()).await?;
//! let url = sim.base_url(); // the DHIS2 base URL; chap is at {url}/api/routes/chap/run
//! # Ok(()) }
//! ```

mod data_values;
mod forecast;
mod http;
mod import;
pub mod periods;
pub mod scenario;
mod server;
mod state;
mod world;

pub use data_values::{DataValue, DEFAULT_OPTION_COMBO};
pub use forecast::Threshold;
pub use http::CHAP_ROUTE_PREFIX;
pub use import::{ImportConflict, ImportCount, ImportRecord, ImportStrategy};
pub use scenario::{
    CategoryCombo, Cell, ChapSystem, ConfiguredModel, CovariateSource, DataElement, DataSet,
    Dhis2System, EndpointGroup, EntryOverride, ErrorAnswer, Fault, ImportSummaryFormat, JobResult,
    ModelTemplate, OrgUnit, PredictionSetup, QuantileTarget, Rejection, Scale, Scenario, SeedValue,
    SetupBehaviour, SetupScenario, ValueType,
};
pub use server::{SimHandle, Simulator};
pub use state::{AuthScheme, RequestRecord, RunSubmission, SetupPatch};
