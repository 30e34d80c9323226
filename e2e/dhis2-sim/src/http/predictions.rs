//! chap's results of a finished job: the prediction record (`GET /v1/crud/predictions/{id}`), its
//! entries (`GET /v1/analytics/prediction-entry/{id}`) and the thresholds of its dataset
//! (`POST /v1/analytics/thresholds`). Values come from [`crate::forecast`].

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::chap::{detail, error_item};
use super::query_pairs;
use crate::forecast;
use crate::state::SimState;
use crate::world::World;

/// `GET /v1/crud/predictions/{id}`: chap's `PredictionInfo`, once the job succeeded.
pub(crate) fn info(state: &SimState, world: &World, id: i64) -> HttpResponse {
    let Some(job) = state.jobs().by_prediction(id).cloned() else {
        return detail(StatusCode::NOT_FOUND, json!("Prediction not found"));
    };
    let setup = world
        .scenario
        .prediction_setups
        .iter()
        .find(|s| s.setup.id == job.setup_id)
        .map(|s| &s.setup);
    let mut body = json!({
        "id": job.prediction_id,
        "name": job.name,
        "created": job.start_time.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        "nPeriods": job.forecast_periods.len(),
        "datasetId": job.dataset_id,
        "modelId": setup.map_or("", |s| s.configured_model.name.as_str()),
        "metaData": {},
    });
    if let Some(setup) = setup {
        body["backtestId"] = json!(setup.backtest_id);
    }
    HttpResponse::Ok().json(body)
}

/// `GET /v1/analytics/prediction-entry/{id}?quantiles=…`: one entry per forecast period × org unit
/// × produced quantile, quantiles in the order asked.
pub(crate) fn entries(req: &HttpRequest, state: &SimState, world: &World, id: i64) -> HttpResponse {
    let mut quantiles = Vec::new();
    for (key, value) in query_pairs(req) {
        if key == "quantiles" {
            match value.parse::<f64>() {
                Ok(q) => quantiles.push(q),
                Err(_) => {
                    return detail(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!([{"type": "float_parsing", "loc": ["query", "quantiles", quantiles.len()],
                                "msg": "Input should be a valid number, unable to parse string as a number",
                                "input": value}]),
                    )
                }
            }
        }
    }
    if quantiles.is_empty() {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"type": "missing", "loc": ["query", "quantiles"], "msg": "Field required", "input": null}]),
        );
    }
    let Some(job) = state.jobs().by_prediction(id).cloned() else {
        return detail(
            StatusCode::NOT_FOUND,
            json!(format!("Prediction {id} not found")),
        );
    };
    let behaviour = state.behaviour(job.setup_id);
    let seed = world.scenario.seed;
    let mut entries = Vec::with_capacity(
        job.forecast_periods.len() * job.forecast_org_units.len() * quantiles.len(),
    );
    for period in &job.forecast_periods {
        for org_unit in &job.forecast_org_units {
            for &q in &quantiles {
                if let Some(value) = forecast::entry(seed, &job, &behaviour, org_unit, period, q) {
                    entries.push(
                        json!({"orgUnit": org_unit, "period": period, "quantile": q, "value": value}),
                    );
                }
            }
        }
    }
    HttpResponse::Ok().json(entries)
}

/// The validated thresholds body.
struct ThresholdsBody {
    dataset_id: i64,
    period_ids: Vec<String>,
    locations: Vec<String>,
}

/// Reads `{"datasetId", "periodIds", "strategy", "locations"}` as chap's pydantic model does
/// (extra keys forbidden, `strategy` optional and only `seasonal`); the 422 items otherwise.
fn validate(raw: &Bytes) -> Result<ThresholdsBody, Vec<Value>> {
    let body: Value = serde_json::from_slice(raw).map_err(|e| {
        vec![json!({"type": "json_invalid", "loc": ["body", e.column()],
                    "msg": "JSON decode error", "input": {}, "ctx": {"error": e.to_string()}})]
    })?;
    let Value::Object(mut fields) = body else {
        return Err(vec![error_item(
            "model_attributes_type",
            &[],
            "Input should be a valid dictionary or object to extract fields from",
        )]);
    };
    let mut errors = Vec::new();
    let dataset_id = match fields.remove("datasetId") {
        None => {
            errors.push(error_item("missing", &["datasetId"], "Field required"));
            None
        }
        Some(value) => {
            let parsed = value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
            if parsed.is_none() {
                errors.push(error_item(
                    "int_type",
                    &["datasetId"],
                    "Input should be a valid integer",
                ));
            }
            parsed
        }
    };
    let period_ids = string_list(&mut fields, "periodIds", &mut errors);
    let locations = string_list(&mut fields, "locations", &mut errors);
    match fields.remove("strategy") {
        None => {}
        Some(Value::String(s)) if s == "seasonal" => {}
        Some(Value::String(_)) => errors.push(error_item(
            "literal_error",
            &["strategy"],
            "Input should be 'seasonal'",
        )),
        Some(_) => errors.push(error_item(
            "string_type",
            &["strategy"],
            "Input should be a valid string",
        )),
    }
    for key in fields.keys() {
        errors.push(error_item(
            "extra_forbidden",
            &[key],
            "Extra inputs are not permitted",
        ));
    }
    match (dataset_id, period_ids, locations) {
        (Some(dataset_id), Some(period_ids), Some(locations)) if errors.is_empty() => {
            Ok(ThresholdsBody {
                dataset_id,
                period_ids,
                locations,
            })
        }
        _ => Err(errors),
    }
}

/// A required list of strings, or its 422 items.
fn string_list(
    fields: &mut Map<String, Value>,
    key: &str,
    errors: &mut Vec<Value>,
) -> Option<Vec<String>> {
    let Some(value) = fields.remove(key) else {
        errors.push(error_item("missing", &[key], "Field required"));
        return None;
    };
    let Value::Array(items) = value else {
        errors.push(error_item(
            "list_type",
            &[key],
            "Input should be a valid list",
        ));
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::String(s) => out.push(s),
            _ => errors.push(error_item(
                "string_type",
                &[key, &i.to_string()],
                "Input should be a valid string",
            )),
        }
    }
    Some(out)
}

/// `POST /v1/analytics/thresholds`: one `{period, location, value}` per requested pair.
pub(crate) fn thresholds(state: &SimState, world: &World, raw: &Bytes) -> HttpResponse {
    let body = match validate(raw) {
        Ok(body) => body,
        Err(errors) => return detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Array(errors)),
    };
    let Some(job) = state.jobs().by_dataset(body.dataset_id).cloned() else {
        return detail(
            StatusCode::NOT_FOUND,
            json!(format!("Dataset {} not found", body.dataset_id)),
        );
    };
    let behaviour = state.behaviour(job.setup_id);
    match forecast::thresholds(
        world.scenario.seed,
        &job,
        &behaviour,
        &body.period_ids,
        &body.locations,
    ) {
        Ok(cells) => HttpResponse::Ok().json(cells),
        Err(error) => {
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
            HttpResponse::build(status).json(error.body)
        }
    }
}
