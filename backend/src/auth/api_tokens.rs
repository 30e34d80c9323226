//! API tokens: opaque secrets shown once, stored as SHA-256, limited to the creator's role.

use chap_scheduler_api::Role;
use chap_scheduler_api::{ApiTokenView, CreateApiTokenRequest, CreatedApiToken, Page};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::sessions::API_TOKEN_PREFIX;
use super::{random_token, sha256_hex, Principal};
use crate::db::audit;
use crate::db::entities::{api_token, user};
use crate::db::users::{now, token_view};
use crate::error::{AppError, AppResult};

/// Creates a token for the caller; the secret is in the answer and nowhere else.
pub async fn create(
    db: &DatabaseConnection,
    by: &Principal,
    req: CreateApiTokenRequest,
) -> AppResult<CreatedApiToken> {
    let name = crate::text::single_line("name", &req.name, 100)?;
    let role = req.role.unwrap_or(by.role);
    if role > by.role {
        return Err(AppError::field(
            "role",
            format!(
                "a token cannot have a higher role than its creator ({})",
                by.role
            ),
        ));
    }
    if req.expires_at.is_some_and(|e| e <= now()) {
        return Err(AppError::field(
            "expires_at",
            "expiry must be in the future",
        ));
    }
    let secret = format!("{API_TOKEN_PREFIX}{}", random_token(32));
    let row = api_token::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(by.user_id),
        name: Set(name),
        prefix: Set(secret.chars().take(12).collect()),
        token_hash: Set(sha256_hex(&secret)),
        role: Set(role),
        created_at: Set(now()),
        expires_at: Set(req.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        &by.actor(),
        "token.created",
        Some(format!("token:{}", row.id)),
        json!({ "name": row.name, "role": row.role, "expires_at": row.expires_at }),
    )
    .await?;
    Ok(CreatedApiToken {
        secret,
        token: token_view(&row, &by.username),
    })
}

/// The caller's tokens; admins see everyone's.
pub async fn list(db: &DatabaseConnection, by: &Principal) -> AppResult<Page<ApiTokenView>> {
    let mut q = api_token::Entity::find().find_also_related(user::Entity);
    if by.role < Role::Admin {
        q = q.filter(api_token::Column::UserId.eq(by.user_id));
    }
    let rows = q
        .order_by_desc(api_token::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(Page {
        items: rows
            .iter()
            .map(|(t, u)| token_view(t, u.as_ref().map(|u| u.username.as_str()).unwrap_or("")))
            .collect(),
        next_cursor: None,
    })
}

/// Revokes a token of the caller (admins: any token).
pub async fn revoke(db: &DatabaseConnection, by: &Principal, id: Uuid) -> AppResult<()> {
    let token = api_token::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|t| by.role >= Role::Admin || t.user_id == by.user_id)
        .ok_or_else(|| AppError::NotFound(format!("no token with id {id}")))?;
    if token.revoked_at.is_none() {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(now()))
            .filter(api_token::Column::Id.eq(id))
            .exec(db)
            .await?;
        audit::record(
            db,
            &by.actor(),
            "token.revoked",
            Some(format!("token:{id}")),
            json!({ "name": token.name }),
        )
        .await?;
    }
    Ok(())
}
