//! The second steps of the users page: "New user", "Reset password", and the confirmations of
//! Disable, Enable and lowering your own role.

use chap_scheduler_api::{CreateUserRequest, Role, UpdateUserRequest, UserView};
use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::{
    error_sentence, focus_element, focus_soon, password_problem, point_at_first_error, sentence,
    show_refusal, FormField, RoleField, MIN_PASSWORD_CHARS,
};
use crate::api::{self, ApiError};
use crate::components::form::FormActions;

/// A change to one user that needs a second step before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// A new password for this user.
    ResetPassword(UserView),
    /// Disable this user (ends sessions, revokes tokens).
    Disable(UserView),
    /// Let this user sign in again.
    Enable(UserView),
    /// An admin lowering their own role.
    DemoteSelf(UserView, Role),
}

impl Pending {
    /// The control that opened the step; focus goes back there when it closes.
    pub fn opener_id(&self) -> String {
        match self {
            Pending::ResetPassword(u) => reset_button_id(u.id),
            Pending::Disable(u) | Pending::Enable(u) => toggle_button_id(u.id),
            Pending::DemoteSelf(u, _) => role_select_id(u.id),
        }
    }
}

/// Id of a user's "Reset password" button.
pub fn reset_button_id(id: Uuid) -> String {
    format!("user-{id}-reset")
}

/// Id of a user's "Disable" / "Enable" button.
pub fn toggle_button_id(id: Uuid) -> String {
    format!("user-{id}-toggle")
}

/// Id of a user's role picker.
pub fn role_select_id(id: Uuid) -> String {
    format!("user-{id}-role")
}

/// Checks a username as the server does: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
fn username_problem(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        return Some("Required.".to_owned());
    }
    if name.chars().count() > 64 {
        return Some("At most 64 characters.".to_owned());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    name.chars().find(|c| !allowed(*c)).map(|bad| {
        let shown = if bad.is_whitespace() {
            "a space".to_owned()
        } else {
            format!("“{bad}”")
        };
        format!("Only letters, digits, “.”, “_”, “-” and “@”; {shown} is not allowed.")
    })
}

/// The second step of a change to one user, above the table.
#[component]
pub fn PendingPanel(
    step: Pending,
    on_close: Callback<Option<(UserView, String)>>,
) -> impl IntoView {
    match step {
        Pending::ResetPassword(user) => view! { <ResetPasswordPanel user on_close /> }.into_any(),
        Pending::Disable(user) => {
            let name = user.username.clone();
            view! {
                <ConfirmPanel
                    user_id=user.id
                    title=format!("Disable {name}?")
                    body=format!(
                        "{name} is signed out everywhere at once, every API token of theirs is revoked for good, and they cannot sign in until an admin enables them again.",
                    )
                    confirm_label=format!("Yes, disable {name}")
                    danger=true
                    request=UpdateUserRequest {
                        disabled: Some(true),
                        ..Default::default()
                    }
                    success=format!("{name} is disabled: their sessions ended and their API tokens were revoked.")
                    on_close
                />
            }
            .into_any()
        }
        Pending::Enable(user) => {
            let name = user.username.clone();
            view! {
                <ConfirmPanel
                    user_id=user.id
                    title=format!("Enable {name}?")
                    body=format!(
                        "{name} can sign in again with their password. API tokens revoked when they were disabled stay revoked.",
                    )
                    confirm_label=format!("Yes, enable {name}")
                    danger=false
                    request=UpdateUserRequest {
                        disabled: Some(false),
                        ..Default::default()
                    }
                    success=format!("{name} is enabled and can sign in again.")
                    on_close
                />
            }
            .into_any()
        }
        Pending::DemoteSelf(user, role) => view! {
            <ConfirmPanel
                user_id=user.id
                title="Give up your admin role?".to_owned()
                body=format!(
                    "You become {role} at once and can no longer manage users, everyone's API tokens, credentials or the audit log. Another admin has to give the role back.",
                )
                confirm_label=format!("Yes, make me {role}")
                danger=true
                request=UpdateUserRequest {
                    role: Some(role),
                    ..Default::default()
                }
                success=format!("You are now {role}.")
                on_close
            />
        }
        .into_any(),
    }
}

/// Escape closes the open panel without changing anything, wherever the focus is: the panel moves
/// focus to itself only on the next frame, and a key pressed before that must not be lost.
fn close_on_escape(on_close: Callback<Option<(UserView, String)>>) {
    let handle = window_event_listener(leptos::ev::keydown, move |ev: KeyboardEvent| {
        if ev.key() == "Escape" {
            on_close.run(None);
        }
    });
    on_cleanup(move || handle.remove());
}

/// "Disable bob?" with what it does, and Yes / Cancel.
#[component]
fn ConfirmPanel(
    user_id: Uuid,
    title: String,
    body: String,
    confirm_label: String,
    danger: bool,
    request: UpdateUserRequest,
    success: String,
    on_close: Callback<Option<(UserView, String)>>,
) -> impl IntoView {
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let request = StoredValue::new(request);
    let success = StoredValue::new(success);
    let confirm = move |_| {
        busy.set(true);
        error.set(None);
        let request = request.get_value();
        let success = success.get_value();
        spawn_local(async move {
            match api::update_user(user_id, &request).await {
                Ok(user) => on_close.run(Some((user, success))),
                Err(e) => {
                    busy.try_set(false);
                    error.try_set(Some(error_sentence(&e)));
                }
            }
        });
    };
    focus_soon("pending-heading");
    close_on_escape(on_close);
    view! {
        <section
            class="panel confirm-panel"
            aria-labelledby="pending-heading"
            data-testid="user-confirm"
        >
            <h2 id="pending-heading" tabindex="-1">
                {title}
            </h2>
            <p>{body}</p>
            <p class="form-error" role="alert">
                {move || error.get()}
            </p>
            <div class="actions">
                <button
                    type="button"
                    class=if danger { "button danger" } else { "button primary" }
                    on:click=confirm
                    disabled=busy
                >
                    {confirm_label}
                </button>
                <button type="button" class="button secondary" on:click=move |_| on_close.run(None)>
                    "Cancel"
                </button>
            </div>
        </section>
    }
}

/// A new password for someone else; it ends their sessions.
#[component]
fn ResetPasswordPanel(
    user: UserView,
    on_close: Callback<Option<(UserView, String)>>,
) -> impl IntoView {
    let id = user.id;
    let name = user.username.clone();
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let success = StoredValue::new(format!(
        "The password of {name} was reset and their sessions ended. Tell them the new password through a safe channel."
    ));
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let new_password = password.get_untracked();
        if let Some(problem) = password_problem(&new_password) {
            error.set(Some(problem));
            focus_element("reset-password");
            return;
        }
        busy.set(true);
        form_error.set(None);
        spawn_local(async move {
            let request = UpdateUserRequest {
                password: Some(new_password),
                ..Default::default()
            };
            match api::update_user(id, &request).await {
                Ok(user) => on_close.run(Some((user, success.get_value()))),
                Err(e) => {
                    busy.try_set(false);
                    match e.field_error("password") {
                        Some(m) => {
                            error.try_set(Some(sentence(&m)));
                            focus_element("reset-password");
                        }
                        None => {
                            form_error.try_set(Some(error_sentence(&e)));
                        }
                    }
                }
            }
        });
    };
    focus_soon("reset-password");
    close_on_escape(on_close);
    view! {
        <section
            class="panel"
            aria-labelledby="pending-heading"
            data-testid="reset-password"
        >
            <h2 id="pending-heading">{format!("Reset the password of {name}")}</h2>
            <form class="admin-form" on:submit=submit novalidate>
                <FormField
                    id="reset-password"
                    label="New password"
                    input_type="password"
                    autocomplete="new-password"
                    required=true
                    value=password
                    error
                    help=format!(
                        "At least {MIN_PASSWORD_CHARS} characters. {name} is signed out everywhere; their API tokens keep working.",
                    )
                    validate=Callback::new(|v: String| password_problem(&v))
                />
                <FormActions
                    error=form_error
                    busy
                    submit="Set new password"
                    busy_label="Saving…"
                    on_cancel=Callback::new(move |()| on_close.run(None))
                />
            </form>
        </section>
    }
}

/// "New user": username, initial password and role, checked before they are sent.
#[component]
pub fn NewUserForm(on_done: Callback<Option<UserView>>) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let username_error = RwSignal::new(None::<String>);
    let password_error = RwSignal::new(None::<String>);
    let role_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let name = username.get_untracked().trim().to_owned();
        let secret = password.get_untracked();
        username_error.set(username_problem(&name));
        password_error.set(password_problem(&secret));
        let slots = [
            ("username", "new-username", username_error),
            ("password", "new-password", password_error),
            ("role", "new-role", role_error),
        ];
        if point_at_first_error(&slots, form_error) {
            return;
        }
        form_error.set(None);
        saving.set(true);
        let request = CreateUserRequest {
            username: name,
            password: secret,
            role: role.get_untracked(),
        };
        spawn_local(async move {
            let result = api::create_user(&request).await;
            saving.try_set(false);
            match result {
                Ok(user) => on_done.run(Some(user)),
                Err(e) => {
                    show_refusal(&e, &slots, form_error);
                    // A taken name is a 409 without a field name; it belongs at the username.
                    if matches!(e, ApiError::Status { status: 409, .. }) {
                        username_error.try_set(Some(error_sentence(&e)));
                        point_at_first_error(&slots, form_error);
                    }
                }
            }
        });
    };
    focus_soon("new-username");

    view! {
        <section class="panel" aria-labelledby="new-user-heading" data-testid="new-user">
            <h2 id="new-user-heading">"New user"</h2>
            <form class="admin-form" on:submit=submit novalidate>
                <FormField
                    id="new-username"
                    label="Username"
                    required=true
                    value=username
                    error=username_error
                    help="1–64 letters, digits, “.”, “_”, “-” or “@”; stored in lower case."
                    validate=Callback::new(|v: String| username_problem(&v))
                />
                <FormField
                    id="new-password"
                    label="Initial password"
                    input_type="password"
                    autocomplete="new-password"
                    required=true
                    value=password
                    error=password_error
                    help=format!(
                        "At least {MIN_PASSWORD_CHARS} characters. Give it to the user through a safe channel; they can change it under Account.",
                    )
                    validate=Callback::new(|v: String| password_problem(&v))
                />
                <RoleField id="new-role" value=role error=role_error />
                <FormActions
                    error=form_error
                    busy=saving
                    submit="Create user"
                    busy_label="Creating…"
                    on_cancel=Callback::new(move |()| on_done.run(None))
                />
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::username_problem;

    #[test]
    fn usernames_follow_the_server_rules() {
        assert!(username_problem("alice.smith@example-1_x").is_none());
        assert_eq!(username_problem("  ").as_deref(), Some("Required."));
        assert!(username_problem("two words").is_some_and(|m| m.contains("a space")));
        assert!(username_problem("jürgen").is_some());
        assert!(username_problem(&"a".repeat(65)).is_some());
    }
}
