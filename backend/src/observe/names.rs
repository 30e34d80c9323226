//! The metric names, one place for the recorder, the code that records and the tests.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// HTTP requests by route template, method and status.
pub const HTTP_REQUESTS: &str = "chap_scheduler_http_requests_total";
/// HTTP request latency by route template and method.
pub const HTTP_DURATION: &str = "chap_scheduler_http_request_duration_seconds";
/// Runs in each state (read from the database at scrape time).
pub const RUNS_BY_STATE: &str = "chap_scheduler_runs";
/// Runs that reached a final state, by deployment and state.
pub const RUNS_FINISHED: &str = "chap_scheduler_runs_finished_total";
/// PENDING runs waiting for a worker.
pub const QUEUE_DEPTH: &str = "chap_scheduler_queue_depth";
/// Age of the oldest PENDING run.
pub const QUEUE_OLDEST_AGE: &str = "chap_scheduler_queue_oldest_pending_age_seconds";
/// Scheduled slot → run started.
pub const SCHEDULE_LATENESS: &str = "chap_scheduler_schedule_lateness_seconds";
/// Run duration (started → ended) by flow and final state.
pub const RUN_DURATION: &str = "chap_scheduler_run_duration_seconds";
/// Step duration by flow, step and final state.
pub const STEP_DURATION: &str = "chap_scheduler_step_duration_seconds";
/// Calls to DHIS2 and chap by endpoint template and outcome.
pub const UPSTREAM_CALLS: &str = "chap_scheduler_upstream_requests_total";
/// Latency of calls to DHIS2 and chap.
pub const UPSTREAM_DURATION: &str = "chap_scheduler_upstream_request_duration_seconds";
/// When each deployment last completed a run (Unix seconds).
pub const LAST_COMPLETED: &str = "chap_scheduler_last_completed_run_timestamp_seconds";
/// Notification delivery attempts by event and outcome.
pub const DELIVERIES: &str = "chap_scheduler_notification_deliveries_total";
/// 1 while the process is up; the `role` label says `serve` or `worker`.
pub const UP: &str = "chap_scheduler_up";
/// Live log streams this `serve` process holds open (bounded by `CHAP_SCHEDULER_LOG_STREAMS_MAX`).
pub const LOG_STREAMS: &str = "chap_scheduler_log_streams_open";

/// Registers help texts and units (shown as `# HELP` lines).
pub(super) fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route template and method"
    );
    describe_gauge!(RUNS_BY_STATE, "Runs in each state");
    describe_counter!(
        RUNS_FINISHED,
        "Runs that reached a final state, by deployment and state"
    );
    describe_gauge!(QUEUE_DEPTH, "PENDING runs waiting for a worker");
    describe_gauge!(
        LOG_STREAMS,
        "Live log streams this process holds open (at most CHAP_SCHEDULER_LOG_STREAMS_MAX)"
    );
    describe_gauge!(
        QUEUE_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest PENDING run"
    );
    describe_histogram!(
        SCHEDULE_LATENESS,
        Unit::Seconds,
        "Scheduled slot to run started"
    );
    describe_histogram!(
        RUN_DURATION,
        Unit::Seconds,
        "Run duration by flow and final state"
    );
    describe_histogram!(
        STEP_DURATION,
        Unit::Seconds,
        "Step duration by flow, step and final state"
    );
    describe_counter!(
        UPSTREAM_CALLS,
        "Calls to DHIS2 and chap by endpoint template and outcome"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Latency of calls to DHIS2 and chap"
    );
    describe_gauge!(
        LAST_COMPLETED,
        Unit::Seconds,
        "When each deployment last completed a run (Unix time)"
    );
    describe_counter!(
        DELIVERIES,
        "Notification delivery attempts by event and outcome"
    );
    describe_gauge!(UP, "1 while the process is up");
}
