//! The DHIS2 → chap prediction flow: periods, parameters, wire types, analytics, request building,
//! the run report and the HTTP clients. The step-by-step runner lives with the orchestration engine.
pub mod analytics;
pub mod chap;
pub mod client;
pub mod dhis2;
pub mod model;
pub mod params;
pub mod periods;
pub mod report;
pub mod request;
