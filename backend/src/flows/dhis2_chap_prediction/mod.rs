//! The DHIS2 → chap prediction flow (reference `prediction-flow.md`): [`PredictionFlow`] runs it
//! through the engine's `RunContext`; its building blocks are period arithmetic, parameters, wire
//! types, analytics chunking and the freshness probe, request building, the run report and the HTTP
//! clients. Only `flow` and `pipeline` touch the run context; the rest reads no clock, database or
//! environment.

pub mod analytics;
pub mod chap;
pub mod client;
pub mod dhis2;
pub mod end_period;
pub mod flow;
pub mod forecast;
pub mod import;
pub mod model;
pub mod params;
pub mod periods;
pub mod pipeline;
pub mod report;
pub mod request;
pub mod selection;

pub use flow::{PredictionFlow, PredictionSettings, FLOW_NAME};
