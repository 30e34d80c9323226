//! Key material: secrets the service generates for itself in embedded mode (files in the data folder,
//! 0600), and the [`KeyRing`] that encrypts secret block fields.

pub mod keyring;

pub use keyring::{KeyRing, KeySpecError, OpenError, Sealed, ENCRYPTION_KEY_VAR};

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

/// Returns the configured secret, or the one in `data_dir/name`, creating it (random, 0600) if absent.
pub fn load_or_create(
    configured: Option<&SecretString>,
    data_dir: &Path,
    name: &str,
) -> anyhow::Result<SecretString> {
    load_or_create_with(configured, data_dir, name, || crate::auth::random_token(48))
}

/// [`load_or_create`] with the text of a new key made by `generate`.
pub fn load_or_create_with(
    configured: Option<&SecretString>,
    data_dir: &Path,
    name: &str,
    generate: fn() -> String,
) -> anyhow::Result<SecretString> {
    if let Some(s) = configured {
        return Ok(s.clone());
    }
    let path = data_dir.join(name);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the key file {}", path.display()))?;
        let text = text.trim().to_string();
        if text.len() < 32 {
            anyhow::bail!(
                "the key file {} is shorter than 32 characters; delete it to generate a new one",
                path.display()
            );
        }
        return Ok(SecretString::from(text));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    let secret = SecretString::from(generate());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.expose_secret().as_bytes())
                .with_context(|| format!("writing the key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new key file");
            Ok(secret)
        }
        // Another process created it between our check and our open: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_create_with(None, data_dir, name, generate)
        }
        Err(e) => Err(e).with_context(|| format!("creating the key file {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(None, dir.path(), "jwt-secret").unwrap();
        let b = load_or_create(None, dir.path(), "jwt-secret").unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
