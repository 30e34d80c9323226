//! The DHIS2 → chap prediction flow's building blocks (reference `prediction-flow.md`): period
//! arithmetic, parameters, wire types, analytics chunking and the freshness probe, request building,
//! the run report and the HTTP clients. The step-by-step runner lives with the orchestration engine
//! and calls into these modules; none of them reads a clock, a database or the environment.

pub mod analytics;
pub mod chap;
pub mod client;
pub mod dhis2;
pub mod end_period;
pub mod model;
pub mod params;
pub mod periods;
pub mod report;
pub mod request;
