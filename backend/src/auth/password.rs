//! Password hashing with argon2id (OWASP minimum: m=19 MiB, t=2, p=1), always off the async runtime and
//! at most one hash per core at once.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::anyhow;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

/// Memory cost in KiB.
pub const M_COST: u32 = 19 * 1024;
/// Iterations.
pub const T_COST: u32 = 2;
/// Parallelism.
pub const P_COST: u32 = 1;
/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted (argon2 would take more, but nobody types this much).
pub const MAX_LENGTH: usize = 256;

fn hasher() -> Argon2<'static> {
    // The parameters are constants within argon2's documented bounds.
    let params = Params::new(M_COST, T_COST, P_COST, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Rejects passwords that are too short or too long; the message is shown to the user.
pub fn check_strength(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("password must be at least {MIN_LENGTH} characters"));
    }
    if chars > MAX_LENGTH {
        return Err(format!("password must be at most {MAX_LENGTH} characters"));
    }
    Ok(())
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow!("hashing a password: {e}"))
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the user does not exist so that an unknown
/// username costs the same work as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: String = crate::auth::random_token(24);
        hash_blocking(&random).unwrap_or_default()
    })
}

/// How long a hash waits for a free slot before the request is refused as busy.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// Slots for hashing: one per core. Each argon2 run takes 19 MiB and a core for tens of
/// milliseconds, so more at once only adds memory, never throughput.
fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// Runs `work` on the blocking pool once a hashing slot is free; 503 when none frees up in time.
async fn in_slot<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> AppResult<R> {
    let busy = || {
        AppError::Unavailable(
            "too many passwords are being checked at once; try again in a moment".into(),
        )
    };
    let _permit = tokio::time::timeout(SLOT_WAIT, slots().acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(anyhow!("password hashing task failed: {e}")))
}

/// Hashes a password in a hashing slot.
pub async fn hash(password: SecretString) -> AppResult<String> {
    in_slot(move || hash_blocking(password.expose_secret()))
        .await?
        .map_err(AppError::Internal)
}

/// Verifies a password against a stored PHC string in a hashing slot. With `None` (unknown user)
/// the same work is done against a dummy hash and the answer is always `false`.
pub async fn verify(password: SecretString, phc: Option<String>) -> AppResult<bool> {
    in_slot(move || match phc {
        Some(phc) => verify_blocking(password.expose_secret(), &phc),
        None => {
            let _ = verify_blocking(password.expose_secret(), dummy_hash());
            false
        }
    })
    .await
}

/// Warms the dummy hash so the first login for an unknown user is not faster or slower than others.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| dummy_hash().len()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash("correct horse battery".to_string().into())
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(
            "correct horse battery".to_string().into(),
            Some(phc.clone())
        )
        .await
        .unwrap());
        assert!(!verify("wrong horse battery".to_string().into(), Some(phc))
            .await
            .unwrap());
        assert!(!verify("anything at all".to_string().into(), None)
            .await
            .unwrap());
    }

    #[test]
    fn short_passwords_are_rejected() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("twelve chars").is_ok());
    }
}
