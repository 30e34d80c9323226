//! `/login`: the sign-in form, and the hop back to where the user was going.

use chap_scheduler_api::LoginRequest;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::api::{self, ApiError};
use crate::components::{set_document_title, LoadingNotice};
use crate::session::{safe_next, use_session, Session};

/// The login screen. Signed-in users (e.g. after a reload restored the session) go on to `next`.
#[component]
pub fn LoginPage() -> impl IntoView {
    set_document_title("Sign in");
    let session = use_session();
    let query = use_query_map();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(session.get(), Session::SignedIn(_)) {
            let next = query.with_untracked(|q| safe_next(q.get("next").as_deref()).to_owned());
            navigate(
                &next,
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    let show_form = move || matches!(session.get(), Session::SignedOut { .. });
    view! {
        <main class="login-screen">
            <div class="login-card">
                <p class="brand">"chap-scheduler"</p>
                <Show when=show_form fallback=|| view! { <LoadingNotice /> }>
                    <LoginForm />
                </Show>
            </div>
        </main>
    }
}

/// Username, password, "Sign in", and what went wrong.
#[component]
fn LoginForm() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submitting = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if submitting.get_untracked() {
            return;
        }
        submitting.set(true);
        error.set(None);
        let request = LoginRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            // On success the session changes and the page moves on; this form is then gone,
            // hence `try_set` on its signals.
            if let Err(e) = api::login(&request).await {
                error.try_set(Some(login_error_message(&e)));
                password.try_set(String::new());
            }
            submitting.try_set(false);
        });
    };

    view! {
        <form class="login-form" on:submit=submit>
            <h1>"Sign in"</h1>
            <div class="field">
                <label for="username">"Username"</label>
                <input
                    id="username"
                    name="username"
                    type="text"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                    bind:value=username
                />
            </div>
            <div class="field">
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    bind:value=password
                />
            </div>
            <p class="form-error" role="alert">
                {move || error.get()}
            </p>
            <button type="submit" class="button primary" disabled=submitting>
                {move || if submitting.get() { "Signing in…" } else { "Sign in" }}
            </button>
        </form>
    }
}

/// What the user reads when login fails.
fn login_error_message(error: &ApiError) -> String {
    match error {
        ApiError::Unauthorized => "Wrong username or password.".to_owned(),
        ApiError::TooManyRequests {
            retry_after_secs: Some(secs),
        } => format!("Too many attempts; try again in {secs}\u{a0}s."), // no-break space keeps "N s" together
        ApiError::TooManyRequests {
            retry_after_secs: None,
        } => "Too many attempts; try again in a moment.".to_owned(),
        other => other.to_string(),
    }
}
