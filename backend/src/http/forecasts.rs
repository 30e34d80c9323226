//! `GET /api/v1/runs/{id}/forecasts`: what chap predicted in a run, per succeeded setup (JSON), or one
//! setup as CSV (`org_unit_id,org_unit_name,period,quantile,value`).

use actix_web::{get, web, HttpResponse};
use chap_scheduler_api::{ErrorBody, ForecastArtifact, RunForecast};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::input::QueryParams;
use super::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::orchestrator::store;

/// Registers the route.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(run_forecasts);
}

/// `json` (default) or `csv`, and for CSV the setup.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ForecastQuery {
    /// `json` (every setup) or `csv` (one setup).
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
    /// With `csv`: the setup (needed when the run forecast several).
    setup_id: Option<i64>,
}

/// A CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or `@` is
/// prefixed with `'` so that a spreadsheet never reads a name as a formula.
fn csv_field(raw: &str) -> String {
    let safe = if raw.starts_with(['=', '+', '-', '@']) {
        format!("'{raw}")
    } else {
        raw.to_string()
    };
    if safe.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", safe.replace('"', "\"\""))
    } else {
        safe
    }
}

/// One forecast as CSV, one row per org unit, period and quantile (empty value: chap gave none).
pub fn to_csv(f: &ForecastArtifact) -> String {
    let mut out = String::from("org_unit_id,org_unit_name,period,quantile,value\n");
    for ou in &f.org_units {
        let Some(rows) = f.forecast.get(&ou.id) else {
            continue;
        };
        for (period, values) in f.forecast_periods.iter().zip(rows) {
            for (quantile, value) in f.quantiles.iter().zip(values) {
                let value = value.map(|v| v.to_string()).unwrap_or_default();
                out.push_str(&format!(
                    "{},{},{},{quantile},{value}\n",
                    csv_field(&ou.id),
                    csv_field(&ou.name),
                    csv_field(period)
                ));
            }
        }
    }
    out
}

/// The forecasts of a run's succeeded setups: quantiles per org unit and period, the recent
/// observations sent to chap, thresholds when fetched. `?format=csv&setup_id=N` downloads one setup.
#[utoipa::path(
    tag = "runs",
    params(("id" = Uuid, Path, description = "Run id"), ForecastQuery),
    responses(
        (status = 200, description = "The forecasts (JSON), or one as CSV",
         content((Vec<RunForecast> = "application/json"), (String = "text/csv"))),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such run, or no forecast of that setup", body = ErrorBody),
        (status = 422, description = "A bad format, or CSV without setup_id for several setups", body = ErrorBody),
    )
)]
#[get("/runs/{id}/forecasts")]
async fn run_forecasts(
    _principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: QueryParams<ForecastQuery>,
) -> AppResult<HttpResponse> {
    let db = state.engine.db();
    let run = store::get(db, *id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no run with id {id}")))?;
    let forecasts: Vec<ForecastArtifact> = store::forecast_contents(db, run.id)
        .await?
        .iter()
        .filter_map(|content| serde_json::from_str(content).ok())
        .collect();
    match query.format.as_deref().unwrap_or("json") {
        "json" => Ok(HttpResponse::Ok().json(
            forecasts
                .into_iter()
                .map(|forecast| RunForecast {
                    run_id: run.id,
                    forecast,
                })
                .collect::<Vec<_>>(),
        )),
        "csv" => {
            let chosen = match query.setup_id {
                Some(setup) => forecasts
                    .into_iter()
                    .find(|f| f.setup_id == setup)
                    .ok_or_else(|| {
                        AppError::NotFound(format!("the run {id} has no forecast of setup {setup}"))
                    })?,
                None if forecasts.len() == 1 => forecasts
                    .into_iter()
                    .next()
                    .ok_or_else(|| AppError::NotFound(format!("the run {id} has no forecast")))?,
                None if forecasts.is_empty() => {
                    return Err(AppError::NotFound(format!("the run {id} has no forecast")))
                }
                None => {
                    return Err(AppError::field(
                        "setup_id",
                        "the run forecast several setups: choose one for CSV",
                    ))
                }
            };
            let name = format!(
                "forecast-{}-setup-{}.csv",
                &run.id.to_string()[..8],
                chosen.setup_id
            );
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((
                    "Content-Disposition",
                    format!("attachment; filename=\"{name}\""),
                ))
                .body(to_csv(&chosen)))
        }
        other => Err(AppError::field(
            "format",
            format!("must be json or csv, not `{other}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chap_scheduler_api::ForecastOrgUnit;
    use std::collections::BTreeMap;

    #[test]
    fn csv_rows_are_one_per_org_unit_period_and_quantile_and_names_are_safe() {
        let f = ForecastArtifact {
            setup_id: 1,
            setup_name: "s".into(),
            period_type: "month".into(),
            target: "disease_cases".into(),
            org_units: vec![
                ForecastOrgUnit {
                    id: "OU1".into(),
                    name: "Bo, \"North\"".into(),
                },
                ForecastOrgUnit {
                    id: "OU2".into(),
                    name: "=HYPERLINK(1)".into(),
                },
            ],
            quantiles: vec![0.1, 0.5],
            forecast_periods: vec!["202605".into()],
            forecast: BTreeMap::from([
                ("OU1".into(), vec![vec![Some(1.5), Some(3.0)]]),
                ("OU2".into(), vec![vec![None, Some(7.0)]]),
            ]),
            observed_periods: vec![],
            observed: BTreeMap::new(),
            thresholds: None,
            prediction_id: 9,
            previous_run_id: None,
        };
        assert_eq!(
            to_csv(&f),
            "org_unit_id,org_unit_name,period,quantile,value\n\
             OU1,\"Bo, \"\"North\"\"\",202605,0.1,1.5\n\
             OU1,\"Bo, \"\"North\"\"\",202605,0.5,3\n\
             OU2,'=HYPERLINK(1),202605,0.1,\n\
             OU2,'=HYPERLINK(1),202605,0.5,7\n"
        );
    }
}
