//! User management: create, change role, disable, reset password; the first admin at start.

use chap_scheduler_api::{CreateUserRequest, Role, UpdateUserRequest, UserView};
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel, Set};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::{password, Principal};
use crate::db::audit::{self, Actor};
use crate::db::{self as database, users};
use crate::error::{AppError, AppResult};

/// Checks a username: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_username(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() || raw.chars().count() > 64 {
        return Err("username must be 1 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err("username may contain only letters, digits, '.', '_', '-' and '@'".into());
    }
    Ok(name)
}

/// Creates a user (admin action, or the CLI with `by = None`).
pub async fn create(
    db: &DatabaseConnection,
    by: Option<&Principal>,
    req: CreateUserRequest,
) -> AppResult<UserView> {
    let username = check_username(&req.username).map_err(|m| AppError::field("username", m))?;
    password::check_strength(&req.password).map_err(|m| AppError::field("password", m))?;
    let hash = password::hash(SecretString::from(req.password)).await?;
    let user = users::insert(db, &username, hash, req.role)
        .await
        .map_err(|e| {
            if database::is_unique_violation(&e) {
                AppError::Conflict(format!("a user named `{username}` already exists"))
            } else {
                e.into()
            }
        })?;
    audit::record(
        db,
        &by.map(Principal::actor).unwrap_or_else(cli_actor),
        "user.created",
        Some(format!("user:{}", user.id)),
        json!({ "username": user.username, "role": user.role }),
    )
    .await?;
    Ok(users::view(&user))
}

fn cli_actor() -> Actor {
    Actor {
        id: None,
        name: Some("cli".into()),
        ip: None,
    }
}

/// Applies an admin's change to a user: role, disabled flag, password reset.
pub async fn update(
    db: &DatabaseConnection,
    by: Option<&Principal>,
    id: Uuid,
    req: UpdateUserRequest,
) -> AppResult<UserView> {
    if let Some(p) = &req.password {
        password::check_strength(p).map_err(|m| AppError::field("password", m))?;
    }
    let new_hash = match req.password {
        Some(p) => Some(password::hash(SecretString::from(p)).await?),
        None => None,
    };
    let txn = crate::db::begin_write(db).await?;
    let user = users::by_id(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {id}")))?;
    let was_admin = user.role == Role::Admin && !user.disabled;
    let demoted = req.role.is_some_and(|r| r != Role::Admin);
    let disabling = req.disabled == Some(true) && !user.disabled;
    if was_admin && (demoted || disabling) && users::count_active_admins(&txn).await? <= 1 {
        return Err(AppError::Conflict(
            "this is the last enabled admin; make another user admin first".into(),
        ));
    }
    if by.is_some_and(|p| p.user_id == id) && disabling {
        return Err(AppError::Conflict("you cannot disable yourself".into()));
    }

    let mut changes = serde_json::Map::new();
    let mut active = user.clone().into_active_model();
    if let Some(role) = req.role.filter(|r| *r != user.role) {
        active.role = Set(role);
        changes.insert("role".into(), json!({ "from": user.role, "to": role }));
    }
    if let Some(disabled) = req.disabled.filter(|d| *d != user.disabled) {
        active.disabled = Set(disabled);
        changes.insert("disabled".into(), json!(disabled));
    }
    if let Some(hash) = new_hash {
        active.password_hash = Set(hash);
        changes.insert("password_reset".into(), json!(true));
    }
    active.updated_at = Set(users::now());
    let updated = active.update(&txn).await?;
    if disabling {
        let sessions = users::revoke_sessions(&txn, id, None, "user_disabled").await?;
        let tokens = users::revoke_api_tokens(&txn, id).await?;
        changes.insert("sessions_ended".into(), json!(sessions));
        changes.insert("tokens_revoked".into(), json!(tokens));
    } else if changes.contains_key("password_reset") {
        let sessions = users::revoke_sessions(&txn, id, None, "password_reset").await?;
        changes.insert("sessions_ended".into(), json!(sessions));
    }
    audit::record(
        &txn,
        &by.map(Principal::actor).unwrap_or_else(cli_actor),
        "user.updated",
        Some(format!("user:{id}")),
        serde_json::Value::Object(changes),
    )
    .await?;
    txn.commit().await?;
    Ok(users::view(&updated))
}

/// On first start with no users, creates `admin` with the configured password or a random one, which
/// is returned so the caller can print it once. Safe when several instances start at once: the
/// unique username makes all but one insert fail, and those are ignored.
pub async fn ensure_first_admin(
    db: &DatabaseConnection,
    configured: Option<&SecretString>,
) -> anyhow::Result<Option<SecretString>> {
    if users::count(db).await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match configured {
        Some(p) => (p.expose_secret().to_string(), false),
        None => (super::random_token(18), true),
    };
    let hash = password::hash(SecretString::from(password.clone())).await?;
    match users::insert(db, "admin", hash, Role::Admin).await {
        Ok(user) => {
            audit::record(
                db,
                &Actor {
                    name: Some("system".into()),
                    ..Actor::default()
                },
                "user.created",
                Some(format!("user:{}", user.id)),
                json!({ "username": "admin", "role": "admin", "first_start": true }),
            )
            .await?;
            Ok(generated.then(|| SecretString::from(password)))
        }
        Err(e) if database::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
