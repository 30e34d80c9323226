//! `<NAME>_FILE` for every secret setting: the value is read from that file (Docker and compose
//! secrets mount them under `/run/secrets/`). Setting both a variable and its `_FILE` is an error that
//! names both, so an operator never wonders which one won.

use std::collections::HashMap;

use anyhow::{bail, Context};

use super::Source;

/// The settings that hold secrets, each also readable from `<NAME>_FILE`.
pub const SECRET_VARS: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "CHAP_SCHEDULER_JWT_SECRET",
    "CHAP_SCHEDULER_ADMIN_PASSWORD",
    crate::secrets::ENCRYPTION_KEY_VAR,
];

/// A secret file larger than this is refused (a wrong path such as a log or `/dev/zero`).
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// A source whose secret settings may come from files.
pub struct WithSecretFiles<'a> {
    inner: &'a dyn Source,
    from_files: HashMap<&'static str, String>,
}

impl Source for WithSecretFiles<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.from_files
            .get(key)
            .cloned()
            .or_else(|| self.inner.get(key))
    }
}

/// Reads every `<NAME>_FILE` that is set.
pub fn resolve(src: &dyn Source) -> anyhow::Result<WithSecretFiles<'_>> {
    let mut from_files = HashMap::new();
    for &name in SECRET_VARS {
        let file_var = format!("{name}_FILE");
        let Some(path) = src.get(&file_var) else {
            continue;
        };
        if src.get(name).is_some() {
            bail!("both {name} and {file_var} are set; set only one of them");
        }
        from_files.insert(name, read_secret_file(&file_var, path.trim())?);
    }
    Ok(WithSecretFiles {
        inner: src,
        from_files,
    })
}

/// The file's content without its trailing line break.
fn read_secret_file(file_var: &str, path: &str) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("{file_var}: reading {path}"))?;
    if !meta.is_file() || meta.len() > MAX_SECRET_FILE_BYTES {
        bail!("{file_var}: {path} is not a file of at most {MAX_SECRET_FILE_BYTES} bytes");
    }
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("{file_var}: reading {path} (it must be UTF-8 text)"))?;
    let value = raw.trim_end_matches(['\n', '\r']);
    if value.trim().is_empty() {
        bail!("{file_var}: {path} is empty");
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_secret_comes_from_its_file_without_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef-from-file\n").unwrap();
        let src = map(&[("CHAP_SCHEDULER_JWT_SECRET_FILE", path.to_str().unwrap())]);
        let resolved = resolve(&src).unwrap();
        assert_eq!(
            resolved.get("CHAP_SCHEDULER_JWT_SECRET").as_deref(),
            Some("0123456789abcdef0123456789abcdef-from-file")
        );
    }

    #[test]
    fn both_set_is_an_error_naming_both_and_a_missing_or_empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("url");
        std::fs::write(&path, "redis://r:6379").unwrap();
        let src = map(&[
            ("REDIS_URL", "redis://other:6379"),
            ("REDIS_URL_FILE", path.to_str().unwrap()),
        ]);
        let err = resolve(&src).err().unwrap().to_string();
        assert!(err.contains("REDIS_URL and REDIS_URL_FILE"), "{err}");

        let src = map(&[("DATABASE_URL_FILE", "/nonexistent/secret")]);
        let err = format!("{:#}", resolve(&src).err().unwrap());
        assert!(
            err.contains("DATABASE_URL_FILE") && err.contains("/nonexistent/secret"),
            "{err}"
        );

        std::fs::write(&path, "\n").unwrap();
        let src = map(&[("CHAP_SCHEDULER_ADMIN_PASSWORD_FILE", path.to_str().unwrap())]);
        let err = resolve(&src).err().unwrap().to_string();
        assert!(err.contains("is empty"), "{err}");
    }
}
