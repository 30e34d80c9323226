//! chap-core behind DHIS2's route proxy: system info, prediction setups, run submission, jobs and
//! job logs (a job's results are in `predictions.rs`). Errors use FastAPI's `{"detail": …}` envelope.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{predictions, query_pairs, Route};
use crate::periods::Period;
use crate::scenario::JobResult;
use crate::state::{Job, SimState};
use crate::world::World;

/// FastAPI's error envelope.
pub(crate) fn detail(status: StatusCode, detail: Value) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "detail": detail }))
}

/// FastAPI's 422 for a path parameter that is not an integer.
pub(crate) fn int_parsing(name: &str, input: &str) -> HttpResponse {
    detail(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!([{"type": "int_parsing", "loc": ["path", name],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": input}]),
    )
}

pub(crate) fn handle(
    req: &HttpRequest,
    body: &Bytes,
    state: &SimState,
    world: &World,
    route: &Route,
) -> HttpResponse {
    match route {
        Route::ChapSystemInfo => system_info(world),
        Route::ListSetups => HttpResponse::Ok().json(
            world
                .scenario
                .prediction_setups
                .iter()
                .map(|s| &s.setup)
                .collect::<Vec<_>>(),
        ),
        Route::GetSetup(id) => match id.parse::<i64>() {
            Ok(id) => get_setup(state, world, id),
            Err(_) => int_parsing("prediction_setup_id", id),
        },
        Route::PatchSetup(id) => match id.parse::<i64>() {
            Ok(id) => patch_setup(state, world, id, body),
            Err(_) => int_parsing("prediction_setup_id", id),
        },
        Route::RunSetup(id) => match id.parse::<i64>() {
            Ok(id) => run_setup(state, world, id, body),
            Err(_) => int_parsing("prediction_setup_id", id),
        },
        Route::ListJobs => list_jobs(req, state, world),
        Route::JobStatus(id) => match state.jobs().get_mut(id) {
            Some(job) => HttpResponse::Ok().json(job.poll()),
            None => job_not_found(id),
        },
        Route::JobLogs(id) => match state.jobs().get_mut(id) {
            Some(job) => HttpResponse::Ok().json(job_logs(job)),
            None => job_not_found(id),
        },
        Route::PredictionEntries(id) => match id.parse::<i64>() {
            Ok(id) => predictions::entries(req, state, world, id),
            Err(_) => int_parsing("prediction_id", id),
        },
        Route::Prediction(id) => match id.parse::<i64>() {
            Ok(id) => predictions::info(state, world, id),
            Err(_) => int_parsing("prediction_id", id),
        },
        Route::Thresholds => predictions::thresholds(state, world, body),
        _ => detail(StatusCode::NOT_FOUND, json!("Not Found")),
    }
}

fn system_info(world: &World) -> HttpResponse {
    let chap = &world.scenario.chap;
    HttpResponse::Ok().json(json!({
        "chap_core_version": chap.chap_core_version,
        "python_version": chap.python_version,
        "server_date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        "server_time_zone_id": chap.server_time_zone_id,
        "revision": chap.revision,
    }))
}

fn setup_not_found(id: i64) -> HttpResponse {
    detail(
        StatusCode::NOT_FOUND,
        json!(format!("Prediction setup {id} not found")),
    )
}

fn job_not_found(id: &str) -> HttpResponse {
    detail(
        StatusCode::NOT_FOUND,
        json!(format!("Job '{id}' not found")),
    )
}

/// chap's FastAPI 422 for one body field.
fn body_error(field: &str, kind: &str, msg: &str, input: &Value) -> HttpResponse {
    detail(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!([{"type": kind, "loc": ["body", field], "msg": msg, "input": input}]),
    )
}

/// `PATCH …/v1/crud/prediction-setups/{id}`: a partial update of `scheduleEnabled` and
/// `scheduleCronExpression` (other keys are ignored), refused as chap refuses it: a cron of other than
/// 5 fields is a 422 in FastAPI's list form, enabled without a cron a 400 with a string detail.
fn patch_setup(state: &SimState, world: &World, id: i64, body: &Bytes) -> HttpResponse {
    let Some(current) = world
        .scenario
        .prediction_setups
        .iter()
        .find(|s| s.setup.id == id)
    else {
        return setup_not_found(id);
    };
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(body) else {
        return body_error(
            "body",
            "model_attributes_type",
            "Input should be a valid dictionary or object",
            &Value::Null,
        );
    };
    let mut enabled = current.setup.schedule_enabled;
    let mut cron = current.setup.schedule_cron_expression.clone();
    if let Some(v) = patch.get("scheduleEnabled") {
        match v.as_bool() {
            Some(b) => enabled = b,
            None => {
                return body_error(
                    "scheduleEnabled",
                    "bool_type",
                    "Input should be a valid boolean",
                    v,
                )
            }
        }
    }
    if let Some(v) = patch.get("scheduleCronExpression") {
        match v {
            Value::Null => cron = None,
            Value::String(c) if c.split_whitespace().count() == 5 => cron = Some(c.clone()),
            Value::String(_) => {
                return body_error(
                    "scheduleCronExpression",
                    "value_error",
                    "Value error, Cron expression must have exactly 5 fields (minute hour day month weekday)",
                    v,
                )
            }
            other => return body_error("scheduleCronExpression", "string_type", "Input should be a valid string", other),
        }
    }
    if enabled && cron.is_none() {
        return detail(
            StatusCode::BAD_REQUEST,
            json!("Cannot enable scheduling without a cron expression"),
        );
    }
    state.update_scenario(|scenario| {
        if let Some(s) = scenario
            .prediction_setups
            .iter_mut()
            .find(|s| s.setup.id == id)
        {
            s.setup.schedule_enabled = enabled;
            s.setup.schedule_cron_expression = cron.clone();
        }
    });
    state.log().setup_patches.push(crate::state::SetupPatch {
        setup_id: id,
        body: Value::Object(patch),
    });
    get_setup(state, &state.world(), id)
}

fn get_setup(state: &SimState, world: &World, id: i64) -> HttpResponse {
    let Some(setup) = world
        .scenario
        .prediction_setups
        .iter()
        .find(|s| s.setup.id == id)
    else {
        return setup_not_found(id);
    };
    let predictions: Vec<Value> = state
        .jobs()
        .list
        .iter()
        .filter(|j| j.setup_id == id && j.succeeded())
        .map(|j| json!({"id": j.prediction_id, "name": j.name, "created": j.start_time.format("%Y-%m-%dT%H:%M:%S").to_string()}))
        .collect();
    let mut value = serde_json::to_value(&setup.setup).unwrap_or(Value::Null);
    value["predictions"] = Value::Array(predictions);
    HttpResponse::Ok().json(value)
}

/// The run body chap accepts: extra keys are forbidden.
#[derive(Deserialize)]
struct RunBody {
    name: Option<Value>,
    geojson: Option<Value>,
    #[serde(rename = "providedData")]
    provided_data: Option<Vec<Observation>>,
    #[serde(rename = "nPeriods")]
    n_periods: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Observation {
    #[serde(rename = "orgUnit")]
    org_unit: String,
    period: String,
}

/// pydantic's error item.
pub(crate) fn error_item(kind: &str, loc: &[&str], msg: &str) -> Value {
    let mut loc_json = vec![json!("body")];
    loc_json.extend(loc.iter().map(|l| json!(l)));
    json!({"type": kind, "loc": loc_json, "msg": msg})
}

/// Validates a run body the way chap's pydantic model does; returns the 422 items.
fn validate(body: &RunBody) -> Vec<Value> {
    let mut errors = Vec::new();
    match &body.name {
        None => errors.push(error_item("missing", &["name"], "Field required")),
        Some(Value::String(s)) if s.is_empty() => errors.push(error_item(
            "string_too_short",
            &["name"],
            "String should have at least 1 character",
        )),
        Some(Value::String(_)) => {}
        Some(_) => errors.push(error_item(
            "string_type",
            &["name"],
            "Input should be a valid string",
        )),
    }
    if body.geojson.is_none() {
        errors.push(error_item("missing", &["geojson"], "Field required"));
    }
    match &body.provided_data {
        None => errors.push(error_item("missing", &["providedData"], "Field required")),
        Some(rows) if rows.is_empty() => errors.push(error_item(
            "too_short",
            &["providedData"],
            "List should have at least 1 item after validation, not 0",
        )),
        Some(_) => {}
    }
    match body.n_periods.as_ref().map(Value::as_i64) {
        None => errors.push(error_item("missing", &["nPeriods"], "Field required")),
        Some(None) => errors.push(error_item(
            "int_type",
            &["nPeriods"],
            "Input should be a valid integer",
        )),
        Some(Some(n)) if n <= 0 => errors.push(error_item(
            "greater_than",
            &["nPeriods"],
            "Input should be greater than 0",
        )),
        Some(Some(_)) => {}
    }
    if let Some(kind) = &body.kind {
        if !kind.is_string() {
            errors.push(error_item(
                "string_type",
                &["type"],
                "Input should be a valid string",
            ));
        }
    }
    for key in body.extra.keys() {
        errors.push(error_item(
            "extra_forbidden",
            &[key],
            "Extra inputs are not permitted",
        ));
    }
    errors
}

fn run_setup(state: &SimState, world: &World, setup_id: i64, raw: &Bytes) -> HttpResponse {
    let (response, job_id) = submit(state, world, setup_id, raw);
    state.record_submission(setup_id, response.status().as_u16(), job_id, raw);
    response
}

fn submit(
    state: &SimState,
    world: &World,
    setup_id: i64,
    raw: &Bytes,
) -> (HttpResponse, Option<String>) {
    if !world
        .scenario
        .prediction_setups
        .iter()
        .any(|s| s.setup.id == setup_id)
    {
        return (setup_not_found(setup_id), None);
    }
    let body: RunBody = match serde_json::from_slice(raw) {
        Ok(body) => body,
        Err(e) => {
            let item = json!({"type": "json_invalid", "loc": ["body", e.column()],
                              "msg": "JSON decode error", "input": {}, "ctx": {"error": e.to_string()}});
            return (
                detail(StatusCode::UNPROCESSABLE_ENTITY, json!([item])),
                None,
            );
        }
    };
    let errors = validate(&body);
    if !errors.is_empty() {
        return (
            detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Array(errors)),
            None,
        );
    }
    let behaviour = {
        let mut controls = state.controls();
        let behaviour = controls
            .behaviours
            .get(&setup_id)
            .cloned()
            .unwrap_or_default();
        if let Some(rejection) = &behaviour.rejection {
            let used = controls.rejected.entry(setup_id).or_insert(0);
            if rejection.times.is_none_or(|times| *used < times) {
                *used += 1;
                let status =
                    StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::BAD_REQUEST);
                return (HttpResponse::build(status).json(&rejection.body), None);
            }
        }
        behaviour
    };
    let n_periods = body.n_periods.as_ref().and_then(Value::as_i64).unwrap_or(1);
    let rows = body.provided_data.unwrap_or_default();
    let (org_units, periods) = forecast_cells(&rows, n_periods);
    let name = body
        .name
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let statuses = if behaviour.job_statuses.is_empty() {
        vec!["SUCCESS".to_string()]
    } else {
        behaviour.job_statuses.clone()
    };
    let id = state.jobs().push(
        world.scenario.seed,
        Job {
            id: String::new(),
            setup_id,
            name,
            end_time: (!crate::state::is_transient(&statuses[0])).then(chrono::Utc::now),
            statuses,
            polls: 0,
            result: behaviour.job_result.clone(),
            prediction_id: 0,
            dataset_id: 0,
            logs: behaviour.job_logs.clone(),
            start_time: chrono::Utc::now(),
            forecast_org_units: org_units,
            forecast_periods: periods,
        },
    );
    (HttpResponse::Ok().json(json!({ "id": id })), Some(id))
}

/// The org units of the submitted data (first-seen order) and the `n` periods after its latest one,
/// written in the same style (padded or not) as the submitted ids.
fn forecast_cells(rows: &[Observation], n: i64) -> (Vec<String>, Vec<String>) {
    let mut org_units: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut latest: Option<(Period, bool)> = None;
    for row in rows {
        if seen.insert(row.org_unit.as_str()) {
            org_units.push(row.org_unit.clone());
        }
        if let Some(period) = Period::parse(&row.period) {
            if latest.is_none_or(|(p, _)| period > p) {
                let padded = row.period != period.to_string();
                latest = Some((period, padded));
            }
        }
    }
    let periods = match latest {
        Some((last, padded)) => std::iter::successors(Some(last.next()), |p| Some(p.next()))
            .take(usize::try_from(n).unwrap_or(0))
            .map(|p| if padded { p.padded_id() } else { p.to_string() })
            .collect(),
        None => Vec::new(),
    };
    (org_units, periods)
}

fn job_result(job: &Job) -> Value {
    if !job.succeeded() {
        return Value::Null;
    }
    match &job.result {
        JobResult::String => json!(job.prediction_id.to_string()),
        JobResult::Integer => json!(job.prediction_id),
        JobResult::Null => Value::Null,
        JobResult::Value(value) => value.clone(),
    }
}

fn job_description(job: &Job) -> Value {
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    json!({
        "id": job.id,
        "type": "make_prediction",
        "name": job.name,
        "status": job.current_status(),
        "start_time": time(job.start_time),
        "end_time": job.end_time.map(time),
        "result": job_result(job),
    })
}

/// `GET /v1/jobs` with chap's optional `ids`, `status`, `type` and `predictionSetupId` filters.
fn list_jobs(req: &HttpRequest, state: &SimState, world: &World) -> HttpResponse {
    let names_setup = world.scenario.chap.jobs_name_setup;
    let pairs = query_pairs(req);
    let values = |key: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let ids = values("ids");
    let statuses = values("status");
    let kinds = values("type");
    let setup: Option<i64> = values("predictionSetupId")
        .first()
        .and_then(|v| v.parse().ok());
    let jobs = state.jobs();
    let listed: Vec<Value> = jobs
        .known(&ids)
        .into_iter()
        .filter(|j| {
            statuses.is_empty()
                || statuses
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(j.current_status()))
        })
        .filter(|_| {
            kinds.is_empty()
                || kinds
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case("make_prediction"))
        })
        .filter(|j| !names_setup || setup.is_none_or(|id| j.setup_id == id))
        .map(|j| {
            let mut described = job_description(j);
            if names_setup {
                described["prediction_setup_id"] = json!(j.setup_id);
            }
            described
        })
        .collect();
    HttpResponse::Ok().json(listed)
}

fn job_logs(job: &Job) -> String {
    if let Some(logs) = &job.logs {
        return logs.clone();
    }
    let mut lines = vec![
        format!(
            "INFO chap_core.rest_api.celery_tasks: Starting job {}",
            job.id
        ),
        format!(
            "INFO chap_core.assessment.prediction: Predicting '{}'",
            job.name
        ),
    ];
    let status = job.current_status();
    if status.eq_ignore_ascii_case("SUCCESS") {
        lines.push(format!(
            "INFO chap_core.rest_api.celery_tasks: Prediction {} stored",
            job.prediction_id
        ));
    } else if !crate::state::is_transient(status) {
        lines.push(
            "ERROR chap_core.runners.docker_runner: Model container exited with code 1".into(),
        );
        lines.push(format!(
            "ERROR chap_core.rest_api.celery_tasks: Job {} ended with {status}",
            job.id
        ));
    }
    lines.join("\n") + "\n"
}
