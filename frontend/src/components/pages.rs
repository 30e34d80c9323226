//! The pages inside the shell. Most are placeholders until the operator UI lands.

use chap_scheduler_api::Role;
use leptos::prelude::*;

use crate::api;
use crate::components::set_document_title;
use crate::components::shell::use_current_user;

/// A page that is not built yet: its name and a sentence saying so.
#[component]
fn PlaceholderPage(title: &'static str) -> impl IntoView {
    set_document_title(title);
    view! {
        <section class="page">
            <h1>{title}</h1>
            <p>{format!("The {title} page arrives with the operator UI.")}</p>
        </section>
    }
}

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
            <PlaceholderPage title="Users" />
        </AdminOnly>
    }
}

/// `/admin/tokens`
#[component]
pub fn ApiTokensPage() -> impl IntoView {
    view! {
        <AdminOnly>
            <PlaceholderPage title="API tokens" />
        </AdminOnly>
    }
}

/// `/admin/audit`
#[component]
pub fn AuditLogPage() -> impl IntoView {
    view! {
        <AdminOnly>
            <PlaceholderPage title="Audit log" />
        </AdminOnly>
    }
}

/// `/account`: a placeholder plus who the server says you are.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <PlaceholderPage title="Account" />
        <AccountSummary />
    }
}

/// Username, role and last login, as `GET /auth/me` reports them.
#[component]
fn AccountSummary() -> impl IntoView {
    let me = LocalResource::new(api::me);
    move || {
        me.get().map(|result| match result {
            Ok(user) => {
                let last_login = user.last_login_at.map_or_else(
                    || "never".to_owned(),
                    |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
                );
                view! {
                    <dl class="facts">
                        <dt>"Username"</dt>
                        <dd>{user.username}</dd>
                        <dt>"Role"</dt>
                        <dd>{user.role.as_str()}</dd>
                        <dt>"Last login"</dt>
                        <dd>{last_login}</dd>
                    </dl>
                }
                .into_any()
            }
            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
        })
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
