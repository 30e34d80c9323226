//! `/api/v1/tokens`: API tokens for other systems.

use actix_web::{delete, get, post, web, HttpResponse};
use chap_scheduler_api::{ApiTokenView, CreateApiTokenRequest, CreatedApiToken, ErrorBody, Page};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::input::JsonBody;
use super::AppState;
use crate::auth::{api_tokens, Principal};
use crate::error::AppResult;

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_tokens)
        .service(create_token)
        .service(revoke_token);
}

/// List API tokens: your own, or everyone's for admins. Secrets are never listed.
#[utoipa::path(
    tag = "tokens",
    responses(
        (status = 200, description = "Tokens, newest first", body = Page<ApiTokenView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
#[get("/tokens")]
async fn list_tokens(
    principal: Principal,
    state: web::Data<AppState>,
) -> AppResult<web::Json<Page<ApiTokenView>>> {
    Ok(web::Json(
        api_tokens::list(state.auth.db(), &principal).await?,
    ))
}

/// Create an API token. The secret is in this answer only: store it now.
#[utoipa::path(
    tag = "tokens",
    request_body = CreateApiTokenRequest,
    responses(
        (status = 201, description = "Created; `secret` is shown this once", body = CreatedApiToken),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "Bad name, expiry in the past, or a role above yours", body = ErrorBody),
    )
)]
#[post("/tokens")]
async fn create_token(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<CreateApiTokenRequest>,
) -> AppResult<HttpResponse> {
    let created = api_tokens::create(state.auth.db(), &principal, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Revoke an API token (yours, or any for admins). It stops working at once.
#[utoipa::path(
    tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such token of yours", body = ErrorBody),
    )
)]
#[delete("/tokens/{id}")]
async fn revoke_token(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    api_tokens::revoke(state.auth.db(), &principal, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
