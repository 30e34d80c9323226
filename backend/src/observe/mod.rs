//! Observability: Prometheus metrics (`/metrics` on `serve`, and on a worker's own small server) and
//! the `X-Request-Id` of every response. Every label set is bounded: route templates, not paths;
//! deployment, flow and step names, never run ids.

pub mod http;
pub mod names;
pub mod server;

use std::sync::OnceLock;
use std::time::Duration;

use chap_scheduler_api::RunState;
use chrono::{DateTime, Utc};
use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use names::*;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets (seconds) of HTTP requests and upstream calls.
const FAST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets (seconds) of run and step durations and of schedule lateness.
const SLOW_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// Which process a recorder is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `serve`: every gauge is set from the database at each scrape (`http::render`), so a gauge not
    /// set for [`GAUGE_IDLE`] before a scrape is one whose subject is gone (a deleted or renamed
    /// deployment's last completed run), and is dropped.
    Serve,
    /// A `worker` process: its gauges are set once (`up`) and kept.
    Worker,
}

/// How long `serve` keeps a gauge that no scrape set (see [`Role::Serve`]); shorter than any sane
/// scrape interval, and scrapes closer together than this only keep a gone series a little longer.
pub const GAUGE_IDLE: Duration = Duration::from_secs(1);

/// Installs the process's recorder once (later calls return the first outcome) and starts its
/// upkeep; `None` when metrics are off. Must be called inside the Tokio runtime.
pub fn install(enabled: bool, role: Role) -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            if !enabled {
                return None;
            }
            let mut builder = PrometheusBuilder::new();
            if role == Role::Serve {
                builder = builder.idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE));
            }
            let built = builder
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), FAST_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(UPSTREAM_DURATION.into()), FAST_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SLOW_BUCKETS)
                })
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => {
                    describe();
                    let upkeep = handle.clone();
                    // Histogram samples wait in per-thread buffers until upkeep folds them in.
                    tokio::spawn(async move {
                        let mut tick = tokio::time::interval(Duration::from_secs(5));
                        loop {
                            tick.tick().await;
                            upkeep.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: the recorder could not be installed");
                    None
                }
            }
        })
        .clone()
}

/// A run reached a final state.
pub fn run_ended(
    deployment: &str,
    flow: &str,
    state: RunState,
    started_at: Option<DateTime<Utc>>,
    ended_at: DateTime<Utc>,
) {
    counter!(RUNS_FINISHED, "deployment" => deployment.to_owned(), "state" => state.as_str())
        .increment(1);
    if let Some(started) = started_at {
        histogram!(RUN_DURATION, "flow" => flow.to_owned(), "state" => state.as_str())
            .record(seconds_between(started, ended_at));
    }
    // The last completed run's time is not set here: `serve` reads it from the database at each
    // scrape. A worker's own last one goes old whenever other workers took the deployment's runs.
}

/// A scheduled run started: how late after its slot.
pub fn scheduled_run_started(slot: DateTime<Utc>, started_at: DateTime<Utc>) {
    histogram!(SCHEDULE_LATENESS).record(seconds_between(slot, started_at));
}

/// A step ended.
pub fn step_ended(flow: &str, step: &str, state: RunState, seconds: f64) {
    histogram!(STEP_DURATION, "flow" => flow.to_owned(), "step" => step.to_owned(), "state" => state.as_str())
        .record(seconds.max(0.0));
}

/// One attempt of a call to DHIS2 or chap: `outcome` is `2xx`, `4xx`, `5xx`, `timeout` or `error`.
pub fn upstream_call(
    service: &'static str,
    method: &str,
    endpoint: String,
    outcome: &'static str,
    seconds: f64,
) {
    histogram!(UPSTREAM_DURATION, "service" => service, "endpoint" => endpoint.clone())
        .record(seconds);
    counter!(UPSTREAM_CALLS, "service" => service, "method" => bounded_method(method), "endpoint" => endpoint, "outcome" => outcome)
        .increment(1);
}

/// A notification delivery attempt ended: `sent`, `retrying` (will be tried again) or `failed`.
pub fn delivery(event: &'static str, outcome: &'static str) {
    counter!(DELIVERIES, "event" => event, "outcome" => outcome).increment(1);
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_milliseconds() as f64 / 1000.0).max(0.0)
}

/// The method as a label: the standard ones, anything else `other`.
pub fn bounded_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// A URL path as an endpoint template: segments that are ids (numbers, UUIDs, DHIS2 uids) become
/// `{id}`, so `/v1/jobs/42` and `/v1/jobs/43` are one series.
pub fn endpoint_template(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('?').next().unwrap_or("").split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if is_id(segment) { "{id}" } else { segment });
    }
    out
}

fn is_id(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    let alnum = segment.bytes().all(|b| b.is_ascii_alphanumeric());
    let uuid = segment.len() == 36 && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    // A DHIS2 uid: 11 characters, a letter first, and unlike a (camelCase) word in a path, digits or
    // several capitals in it.
    let capitals = segment.bytes().filter(u8::is_ascii_uppercase).count();
    let dhis2_uid = segment.len() == 11
        && alnum
        && segment.starts_with(|c: char| c.is_ascii_alphabetic())
        && (digits > 0 || capitals >= 3);
    (!segment.is_empty() && digits == segment.len()) || uuid || dhis2_uid || segment.len() > 40
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_paths_become_placeholders_and_words_stay() {
        assert_eq!(endpoint_template("/v1/jobs/42/logs"), "/v1/jobs/{id}/logs");
        assert_eq!(
            endpoint_template("/api/dataElements/fbfJHSPpUQD"),
            "/api/dataElements/{id}"
        );
        assert_eq!(
            endpoint_template("/api/organisationUnits/ImspTQPwCqd"),
            "/api/organisationUnits/{id}"
        );
        assert_eq!(
            endpoint_template("/v1/crud/predictions"),
            "/v1/crud/predictions"
        );
        assert_eq!(
            endpoint_template("/api/dataValueSets"),
            "/api/dataValueSets"
        );
        assert_eq!(
            endpoint_template("/v1/jobs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
            "/v1/jobs/{id}"
        );
        assert_eq!(endpoint_template("/api/analytics?dx=a"), "/api/analytics");
    }
}
