//! The prediction setups a `chap` schedule follows: `GET /api/v1/schedules/{id}/setups`, `POST
//! /api/v1/schedules/{id}/sync` and `PATCH /api/v1/schedules/{id}/setups/{setup_id}` (written to chap).

use actix_web::{get, patch, post, web};
use chap_scheduler_api::{ChapSetupUpdate, ChapSetupsView, ErrorBody};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::extract::Operator;
use super::input::JsonBody;
use super::AppState;
use crate::auth::Principal;
use crate::chap_schedules;
use crate::error::AppResult;

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_setups)
        .service(sync_setups)
        .service(update_setup);
}

/// The setups of a `chap` schedule as last read from chap: each one's cron, whether it fires, its
/// next 5 fire times and its last run, and the last synchronisation (with its error, if it failed).
/// A schedule with its own timing (`source: own`) follows no setups: the list is empty.
#[utoipa::path(
    tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 200, body = ChapSetupsView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/schedules/{id}/setups")]
async fn list_setups(
    _principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<ChapSetupsView>> {
    let s = crate::orchestrator::schedules::get(state.engine.db(), *id).await?;
    Ok(web::Json(
        chap_schedules::setups_view(state.engine.db(), &s).await?,
    ))
}

/// Read chap's prediction setups now (operator). A failure keeps the last known setups; the answer
/// shows it in `sync.error`.
#[utoipa::path(
    tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 200, body = ChapSetupsView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The schedule has its own timing (source `own`)", body = ErrorBody),
    )
)]
#[post("/schedules/{id}/sync")]
async fn sync_setups(
    _operator: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<ChapSetupsView>> {
    Ok(web::Json(
        chap_schedules::sync_now(&state.chap_schedules(), *id).await?,
    ))
}

/// Switch a setup's schedule on or off, or change its cron, in chap (operator): checked first as
/// chap checks it (exactly 5 cron fields; never enabled without a cron), written with `PATCH
/// …/v1/crud/prediction-setups/{id}` through DHIS2's route, then synchronised. chap's refusal is
/// answered as a 422 at the field.
#[utoipa::path(
    tag = "schedules",
    params(
        ("id" = Uuid, Path, description = "Schedule id"),
        ("setup_id" = i64, Path, description = "chap's prediction setup id"),
    ),
    request_body = ChapSetupUpdate,
    responses(
        (status = 200, body = ChapSetupsView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such schedule, or it follows no such setup", body = ErrorBody),
        (status = 409, description = "The schedule has its own timing (source `own`)", body = ErrorBody),
        (status = 422, description = "An invalid cron, enabled without a cron, or chap's refusal", body = ErrorBody),
        (status = 503, description = "chap could not be reached", body = ErrorBody),
    )
)]
#[patch("/schedules/{id}/setups/{setup_id}")]
async fn update_setup(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, i64)>,
    body: JsonBody<ChapSetupUpdate>,
) -> AppResult<web::Json<ChapSetupsView>> {
    let (id, setup_id) = path.into_inner();
    Ok(web::Json(
        chap_schedules::update_setup(
            &state.chap_schedules(),
            id,
            setup_id,
            body.into_inner(),
            &operator.actor(),
        )
        .await?,
    ))
}
