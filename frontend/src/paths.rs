//! Where the app is served. The server writes its public path (`CHAP_SCHEDULER_PUBLIC_PATH`, e.g.
//! `/chap-scheduler`) into `index.html` as `<base href="/chap-scheduler/">`; the app reads it once.
//! Every address the app builds goes through here:
//! - [`app_path`] for every address the page holds: the API client's URLs, plain `<a href>` links
//!   (`/runs/1` → `/chap-scheduler/runs/1`) and the router's `<A href>` (leptos_router leaves an
//!   absolute `href` as it is);
//! - the router is given [`base`]: it matches routes below it, and `navigate()` takes app paths
//!   (`/runs/1`) and adds the base itself;
//! - [`route_path`] turns the browser's path back into an app path (the `next=` of the login page).

use std::sync::OnceLock;

static BASE: OnceLock<String> = OnceLock::new();

/// The public path without a trailing slash: `""` at the root, `/chap-scheduler` under a prefix.
pub fn base() -> &'static str {
    BASE.get_or_init(|| {
        let document = web_sys::window().and_then(|w| w.document());
        // Without a <base> element, baseURI is the page's own address: no prefix to read.
        let has_base = document
            .as_ref()
            .and_then(|d| d.query_selector("base[href]").ok().flatten())
            .is_some();
        document
            .filter(|_| has_base)
            .and_then(|d| d.base_uri().ok().flatten())
            .and_then(|uri| web_sys::Url::new(&uri).ok())
            .map(|url| base_of(&url.pathname()))
            .unwrap_or_default()
    })
}

/// The base of a `<base href>` path: `/chap-scheduler/` → `/chap-scheduler`, `/` → ``.
fn base_of(pathname: &str) -> String {
    pathname.trim_end_matches('/').to_owned()
}

/// An app path (starting with `/`) as the browser must request it: under the public path.
pub fn app_path(path: &str) -> String {
    join(base(), path)
}

fn join(base: &str, path: &str) -> String {
    format!("{base}{path}")
}

/// The browser's path as an app path: `/chap-scheduler/runs/1` → `/runs/1`.
pub fn route_path(pathname: &str) -> String {
    strip(base(), pathname)
}

fn strip(base: &str, pathname: &str) -> String {
    match pathname.strip_prefix(base) {
        Some("") => "/".to_owned(),
        Some(rest) if base.is_empty() || rest.starts_with('/') => rest.to_owned(),
        _ => pathname.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{base_of, join, strip};

    #[test]
    fn the_base_has_no_trailing_slash() {
        assert_eq!(base_of("/"), "");
        assert_eq!(base_of("/chap-scheduler/"), "/chap-scheduler");
    }

    #[test]
    fn app_paths_go_under_the_base_and_back() {
        assert_eq!(join("", "/runs/1"), "/runs/1");
        assert_eq!(
            join("/chap-scheduler", "/runs?state=FAILED"),
            "/chap-scheduler/runs?state=FAILED"
        );
        assert_eq!(
            strip("/chap-scheduler", "/chap-scheduler/runs/1"),
            "/runs/1"
        );
        assert_eq!(strip("/chap-scheduler", "/chap-scheduler/"), "/");
        assert_eq!(strip("/chap-scheduler", "/chap-scheduler"), "/");
        assert_eq!(
            strip("/chap-scheduler", "/chap-schedulerx/a"),
            "/chap-schedulerx/a"
        );
        assert_eq!(strip("", "/runs/1"), "/runs/1");
    }
}
