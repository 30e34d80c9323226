//! Users, sessions, refresh tokens and API tokens: the queries the auth layer needs.

use chap_scheduler_api::{ApiTokenView, Role, UserView};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use super::entities::{api_token, refresh_token, session, user};

pub use super::clock::now;

/// The API view of a user row.
pub fn view(u: &user::Model) -> UserView {
    UserView {
        id: u.id,
        username: u.username.clone(),
        role: u.role,
        disabled: u.disabled,
        created_at: u.created_at,
        last_login_at: u.last_login_at,
    }
}

/// The API view of a token row with its owner's name.
pub fn token_view(t: &api_token::Model, owner: &str) -> ApiTokenView {
    ApiTokenView {
        id: t.id,
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        role: t.role,
        user_id: t.user_id,
        username: owner.to_string(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
    }
}

/// Finds a user by login name (case-insensitive: names are stored lowercase).
pub async fn by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username.to_lowercase()))
        .one(db)
        .await
}

/// Finds a user by id.
pub async fn by_id(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

/// All users, by name.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<user::Model>, sea_orm::DbErr> {
    user::Entity::find()
        .order_by_asc(user::Column::Username)
        .all(db)
        .await
}

/// Number of users.
pub async fn count(db: &impl ConnectionTrait) -> Result<u64, sea_orm::DbErr> {
    user::Entity::find().count(db).await
}

/// Number of enabled admins.
pub async fn count_active_admins(db: &impl ConnectionTrait) -> Result<u64, sea_orm::DbErr> {
    user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin.as_str()))
        .filter(user::Column::Disabled.eq(false))
        .count(db)
        .await
}

/// Inserts a user (the name is stored lowercase).
pub async fn insert(
    db: &impl ConnectionTrait,
    username: &str,
    password_hash: String,
    role: Role,
) -> Result<user::Model, sea_orm::DbErr> {
    let now = now();
    user::ActiveModel {
        id: Set(Uuid::new_v4()),
        username: Set(username.to_lowercase()),
        password_hash: Set(password_hash),
        role: Set(role),
        disabled: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
    }
    .insert(db)
    .await
}

/// Revokes every live session of a user, except `keep`.
pub async fn revoke_sessions(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<u64, sea_orm::DbErr> {
    let mut q = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .col_expr(session::Column::RevokedReason, Expr::value(reason))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        q = q.filter(session::Column::Id.ne(keep));
    }
    Ok(q.exec(db).await?.rows_affected)
}

/// Revokes one session.
pub async fn revoke_session(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    reason: &str,
) -> Result<u64, sea_orm::DbErr> {
    Ok(session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .col_expr(session::Column::RevokedReason, Expr::value(reason))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Revokes every live API token of a user.
pub async fn revoke_api_tokens(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    Ok(api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(now()))
        .filter(api_token::Column::UserId.eq(user_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Stores a new refresh token (by hash) for a session.
pub async fn insert_refresh_token(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    token_hash: String,
    expires_at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    refresh_token::ActiveModel {
        id: Set(Uuid::new_v4()),
        session_id: Set(session_id),
        token_hash: Set(token_hash),
        created_at: Set(now()),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Marks a refresh token used if nobody did before; false means it was already rotated (reuse).
pub async fn consume_refresh_token(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<bool, sea_orm::DbErr> {
    let res = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now()))
        .filter(refresh_token::Column::Id.eq(id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
