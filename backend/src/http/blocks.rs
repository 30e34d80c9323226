//! `/api/v1/block-types` and `/api/v1/blocks`: credentials blocks. Anyone signed in reads (never a
//! secret), admins change, operators test a connection.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chap_scheduler_api::{
    BlockTestResult, BlockTypeView, BlockView, CreateBlockRequest, ErrorBody, Page,
    UpdateBlockRequest,
};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::extract::{Admin, Operator};
use super::input::JsonBody;
use super::AppState;
use crate::auth::Principal;
use crate::blocks;
use crate::db::audit;
use crate::error::{AppError, AppResult};

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_block_types)
        .service(list_blocks)
        .service(create_block)
        .service(get_block)
        .service(update_block)
        .service(delete_block)
        .service(test_block);
}

/// The block types and the JSON schema of their fields (secret fields are `writeOnly`).
#[utoipa::path(
    tag = "blocks",
    responses(
        (status = 200, description = "Every block type", body = Vec<BlockTypeView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
#[get("/block-types")]
async fn list_block_types(_principal: Principal) -> web::Json<Vec<BlockTypeView>> {
    web::Json(blocks::block_types().iter().map(|t| t.view()).collect())
}

/// All blocks by name. Secret fields show only as `<field>_set`.
#[utoipa::path(
    tag = "blocks",
    responses(
        (status = 200, description = "Every block", body = Page<BlockView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
#[get("/blocks")]
async fn list_blocks(
    _principal: Principal,
    state: web::Data<AppState>,
) -> AppResult<web::Json<Page<BlockView>>> {
    Ok(web::Json(Page {
        items: state.blocks.list().await?,
        next_cursor: None,
    }))
}

/// Create a block (admin). Secret fields are encrypted before they are stored and never returned.
#[utoipa::path(
    tag = "blocks",
    request_body = CreateBlockRequest,
    responses(
        (status = 201, description = "Created", body = BlockView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 422, description = "Invalid fields; `details` per field, e.g. `data.base_url`", body = ErrorBody),
    )
)]
#[post("/blocks")]
async fn create_block(
    principal: Admin,
    state: web::Data<AppState>,
    body: JsonBody<CreateBlockRequest>,
) -> AppResult<HttpResponse> {
    let block = state.blocks.create(body.into_inner()).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "block.created",
        Some(format!("block:{}", block.id)),
        json!({ "name": block.name, "block_type": block.block_type }),
    )
    .await?;
    Ok(HttpResponse::Created().json(block))
}

/// One block. Secret fields show only as `<field>_set`.
#[utoipa::path(
    tag = "blocks",
    params(("id" = Uuid, Path, description = "Block id")),
    responses(
        (status = 200, description = "The block", body = BlockView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such block", body = ErrorBody),
    )
)]
#[get("/blocks/{id}")]
async fn get_block(
    _principal: Principal,

    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<BlockView>> {
    Ok(web::Json(state.blocks.get(id.into_inner()).await?))
}

/// Change a block's name or fields (admin). A secret field left out, `null` or `""` keeps the stored
/// secret; a new value replaces it.
#[utoipa::path(
    tag = "blocks",
    params(("id" = Uuid, Path, description = "Block id")),
    request_body = UpdateBlockRequest,
    responses(
        (status = 200, description = "Updated", body = BlockView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such block", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 422, description = "Invalid fields; `details` per field", body = ErrorBody),
    )
)]
#[patch("/blocks/{id}")]
async fn update_block(
    principal: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<UpdateBlockRequest>,
) -> AppResult<web::Json<BlockView>> {
    let (block, changed) = state
        .blocks
        .update(id.into_inner(), body.into_inner())
        .await?;
    // Field names only: the detail never holds a value, let alone a secret.
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "block.updated",
        Some(format!("block:{}", block.id)),
        json!({ "name": block.name, "changed": changed }),
    )
    .await?;
    Ok(web::Json(block))
}

/// Delete a block (admin); refused while a deployment, a schedule or an unfinished run uses it as
/// its `credentials`.
#[utoipa::path(
    tag = "blocks",
    params(("id" = Uuid, Path, description = "Block id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such block", body = ErrorBody),
        (status = 409, description = "In use", body = ErrorBody),
    )
)]
#[delete("/blocks/{id}")]
async fn delete_block(
    principal: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let row = state.blocks.delete(id.into_inner()).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "block.deleted",
        Some(format!("block:{}", row.id)),
        json!({ "name": row.name, "block_type": row.block_type }),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Test a block's credentials (operator): DHIS2's system info, and chap's through DHIS2's route proxy.
///
/// Answers 200 whether or not the services are reachable; each part says `ok`, the `version`, or the
/// `error` (never the password).
#[utoipa::path(
    tag = "blocks",
    params(("id" = Uuid, Path, description = "Block id")),
    responses(
        (status = 200, description = "What each service answered", body = BlockTestResult),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator", body = ErrorBody),
        (status = 404, description = "No such block", body = ErrorBody),
        (status = 422, description = "Not a DHIS2 credentials block", body = ErrorBody),
        (status = 503, description = "The block's secrets cannot be decrypted with the configured keys", body = ErrorBody),
    )
)]
#[post("/blocks/{id}/test")]
async fn test_block(
    _principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<BlockTestResult>> {
    let id = id.into_inner();
    let block = state
        .blocks
        .open(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no block with id {id}")))?
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let credentials = blocks::credentials(&block).map_err(|e| AppError::Validation {
        message: format!("{e:#}"),
        details: None,
    })?;
    Ok(web::Json(blocks::test_connection(&credentials).await))
}
