//! The pages inside the shell that are not an area of their own: the admin pages behind their
//! role check, the account page (who you are, change your password) and "Page not found".

use chap_scheduler_api::Role;
use leptos::prelude::*;

use chap_scheduler_api::ChangePasswordRequest;
use leptos::ev::SubmitEvent;
use leptos::task::spawn_local;

use crate::api;
use crate::components::admin::audit::AuditLogAdmin;
use crate::components::admin::tokens::ApiTokensAdmin;
use crate::components::admin::users::UsersAdmin;
use crate::components::admin::{
    password_problem, point_at_first_error, show_refusal, FormField, MIN_PASSWORD_CHARS,
};
use crate::components::form::FormActions;
use crate::components::shell::use_current_user;
use crate::components::time::TimeOr;
use crate::components::{set_document_title, LoadingNotice};

/// Shows its children to admins only; everyone else learns why they see nothing.
#[component]
fn AdminOnly(children: ChildrenFn) -> impl IntoView {
    let user = use_current_user();
    let is_admin = move || user.with(|u| u.as_ref().is_some_and(|u| u.role >= Role::Admin));
    view! {
        <Show
            when=is_admin
            fallback=|| {
                set_document_title("Not allowed");
                view! {
                    <section class="page">
                        <h1>"Not allowed"</h1>
                        <p>"This page is for administrators."</p>
                    </section>
                }
            }
        >
            {children()}
        </Show>
    }
}

/// `/admin/users`
#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <AdminOnly>
            <UsersAdmin />
        </AdminOnly>
    }
}

/// `/admin/tokens`: every signed-in user sees their own tokens (admins: everyone's).
#[component]
pub fn ApiTokensPage() -> impl IntoView {
    view! { <ApiTokensAdmin /> }
}

/// `/admin/audit`
#[component]
pub fn AuditLogPage() -> impl IntoView {
    view! {
        <AdminOnly>
            <AuditLogAdmin />
        </AdminOnly>
    }
}

/// `/account`: who the server says you are, and a new password.
#[component]
pub fn AccountPage() -> impl IntoView {
    set_document_title("Account");
    view! {
        <section class="page account-page" aria-labelledby="account-heading">
            <h1 id="account-heading">"Account"</h1>
            <AccountSummary />
        </section>
        <ChangePasswordForm />
    }
}

/// Username, role and last login, as `GET /auth/me` reports them.
#[component]
fn AccountSummary() -> impl IntoView {
    let me = LocalResource::new(api::me);
    move || {
        let Some(result) = me.get() else {
            return view! { <LoadingNotice /> }.into_any();
        };
        match result {
            Ok(user) => view! {
                <dl class="facts">
                    <dt>"Username"</dt>
                    <dd>{user.username}</dd>
                    <dt>"Role"</dt>
                    <dd>{user.role.as_str()}</dd>
                    <dt>"Last login"</dt>
                    <dd>
                        <TimeOr at=user.last_login_at none="never" />
                    </dd>
                </dl>
            }
            .into_any(),
            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
        }
    }
}

/// "Change password": current, new and the new one again; the other sessions end.
#[component]
fn ChangePasswordForm() -> impl IntoView {
    let user = use_current_user();
    let username =
        move || user.with(|u| u.as_ref().map(|u| u.username.clone()).unwrap_or_default());
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let current_error = RwSignal::new(None::<String>);
    let new_error = RwSignal::new(None::<String>);
    let confirm_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let required = |v: &str| v.is_empty().then(|| "Required.".to_owned());
    let matches_new = move |v: &str| {
        if v.is_empty() {
            Some("Required.".to_owned())
        } else if v != new.get_untracked() {
            Some("Does not match the new password.".to_owned())
        } else {
            None
        }
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        done.set(None);
        let (current_password, new_password) = (current.get_untracked(), new.get_untracked());
        current_error.set(required(&current_password));
        new_error.set(password_problem(&new_password));
        confirm_error.set(matches_new(&confirm.get_untracked()));
        let slots = [
            ("current_password", "current-password", current_error),
            ("new_password", "new-password", new_error),
            ("new_password_again", "confirm-password", confirm_error),
        ];
        if point_at_first_error(&slots, form_error) {
            return;
        }
        form_error.set(None);
        saving.set(true);
        spawn_local(async move {
            let request = ChangePasswordRequest {
                current_password,
                new_password,
            };
            let result = api::change_password(&request).await;
            saving.try_set(false);
            match result {
                Ok(()) => {
                    for field in [current, new, confirm] {
                        field.try_set(String::new());
                    }
                    done.try_set(Some(
                        "Password changed. Your other sessions were signed out.".to_owned(),
                    ));
                }
                Err(e) => show_refusal(&e, &slots, form_error),
            }
        });
    };

    view! {
        <section class="panel" aria-labelledby="password-heading">
            <h2 id="password-heading">"Change password"</h2>
            <form class="admin-form" on:submit=submit novalidate>
                // Lets password managers file the new password under the right account.
                <input
                    type="text"
                    name="username"
                    autocomplete="username"
                    hidden=true
                    readonly=true
                    prop:value=username
                />
                <FormField
                    id="current-password"
                    label="Current password"
                    input_type="password"
                    autocomplete="current-password"
                    required=true
                    value=current
                    error=current_error
                    validate=Callback::new(move |v: String| required(&v))
                />
                <FormField
                    id="new-password"
                    label="New password"
                    input_type="password"
                    autocomplete="new-password"
                    required=true
                    value=new
                    error=new_error
                    help=format!(
                        "At least {MIN_PASSWORD_CHARS} characters. Your other sessions are signed out; this one stays."
                    )
                    validate=Callback::new(|v: String| password_problem(&v))
                />
                <FormField
                    id="confirm-password"
                    label="New password again"
                    input_type="password"
                    autocomplete="new-password"
                    required=true
                    value=confirm
                    error=confirm_error
                    validate=Callback::new(move |v: String| matches_new(&v))
                />
                <p class="notice" role="status">
                    {move || done.get()}
                </p>
                <FormActions
                    error=form_error
                    busy=saving
                    submit="Change password"
                    busy_label="Changing…"
                />
            </form>
        </section>
    }
}

/// Any path no page answers to.
#[component]
pub fn NotFoundPage() -> impl IntoView {
    set_document_title("Page not found");
    view! {
        <section class="page">
            <h1>"Page not found"</h1>
            <p>"There is no page at this address. Use the navigation to find your way."</p>
        </section>
    }
}
