//! Login, refresh-token rotation with reuse detection, logout, and authentication of bearer tokens.

use std::sync::Arc;

use chap_scheduler_api::TokenResponse;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::jwt::{JwtKeys, TokenType};
use super::throttle::LoginThrottle;
use super::{password, sha256_hex, Principal, Via};
use crate::config::Config;
use crate::db::audit::{self, Actor};
use crate::db::entities::{api_token, refresh_token, session, user};
use crate::db::users::{self, now};
use crate::error::{AppError, AppResult};

/// Prefix of every API token, so they are recognisable (and never mistaken for a JWT).
pub const API_TOKEN_PREFIX: &str = "chap_";

/// A successful login or refresh: the body to return and the refresh token for the cookie.
pub struct IssuedSession {
    /// Body of the response.
    pub body: TokenResponse,
    /// New refresh token (cookie value).
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

/// Everything about signing in.
#[derive(Clone)]
pub struct AuthService {
    db: DatabaseConnection,
    keys: JwtKeys,
    throttle: Arc<LoginThrottle>,
    access_ttl: i64,
    refresh_ttl: i64,
}

fn unauthorized() -> AppError {
    AppError::Unauthorized("missing, invalid or expired credentials".into())
}

impl AuthService {
    /// A service over the database with the given signing secret.
    pub fn new(db: DatabaseConnection, config: &Config, jwt_secret: &[u8]) -> Self {
        AuthService {
            db,
            keys: JwtKeys::new(jwt_secret),
            throttle: Arc::new(LoginThrottle::new(config.throttle.clone())),
            access_ttl: config.access_token_ttl.as_secs() as i64,
            refresh_ttl: config.refresh_token_ttl.as_secs() as i64,
        }
    }

    /// The database this service works on.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Checks a username and password and opens a session.
    pub async fn login(
        &self,
        username: &str,
        password_text: SecretString,
        ip: &str,
        user_agent: Option<String>,
    ) -> AppResult<IssuedSession> {
        let attempt = self.throttle.begin(ip, username).map_err(|retry_after| {
            tracing::warn!(ip, username, "login throttled");
            AppError::TooManyRequests {
                message: format!(
                    "too many attempts; try again in {} s",
                    retry_after.as_secs()
                ),
                retry_after,
            }
        })?;
        let found = users::by_username(&self.db, username).await?;
        let ok = password::verify(
            password_text,
            found.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
        let actor = Actor {
            id: found.as_ref().map(|u| u.id),
            name: Some(username.to_lowercase()),
            ip: Some(ip.to_string()),
        };
        let user = match found {
            Some(u) if ok && !u.disabled => u,
            other => {
                let reason = match other {
                    None => "unknown_user",
                    Some(u) if u.disabled && ok => "disabled",
                    Some(_) => "wrong_password",
                };
                audit::record(
                    &self.db,
                    &actor,
                    "auth.login_failed",
                    None,
                    json!({ "reason": reason }),
                )
                .await?;
                return Err(AppError::InvalidCredentials);
            }
        };
        self.throttle.succeeded(attempt);

        let session_id = Uuid::new_v4();
        let now = now();
        session::ActiveModel {
            id: Set(session_id),
            user_id: Set(user.id),
            created_at: Set(now),
            expires_at: Set(now + chrono::Duration::seconds(self.refresh_ttl)),
            revoked_at: Set(None),
            revoked_reason: Set(None),
            user_agent: Set(user_agent.map(|ua| ua.chars().take(256).collect())),
            ip: Set(Some(ip.to_string())),
        }
        .insert(&self.db)
        .await?;
        let mut active = user.clone().into_active_model();
        active.last_login_at = Set(Some(now));
        let user = active.update(&self.db).await?;
        audit::record(
            &self.db,
            &actor,
            "auth.login",
            Some(format!("user:{}", user.id)),
            json!({ "session": session_id }),
        )
        .await?;
        self.issue(&user, session_id).await
    }

    async fn issue(&self, user: &user::Model, session_id: Uuid) -> AppResult<IssuedSession> {
        let access = self
            .keys
            .issue(TokenType::Access, user.id, session_id, self.access_ttl)?;
        let refresh = self
            .keys
            .issue(TokenType::Refresh, user.id, session_id, self.refresh_ttl)?;
        let refresh_expires_at = now() + chrono::Duration::seconds(self.refresh_ttl);
        users::insert_refresh_token(
            &self.db,
            session_id,
            sha256_hex(&refresh),
            refresh_expires_at,
        )
        .await?;
        session::Entity::update_many()
            .col_expr(session::Column::ExpiresAt, Expr::value(refresh_expires_at))
            .filter(session::Column::Id.eq(session_id))
            .exec(&self.db)
            .await?;
        Ok(IssuedSession {
            body: TokenResponse {
                access_token: access,
                token_type: "Bearer".into(),
                expires_in: self.access_ttl as u64,
                user: users::view(user),
            },
            refresh_token: refresh,
            refresh_expires_at,
        })
    }

    /// Exchanges a refresh token for a new access token and a new refresh token. Presenting a refresh
    /// token that was already exchanged revokes the whole session (someone else has a copy).
    pub async fn refresh(&self, token: &str, ip: &str) -> AppResult<IssuedSession> {
        let claims = self
            .keys
            .verify(token, TokenType::Refresh)
            .ok_or_else(unauthorized)?;
        let row = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(sha256_hex(token)))
            .one(&self.db)
            .await?
            .ok_or_else(unauthorized)?;
        let (sess, owner) = self.live_session(row.session_id, claims.sub).await?;
        if row.used_at.is_some() || !users::consume_refresh_token(&self.db, row.id).await? {
            users::revoke_session(&self.db, sess.id, "refresh_token_reuse").await?;
            let actor = Actor {
                id: Some(owner.id),
                name: Some(owner.username.clone()),
                ip: Some(ip.to_string()),
            };
            audit::record(
                &self.db,
                &actor,
                "auth.refresh_reuse_detected",
                Some(format!("session:{}", sess.id)),
                json!({ "session": sess.id }),
            )
            .await?;
            tracing::warn!(session = %sess.id, user = %owner.username, "refresh token reused; session revoked");
            return Err(unauthorized());
        }
        if row.expires_at < now() {
            return Err(unauthorized());
        }
        self.issue(&owner, sess.id).await
    }

    /// Ends the session a refresh token belongs to (expired tokens still identify their session).
    pub async fn logout(
        &self,
        refresh: Option<&str>,
        principal: Option<&Principal>,
    ) -> AppResult<()> {
        let mut session_ids = Vec::new();
        if let Some(token) = refresh {
            if let Some(row) = refresh_token::Entity::find()
                .filter(refresh_token::Column::TokenHash.eq(sha256_hex(token)))
                .one(&self.db)
                .await?
            {
                session_ids.push(row.session_id);
            }
        }
        if let Some(Via::Session(sid)) = principal.map(|p| p.via) {
            session_ids.push(sid);
        }
        for sid in session_ids {
            if users::revoke_session(&self.db, sid, "logout").await? > 0 {
                let owner = session::Entity::find_by_id(sid)
                    .find_also_related(user::Entity)
                    .one(&self.db)
                    .await?
                    .and_then(|(_, u)| u);
                let actor = Actor {
                    id: owner.as_ref().map(|u| u.id),
                    name: owner.map(|u| u.username),
                    ip: principal.and_then(|p| p.ip.clone()),
                };
                audit::record(
                    &self.db,
                    &actor,
                    "auth.logout",
                    Some(format!("session:{sid}")),
                    json!({}),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// A session that is not revoked, of the token's user, who is not disabled — in one query.
    async fn live_session(
        &self,
        id: Uuid,
        user_id: Uuid,
    ) -> AppResult<(session::Model, user::Model)> {
        let (sess, owner) = session::Entity::find_by_id(id)
            .find_also_related(user::Entity)
            .one(&self.db)
            .await?
            .ok_or_else(unauthorized)?;
        let owner = owner.ok_or_else(unauthorized)?;
        if sess.revoked_at.is_some() || sess.user_id != user_id || owner.disabled {
            return Err(unauthorized());
        }
        Ok((sess, owner))
    }

    /// Authenticates an `Authorization: Bearer` credential: an access JWT or an API token.
    pub async fn authenticate(&self, bearer: &str, ip: Option<String>) -> AppResult<Principal> {
        if bearer.starts_with(API_TOKEN_PREFIX) {
            return self.authenticate_api_token(bearer, ip).await;
        }
        let claims = self
            .keys
            .verify(bearer, TokenType::Access)
            .ok_or_else(unauthorized)?;
        let (sess, owner) = self.live_session(claims.sid, claims.sub).await?;
        Ok(Principal {
            user_id: owner.id,
            role: owner.role,
            username: owner.username,
            via: Via::Session(sess.id),
            ip,
        })
    }

    async fn authenticate_api_token(
        &self,
        bearer: &str,
        ip: Option<String>,
    ) -> AppResult<Principal> {
        let (token, owner) = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(sha256_hex(bearer)))
            .find_also_related(user::Entity)
            .one(&self.db)
            .await?
            .ok_or_else(unauthorized)?;
        let owner = owner.ok_or_else(unauthorized)?;
        let now = now();
        if token.revoked_at.is_some()
            || token.expires_at.is_some_and(|e| e <= now)
            || owner.disabled
        {
            return Err(unauthorized());
        }
        // Record use at most once a minute: one write per token per minute, not per request.
        if token
            .last_used_at
            .is_none_or(|t| now - t > chrono::Duration::seconds(60))
        {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                .filter(api_token::Column::Id.eq(token.id))
                .exec(&self.db)
                .await?;
        }
        Ok(Principal {
            user_id: owner.id,
            role: token.role.min(owner.role),
            username: owner.username,
            via: Via::ApiToken(token.id),
            ip,
        })
    }

    /// Changes the caller's own password after checking the current one; ends the caller's other sessions.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: SecretString,
        new: SecretString,
    ) -> AppResult<()> {
        use secrecy::ExposeSecret;
        password::check_strength(new.expose_secret())
            .map_err(|m| AppError::field("new_password", m))?;
        let user = users::by_id(&self.db, principal.user_id)
            .await?
            .ok_or_else(unauthorized)?;
        if !password::verify(current, Some(user.password_hash.clone())).await? {
            return Err(AppError::field(
                "current_password",
                "the current password is wrong",
            ));
        }
        let hash = password::hash(new).await?;
        let mut active = user.into_active_model();
        active.password_hash = Set(hash);
        active.updated_at = Set(now());
        active.update(&self.db).await?;
        let keep = match principal.via {
            Via::Session(s) => Some(s),
            Via::ApiToken(_) => None,
        };
        let ended =
            users::revoke_sessions(&self.db, principal.user_id, keep, "password_changed").await?;
        audit::record(
            &self.db,
            &principal.actor(),
            "auth.password_changed",
            Some(format!("user:{}", principal.user_id)),
            json!({ "sessions_ended": ended }),
        )
        .await?;
        Ok(())
    }
}
