//! `POST /api/dataValueSets` (DHIS2's aggregate import, answered with an `ImportSummary`, wrapped in
//! a `WebMessage` or bare) and `GET /api/dataValueSets` (the stored values of data sets).

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{query_pairs, web_message};
use crate::data_values::DataValue;
use crate::import::{self, ImportOutcome, ImportRecord, ImportStrategy, IncomingValue};
use crate::periods::Period;
use crate::scenario::ImportSummaryFormat;
use crate::state::SimState;
use crate::world::World;

/// The request body: values, with header fields DHIS2 applies to values that lack them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    #[serde(default)]
    data_values: Vec<RawValue>,
    period: Option<String>,
    org_unit: Option<String>,
    attribute_option_combo: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawValue {
    data_element: Option<String>,
    period: Option<String>,
    org_unit: Option<String>,
    category_option_combo: Option<String>,
    attribute_option_combo: Option<String>,
    /// A string, or a number or boolean read as its text.
    value: Option<Value>,
    comment: Option<String>,
}

fn bad_request(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(web_message(StatusCode::BAD_REQUEST, message, None))
}

/// `POST /api/dataValueSets?dryRun=…&importStrategy=…`.
pub(crate) fn import(
    req: &HttpRequest,
    body: &Bytes,
    state: &SimState,
    world: &World,
) -> HttpResponse {
    let mut dry_run = false;
    let mut strategy = ImportStrategy::default();
    let mut refusal = None;
    for (key, value) in query_pairs(req) {
        match key.as_str() {
            "dryRun" => match value.to_ascii_lowercase().as_str() {
                "true" => dry_run = true,
                "false" => dry_run = false,
                _ => refusal = Some(format!("Value '{value}' is not valid for parameter dryRun")),
            },
            "importStrategy" => match ImportStrategy::parse(&value) {
                Some(parsed) => strategy = parsed,
                None => {
                    refusal = Some(format!(
                        "Value '{value}' is not valid for parameter importStrategy. Valid values are: [CREATE, UPDATE, CREATE_AND_UPDATE, DELETE]"
                    ))
                }
            },
            _ => {}
        }
    }
    let values = match refusal {
        Some(message) => Err(message),
        None => parse_body(body),
    };
    let values = match values {
        Ok(values) => values,
        Err(message) => {
            let response = bad_request(&message);
            state.record_import(
                ImportRecord {
                    dry_run,
                    import_strategy: strategy,
                    values: 0,
                    status: 400,
                    import_count: Default::default(),
                    conflicts: Vec::new(),
                    rejected_indexes: Vec::new(),
                    at: Utc::now(),
                    body: None,
                },
                body,
            );
            return response;
        }
    };
    let outcome = {
        let mut store = state.data_values();
        import::import(world, &mut store, &values, strategy, dry_run)
    };
    let response = answer(world, &outcome, values.len(), strategy, dry_run);
    state.record_import(
        ImportRecord {
            dry_run,
            import_strategy: strategy,
            values: values.len(),
            status: response.status().as_u16(),
            import_count: outcome.count,
            conflicts: outcome.conflicts,
            rejected_indexes: outcome.rejected,
            at: Utc::now(),
            body: None,
        },
        body,
    );
    response
}

/// The values of a body, or DHIS2's message for a body it cannot read.
fn parse_body(body: &Bytes) -> Result<Vec<IncomingValue>, String> {
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| format!("JSON parse error: {e}"))?;
    payload
        .data_values
        .into_iter()
        .map(|raw| {
            let value = match raw.value {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Bool(b)) => Some(b.to_string()),
                Some(other) => {
                    return Err(format!(
                        "JSON parse error: Cannot deserialize value of type `java.lang.String` from {} value",
                        if other.is_array() { "Array" } else { "Object" }
                    ))
                }
            };
            Ok(IncomingValue {
                data_element: raw.data_element,
                period: raw.period.or_else(|| payload.period.clone()),
                org_unit: raw.org_unit.or_else(|| payload.org_unit.clone()),
                value,
                category_option_combo: raw.category_option_combo,
                attribute_option_combo: raw
                    .attribute_option_combo
                    .or_else(|| payload.attribute_option_combo.clone()),
                comment: raw.comment,
            })
        })
        .collect()
}

/// The `ImportSummary` in the scenario's wire format.
fn answer(
    world: &World,
    outcome: &ImportOutcome,
    values: usize,
    strategy: ImportStrategy,
    dry_run: bool,
) -> HttpResponse {
    let dhis2 = &world.scenario.dhis2;
    let status = if outcome.conflicts.is_empty() {
        "SUCCESS"
    } else if outcome.rejected.len() < values {
        "WARNING"
    } else {
        "ERROR"
    };
    let conflicts: Vec<Value> = outcome
        .conflicts
        .iter()
        .map(|conflict| {
            let mut item = json!(conflict);
            if !dhis2.conflict_error_codes {
                if let Value::Object(map) = &mut item {
                    map.remove("errorCode");
                }
            }
            item
        })
        .collect();
    let summary = json!({
        "responseType": "ImportSummary",
        "status": status,
        "description": "Import process completed successfully",
        "importOptions": {"dryRun": dry_run, "importStrategy": strategy.as_str()},
        "importCount": outcome.count,
        "conflicts": conflicts,
        "rejectedIndexes": outcome.rejected,
        "dataSetComplete": "false",
    });
    match dhis2.import_summary {
        ImportSummaryFormat::TopLevel => HttpResponse::Ok().json(summary),
        ImportSummaryFormat::Wrapped if outcome.conflicts.is_empty() => {
            HttpResponse::Ok().json(json!({
                "httpStatus": "OK", "httpStatusCode": 200, "status": "OK",
                "message": "Import was successful.", "response": summary,
            }))
        }
        ImportSummaryFormat::Wrapped => HttpResponse::Conflict().json(json!({
            "httpStatus": "Conflict", "httpStatusCode": 409, "status": status,
            "message": "One more conflicts encountered, please check import summary.",
            "response": summary,
        })),
    }
}

fn conflict(message: &str, code: &str) -> HttpResponse {
    HttpResponse::Conflict().json(web_message(StatusCode::CONFLICT, message, Some(code)))
}

/// `GET /api/dataValueSets?dataSet=X[&dataElement=D][&period=P | &startDate=…&endDate=…]
/// [&orgUnit=OU[&children=true]]`: the stored values of the data sets' elements. Period and org
/// unit are optional here (DHIS2 requires them; leaving them out reads everything).
pub(crate) fn read(req: &HttpRequest, state: &SimState, world: &World) -> HttpResponse {
    let mut elements: HashSet<String> = HashSet::new();
    let mut asked_for_data = false;
    let mut periods: Vec<Period> = Vec::new();
    let mut org_units: HashSet<String> = HashSet::new();
    let (mut start, mut end, mut children) = (None, None, false);
    for (key, value) in query_pairs(req) {
        let items = || value.split(',').map(str::trim).filter(|s| !s.is_empty());
        match key.as_str() {
            "dataSet" => {
                for id in items() {
                    let Some(index) = world.data_set_index(id) else {
                        return conflict(
                            &format!("Data set not found or not accessible: `{id}`"),
                            "E1105",
                        );
                    };
                    asked_for_data = true;
                    elements.extend(world.data_set(index).data_elements.iter().cloned());
                }
            }
            "dataElement" => {
                asked_for_data = true;
                elements.extend(items().map(str::to_string));
            }
            "period" => {
                for id in items() {
                    match Period::parse(id) {
                        Some(period) => periods.push(period),
                        None => return conflict(&format!("Period is invalid: `{id}`"), "E1101"),
                    }
                }
            }
            "startDate" => start = NaiveDate::parse_from_str(&value, "%Y-%m-%d").ok(),
            "endDate" => end = NaiveDate::parse_from_str(&value, "%Y-%m-%d").ok(),
            "orgUnit" => org_units.extend(items().map(str::to_string)),
            "children" => children = value.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    if !asked_for_data {
        return conflict(
            "At least one data element, data set or data element group must be specified",
            "E2001",
        );
    }
    let keep = |v: &DataValue| {
        if !elements.contains(&v.data_element) {
            return false;
        }
        let period = Period::parse(&v.period);
        if !periods.is_empty() && !period.is_some_and(|p| periods.contains(&p)) {
            return false;
        }
        let within =
            |p: Period| start.is_none_or(|s| p.start() >= s) && end.is_none_or(|e| p.end() <= e);
        if (start.is_some() || end.is_some()) && !period.is_some_and(within) {
            return false;
        }
        org_units.is_empty()
            || if children {
                world.lineage(&v.org_unit).any(|id| org_units.contains(id))
            } else {
                org_units.contains(&v.org_unit)
            }
    };
    let time = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
    let values: Vec<Value> = state
        .data_values()
        .matching(keep)
        .into_iter()
        .map(|v| {
            let mut item = json!({
                "dataElement": v.data_element, "period": v.period, "orgUnit": v.org_unit,
                "categoryOptionCombo": v.category_option_combo,
                "attributeOptionCombo": v.attribute_option_combo,
                "value": v.value, "storedBy": v.stored_by,
                "created": time(v.created), "lastUpdated": time(v.last_updated),
                "followup": false,
            });
            if let Some(comment) = v.comment {
                item["comment"] = json!(comment);
            }
            item
        })
        .collect();
    HttpResponse::Ok().json(json!({ "dataValues": values }))
}
