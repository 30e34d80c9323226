//! `/api/v1/flows`: the flows this service can run.

use actix_web::{get, web};
use chap_scheduler_api::{ErrorBody, FlowView};
use utoipa_actix_web::service_config::ServiceConfig;

use super::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::orchestrator::Flow;

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_flows).service(get_flow);
}

fn view(flow: &dyn Flow) -> FlowView {
    FlowView {
        name: flow.name().into(),
        description: flow.description().into(),
        parameter_schema: flow.parameter_schema(),
    }
}

/// Every registered flow with its parameter schema.
#[utoipa::path(tag = "flows", responses((status = 200, body = Vec<FlowView>), (status = 401, body = ErrorBody)))]
#[get("/flows")]
async fn list_flows(_principal: Principal, state: web::Data<AppState>) -> web::Json<Vec<FlowView>> {
    web::Json(
        state
            .engine
            .registry()
            .all()
            .map(|f| view(f.as_ref()))
            .collect(),
    )
}

/// One flow and its parameter schema.
#[utoipa::path(
    tag = "flows",
    params(("name" = String, Path, description = "Flow name")),
    responses((status = 200, body = FlowView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/flows/{name}")]
async fn get_flow(
    _principal: Principal,

    state: web::Data<AppState>,
    name: web::Path<String>,
) -> AppResult<web::Json<FlowView>> {
    let flow = state
        .engine
        .registry()
        .get(&name)
        .ok_or_else(|| AppError::NotFound(format!("no flow named `{name}`")))?;
    Ok(web::Json(view(flow.as_ref())))
}
