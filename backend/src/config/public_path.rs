//! `CHAP_SCHEDULER_PUBLIC_PATH`: the sub-path the service is served under behind a proxy that serves
//! something else (DHIS2) at `/`, e.g. `/chap-scheduler`. Validated once here, trusted everywhere else.

use std::fmt;

/// The variable's name, for messages.
pub const PUBLIC_PATH_VAR: &str = "CHAP_SCHEDULER_PUBLIC_PATH";

/// Longest accepted prefix, in bytes.
const MAX_LEN: usize = 100;

/// A URL path prefix: empty (served at `/`), or `/seg[/seg…]` of plain segments without a trailing
/// slash, so that it can be written into HTML, cookies and nginx without quoting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicPath(String);

impl PublicPath {
    /// Parses the variable's value; the message says what is wrong with it and names the variable.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let refuse = |why: &str| Err(format!("{PUBLIC_PATH_VAR}={raw:?} {why}"));
        if raw.is_empty() {
            return Ok(Self::default());
        }
        if raw.len() > MAX_LEN {
            return refuse(&format!("is longer than {MAX_LEN} characters"));
        }
        let Some(rest) = raw.strip_prefix('/') else {
            return refuse("must start with / (e.g. /chap-scheduler)");
        };
        if rest.is_empty() {
            return refuse("must name a path (leave it unset to serve at /)");
        }
        if rest.ends_with('/') {
            return refuse("must not end with / (e.g. /chap-scheduler)");
        }
        for segment in rest.split('/') {
            if segment.is_empty() {
                return refuse("must not contain an empty segment (//)");
            }
            if segment == "." || segment == ".." {
                return refuse("must not contain . or .. segments");
            }
            if !segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
            {
                return refuse(
                    "may only hold letters, digits and - . _ ~ between its slashes \
                     (no percent-encoding, spaces or other characters)",
                );
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The prefix as written (`""` or `/chap-scheduler`), without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the service is served at `/`.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Where people open the UI, from `CHAP_SCHEDULER_PUBLIC_URL` (checked, without a trailing slash):
    /// a URL that already ends with the prefix (`https://dhis2.example.org/chap-scheduler`) is taken as
    /// it is, one without it (`https://dhis2.example.org`) gets it appended, so links in notifications
    /// always carry the prefix.
    pub fn ui_address(&self, public_url: &str) -> String {
        if self.is_root() || public_url.ends_with(&self.0) {
            public_url.to_owned()
        } else {
            format!("{public_url}{}", self.0)
        }
    }

    /// `path` (starting with `/`) under the prefix: `/api/v1/auth` → `/chap-scheduler/api/v1/auth`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for PublicPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_prefixes_are_accepted_and_empty_means_the_root() {
        assert!(PublicPath::parse("").unwrap().is_root());
        assert!(PublicPath::parse("  ").unwrap().is_root());
        for ok in [
            "/chap-scheduler",
            "/a",
            "/tools/chap_scheduler",
            "/x.y~z/v2",
        ] {
            let p = PublicPath::parse(ok).unwrap();
            assert_eq!(p.as_str(), ok);
            assert!(!p.is_root());
        }
        let p = PublicPath::parse("/chap-scheduler").unwrap();
        assert_eq!(p.join("/api/v1/auth"), "/chap-scheduler/api/v1/auth");
        assert_eq!(PublicPath::default().join("/api"), "/api");
    }

    #[test]
    fn the_ui_address_carries_the_prefix_once() {
        let p = PublicPath::parse("/chap-scheduler").unwrap();
        for url in [
            "https://dhis2.example.org",
            "https://dhis2.example.org/chap-scheduler",
        ] {
            assert_eq!(
                p.ui_address(url),
                "https://dhis2.example.org/chap-scheduler"
            );
        }
        assert_eq!(
            PublicPath::default().ui_address("https://forecasts.example.org"),
            "https://forecasts.example.org"
        );
    }

    #[test]
    fn odd_prefixes_are_refused_naming_the_variable() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        for bad in [
            "chap-scheduler",
            "/",
            "/chap-scheduler/",
            "//chap",
            "/a//b",
            "/./a",
            "/a/..",
            "/a/../b",
            "/chap%2Dscheduler",
            "/chap scheduler",
            "/chap\"><script>",
            "/é",
            "/a?b",
            "/a#b",
            "/a;b",
            "/a\\b",
            "http://example.org/chap",
            long.as_str(),
        ] {
            let err = PublicPath::parse(bad).unwrap_err();
            assert!(err.starts_with(PUBLIC_PATH_VAR), "{bad}: {err}");
        }
    }
}
