//! The simulator answers the documented DHIS2 and chap shapes (reference/prediction-flow.md §3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod binary;
mod chap;
mod dhis2;
mod faults;
mod forecast;
mod helpers;
mod import;
mod metadata;
mod scale;
