//! Users, API tokens and the audit log, plus the form pieces they share with the account page.

pub mod audit;
pub mod tokens;
mod user_forms;
pub mod users;

use chap_scheduler_api::Role;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::ApiError;
pub use crate::components::form::FormField;

/// The server refuses passwords shorter than this (`backend/src/auth/password.rs`).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// … and longer than this.
const MAX_PASSWORD_CHARS: usize = 256;

/// What is wrong with a new password, checked as the server checks it.
pub fn password_problem(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars == 0 {
        Some("Required.".to_owned())
    } else if chars < MIN_PASSWORD_CHARS {
        Some(format!(
            "At least {MIN_PASSWORD_CHARS} characters (this has {chars})."
        ))
    } else if chars > MAX_PASSWORD_CHARS {
        Some(format!("At most {MAX_PASSWORD_CHARS} characters."))
    } else {
        None
    }
}

/// The server's message as a sentence: "you cannot disable yourself" → "You cannot disable yourself."
pub fn error_sentence(error: &ApiError) -> String {
    sentence(&error.to_string())
}

/// Capitalises the first letter and ends with a full stop.
/// Backticks, which the server uses to quote names, are dropped.
pub fn sentence(text: &str) -> String {
    let text = text.trim().replace('`', "");
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?', ')']) {
        out.push('.');
    }
    out
}

/// What a role may do, for role pickers.
pub fn role_summary(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer — reads everything but secrets, changes nothing",
        Role::Operator => "operator — also triggers, cancels and schedules runs",
        Role::Admin => "admin — also manages users, tokens, credentials and the audit log",
    }
}

/// One input of a form: the API's name for the field, the input's id, and its message.
pub type FieldSlot = (&'static str, &'static str, RwSignal<Option<String>>);

/// If a field has a message, focuses the first such input, says so for the whole form and
/// returns true.
pub fn point_at_first_error(slots: &[FieldSlot], form_error: RwSignal<Option<String>>) -> bool {
    let first = slots
        .iter()
        .find(|(_, _, message)| message.with_untracked(Option::is_some));
    if let Some((_, id, _)) = first {
        form_error.try_set(Some("Correct the highlighted fields.".to_owned()));
        focus_element(id);
    }
    first.is_some()
}

/// A refused submit: the server's message for each field at it (the first one focused), or, when
/// it named no field, its message for the whole form.
pub fn show_refusal(error: &ApiError, slots: &[FieldSlot], form_error: RwSignal<Option<String>>) {
    for (field, _, message) in slots {
        message.try_set(error.field_error(field).map(|m| sentence(&m)));
    }
    if !point_at_first_error(slots, form_error) {
        form_error.try_set(Some(error_sentence(error)));
    }
}

/// Moves keyboard focus to the element with this id, if it is on the page.
pub fn focus_element(id: &str) {
    let element = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(element) = element {
        let _ = element.focus();
    }
}

/// Focuses the element with this id on the next frame, once the views changed by the current
/// event are on the page (Leptos updates the DOM after the handler returns).
pub fn focus_soon(id: impl Into<String>) {
    let id = id.into();
    request_animation_frame(move || focus_element(&id));
}

/// A `<select>` of the roles up to `max`, labelled, with the chosen role's summary below.
#[component]
pub fn RoleField(
    /// The select's id.
    #[prop(into)]
    id: String,
    /// The chosen role.
    value: RwSignal<Role>,
    /// The highest role offered.
    #[prop(default = Role::Admin)]
    max: Role,
    /// The server's message for the field.
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    view! {
        <div class="field" data-field=id.clone()>
            <label for=id.clone()>"Role"</label>
            <select
                id=id.clone()
                aria-describedby=format!("{help_id} {error_id}")
                aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                on:change=move |ev| {
                    if let Ok(role) = event_target_value(&ev).parse::<Role>() {
                        value.set(role);
                        error.set(None);
                    }
                }
            >
                {Role::ALL
                    .into_iter()
                    .filter(|r| *r <= max)
                    .map(|r| {
                        view! {
                            <option value=r.as_str() selected=move || value.get() == r>
                                {r.as_str()}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <p class="help muted small" id=help_id>
                {move || role_summary(value.get())}
            </p>
            <p class="field-error" id=error_id>
                {move || error.get()}
            </p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::{password_problem, sentence};

    #[test]
    fn short_and_empty_passwords_are_refused_as_the_server_would() {
        assert_eq!(password_problem("").as_deref(), Some("Required."));
        assert!(password_problem("elevenchars").is_some());
        assert!(password_problem("twelve chars").is_none());
    }

    #[test]
    fn server_messages_read_as_sentences() {
        assert_eq!(
            sentence("you cannot disable yourself"),
            "You cannot disable yourself."
        );
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(
            sentence("a user named `bob` already exists"),
            "A user named bob already exists."
        );
        assert_eq!(sentence(""), "");
    }
}
