//! Schedules: `/api/v1/deployments/{id}/schedules`, `/api/v1/schedules/{id}`, and previews of the
//! next fire times for a stored schedule or an unsaved expression.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chap_scheduler_api::{
    ErrorBody, PreviewRequest, PreviewResponse, ScheduleRequest, ScheduleSource, ScheduleView,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::extract::Operator;
use super::input::{JsonBody, QueryParams};
use super::AppState;
use crate::auth::Principal;
use crate::chap_schedules;
use crate::db::audit;
use crate::db::entities::schedule;
use crate::error::{AppError, AppResult};
use crate::orchestrator::timing::Timing;
use crate::orchestrator::{deployments, schedules};

/// The API views of schedules, with the `chap` fields filled in.
async fn views(state: &AppState, rows: &[schedule::Model]) -> AppResult<Vec<ScheduleView>> {
    let mut views: Vec<ScheduleView> = rows.iter().map(schedules::view).collect();
    chap_schedules::decorate(state.engine.db(), &mut views).await?;
    Ok(views)
}

async fn one_view(state: &AppState, row: &schedule::Model) -> AppResult<ScheduleView> {
    Ok(views(state, std::slice::from_ref(row)).await?.remove(0))
}

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
    let fire_times = timing.preview(crate::db::clock::now(), n as usize);
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
        b.anchor_at.unwrap_or_else(crate::db::clock::now),
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
    let mut all = views(&state, &all).await?;
    // A `chap` schedule's next fire time is its setups' soonest: sort again.
    all.sort_by_key(|s| (s.next_fire_at.is_none(), s.next_fire_at));
    Ok(web::Json(all))
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
    Ok(web::Json(views(&state, &all).await?))
}

/// Add a schedule to a deployment (operator). A schedule with `source: chap` reads the deployment's
/// chap's prediction setups at once (a failure is shown in `chap_sync`, the schedule is kept).
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
    let req = body.into_inner();
    if req.source == Some(ScheduleSource::Chap) {
        let empty = json!({});
        chap_schedules::check_schedule(
            &dep,
            req.parameters.as_ref().unwrap_or(&empty),
            req.fallback_cron.as_deref(),
            req.timezone.as_deref().unwrap_or("UTC"),
            &state.config.chap_schedules,
        )?;
    }
    let s = schedules::create(&state.engine, &dep, req).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "schedule.created",
        Some(format!("schedule:{}", s.id)),
        json!({ "deployment": dep.name, "source": s.source, "cron": s.cron, "interval_seconds": s.interval_seconds, "fallback_cron": s.fallback_cron, "timezone": s.timezone }),
    )
    .await?;
    if s.source == ScheduleSource::Chap && s.active {
        chap_schedules::sync_now(&state.chap_schedules(), s.id).await?;
    }
    Ok(HttpResponse::Created().json(one_view(&state, &s).await?))
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
    let s = schedules::get(state.engine.db(), *id).await?;
    Ok(web::Json(one_view(&state, &s).await?))
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
    let current = schedules::get(state.engine.db(), *id).await?;
    if current.source == ScheduleSource::Chap {
        let dep = deployments::get(state.engine.db(), current.deployment_id).await?;
        chap_schedules::check_schedule(
            &dep,
            body.parameters.as_ref().unwrap_or(&current.parameters),
            body.fallback_cron
                .as_deref()
                .or(current.fallback_cron.as_deref()),
            body.timezone.as_deref().unwrap_or(&current.timezone),
            &state.config.chap_schedules,
        )?;
    }
    let s = schedules::update(&state.engine, *id, body).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "schedule.updated",
        Some(format!("schedule:{}", s.id)),
        changes,
    )
    .await?;
    if s.source == ScheduleSource::Chap {
        chap_schedules::replan(&state.chap_schedules(), &s).await?;
    }
    Ok(web::Json(one_view(&state, &s).await?))
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
