//! One catch-all handler: classify the request, then apply, in DHIS2's order, "down", URL length,
//! basic auth, the chap route's state, latency and injected faults before answering it.

mod analytics;
mod auth;
mod chap;
mod control;
mod data_value_sets;
mod dhis2;
mod metadata;
mod predictions;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::scenario::EndpointGroup;
use crate::state::{RequestRecord, SimState};

/// DHIS2's prefix for routes; chap is the route named `chap`.
pub const CHAP_ROUTE_PREFIX: &str = "/api/routes/chap/run";

/// A recognised request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    SystemInfo,
    Analytics,
    OrganisationUnits,
    Me,
    DataElements,
    /// `GET /api/dataValueSets`.
    ReadDataValues,
    /// `POST /api/dataValueSets`.
    ImportDataValues,
    ChapSystemInfo,
    ListSetups,
    GetSetup(String),
    PatchSetup(String),
    RunSetup(String),
    ListJobs,
    JobStatus(String),
    JobLogs(String),
    PredictionEntries(String),
    Prediction(String),
    Thresholds,
    /// A DHIS2 path that does not exist.
    Dhis2NotFound,
    /// A chap path that does not exist (chap answers, through the route).
    ChapNotFound,
    /// A known path with the wrong method.
    MethodNotAllowed {
        chap: bool,
        group: EndpointGroup,
    },
    /// The simulator's own, unauthenticated control API under `/__sim`.
    Control(String),
    /// Outside `/api`.
    Outside,
}

impl Route {
    pub fn parse(method: &Method, path: &str) -> Route {
        if let Some(rest) = path.strip_prefix("/__sim") {
            return Route::Control(rest.trim_start_matches('/').to_string());
        }
        let Some(api) = path.strip_prefix("/api") else {
            return Route::Outside;
        };
        if let Some(chap) = api.strip_prefix("/routes/chap/run") {
            return Route::parse_chap(method, chap);
        }
        let api = api.trim_end_matches(".json");
        let (route, group) = match api {
            "/system/info" => (Route::SystemInfo, EndpointGroup::SystemInfo),
            "/analytics" => (Route::Analytics, EndpointGroup::Analytics),
            "/organisationUnits" => (Route::OrganisationUnits, EndpointGroup::OrganisationUnits),
            "/me" => (Route::Me, EndpointGroup::Me),
            "/dataElements" => (Route::DataElements, EndpointGroup::DataElements),
            "/dataValueSets" if method == Method::POST => return Route::ImportDataValues,
            "/dataValueSets" => (Route::ReadDataValues, EndpointGroup::DataValueSets),
            _ => return Route::Dhis2NotFound,
        };
        if method == Method::GET {
            route
        } else {
            Route::MethodNotAllowed { chap: false, group }
        }
    }

    fn parse_chap(method: &Method, path: &str) -> Route {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let get = method == Method::GET;
        let post = method == Method::POST;
        let wrong = |group| Route::MethodNotAllowed { chap: true, group };
        match segments.as_slice() {
            ["system", "info"] if get => Route::ChapSystemInfo,
            ["system", "info"] => wrong(EndpointGroup::ChapSystemInfo),
            ["v1", "crud", "prediction-setups"] if get => Route::ListSetups,
            ["v1", "crud", "prediction-setups", id] if get => Route::GetSetup(id.to_string()),
            ["v1", "crud", "prediction-setups", id] if method == Method::PATCH => {
                Route::PatchSetup(id.to_string())
            }
            ["v1", "crud", "prediction-setups", ..] if segments.len() <= 4 => {
                wrong(EndpointGroup::PredictionSetups)
            }
            ["v1", "crud", "prediction-setups", id, "run"] if post => {
                Route::RunSetup(id.to_string())
            }
            ["v1", "crud", "prediction-setups", _, "run"] => wrong(EndpointGroup::RunSetup),
            ["v1", "jobs"] if get => Route::ListJobs,
            ["v1", "jobs"] => wrong(EndpointGroup::Jobs),
            ["v1", "jobs", id] if get => Route::JobStatus(id.to_string()),
            ["v1", "jobs", _] => wrong(EndpointGroup::JobStatus),
            ["v1", "jobs", id, "logs"] if get => Route::JobLogs(id.to_string()),
            ["v1", "jobs", _, "logs"] => wrong(EndpointGroup::JobLogs),
            ["v1", "analytics", "prediction-entry", id] if get => {
                Route::PredictionEntries(id.to_string())
            }
            ["v1", "analytics", "prediction-entry", _] => wrong(EndpointGroup::PredictionEntries),
            ["v1", "crud", "predictions", id] if get => Route::Prediction(id.to_string()),
            ["v1", "crud", "predictions", _] => wrong(EndpointGroup::Predictions),
            ["v1", "analytics", "thresholds"] if post => Route::Thresholds,
            ["v1", "analytics", "thresholds"] => wrong(EndpointGroup::Thresholds),
            _ => Route::ChapNotFound,
        }
    }

    pub fn group(&self) -> EndpointGroup {
        match self {
            Route::SystemInfo => EndpointGroup::SystemInfo,
            Route::Analytics => EndpointGroup::Analytics,
            Route::OrganisationUnits => EndpointGroup::OrganisationUnits,
            Route::Me => EndpointGroup::Me,
            Route::DataElements => EndpointGroup::DataElements,
            Route::ReadDataValues | Route::ImportDataValues => EndpointGroup::DataValueSets,
            Route::ChapSystemInfo => EndpointGroup::ChapSystemInfo,
            Route::ListSetups | Route::GetSetup(_) | Route::PatchSetup(_) => {
                EndpointGroup::PredictionSetups
            }
            Route::RunSetup(_) => EndpointGroup::RunSetup,
            Route::ListJobs => EndpointGroup::Jobs,
            Route::JobStatus(_) => EndpointGroup::JobStatus,
            Route::JobLogs(_) => EndpointGroup::JobLogs,
            Route::PredictionEntries(_) => EndpointGroup::PredictionEntries,
            Route::Prediction(_) => EndpointGroup::Predictions,
            Route::Thresholds => EndpointGroup::Thresholds,
            Route::MethodNotAllowed { group, .. } => *group,
            Route::Dhis2NotFound | Route::ChapNotFound | Route::Control(_) | Route::Outside => {
                EndpointGroup::Other
            }
        }
    }

    fn is_chap(&self) -> bool {
        matches!(
            self,
            Route::ChapNotFound | Route::MethodNotAllowed { chap: true, .. }
        ) || self.group().is_chap()
    }
}

/// The catch-all handler: every request lands here.
pub(crate) async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<SimState>>,
) -> HttpResponse {
    let route = Route::parse(req.method(), req.path());
    let response = respond(&req, &body, &state, &route).await;
    if !matches!(route, Route::Control(_)) {
        state.record_request(RequestRecord {
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            group: route.group(),
            status: response.status().as_u16(),
            auth: auth::scheme(&req),
            at: chrono::Utc::now(),
        });
    }
    response
}

async fn respond(
    req: &HttpRequest,
    body: &web::Bytes,
    state: &SimState,
    route: &Route,
) -> HttpResponse {
    match route {
        Route::Outside => return HttpResponse::NotFound().body("Not Found"),
        Route::Control(path) => return control::handle(req, body, state, path),
        _ => {}
    }
    let world = state.world();
    let (dhis2_down, chap_down, latency) = {
        let controls = state.controls();
        let group = route.group();
        let latency = controls.latency_ms.get(&group).copied().unwrap_or(0);
        (controls.dhis2_down, controls.chap_down, latency)
    };
    if let Some(status) = dhis2_down {
        return proxy_error_page(status);
    }
    if let Some(max) = world.scenario.max_url_bytes {
        let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
        if target > max {
            return proxy_error_page(414);
        }
    }
    if let Some(refused) = auth::refusal(req, &world.scenario) {
        return refused;
    }
    let chap = route.is_chap();
    if chap {
        if let Some(status) = chap_down {
            return route_error(status);
        }
    }
    if latency > 0 {
        match world.scenario.route_timeout_ms {
            Some(timeout) if chap && latency > timeout => {
                tokio::time::sleep(Duration::from_millis(timeout)).await;
                return route_error(504);
            }
            _ => tokio::time::sleep(Duration::from_millis(latency)).await,
        }
    }
    if let Some(fault) = state.fault_for(route.group(), req.method().as_str()) {
        return fault_response(&fault, chap);
    }
    match route {
        Route::SystemInfo => dhis2::system_info(req, &world),
        Route::Analytics => analytics::handle(req, &world),
        Route::OrganisationUnits => dhis2::organisation_units(req, &world),
        Route::Me => metadata::me(req, &world),
        Route::DataElements => metadata::data_elements(req, &world),
        Route::ReadDataValues => data_value_sets::read(req, state, &world),
        Route::ImportDataValues => data_value_sets::import(req, body, state, &world),
        Route::Dhis2NotFound => HttpResponse::NotFound().json(web_message(
            StatusCode::NOT_FOUND,
            &format!("No endpoint for {} {}", req.method(), req.path()),
            None,
        )),
        Route::MethodNotAllowed { chap: false, .. } => {
            HttpResponse::MethodNotAllowed().json(web_message(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("Request method '{}' is not supported", req.method()),
                None,
            ))
        }
        Route::MethodNotAllowed { chap: true, .. } => {
            chap::detail(StatusCode::METHOD_NOT_ALLOWED, json!("Method Not Allowed"))
        }
        Route::ChapNotFound => chap::detail(StatusCode::NOT_FOUND, json!("Not Found")),
        chap_route => chap::handle(req, body, state, &world, chap_route),
    }
}

/// DHIS2's error body (`WebMessage`).
pub(crate) fn web_message(status: StatusCode, message: &str, error_code: Option<&str>) -> Value {
    let mut body = json!({
        "httpStatus": status.canonical_reason().unwrap_or("Error"),
        "httpStatusCode": status.as_u16(),
        "status": "ERROR",
        "message": message,
    });
    if let Some(code) = error_code {
        body["errorCode"] = json!(code);
    }
    body
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

/// What a reverse proxy in front of a DHIS2 that is down answers: an HTML page, not JSON.
fn proxy_error_page(status: u16) -> HttpResponse {
    let code = status_code(status);
    let title = format!(
        "{} {}",
        code.as_u16(),
        code.canonical_reason().unwrap_or("Error")
    );
    HttpResponse::build(code)
        .content_type("text/html")
        .body(format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        ))
}

/// DHIS2's route proxy failing to reach (or wait for) chap.
fn route_error(status: u16) -> HttpResponse {
    let code = status_code(status);
    let message = if code == StatusCode::GATEWAY_TIMEOUT {
        "Route request timed out"
    } else {
        "Route target could not be reached"
    };
    HttpResponse::build(code).json(web_message(code, message, None))
}

fn fault_response(fault: &crate::scenario::Fault, chap: bool) -> HttpResponse {
    if fault.malformed {
        return HttpResponse::Ok()
            .content_type("application/json")
            .body("{\"headers\":[{\"name\":\"dx\",");
    }
    let code = status_code(fault.status);
    if let Some(size) = fault.oversized_bytes {
        return oversized(code, size, fault.oversized_chunked);
    }
    if let Some(body) = &fault.body {
        return HttpResponse::build(code)
            .content_type("application/json")
            .body(body.clone());
    }
    if chap {
        chap::detail(code, json!(code.canonical_reason().unwrap_or("Error")))
    } else {
        HttpResponse::build(code).json(web_message(
            code,
            code.canonical_reason().unwrap_or("Error"),
            None,
        ))
    }
}

/// `size` bytes of JSON whitespace, then `{}`, produced as they are sent (never held whole).
fn oversized(code: StatusCode, size: u64, chunked: bool) -> HttpResponse {
    const CHUNK: usize = 64 * 1024;
    static SPACES: [u8; CHUNK] = [b' '; CHUNK];
    let mut left = size;
    let body = futures_util::stream::iter(std::iter::from_fn(move || {
        let n = left.min(CHUNK as u64) as usize;
        left -= n as u64;
        (n > 0).then(|| Ok::<_, actix_web::Error>(web::Bytes::from_static(&SPACES[..n])))
    }))
    .chain(futures_util::stream::once(async {
        Ok(web::Bytes::from_static(b"{}"))
    }));
    let mut response = HttpResponse::build(code);
    response.content_type("application/json");
    if !chunked {
        response.no_chunking(size + 2);
    }
    response.streaming(body)
}

/// Splits a `fields` spec (`id,categoryCombo[id,name],level`) at its top-level commas.
pub(crate) fn split_fields(spec: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in spec.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(spec[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(spec[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Query pairs, percent-decoded, in order (repeated keys kept).
pub(crate) fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
