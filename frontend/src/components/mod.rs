//! What the user sees, one module per area.

pub mod admin;
pub mod credentials;
pub mod dashboard;
pub mod deployment_settings;
pub mod deployments;
pub mod forecast;
pub mod form;
pub mod late_slots;
pub mod login;
pub mod notifications;
pub mod pages;
pub mod parameters;
pub mod runs;
pub mod schedules;
pub mod shell;
pub mod time;

use leptos::prelude::*;

/// Neutral placeholder while something loads (e.g. the session after a page reload).
#[component]
pub fn LoadingNotice() -> impl IntoView {
    view! {
        <p class="loading" role="status">
            "Loading…"
        </p>
    }
}

/// Sets the browser tab title to "<page> · chap-scheduler".
pub fn set_document_title(page: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(&format!("{page} · chap-scheduler"));
    }
}
