//! The app: session, router and the route table.

use leptos::prelude::*;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

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
                    <Route path=path!("deployments") view=DeploymentsPage />
                    <Route path=path!("deployments/:id") view=DeploymentDetailPage />
                    <Route path=path!("runs") view=RunsPage />
                    <Route path=path!("runs/:id") view=RunDetailPage />
                    <Route path=path!("credentials") view=CredentialsPage />
                    <Route path=path!("notifications") view=NotificationsPage />
                    <Route path=path!("admin/users") view=UsersPage />
                    <Route path=path!("admin/tokens") view=ApiTokensPage />
                    <Route path=path!("admin/audit") view=AuditLogPage />
                    <Route path=path!("account") view=AccountPage />
                    <Route path=path!("*any") view=NotFoundPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
