//! Encryption of secret block fields at rest: AES-256-GCM with a random 96-bit nonce per value, under a
//! ring of named keys. The first key seals new values; every key opens values sealed under its id, so
//! keys can rotate (`new:<base64>,old:<base64>`). Keys come from `CHAP_SCHEDULER_ENCRYPTION_KEY` or the
//! data dir's `encryption-key` file, never from the database.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use anyhow::Context;
use base64::Engine;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The environment variable holding the key (or key list).
pub const ENCRYPTION_KEY_VAR: &str = "CHAP_SCHEDULER_ENCRYPTION_KEY";
/// Name of the generated key file in the data dir (embedded mode).
pub const KEY_FILE: &str = "encryption-key";

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// A secret value as stored: `{"kid": "...", "nonce": "<b64>", "ct": "<b64>"}` (the tag ends `ct`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// Id of the key it was sealed under.
    pub kid: String,
    /// Standard base64 of the 12-byte nonce.
    pub nonce: String,
    /// Standard base64 of ciphertext + 16-byte tag.
    pub ct: String,
}

impl Sealed {
    /// The sealed value in a stored JSON field, if the field holds one.
    pub fn from_value(value: &Value) -> Option<Sealed> {
        serde_json::from_value(value.clone()).ok()
    }

    /// The JSON form to store.
    pub fn to_value(&self) -> Value {
        serde_json::json!({ "kid": self.kid, "nonce": self.nonce, "ct": self.ct })
    }
}

/// Why a key specification was refused. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySpecError {
    /// Nothing given.
    #[error("no key given (expected base64 of 32 bytes, or a list `kid1:base64,kid2:base64`)")]
    Empty,
    /// A list entry is not base64 of exactly 32 bytes.
    #[error("key {position} is not the base64 encoding of exactly 32 bytes (generate one with `openssl rand -base64 32`)")]
    BadKey {
        /// 1-based position in the list.
        position: usize,
    },
    /// A key id with characters other than letters, digits, `.`, `_`, `-`, or too long.
    #[error("key {position} has an invalid id: use 1 to 32 letters, digits, '.', '_' or '-'")]
    BadKid {
        /// 1-based position in the list.
        position: usize,
    },
    /// Two keys share an id.
    #[error("the key id `{0}` appears more than once")]
    DuplicateKid(String),
}

/// Why a sealed value could not be opened. Never contains key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Sealed under a key id the ring does not hold.
    #[error("the value was encrypted under key id `{kid}`, which is not among the configured keys ({available}); add that key to {ENCRYPTION_KEY_VAR} (after the current one) to read it")]
    UnknownKey {
        /// The value's key id.
        kid: String,
        /// The ids the ring holds.
        available: String,
    },
    /// The key with that id does not authenticate the value: a different key under the same id, or
    /// altered data.
    #[error("the value cannot be decrypted with the configured key `{kid}`: it is not the key the value was encrypted with, or the stored value was altered")]
    WrongKey {
        /// The value's key id.
        kid: String,
    },
    /// The stored object is not a sealed value.
    #[error("the stored encrypted value is malformed: {0}")]
    Malformed(String),
}

struct NamedKey {
    kid: String,
    cipher: Aes256Gcm,
}

/// The keys secret fields are sealed and opened with. The first seals; all open.
pub struct KeyRing {
    keys: Vec<NamedKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("kids", &self.kids())
            .finish_non_exhaustive()
    }
}

fn b64_decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .map(Zeroizing::new)
}

/// The id of a key given without one: `k` + 8 hex digits of its SHA-256, stable across restarts, so
/// an unnamed key can later be listed after a new one and still open its values.
fn fingerprint(key: &[u8]) -> String {
    format!("k{}", &hex::encode(Sha256::digest(key))[..8])
}

fn valid_kid(kid: &str) -> bool {
    (1..=32).contains(&kid.len())
        && kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl KeyRing {
    /// Parses `base64` or `kid1:base64,kid2:base64,…` (an entry without `kid:` gets a fingerprint id).
    pub fn parse(spec: &str) -> Result<KeyRing, KeySpecError> {
        let mut keys: Vec<NamedKey> = Vec::new();
        for (i, entry) in spec
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let position = i + 1;
            let (kid, encoded) = match entry.split_once(':') {
                Some((kid, encoded)) => (Some(kid.trim()), encoded.trim()),
                None => (None, entry),
            };
            let bytes = b64_decode(encoded)
                .filter(|b| b.len() == KEY_LEN)
                .ok_or(KeySpecError::BadKey { position })?;
            let kid = match kid {
                Some(kid) if valid_kid(kid) => kid.to_string(),
                Some(_) => return Err(KeySpecError::BadKid { position }),
                None => fingerprint(&bytes),
            };
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeySpecError::DuplicateKid(kid));
            }
            let cipher =
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| KeySpecError::BadKey { position })?;
            keys.push(NamedKey { kid, cipher });
        }
        if keys.is_empty() {
            return Err(KeySpecError::Empty);
        }
        Ok(KeyRing { keys })
    }

    /// The configured ring: `configured` (the value of [`ENCRYPTION_KEY_VAR`]) when given, else the
    /// key file in `data_dir`, generated (random, 0600) on first use.
    pub fn load(configured: Option<&SecretString>, data_dir: &Path) -> anyhow::Result<KeyRing> {
        if let Some(spec) = configured {
            return KeyRing::parse(spec.expose_secret())
                .map_err(|e| anyhow::anyhow!("{ENCRYPTION_KEY_VAR}: {e}"));
        }
        let text = super::load_or_create_with(None, data_dir, KEY_FILE, generate_key_text)?;
        let path = data_dir.join(KEY_FILE);
        KeyRing::parse(text.expose_secret())
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "reading the encryption key file {} (or set {ENCRYPTION_KEY_VAR})",
                    path.display()
                )
            })
    }

    /// Id of the key new values are sealed under.
    pub fn primary_kid(&self) -> &str {
        // `parse` guarantees at least one key.
        self.keys.first().map(|k| k.kid.as_str()).unwrap_or("")
    }

    /// Every key id, the sealing one first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    /// Encrypts `plain` under the first key with a fresh random nonce. `context` is authenticated with
    /// it (e.g. the block id and field), so a value copied elsewhere no longer opens.
    pub fn seal(&self, plain: &SecretString, context: &[u8]) -> anyhow::Result<Sealed> {
        let key = self.keys.first().context("the key ring is empty")?;
        let nonce = Nonce::<Aes256Gcm>::generate();
        let ct = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.expose_secret().as_bytes(),
                    aad: context,
                },
            )
            .map_err(|_| anyhow::anyhow!("encrypting a secret value failed"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(Sealed {
            kid: key.kid.clone(),
            nonce: b64.encode(nonce.as_slice()),
            ct: b64.encode(ct),
        })
    }

    /// Decrypts a sealed value with the key of its id; `context` must be the one it was sealed with.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<SecretString, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == sealed.kid)
            .ok_or_else(|| OpenError::UnknownKey {
                kid: sealed.kid.clone(),
                available: self.kids().join(", "),
            })?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce_bytes = b64
            .decode(&sealed.nonce)
            .ok()
            .filter(|n| n.len() == NONCE_LEN)
            .ok_or_else(|| OpenError::Malformed("the nonce is not base64 of 12 bytes".into()))?;
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce_bytes.as_slice())
            .map_err(|_| OpenError::Malformed("the nonce is not base64 of 12 bytes".into()))?;
        let ct = b64
            .decode(&sealed.ct)
            .map_err(|_| OpenError::Malformed("the ciphertext is not base64".into()))?;
        let plain = Zeroizing::new(
            key.cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: &ct,
                        aad: context,
                    },
                )
                .map_err(|_| OpenError::WrongKey {
                    kid: sealed.kid.clone(),
                })?,
        );
        let text = std::str::from_utf8(&plain)
            .map_err(|_| OpenError::Malformed("the decrypted value is not UTF-8".into()))?;
        Ok(SecretString::from(text.to_string()))
    }
}

/// A new random key as its text form: standard base64 of 32 bytes.
pub fn generate_key_text() -> String {
    let key = Key::<Aes256Gcm>::generate();
    base64::engine::general_purpose::STANDARD.encode(key.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    fn key() -> String {
        generate_key_text()
    }

    #[test]
    fn a_sealed_value_opens_to_the_same_text_and_hides_it() {
        let ring = KeyRing::parse(&format!("main:{}", key())).unwrap();
        let sealed = ring.seal(&secret("district-pass"), b"ctx").unwrap();
        assert_eq!(sealed.kid, "main");
        let stored = sealed.to_value().to_string();
        assert!(!stored.contains("district-pass"), "{stored}");
        assert_eq!(
            ring.open(&sealed, b"ctx").unwrap().expose_secret(),
            "district-pass"
        );
        assert_eq!(Sealed::from_value(&sealed.to_value()), Some(sealed));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let ring = KeyRing::parse(&key()).unwrap();
        let a = ring.seal(&secret("same"), b"ctx").unwrap();
        let b = ring.seal(&secret("same"), b"ctx").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ct, b.ct);
    }

    #[test]
    fn a_value_sealed_under_an_old_key_opens_after_rotation() {
        let (a, b) = (key(), key());
        let old = KeyRing::parse(&format!("A:{a}")).unwrap();
        let sealed = old.seal(&secret("pw"), b"ctx").unwrap();
        let rotated = KeyRing::parse(&format!("B:{b},A:{a}")).unwrap();
        assert_eq!(rotated.primary_kid(), "B");
        assert_eq!(rotated.open(&sealed, b"ctx").unwrap().expose_secret(), "pw");
        assert_eq!(rotated.seal(&secret("pw"), b"ctx").unwrap().kid, "B");
    }

    #[test]
    fn an_unnamed_key_keeps_its_fingerprint_id_when_listed_after_a_new_one() {
        let (a, b) = (key(), key());
        let single = KeyRing::parse(&a).unwrap();
        let sealed = single.seal(&secret("pw"), b"ctx").unwrap();
        assert!(sealed.kid.starts_with('k') && sealed.kid.len() == 9);
        let rotated = KeyRing::parse(&format!("new:{b},{a}")).unwrap();
        assert_eq!(rotated.open(&sealed, b"ctx").unwrap().expose_secret(), "pw");
    }

    #[test]
    fn the_wrong_key_missing_key_or_other_context_refuses_clearly() {
        let ring = KeyRing::parse(&format!("A:{}", key())).unwrap();
        let sealed = ring.seal(&secret("pw"), b"ctx").unwrap();
        let other = KeyRing::parse(&format!("A:{}", key())).unwrap();
        let err = other.open(&sealed, b"ctx").unwrap_err();
        assert!(matches!(err, OpenError::WrongKey { .. }));
        assert!(err.to_string().contains("not the key"), "{err}");
        let missing = KeyRing::parse(&format!("B:{}", key())).unwrap();
        let err = missing.open(&sealed, b"ctx").unwrap_err().to_string();
        assert!(
            err.contains("`A`") && err.contains(ENCRYPTION_KEY_VAR),
            "{err}"
        );
        assert!(matches!(
            ring.open(&sealed, b"other block").unwrap_err(),
            OpenError::WrongKey { .. }
        ));
        let mut tampered = sealed.clone();
        tampered.ct = base64::engine::general_purpose::STANDARD.encode(b"garbage-garbage-garbage");
        assert!(matches!(
            ring.open(&tampered, b"ctx").unwrap_err(),
            OpenError::WrongKey { .. }
        ));
        tampered.nonce = "short".into();
        assert!(matches!(
            ring.open(&tampered, b"ctx").unwrap_err(),
            OpenError::Malformed(_)
        ));
    }

    #[test]
    fn invalid_specs_are_refused_without_echoing_them() {
        assert_eq!(KeyRing::parse(" , ").unwrap_err(), KeySpecError::Empty);
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let err = KeyRing::parse(&short).unwrap_err();
        assert_eq!(err, KeySpecError::BadKey { position: 1 });
        assert!(!err.to_string().contains(&short));
        let good = key();
        assert_eq!(
            KeyRing::parse(&format!("a:{good},not base64!")).unwrap_err(),
            KeySpecError::BadKey { position: 2 }
        );
        assert_eq!(
            KeyRing::parse(&format!("bad id:{good}")).unwrap_err(),
            KeySpecError::BadKid { position: 1 }
        );
        assert!(matches!(
            KeyRing::parse(&format!("a:{good},a:{}", key())).unwrap_err(),
            KeySpecError::DuplicateKid(_)
        ));
        // URL-safe and unpadded forms are accepted too.
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfbu8; 32]);
        assert!(KeyRing::parse(&url_safe).is_ok());
    }

    #[test]
    fn the_key_file_is_generated_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = KeyRing::load(None, dir.path()).unwrap();
        let b = KeyRing::load(None, dir.path()).unwrap();
        assert_eq!(a.kids(), b.kids());
        let sealed = a.seal(&secret("pw"), b"ctx").unwrap();
        assert_eq!(b.open(&sealed, b"ctx").unwrap().expose_secret(), "pw");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let configured = SecretString::from("nope".to_string());
        let err = KeyRing::load(Some(&configured), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(ENCRYPTION_KEY_VAR), "{err}");
        let file = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert!(!format!("{a:?}").contains(file.trim()));
    }
}
