//! Endpoint groups and the failures injected into them.

use serde::{Deserialize, Serialize};

/// Groups of endpoints that latency and faults apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointGroup {
    /// DHIS2 `GET /api/system/info`.
    SystemInfo,
    /// DHIS2 `GET /api/analytics`.
    Analytics,
    /// DHIS2 `GET /api/organisationUnits`.
    OrganisationUnits,
    /// DHIS2 `GET /api/me`.
    Me,
    /// DHIS2 `GET /api/dataElements`.
    DataElements,
    /// DHIS2 `POST /api/dataValueSets` (imports) and `GET /api/dataValueSets` (stored values).
    DataValueSets,
    /// chap `GET /system/info`.
    ChapSystemInfo,
    /// chap `GET /v1/crud/prediction-setups[/{id}]`.
    PredictionSetups,
    /// chap `POST /v1/crud/prediction-setups/{id}/run`.
    RunSetup,
    /// chap `GET /v1/jobs`.
    Jobs,
    /// chap `GET /v1/jobs/{id}`.
    JobStatus,
    /// chap `GET /v1/jobs/{id}/logs`.
    JobLogs,
    /// chap `GET /v1/analytics/prediction-entry/{id}`.
    PredictionEntries,
    /// chap `GET /v1/crud/predictions/{id}`.
    Predictions,
    /// chap `POST /v1/analytics/thresholds`.
    Thresholds,
    /// Anything else (unknown paths, the simulator's own control endpoints).
    Other,
}

impl EndpointGroup {
    /// Whether the group is reached through DHIS2's chap route.
    pub fn is_chap(self) -> bool {
        matches!(
            self,
            EndpointGroup::ChapSystemInfo
                | EndpointGroup::PredictionSetups
                | EndpointGroup::RunSetup
                | EndpointGroup::Jobs
                | EndpointGroup::JobStatus
                | EndpointGroup::JobLogs
                | EndpointGroup::PredictionEntries
                | EndpointGroup::Predictions
                | EndpointGroup::Thresholds
        )
    }
}

/// An injected failure: the next `next` matching requests fail, or each fails with `probability`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    pub group: EndpointGroup,
    /// Only requests with this method (`GET`, `POST`); `None` matches all.
    pub method: Option<String>,
    /// The status to answer.
    pub status: u16,
    /// Fail the next N matching requests.
    pub next: Option<u32>,
    /// Let this many matching requests through first (e.g. to fail the second import batch).
    pub skip: u32,
    /// Without `next`: fail each matching request with this probability (seeded, reproducible).
    pub probability: Option<f64>,
    pub seed: u64,
    /// Answer 200 with truncated JSON instead of `status`.
    pub malformed: bool,
    /// Body of the failure; `None` uses the usual error shape for that side.
    pub body: Option<String>,
    /// Answer `status` with a body of this many bytes (JSON whitespace, then `{}`), streamed: a
    /// misbehaving server or proxy, or a hostile one. Sent with its `Content-Length` unless
    /// `oversized_chunked`.
    pub oversized_bytes: Option<u64>,
    /// With `oversized_bytes`: send the body chunked, its length unknown until its end.
    pub oversized_chunked: bool,
}

impl Default for Fault {
    fn default() -> Self {
        Fault {
            group: EndpointGroup::Other,
            method: None,
            status: 503,
            next: None,
            skip: 0,
            probability: None,
            seed: 0,
            malformed: false,
            body: None,
            oversized_bytes: None,
            oversized_chunked: false,
        }
    }
}

impl Fault {
    /// The next `n` requests of `group` answer `status`.
    pub fn next(group: EndpointGroup, n: u32, status: u16) -> Self {
        Fault {
            group,
            status,
            next: Some(n),
            ..Fault::default()
        }
    }
}
