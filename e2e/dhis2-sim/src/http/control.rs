//! `/__sim/…`: the runtime controls of [`crate::SimHandle`] over HTTP, for browser tests and the demo
//! that run the binary. Unauthenticated and never part of DHIS2's surface.

use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::scenario::{EndpointGroup, Fault};
use crate::state::{ArmedFault, SimState};

pub(crate) fn handle(
    req: &HttpRequest,
    body: &Bytes,
    state: &SimState,
    path: &str,
) -> HttpResponse {
    match (req.method().clone(), path) {
        (Method::GET, "requests") => HttpResponse::Ok().json(&state.log().requests),
        (Method::GET, "submissions") => {
            let list: Vec<Value> = state
                .log()
                .submissions
                .iter()
                .map(|s| json!({"setup_id": s.setup_id, "status": s.status, "job_id": s.job_id, "body": s.body()}))
                .collect();
            HttpResponse::Ok().json(list)
        }
        (Method::GET, "data-values") => HttpResponse::Ok().json(state.data_values().sorted()),
        (Method::GET, "imports") => HttpResponse::Ok().json(&state.log().imports),
        (Method::GET, "setup-patches") => HttpResponse::Ok().json(&state.log().setup_patches),
        (Method::GET, "jobs") => {
            let jobs = state.jobs();
            let list: Vec<Value> = jobs
                .list
                .iter()
                .map(|j| {
                    json!({"id": j.id, "setup_id": j.setup_id, "status": j.current_status(),
                                "deleted": !jobs.by_id.contains_key(&j.id)})
                })
                .collect();
            HttpResponse::Ok().json(list)
        }
        (Method::POST, "control") => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(command)) => match apply(state, &command) {
                Ok(()) => HttpResponse::NoContent().finish(),
                Err(message) => HttpResponse::BadRequest().json(json!({"error": message})),
            },
            _ => HttpResponse::BadRequest().json(json!({"error": "expected a JSON object"})),
        },
        _ => HttpResponse::NotFound().json(json!({"error": "unknown control endpoint",
            "endpoints": ["GET /__sim/requests", "GET /__sim/submissions", "GET /__sim/jobs",
                          "GET /__sim/data-values", "GET /__sim/imports", "GET /__sim/setup-patches",
                          "POST /__sim/control"]})),
    }
}

/// A setup's schedule as changed in chap's modeling app.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleChange {
    enabled: bool,
    cron: Option<String>,
}

/// Applies `{"dhis2_down": 503 | null, "chap_down": …, "fault": {…}, "clear_faults": true,
/// "latency_ms": {"analytics": 200}, "job_statuses": {"1": ["FAILURE"]}, "revoke_job": "<id>",
/// "delete_job": "<id>", "clear_log": true, "clear_data_values": true,
/// "setup_schedules": {"1": {"enabled": true, "cron": "* * * * *"}}}` (the last as if changed in chap's
/// modeling app).
fn apply(state: &SimState, command: &serde_json::Map<String, Value>) -> Result<(), String> {
    let status = |v: &Value| -> Result<Option<u16>, String> {
        match v {
            Value::Null => Ok(None),
            other => other
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .map(Some)
                .ok_or_else(|| format!("not a status: {other}")),
        }
    };
    let mut controls = state.controls();
    for (key, value) in command {
        match key.as_str() {
            "dhis2_down" => controls.dhis2_down = status(value)?,
            "chap_down" => controls.chap_down = status(value)?,
            "clear_faults" => controls.faults.clear(),
            "fault" => {
                let fault: Fault =
                    serde_json::from_value(value.clone()).map_err(|e| format!("fault: {e}"))?;
                controls.faults.push(ArmedFault::new(fault));
            }
            "latency_ms" => {
                let latency: std::collections::BTreeMap<EndpointGroup, u64> =
                    serde_json::from_value(value.clone())
                        .map_err(|e| format!("latency_ms: {e}"))?;
                controls.latency_ms.extend(latency);
            }
            "job_statuses" => {
                let sequences: std::collections::BTreeMap<String, Vec<String>> =
                    serde_json::from_value(value.clone())
                        .map_err(|e| format!("job_statuses: {e}"))?;
                for (setup, statuses) in sequences {
                    let id: i64 = setup.parse().map_err(|_| format!("setup id: {setup}"))?;
                    controls.behaviours.entry(id).or_default().job_statuses = statuses;
                }
            }
            "revoke_job" | "delete_job" => {
                let id = value
                    .as_str()
                    .ok_or_else(|| format!("{key}: expected a job id"))?;
                let known = if key == "revoke_job" {
                    state.revoke_job(id)
                } else {
                    state.jobs().by_id.remove(id).is_some()
                };
                if !known {
                    return Err(format!("{key}: chap knows no job '{id}'"));
                }
            }
            "clear_log" => state.log().clear(),
            "clear_data_values" => state.data_values().clear(),
            "setup_schedules" => {
                let changes: std::collections::BTreeMap<String, ScheduleChange> =
                    serde_json::from_value(value.clone())
                        .map_err(|e| format!("setup_schedules: {e}"))?;
                for (setup, change) in changes {
                    let id: i64 = setup.parse().map_err(|_| format!("setup id: {setup}"))?;
                    state.set_setup_schedule(id, change.enabled, change.cron)?;
                }
            }
            other => return Err(format!("unknown control: {other}")),
        }
    }
    Ok(())
}
