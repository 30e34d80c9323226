//! Schedules: `/api/v1/deployments/{id}/schedules`, `/api/v1/schedules/{id}`, and previews of the
//! next fire times for a stored schedule or an unsaved expression.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chap_scheduler_api::{
    ErrorBody, PreviewRequest, PreviewResponse, ScheduleRequest, ScheduleView,
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::extract::Operator;
use super::input::{JsonBody, QueryParams};
use super::AppState;
use crate::auth::Principal;
use crate::db::audit;
use crate::error::{AppError, AppResult};
use crate::orchestrator::timing::Timing;
use crate::orchestrator::{deployments, schedules};

/// Registers the routes (`preview` before `{id}`).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(preview_expression)
        .service(list_all_schedules)
        .service(list_schedules)
        .service(create_schedule)
        .service(get_schedule)
        .service(update_schedule)
        .service(delete_schedule)
        .service(preview_schedule);
}

fn preview_of(timing: &Timing, timezone: &str, count: Option<u32>) -> AppResult<PreviewResponse> {
    let n = count.unwrap_or(5);
    if !(1..=100).contains(&n) {
        return Err(AppError::field("count", "must be between 1 and 100"));
    }
    let fire_times = timing.preview(Utc::now(), n as usize);
    Ok(PreviewResponse {
        timezone: timezone.to_string(),
        local_times: fire_times.iter().map(|t| timing.local(*t)).collect(),
        fire_times,
    })
}

/// Next fire times of an unsaved cron expression or interval (for validating as you type).
#[utoipa::path(
    tag = "schedules",
    request_body = PreviewRequest,
    responses(
        (status = 200, body = PreviewResponse),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Invalid cron expression, interval or timezone", body = ErrorBody),
    )
)]
#[post("/schedules/preview")]
async fn preview_expression(
    _principal: Principal,

    body: JsonBody<PreviewRequest>,
) -> AppResult<web::Json<PreviewResponse>> {
    let b = body.into_inner();
    let tz = b.timezone.unwrap_or_else(|| "UTC".into());
    let timing = schedules::timing_from(
        b.cron.as_deref(),
        b.interval_seconds,
        b.anchor_at.unwrap_or_else(Utc::now),
        &tz,
    )?;
    Ok(web::Json(preview_of(&timing, &tz, b.count)?))
}

/// Every schedule of every deployment, the soonest to fire first (inactive ones last).
#[utoipa::path(
    tag = "schedules",
    responses((status = 200, body = Vec<ScheduleView>), (status = 401, body = ErrorBody))
)]
#[get("/schedules")]
async fn list_all_schedules(
    _principal: Principal,
    state: web::Data<AppState>,
) -> AppResult<web::Json<Vec<ScheduleView>>> {
    let all = schedules::list_all(state.engine.db()).await?;
    Ok(web::Json(all.iter().map(schedules::view).collect()))
}

/// A deployment's schedules.
#[utoipa::path(
    tag = "schedules",
    params(("id" = Uuid, Path, description = "Deployment id")),
    responses((status = 200, body = Vec<ScheduleView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/deployments/{id}/schedules")]
async fn list_schedules(
    _principal: Principal,

    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Vec<ScheduleView>>> {
    let dep = deployments::get(state.engine.db(), *id).await?;
    let all = schedules::list(state.engine.db(), dep.id).await?;
    Ok(web::Json(all.iter().map(schedules::view).collect()))
}

/// Add a schedule to a deployment (operator).
#[utoipa::path(
    tag = "schedules",
    params(("id" = Uuid, Path, description = "Deployment id")),
    request_body = ScheduleRequest,
    responses(
        (status = 201, body = ScheduleView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Invalid cron, timezone, interval or parameters", body = ErrorBody),
    )
)]
#[post("/deployments/{id}/schedules")]
async fn create_schedule(
    principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<ScheduleRequest>,
) -> AppResult<HttpResponse> {
    let dep = deployments::get(state.engine.db(), *id).await?;
    let s = schedules::create(&state.engine, &dep, body.into_inner()).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "schedule.created",
        Some(format!("schedule:{}", s.id)),
        json!({ "deployment": dep.name, "cron": s.cron, "interval_seconds": s.interval_seconds, "timezone": s.timezone }),
    )
    .await?;
    Ok(HttpResponse::Created().json(schedules::view(&s)))
}

/// One schedule.
#[utoipa::path(
    tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses((status = 200, body = ScheduleView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/schedules/{id}")]
async fn get_schedule(
    _principal: Principal,

    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<ScheduleView>> {
    Ok(web::Json(schedules::view(
        &schedules::get(state.engine.db(), *id).await?,
    )))
}

/// Edit a schedule (operator): its id stays; the next fire time is recomputed (no back-fill).
#[utoipa::path(
    tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id")),
    request_body = ScheduleRequest,
    responses(
        (status = 200, body = ScheduleView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[patch("/schedules/{id}")]
async fn update_schedule(
    principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<ScheduleRequest>,
) -> AppResult<web::Json<ScheduleView>> {
    let body = body.into_inner();
    let changes = serde_json::to_value(&body).unwrap_or_default();
    let s = schedules::update(&state.engine, *id, body).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "schedule.updated",
        Some(format!("schedule:{}", s.id)),
        changes,
    )
    .await?;
    Ok(web::Json(schedules::view(&s)))
}

/// Delete a schedule (operator); its runs stay.
#[utoipa::path(
    tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[delete("/schedules/{id}")]
async fn delete_schedule(
    principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let s = schedules::delete(state.engine.db(), *id).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "schedule.deleted",
        Some(format!("schedule:{}", s.id)),
        json!({}),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Preview size.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CountQuery {
    /// How many fire times, 1–100 (default 5).
    #[param(minimum = 1, maximum = 100)]
    count: Option<u32>,
}

/// Next fire times of a stored schedule.
#[utoipa::path(
    tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id"), CountQuery),
    responses((status = 200, body = PreviewResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/schedules/{id}/preview")]
async fn preview_schedule(
    _principal: Principal,

    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: QueryParams<CountQuery>,
) -> AppResult<web::Json<PreviewResponse>> {
    let s = schedules::get(state.engine.db(), *id).await?;
    let timing = schedules::timing_of(&s).map_err(AppError::Conflict)?;
    Ok(web::Json(preview_of(&timing, &s.timezone, query.count)?))
}
