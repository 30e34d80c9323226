//! Who is signed in, as a reactive signal every component can read.

use chap_scheduler_api::UserView;
use leptos::prelude::*;

use crate::api::{self, SessionEvent};

/// The session as the UI shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Session {
    /// Restoring the session from the refresh cookie after a page load.
    Checking,
    /// Signed in as this user.
    SignedIn(UserView),
    /// Nobody is signed in.
    SignedOut {
        /// Send the user back to the page they were on after the next login
        /// (true when the session expired, false after an explicit logout).
        return_here: bool,
    },
}

/// Creates the session signal, wires it to the API client and starts restoring the session.
pub fn provide_session() {
    let session = RwSignal::new(Session::Checking);
    api::set_session_listener(move |event| {
        session.set(match event {
            SessionEvent::SignedIn(user) => Session::SignedIn(user),
            SessionEvent::Expired => Session::SignedOut { return_here: true },
            SessionEvent::LoggedOut => Session::SignedOut { return_here: false },
        });
    });
    provide_context(session);
    leptos::task::spawn_local(async {
        // The outcome arrives through the listener above.
        let _ = api::restore_session().await;
    });
}

/// The session signal provided by [`provide_session`].
pub fn use_session() -> RwSignal<Session> {
    expect_context::<RwSignal<Session>>()
}

/// Path of the login page that sends the user on to `next` afterwards.
pub fn login_path(next: &str) -> String {
    if safe_next(Some(next)) == "/" {
        return "/login".to_owned();
    }
    let encoded: String = js_sys::encode_uri_component(next).into();
    format!("/login?next={encoded}")
}

/// Where to go after login: `next` if it is a path inside this app, otherwise the dashboard.
/// Refuses `//host` and `/\host` (other origins) and the login page itself.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.split(['?', '#']).next() != Some("/login") =>
        {
            n
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_inside_the_app_is_kept() {
        assert_eq!(safe_next(Some("/runs?state=failed")), "/runs?state=failed");
        assert_eq!(safe_next(Some("/admin/users")), "/admin/users");
    }

    #[test]
    fn next_to_another_origin_or_the_login_page_goes_to_the_dashboard() {
        for next in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "runs",
            "/login",
            "/login?next=/runs",
            "",
        ] {
            assert_eq!(safe_next(Some(next)), "/", "{next}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
