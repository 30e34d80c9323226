//! The inputs of the block form: one per schema field (a select for a choice, a text area for a
//! long text such as a PEM certificate, else a text input), each with its help and error lines.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::form::{help_text, option_label, BlockField};
use crate::schema_form::FieldKind;

/// One schema field: a select for a choice, a text area for a long text, else a text input;
/// hidden while its condition (e.g. `auth_type = pat`) does not hold.
#[component]
pub(super) fn BlockFieldInput(
    field: BlockField,
    values: RwSignal<BTreeMap<String, String>>,
    errors: RwSignal<BTreeMap<String, String>>,
    /// A secret of this name is stored (an empty input keeps it).
    stored: bool,
) -> impl IntoView {
    let key = field.spec.name.clone();
    let help = help_text(&field, stored);
    let required = field.spec.required && !(field.secret && stored);
    let spec = StoredValue::new(field.spec.clone());
    let shown = Signal::derive(move || values.with(|v| spec.with_value(|s| s.is_shown(v))));
    let value = {
        let key = key.clone();
        Signal::derive(move || values.with(|v| v.get(&key).cloned().unwrap_or_default()))
    };
    let on_input = {
        let key = key.clone();
        move |v: String| {
            values.update(|vals| {
                vals.insert(key.clone(), v);
            })
        }
    };
    let error = {
        let key = key.clone();
        Signal::derive(move || errors.with(|e| e.get(&key).cloned()))
    };
    let id = format!("block-{key}");
    match field.spec.kind {
        FieldKind::Choice(options) => {
            let options: Vec<(String, String)> = options
                .into_iter()
                .map(|o| {
                    let label = option_label(&key, &o.text);
                    (o.text, label)
                })
                .collect();
            view! {
                <SelectField id label=field.spec.title options value on_input error help shown />
            }
            .into_any()
        }
        _ => view! {
            <TextField
                id
                label=field.spec.title
                input_type=field.input_type
                multiline=field.multiline
                required
                value
                on_input
                error
                help
                shown
            />
        }
        .into_any(),
    }
}

/// A labelled input (or text area) with help text and an error; `id` names the input.
#[component]
pub(super) fn TextField(
    #[prop(into)] id: String,
    label: String,
    input_type: &'static str,
    /// A text area instead of a one-line input.
    #[prop(default = false)]
    multiline: bool,
    required: bool,
    value: Signal<String>,
    on_input: impl Fn(String) + 'static,
    error: Signal<Option<String>>,
    help: Option<String>,
    shown: Signal<bool>,
) -> impl IntoView {
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    let autocomplete = if input_type == "password" {
        "new-password"
    } else {
        "off"
    };
    let described_by = format!("{help_id} {error_id}");
    let invalid = move || {
        if error.get().is_some() {
            "true"
        } else {
            "false"
        }
    };
    let input = if multiline {
        view! {
            <textarea
                id=id.clone()
                class="code-input"
                rows="6"
                spellcheck="false"
                aria-describedby=described_by
                aria-invalid=invalid
                prop:value=value
                on:input=move |ev| on_input(event_target_value(&ev))
            ></textarea>
        }
        .into_any()
    } else {
        view! {
            <input
                id=id.clone()
                type=input_type
                autocomplete=autocomplete
                aria-describedby=described_by
                aria-invalid=invalid
                prop:value=value
                on:input=move |ev| on_input(event_target_value(&ev))
            />
        }
        .into_any()
    };
    view! {
        <div class="field" data-field=id.clone() hidden=move || !shown.get()>
            <label for=id.clone()>
                {label} {required.then(|| view! { <span class="required">" (required)"</span> })}
            </label>
            {input}
            <p class="help muted small" id=help_id>
                {help}
            </p>
            <p class="field-error" id=error_id>
                {move || error.get()}
            </p>
        </div>
    }
}

/// A labelled select of `options` (value, label) with help text and an error; `id` names it.
#[component]
fn SelectField(
    id: String,
    label: String,
    options: Vec<(String, String)>,
    value: Signal<String>,
    on_input: impl Fn(String) + 'static,
    error: Signal<Option<String>>,
    help: Option<String>,
    shown: Signal<bool>,
) -> impl IntoView {
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    view! {
        <div class="field" data-field=id.clone() hidden=move || !shown.get()>
            <label for=id.clone()>{label}</label>
            <select
                id=id.clone()
                aria-describedby=format!("{help_id} {error_id}")
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                on:change=move |ev| on_input(event_target_value(&ev))
            >
                {options
                    .into_iter()
                    .map(|(option, text)| {
                        let selected = {
                            let option = option.clone();
                            move || value.get() == option
                        };
                        view! {
                            <option value=option selected=selected>
                                {text}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <p class="help muted small" id=help_id>
                {help}
            </p>
            <p class="field-error" id=error_id>
                {move || error.get()}
            </p>
        </div>
    }
}
