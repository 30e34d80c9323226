//! The signed-in frame around every page: header, navigation, and the guard that sends
//! signed-out users to the login page.

use chap_scheduler_api::{Role, UserView};
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;

use crate::api;
use crate::components::time::UtcToggle;
use crate::components::LoadingNotice;
use crate::paths::app_path;
use crate::session::{login_path, use_session, Session};

/// The signed-in user, or `None` while there is none; only changes when the user does.
pub fn use_current_user() -> Memo<Option<UserView>> {
    let session = use_session();
    Memo::new(move |_| match session.get() {
        Session::SignedIn(user) => Some(user),
        _ => None,
    })
}

/// Whether the signed-in user may start, cancel and schedule runs (operators and admins).
pub fn use_can_operate() -> Signal<bool> {
    let user = use_current_user();
    Signal::derive(move || user.with(|u| u.as_ref().is_some_and(|u| u.role >= Role::Operator)))
}

/// Header, navigation and the current page; "Loading…" until the session is known.
#[component]
pub fn AppShell() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let location = use_location();
    Effect::new(move |_| {
        if let Session::SignedOut { return_here } = session.get() {
            let target = if return_here {
                // The router's `search` has no leading `?`.
                let search = location.search.get_untracked();
                // An app path: the router puts it under the public path again.
                let mut here = crate::paths::route_path(&location.pathname.get_untracked());
                if !search.is_empty() {
                    here.push('?');
                    here.push_str(search.trim_start_matches('?'));
                }
                login_path(&here)
            } else {
                "/login".to_owned()
            };
            navigate(
                &target,
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });

    let user = use_current_user();
    let signed_in = Memo::new(move |_| user.with(Option::is_some));
    view! {
        <Show when=move || signed_in.get() fallback=|| view! { <LoadingNotice /> }>
            <div class="app">
                <SiteHeader />
                <div class="layout">
                    <MainNav />
                    <main id="main" class="content">
                        <Outlet />
                    </main>
                </div>
            </div>
        </Show>
    }
}

/// The top bar: product name, the UTC switch, who is signed in, and the log-out button.
#[component]
fn SiteHeader() -> impl IntoView {
    view! {
        <header class="site-header">
            <A href=app_path("/") attr:class="brand">
                "chap-scheduler"
            </A>
            <div class="user-menu">
                <UtcToggle />
                <CurrentUser />
                <LogoutButton />
            </div>
        </header>
    }
}

/// "Signed in as admin (admin)".
#[component]
fn CurrentUser() -> impl IntoView {
    let user = use_current_user();
    let username = move || user.with(|u| u.as_ref().map(|u| u.username.clone()));
    let role = move || user.with(|u| u.as_ref().map(|u| u.role.as_str()));
    view! {
        <p class="current-user">
            <span class="visually-hidden">"Signed in as "</span>
            <strong data-testid="current-user">{username}</strong>
            " "
            <span class="role-badge" title="Your role">
                {role}
            </span>
        </p>
    }
}

/// Ends the session on the server and forgets the access token.
#[component]
fn LogoutButton() -> impl IntoView {
    let busy = RwSignal::new(false);
    let log_out = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            // Signed out locally either way; the shell then shows the login page.
            let _ = api::logout().await;
            busy.try_set(false);
        });
    };
    view! {
        <button type="button" class="button secondary" on:click=log_out disabled=busy>
            "Log out"
        </button>
    }
}

/// Links to every page the user's role may see.
#[component]
fn MainNav() -> impl IntoView {
    let user = use_current_user();
    let is_admin = move || user.with(|u| u.as_ref().is_some_and(|u| u.role >= Role::Admin));
    let can_operate = use_can_operate();
    view! {
        <nav class="main-nav" aria-label="Main">
            <ul>
                <li>
                    <A href=app_path("/") exact=true>
                        "Dashboard"
                    </A>
                </li>
                <li>
                    <A href=app_path("/deployments")>"Deployments"</A>
                </li>
                <li>
                    <A href=app_path("/runs")>"Runs"</A>
                </li>
                <li>
                    <A href=app_path("/credentials")>"Credentials"</A>
                </li>
                <Show when=move || can_operate.get()>
                    <li>
                        <A href=app_path("/notifications")>"Notifications"</A>
                    </li>
                </Show>
                <Show when=is_admin>
                    <li>
                        <A href=app_path("/admin/users")>"Users"</A>
                    </li>
                </Show>
                // Everyone has their own API tokens; admins see everyone's there.
                <li>
                    <A href=app_path("/admin/tokens")>"API tokens"</A>
                </li>
                <Show when=is_admin>
                    <li>
                        <A href=app_path("/admin/audit")>"Audit log"</A>
                    </li>
                </Show>
                <li>
                    <A href=app_path("/account")>"Account"</A>
                </li>
            </ul>
        </nav>
    }
}
