//! The app: session, router and the route table.
//!
//! The sign-in page, the shell and the dashboard are in the main wasm module. Every other page is a
//! lazy route in one of three groups (runs, setup, admin): `scripts/build-frontend.sh` splits each
//! group into its own wasm module (wasm-split), fetched the first time one of its pages is shown, so
//! the first load carries only what the dashboard needs.

use leptos::prelude::*;
use leptos::wasm_split::SplitLoaderError;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, Lazy, LazyRoute};

use crate::components::credentials::CredentialsPage;
use crate::components::dashboard::DashboardPage;
use crate::components::deployments::{DeploymentDetailPage, DeploymentsPage};
use crate::components::login::LoginPage;
use crate::components::notifications::NotificationsPage;
use crate::components::pages::{AccountPage, ApiTokensPage, AuditLogPage, NotFoundPage, UsersPage};
use crate::components::runs::{RunDetailPage, RunsPage};
use crate::components::shell::AppShell;
use crate::components::time::provide_zone;
use crate::session::provide_session;

/// What a lazy page shows when its module cannot be fetched (offline, or the server was upgraded and
/// no longer has this build's modules). Navigating again retries the fetch.
fn page_load_failed(_: SplitLoaderError) -> AnyView {
    view! {
        <section class="page">
            <p class="error" role="alert">
                "This page could not be loaded. Check the connection, then reload the page."
            </p>
        </section>
    }
    .into_any()
}

/// `lazy_page!(group, Route, view_fn, Page)` declares the lazy route `Route` that shows the
/// component `Page`; `view_fn` goes into the wasm module `group`. Pages fetch their own data, so the
/// route has none.
macro_rules! lazy_page {
    ($group:ident, $route:ident, $view_fn:ident, $page:ident) => {
        #[leptos::wasm_split::wasm_split($group, wasm_split_path = ::leptos::wasm_split, fallible)]
        fn $view_fn() -> Result<AnyView, SplitLoaderError> {
            Ok(view! { <$page /> }.into_any())
        }

        struct $route;

        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(_this: Self) -> AnyView {
                $view_fn().await.unwrap_or_else(page_load_failed)
            }
        }
    };
}

lazy_page!(runs, RunsRoute, runs_view, RunsPage);
lazy_page!(runs, RunDetailRoute, run_detail_view, RunDetailPage);
lazy_page!(setup, DeploymentsRoute, deployments_view, DeploymentsPage);
lazy_page!(
    setup,
    DeploymentDetailRoute,
    deployment_detail_view,
    DeploymentDetailPage
);
lazy_page!(setup, CredentialsRoute, credentials_view, CredentialsPage);
lazy_page!(
    setup,
    NotificationsRoute,
    notifications_view,
    NotificationsPage
);
lazy_page!(admin, UsersRoute, users_view, UsersPage);
lazy_page!(admin, ApiTokensRoute, api_tokens_view, ApiTokensPage);
lazy_page!(admin, AuditLogRoute, audit_log_view, AuditLogPage);
lazy_page!(admin, AccountRoute, account_view, AccountPage);

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    provide_session();
    provide_zone();
    view! {
        <Router base=crate::paths::base()>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/login") view=LoginPage />
                // Every other page needs a signed-in user and shares the header and navigation.
                <ParentRoute path=path!("") view=AppShell>
                    <Route path=path!("") view=DashboardPage />
                    <Route path=path!("deployments") view={Lazy::<DeploymentsRoute>::new()} />
                    <Route path=path!("deployments/:id") view={Lazy::<DeploymentDetailRoute>::new()} />
                    <Route path=path!("runs") view={Lazy::<RunsRoute>::new()} />
                    <Route path=path!("runs/:id") view={Lazy::<RunDetailRoute>::new()} />
                    <Route path=path!("credentials") view={Lazy::<CredentialsRoute>::new()} />
                    <Route path=path!("notifications") view={Lazy::<NotificationsRoute>::new()} />
                    <Route path=path!("admin/users") view={Lazy::<UsersRoute>::new()} />
                    <Route path=path!("admin/tokens") view={Lazy::<ApiTokensRoute>::new()} />
                    <Route path=path!("admin/audit") view={Lazy::<AuditLogRoute>::new()} />
                    <Route path=path!("account") view={Lazy::<AccountRoute>::new()} />
                    <Route path=path!("*any") view=NotFoundPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
