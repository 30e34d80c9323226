use chrono::{DateTime, Utc};
#[cfg(feature = "db")]
use sea_orm::sea_query::StringLen;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user's role. Roles are ordered: `viewer` < `operator` < `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(
    feature = "db",
    sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
)]
pub enum Role {
    /// Reads everything but secrets; changes nothing.
    #[cfg_attr(feature = "db", sea_orm(string_value = "viewer"))]
    Viewer,
    /// Viewer, plus triggering, cancelling and scheduling runs.
    #[cfg_attr(feature = "db", sea_orm(string_value = "operator"))]
    Operator,
    /// Operator, plus users, tokens, credentials and the audit log.
    #[cfg_attr(feature = "db", sea_orm(string_value = "admin"))]
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The wire name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}` (expected viewer, operator or admin)"))
    }
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    /// User id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// A disabled user cannot log in and its sessions and API tokens stop working.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// Last successful login.
    #[serde(default)]
    pub last_login_at: Option<DateTime<Utc>>,
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUserRequest {
    /// Login name: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^\s*[A-Za-z0-9._@-]+\s*$")
    )]
    pub username: String,
    /// Initial password (at least 12 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub password: String,
    /// Role of the new user.
    pub role: Role,
}

/// Body of `PATCH /api/v1/users/{id}`: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateUserRequest {
    /// New role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Disable (ends the user's sessions and API tokens) or re-enable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Reset the password (ends the user's sessions); 12 to 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub password: Option<String>,
}

/// An API token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenView {
    /// Token id.
    pub id: Uuid,
    /// What the token is for.
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    /// Role the token acts with (never above its owner's current role).
    pub role: Role,
    /// Owner of the token.
    pub user_id: Uuid,
    /// Owner's username.
    pub username: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Last time it authenticated a request (updated at most once a minute).
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateApiTokenRequest {
    /// What the token is for (1–100 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// Role of the token; defaults to the creator's role and may not exceed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Optional expiry; must be in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Answer of `POST /api/v1/tokens`: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    /// The full token for `Authorization: Bearer …`. Store it now: it cannot be shown again.
    pub secret: String,
    /// The token as it will be listed.
    pub token: ApiTokenView,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventView {
    /// Event id.
    pub id: Uuid,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it (absent for anonymous actions such as a failed login).
    #[serde(default)]
    pub actor_id: Option<Uuid>,
    /// Username of the actor, or the attempted username for a failed login.
    #[serde(default)]
    pub actor: Option<String>,
    /// What was done, e.g. `auth.login`, `user.created`, `token.revoked`.
    pub action: String,
    /// What it was done to, e.g. `user:<id>`.
    #[serde(default)]
    pub target: Option<String>,
    /// Client address, when known.
    #[serde(default)]
    pub ip: Option<String>,
    /// Extra details.
    #[serde(default)]
    pub detail: serde_json::Value,
}
