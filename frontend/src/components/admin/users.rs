//! `/admin/users`: every user in a table, "New user", and per user a role picker, Disable / Enable
//! (confirmed inline) and Reset password. The server has the last word (last admin, yourself);
//! its refusals are shown where the change was asked for. The forms and confirmation steps are in
//! [`super::user_forms`].

use chap_scheduler_api::{Role, UpdateUserRequest, UserView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::user_forms::{
    reset_button_id, role_select_id, toggle_button_id, NewUserForm, Pending, PendingPanel,
};
use super::{error_sentence, focus_soon};
use crate::api::{self, ApiError};
use crate::components::shell::use_current_user;
use crate::components::time::{Time, TimeOr};
use crate::components::{set_document_title, LoadingNotice};
use crate::session::{use_session, Session};

type UserList = RwSignal<Option<Result<Vec<UserView>, ApiError>>>;

/// `/admin/users` (the route wraps it in the admin check).
#[component]
pub fn UsersAdmin() -> impl IntoView {
    set_document_title("Users");
    let me = use_current_user();
    let my_id = Signal::derive(move || me.with(|u| u.as_ref().map(|u| u.id)));
    let session = use_session();
    let users: UserList = RwSignal::new(None);
    let creating = RwSignal::new(false);
    let pending = RwSignal::new(None::<Pending>);
    let notice = RwSignal::new(None::<String>);
    // Bumped when a step closes without a change, so role pickers show the real role again.
    let backed_out = RwSignal::new(0u32);
    let reload = move || {
        spawn_local(async move {
            let result = api::list_users().await;
            users.try_set(Some(result));
        });
    };
    reload();

    // A changed user replaces its row; when it is you, the session learns your new role too.
    let on_updated = Callback::new(move |user: UserView| {
        if my_id.get_untracked() == Some(user.id) {
            session.set(Session::SignedIn(user.clone()));
        }
        users.update(|list| {
            if let Some(Ok(list)) = list {
                if let Some(slot) = list.iter_mut().find(|u| u.id == user.id) {
                    *slot = user;
                }
            }
        });
    });
    let close_pending = Callback::new(move |outcome: Option<(UserView, String)>| {
        let opener = pending.with_untracked(|p| p.as_ref().map(Pending::opener_id));
        pending.set(None);
        match outcome {
            Some((user, message)) => {
                notice.set(Some(message));
                on_updated.run(user);
            }
            None => backed_out.update(|n| *n += 1),
        }
        if let Some(opener) = opener {
            focus_soon(opener);
        }
    });
    let open_pending = Callback::new(move |step: Pending| {
        notice.set(None);
        pending.set(Some(step));
    });
    let loaded = Memo::new(move |_| {
        users.with(|u| match u {
            None => None,
            Some(Ok(_)) => Some(Ok(())),
            Some(Err(e)) => Some(Err(e.to_string())),
        })
    });

    view! {
        <section class="page" aria-labelledby="users-heading">
            <h1 id="users-heading">"Users"</h1>
            <p>
                "Everyone who can sign in, and what they may do. Disabling a user signs them out everywhere and revokes their API tokens."
            </p>
            <Show when=move || !creating.get()>
                <div class="actions">
                    <button
                        type="button"
                        class="button primary"
                        id="new-user-button"
                        on:click=move |_| {
                            notice.set(None);
                            creating.set(true);
                        }
                    >
                        "New user"
                    </button>
                </div>
            </Show>
            <p class="notice" role="status" id="users-notice">
                {move || notice.get()}
            </p>
        </section>
        <Show when=move || creating.get()>
            <NewUserForm on_done=Callback::new(move |created: Option<UserView>| {
                creating.set(false);
                if let Some(user) = created {
                    notice
                        .set(
                            Some(
                                format!(
                                    "User {} created with the role {}. They can sign in now.",
                                    user.username,
                                    user.role,
                                ),
                            ),
                        );
                    reload();
                }
                focus_soon("new-user-button");
            }) />
        </Show>
        {move || {
            pending.get().map(|step| view! { <PendingPanel step on_close=close_pending /> })
        }}
        {move || match loaded.get() {
            None => view! { <LoadingNotice /> }.into_any(),
            Some(Err(message)) => view! { <p class="form-error" role="alert">{message}</p> }.into_any(),
            Some(Ok(())) => {
                view! { <UserTable users my_id open_pending on_updated backed_out /> }.into_any()
            }
        }}
    }
}

/// The users, one row each (scrolls sideways on narrow screens).
#[component]
fn UserTable(
    users: UserList,
    my_id: Signal<Option<Uuid>>,
    open_pending: Callback<Pending>,
    on_updated: Callback<UserView>,
    backed_out: RwSignal<u32>,
) -> impl IntoView {
    let rows = move || {
        users.with(|u| match u {
            Some(Ok(list)) => list.clone(),
            _ => Vec::new(),
        })
    };
    view! {
        <div class="table-scroll">
            <table class="runs-table admin-table" data-testid="users-table">
                <caption class="visually-hidden">"Users"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Username"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last login"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=rows
                        key=|user| user.id
                        children=move |first: UserView| {
                            let id = first.id;
                            // The row follows the list, so its own messages survive an update.
                            let user = Memo::new(move |_| {
                                users
                                    .with(|u| match u {
                                        Some(Ok(list)) => list.iter().find(|u| u.id == id).cloned(),
                                        _ => None,
                                    })
                                    .unwrap_or_else(|| first.clone())
                            });
                            let is_me = Signal::derive(move || my_id.get() == Some(id));
                            view! { <UserRow user is_me open_pending on_updated backed_out /> }
                        }
                    />
                </tbody>
            </table>
        </div>
    }
}

/// One user: name, role picker, status, dates, Reset password and Disable / Enable.
#[component]
fn UserRow(
    user: Memo<UserView>,
    is_me: Signal<bool>,
    open_pending: Callback<Pending>,
    on_updated: Callback<UserView>,
    backed_out: RwSignal<u32>,
) -> impl IntoView {
    let id = user.with_untracked(|u| u.id);
    let name = move || user.with(|u| u.username.clone());
    let disabled = move || user.with(|u| u.disabled);
    let toggle = move |_| {
        let current = user.get_untracked();
        open_pending.run(if current.disabled {
            Pending::Enable(current)
        } else {
            Pending::Disable(current)
        });
    };
    view! {
        <tr data-user-id=id.to_string()>
            <th scope="row">
                {name}
                {move || is_me.get().then(|| view! { <span class="muted small">" (you)"</span> })}
            </th>
            <td>
                <RoleCell user is_me open_pending on_updated backed_out />
            </td>
            <td>
                {move || {
                    if disabled() {
                        view! { <span class="state-badge status-off">"Disabled"</span> }
                    } else {
                        view! { <span class="state-badge status-on">"Enabled"</span> }
                    }
                }}
            </td>
            <td>{move || user.with(|u| view! { <Time at=u.created_at /> })}</td>
            <td>{move || user.with(|u| view! { <TimeOr at=u.last_login_at none="never" /> })}</td>
            <td>
                <div class="row-actions">
                    <button
                        type="button"
                        class="button secondary"
                        id=reset_button_id(id)
                        on:click=move |_| open_pending.run(Pending::ResetPassword(user.get_untracked()))
                    >
                        "Reset password"
                        <span class="visually-hidden">{move || format!(" for {}", name())}</span>
                    </button>
                    <button
                        type="button"
                        class="button secondary"
                        id=toggle_button_id(id)
                        on:click=toggle
                    >
                        {move || if disabled() { "Enable" } else { "Disable" }}
                        <span class="visually-hidden">{move || format!(" {}", name())}</span>
                    </button>
                </div>
            </td>
        </tr>
    }
}

/// The role picker of one user; "Save role" appears once another role is chosen. Lowering your
/// own role asks first.
#[component]
fn RoleCell(
    user: Memo<UserView>,
    is_me: Signal<bool>,
    open_pending: Callback<Pending>,
    on_updated: Callback<UserView>,
    backed_out: RwSignal<u32>,
) -> impl IntoView {
    let id = user.with_untracked(|u| u.id);
    let chosen = RwSignal::new(user.with_untracked(|u| u.role));
    // Show the real role after a change made elsewhere, or after backing out of your own demotion.
    Effect::new(move |_| {
        backed_out.track();
        chosen.set(user.with(|u| u.role));
    });
    let saving = RwSignal::new(false);
    let status = RwSignal::new(None::<Result<String, String>>);
    let select_id = role_select_id(id);
    let status_id = format!("user-{id}-role-status");
    let name = move || user.with(|u| u.username.clone());

    let save = move |_| {
        let role = chosen.get_untracked();
        let current = user.get_untracked();
        if is_me.get_untracked() && current.role == Role::Admin && role < Role::Admin {
            open_pending.run(Pending::DemoteSelf(current, role));
            return;
        }
        saving.set(true);
        status.set(None);
        spawn_local(async move {
            let request = UpdateUserRequest {
                role: Some(role),
                ..Default::default()
            };
            let result = api::update_user(id, &request).await;
            saving.try_set(false);
            match result {
                Ok(updated) => {
                    status.try_set(Some(Ok(format!("Saved: {}.", updated.role))));
                    on_updated.run(updated);
                }
                Err(e) => {
                    // Show the role the user really has, next to why it did not change.
                    chosen.try_set(current.role);
                    status.try_set(Some(Err(error_sentence(&e))));
                }
            }
        });
    };

    view! {
        <div class="role-cell">
            <label class="visually-hidden" for=select_id.clone()>
                {move || format!("Role of {}", name())}
            </label>
            <select
                id=select_id
                aria-describedby=status_id.clone()
                on:change=move |ev| {
                    if let Ok(role) = event_target_value(&ev).parse::<Role>() {
                        chosen.set(role);
                        status.set(None);
                    }
                }
            >
                {Role::ALL
                    .into_iter()
                    .map(|r| {
                        view! {
                            <option value=r.as_str() selected=move || chosen.get() == r>
                                {r.as_str()}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <Show when=move || chosen.get() != user.with(|u| u.role)>
                <button type="button" class="button primary" on:click=save disabled=saving>
                    {move || if saving.get() { "Saving…" } else { "Save role" }}
                    <span class="visually-hidden">{move || format!(" of {}", name())}</span>
                </button>
            </Show>
        </div>
        <p
            id=status_id
            role="status"
            class=move || match status.get() {
                Some(Err(_)) => "row-status field-error",
                _ => "row-status muted small",
            }
        >
            {move || status.get().map(|s| s.unwrap_or_else(|e| e))}
        </p>
    }
}
