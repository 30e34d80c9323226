//! Signed tokens: short-lived access JWTs and refresh JWTs (HS256, `iss`/`aud`/`typ`/`exp` checked).

use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Issuer of every token.
pub const ISSUER: &str = "chap-scheduler";
/// Audience of every token.
pub const AUDIENCE: &str = "chap-scheduler-api";

/// What a token is for; an access token is never accepted where a refresh token is expected and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    /// Authorises API calls.
    Access,
    /// Only exchanges for a new access token at `/api/v1/auth/refresh`.
    Refresh,
}

/// Claims of both token types.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: Uuid,
    /// Session (refresh-token family) id.
    pub sid: Uuid,
    /// Unique token id.
    pub jti: Uuid,
    /// Token type.
    pub typ: TokenType,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
}

/// The signing keys.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Self {
        super::jwt_crypto::install();
        // Only HS256 is accepted: no `none`, no algorithm confusion.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs a token of the given type that lives for `ttl_secs`.
    pub fn issue(
        &self,
        typ: TokenType,
        user: Uuid,
        session: Uuid,
        ttl_secs: i64,
    ) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            sid: session,
            jti: Uuid::new_v4(),
            typ,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + ttl_secs,
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, algorithm, issuer, audience, expiry and type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Option<Claims> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        (data.claims.typ == expected).then_some(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_verifies_only_as_its_own_type() {
        let keys = JwtKeys::new(SECRET);
        let (u, s) = (Uuid::new_v4(), Uuid::new_v4());
        let access = keys.issue(TokenType::Access, u, s, 60).unwrap();
        let claims = keys.verify(&access, TokenType::Access).unwrap();
        assert_eq!((claims.sub, claims.sid), (u, s));
        assert!(keys.verify(&access, TokenType::Refresh).is_none());
    }

    #[test]
    fn expired_tampered_foreign_and_unsigned_tokens_are_rejected() {
        let keys = JwtKeys::new(SECRET);
        let (u, s) = (Uuid::new_v4(), Uuid::new_v4());
        let expired = keys.issue(TokenType::Access, u, s, -60).unwrap();
        assert!(keys.verify(&expired, TokenType::Access).is_none());

        let good = keys.issue(TokenType::Access, u, s, 60).unwrap();
        let mut tampered = good.clone();
        tampered.replace_range(good.len() - 3.., "AAA");
        assert!(keys.verify(&tampered, TokenType::Access).is_none());

        let other = JwtKeys::new(b"another-secret-another-secret-123");
        assert!(keys
            .verify(
                &other.issue(TokenType::Access, u, s, 60).unwrap(),
                TokenType::Access
            )
            .is_none());

        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = good.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            payload
        );
        assert!(keys.verify(&none, TokenType::Access).is_none());
    }
}
