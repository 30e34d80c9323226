//! Flows the worker runs. Each flow is a folder with its pure building blocks and its clients.

pub mod dhis2_chap_prediction;
