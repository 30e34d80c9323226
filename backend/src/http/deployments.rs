//! `/api/v1/deployments`: CRUD, pause/resume (PATCH `paused`), and triggering runs.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chap_scheduler_api::{
    CreateDeploymentRequest, DeploymentView, ErrorBody, RunView, TriggerRunRequest,
    UpdateDeploymentRequest,
};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::extract::Operator;
use super::input::JsonBody;
use super::AppState;
use crate::auth::{Principal, Via};
use crate::db::audit;
use crate::error::{AppError, AppResult};
use crate::orchestrator::{deployments, store, Target, Trigger, TriggerAudit};

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_deployments)
        .service(create_deployment)
        .service(get_deployment)
        .service(update_deployment)
        .service(delete_deployment)
        .service(trigger_run);
}

/// How a principal is named in `triggered_by`.
pub fn trigger_name(p: &Principal) -> String {
    match p.via {
        Via::Session(_) => format!("user:{}", p.username),
        Via::ApiToken(_) => format!("token:{}", p.username),
    }
}

/// All deployments by name.
#[utoipa::path(tag = "deployments", responses((status = 200, body = Vec<DeploymentView>), (status = 401, body = ErrorBody)))]
#[get("/deployments")]
async fn list_deployments(
    _principal: Principal,
    state: web::Data<AppState>,
) -> AppResult<web::Json<Vec<DeploymentView>>> {
    let all = deployments::list(state.engine.db()).await?;
    Ok(web::Json(all.iter().map(deployments::view).collect()))
}

/// Create a deployment (operator).
#[utoipa::path(
    tag = "deployments",
    request_body = CreateDeploymentRequest,
    responses(
        (status = 201, body = DeploymentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 422, description = "Unknown flow, invalid defaults or policy", body = ErrorBody),
    )
)]
#[post("/deployments")]
async fn create_deployment(
    principal: Operator,
    state: web::Data<AppState>,
    body: JsonBody<CreateDeploymentRequest>,
) -> AppResult<HttpResponse> {
    let d = deployments::create(
        state.engine.db(),
        state.engine.registry(),
        body.into_inner(),
    )
    .await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "deployment.created",
        Some(format!("deployment:{}", d.id)),
        json!({ "name": d.name, "flow": d.flow_name }),
    )
    .await?;
    Ok(HttpResponse::Created().json(deployments::view(&d)))
}

/// One deployment.
#[utoipa::path(
    tag = "deployments",
    params(("id" = Uuid, Path, description = "Deployment id")),
    responses((status = 200, body = DeploymentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/deployments/{id}")]
async fn get_deployment(
    _principal: Principal,

    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<DeploymentView>> {
    let d = deployments::get(state.engine.db(), id.into_inner()).await?;
    Ok(web::Json(deployments::view(&d)))
}

/// Change a deployment (operator): defaults, policy, `paused` to pause or resume.
#[utoipa::path(
    tag = "deployments",
    params(("id" = Uuid, Path, description = "Deployment id")),
    request_body = UpdateDeploymentRequest,
    responses(
        (status = 200, body = DeploymentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[patch("/deployments/{id}")]
async fn update_deployment(
    principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<UpdateDeploymentRequest>,
) -> AppResult<web::Json<DeploymentView>> {
    let body = body.into_inner();
    let changes = serde_json::to_value(&body).unwrap_or_default();
    let d = deployments::update(
        state.engine.db(),
        state.engine.registry(),
        id.into_inner(),
        body,
    )
    .await?;
    let action = match changes.get("paused").and_then(|p| p.as_bool()) {
        Some(true) if changes.as_object().is_some_and(|o| o.len() == 1) => "deployment.paused",
        Some(false) if changes.as_object().is_some_and(|o| o.len() == 1) => "deployment.resumed",
        _ => "deployment.updated",
    };
    audit::record(
        state.engine.db(),
        &principal.actor(),
        action,
        Some(format!("deployment:{}", d.id)),
        changes,
    )
    .await?;
    state.engine.wake_dispatcher();
    Ok(web::Json(deployments::view(&d)))
}

/// Delete a deployment and its schedules (operator); refused while it has unfinished runs.
#[utoipa::path(
    tag = "deployments",
    params(("id" = Uuid, Path, description = "Deployment id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Unfinished runs", body = ErrorBody),
    )
)]
#[delete("/deployments/{id}")]
async fn delete_deployment(
    principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let d = deployments::delete(state.engine.db(), id.into_inner()).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "deployment.deleted",
        Some(format!("deployment:{}", d.id)),
        json!({ "name": d.name }),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Trigger a run (operator): parameters merged over the deployment's defaults and validated.
///
/// With an `idempotency_key` already used on this deployment, the first run is returned (200) and no
/// new run is created.
#[utoipa::path(
    tag = "deployments",
    params(("id" = Uuid, Path, description = "Deployment id")),
    request_body = TriggerRunRequest,
    responses(
        (status = 201, description = "Created", body = RunView),
        (status = 200, description = "The run created earlier with this idempotency key", body = RunView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Deployment paused", body = ErrorBody),
        (status = 422, description = "Invalid parameters; `details` per field", body = ErrorBody),
    )
)]
#[post("/deployments/{id}/runs")]
async fn trigger_run(
    principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<TriggerRunRequest>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    // The deployment with its count of active runs: one read, which the trigger's own count needs.
    let found = store::deployment_with_active(state.engine.db(), id)
        .await?
        .ok_or_else(|| deployments::missing(id))?;
    let dep = &found.deployment;
    if dep.paused {
        return Err(AppError::Conflict(format!(
            "the deployment `{}` is paused; resume it first",
            dep.name
        )));
    }
    let body = body.into_inner();
    if body
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 100 || k.chars().any(char::is_control))
    {
        return Err(AppError::field(
            "idempotency_key",
            "must be 1 to 100 characters on one line",
        ));
    }
    let key = body
        .idempotency_key
        .map(|k| format!("client:{}:{k}", dep.id));
    let (run, created) = state
        .engine
        .trigger(
            Target {
                deployment: dep,
                active: Some(found.active),
                version: found.version.as_deref(),
            },
            body.parameters.as_ref(),
            Trigger::Manual(trigger_name(&principal)),
            key,
            None,
            Some(TriggerAudit {
                actor: principal.actor(),
                action: "run.triggered",
                detail: json!({ "deployment": dep.name }),
            }),
        )
        .await?;
    if created {
        Ok(HttpResponse::Created().json(store::view(&run)))
    } else {
        Ok(HttpResponse::Ok().json(store::view(&run)))
    }
}
