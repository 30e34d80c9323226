//! Authentication and authorisation: passwords, sessions with rotating refresh tokens, access JWTs,
//! API tokens, login throttling, and the roles every endpoint checks.

pub mod api_tokens;
pub mod jwt;
mod jwt_crypto;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod users;

use base64::Engine;
use chap_scheduler_api::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::audit::Actor;
use crate::error::AppError;

pub use sessions::{AuthService, IssuedSession, API_TOKEN_PREFIX};

/// A random URL-safe string from `bytes` bytes of the OS generator.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Hex SHA-256: how tokens are stored (they are long and random, so a fast hash is enough).
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A browser session (access JWT); the session id.
    Session(Uuid),
    /// An API token; its id.
    ApiToken(Uuid),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User id (the token's owner for API tokens).
    pub user_id: Uuid,
    /// Username.
    pub username: String,
    /// Effective role (for API tokens: the lower of the token's and the owner's).
    pub role: Role,
    /// Session or API token.
    pub via: Via,
    /// Client address.
    pub ip: Option<String>,
}

impl Principal {
    /// Fails with 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this action needs the {role} role; you are {}",
                self.role
            )))
        }
    }

    /// The caller as an audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            id: Some(self.user_id),
            name: Some(self.username.clone()),
            ip: self.ip.clone(),
        }
    }
}
