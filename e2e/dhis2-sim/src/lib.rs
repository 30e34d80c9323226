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

mod http;
pub mod periods;
pub mod scenario;
mod server;
mod state;
mod world;

pub use http::CHAP_ROUTE_PREFIX;
pub use scenario::{
    ChapSystem, ConfiguredModel, CovariateSource, DataElement, Dhis2System, EndpointGroup, Fault,
    JobResult, ModelTemplate, OrgUnit, PredictionSetup, Rejection, Scale, Scenario, SetupBehaviour,
    SetupScenario,
};
pub use server::{SimHandle, Simulator};
pub use state::{RequestRecord, RunSubmission};
