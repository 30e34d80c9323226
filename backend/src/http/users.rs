//! `/api/v1/users`: user management for admins.

use actix_web::{get, patch, post, web, HttpResponse};
use chap_scheduler_api::{CreateUserRequest, ErrorBody, Page, UpdateUserRequest, UserView};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::extract::Admin;
use super::input::JsonBody;
use super::AppState;
use crate::auth;
use crate::db::users;
use crate::error::{AppError, AppResult};

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user);
}

/// List users (admin).
#[utoipa::path(
    tag = "users",
    responses(
        (status = 200, description = "All users by name", body = Page<UserView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
#[get("/users")]
async fn list_users(
    _principal: Admin,
    state: web::Data<AppState>,
) -> AppResult<web::Json<Page<UserView>>> {
    let rows = users::list(state.auth.db()).await?;
    Ok(web::Json(Page {
        items: rows.iter().map(users::view).collect(),
        next_cursor: None,
    }))
}

/// Create a user (admin).
#[utoipa::path(
    tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid username or weak password", body = ErrorBody),
    )
)]
#[post("/users")]
async fn create_user(
    principal: Admin,
    state: web::Data<AppState>,
    body: JsonBody<CreateUserRequest>,
) -> AppResult<HttpResponse> {
    let user = auth::users::create(state.auth.db(), Some(&principal), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(user))
}

/// One user (admin).
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
#[get("/users/{id}")]
async fn get_user(
    _principal: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<UserView>> {
    let id = id.into_inner();
    let user = users::by_id(state.auth.db(), id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {id}")))?;
    Ok(web::Json(users::view(&user)))
}

/// Change a user's role, disable or re-enable them, or reset their password (admin).
///
/// Disabling ends the user's sessions and revokes their API tokens; a password reset ends their sessions.
/// The last enabled admin cannot be demoted or disabled.
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Would leave no enabled admin", body = ErrorBody),
        (status = 422, description = "Weak password", body = ErrorBody),
    )
)]
#[patch("/users/{id}")]
async fn update_user(
    principal: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<UpdateUserRequest>,
) -> AppResult<web::Json<UserView>> {
    let user = auth::users::update(
        state.auth.db(),
        Some(&principal),
        id.into_inner(),
        body.into_inner(),
    )
    .await?;
    Ok(web::Json(user))
}
