use serde::{Deserialize, Serialize};

use crate::UserView;

/// Credentials for `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// Username.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub username: String,
    /// Password.
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub password: String,
}

/// A fresh access token (login and refresh). The refresh token travels in an HttpOnly cookie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// Short-lived JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The signed-in user.
    pub user: UserView,
}

/// Body of `PUT /api/v1/auth/password`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    /// The current password, to prove it is really the user.
    pub current_password: String,
    /// The new password (12 to 256 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub new_password: String,
}
