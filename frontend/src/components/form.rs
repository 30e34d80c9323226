//! Pieces every form and list of the UI ends with.

use std::collections::BTreeMap;

use leptos::prelude::*;

/// The error line of `field` in a form's errors by field name (the server's 422 `details`).
pub fn error_of(
    errors: RwSignal<BTreeMap<String, String>>,
    field: &'static str,
) -> impl Fn() -> Option<String> + Copy {
    move || errors.with(|e| e.get(field).cloned())
}

/// The `aria-invalid` value of `field` in a form's errors by field name.
pub fn invalid_of(
    errors: RwSignal<BTreeMap<String, String>>,
    field: &'static str,
) -> impl Fn() -> &'static str + Copy {
    move || {
        if errors.with(|e| e.contains_key(field)) {
            "true"
        } else {
            "false"
        }
    }
}

/// The end of a form: its error line (a live region), the submit button — relabelled and disabled
/// while `busy` — and, when given, a Cancel button.
#[component]
pub fn FormActions(
    /// The message for the whole form (empty: nothing shown).
    error: RwSignal<Option<String>>,
    /// A request is on its way.
    busy: RwSignal<bool>,
    /// Label of the submit button.
    submit: &'static str,
    /// Its label while busy, e.g. "Saving…".
    busy_label: &'static str,
    /// What Cancel does; no Cancel button without it.
    #[prop(optional)]
    on_cancel: Option<Callback<()>>,
    /// Label of the Cancel button.
    #[prop(default = "Cancel")]
    cancel_label: &'static str,
) -> impl IntoView {
    view! {
        <p class="form-error" role="alert">
            {move || error.get()}
        </p>
        <div class="actions">
            <button type="submit" class="button primary" disabled=busy>
                {move || if busy.get() { busy_label } else { submit }}
            </button>
            {on_cancel
                .map(|cancel| {
                    view! {
                        <button type="button" class="button secondary" on:click=move |_| cancel.run(())>
                            {cancel_label}
                        </button>
                    }
                })}
        </div>
    }
}

/// "Load more" under a paged list, while there is a next page.
#[component]
pub fn LoadMore(
    /// There is a next page.
    #[prop(into)]
    more: Signal<bool>,
    /// It is being fetched.
    loading: RwSignal<bool>,
    on_load: Callback<()>,
) -> impl IntoView {
    view! {
        <Show when=move || more.get()>
            <button
                type="button"
                class="button secondary load-more"
                on:click=move |_| on_load.run(())
                disabled=loading
            >
                {move || if loading.get() { "Loading…" } else { "Load more" }}
            </button>
        </Show>
    }
}

/// A labelled text, password, number or date input with its help line and error line, tied together with
/// `aria-describedby`. `validate` runs when the value is committed (blur) and, once an error is
/// shown, on every keystroke so the error goes as soon as it is fixed.
#[component]
pub fn FormField(
    /// The input's id (the label points at it).
    #[prop(into)]
    id: String,
    /// Visible label.
    #[prop(into)]
    label: String,
    /// `text`, `password`, `date`.
    #[prop(default = "text")]
    input_type: &'static str,
    /// The `autocomplete` attribute.
    #[prop(default = "off")]
    autocomplete: &'static str,
    /// Marked "(required)" in the label.
    #[prop(default = false)]
    required: bool,
    /// The value.
    value: RwSignal<String>,
    /// The message under the field (client check or the server's answer).
    error: RwSignal<Option<String>>,
    /// Help under the field.
    #[prop(optional, into)]
    help: Option<String>,
    /// Client-side check of the value.
    #[prop(optional)]
    validate: Option<Callback<String, Option<String>>>,
    /// `min` of a date input.
    #[prop(optional, into)]
    min: Option<String>,
    /// `list` attribute: the id of a `<datalist>` of suggestions.
    #[prop(optional, into)]
    list: Option<String>,
    /// `step` of a number input (`any` for fractions).
    #[prop(optional, into)]
    step: Option<String>,
) -> impl IntoView {
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    let described_by = if help.is_some() {
        format!("{help_id} {error_id}")
    } else {
        error_id.clone()
    };
    let on_input = move |ev: leptos::ev::Event| {
        let v = event_target_value(&ev);
        if error.with_untracked(Option::is_some) {
            error.set(validate.and_then(|check| check.run(v.clone())));
        }
        value.set(v);
    };
    let on_change = move |ev: leptos::ev::Event| {
        if let Some(check) = validate {
            error.set(check.run(event_target_value(&ev)));
        }
    };
    view! {
        <div class="field" data-field=id.clone()>
            <label for=id.clone()>
                {label} {required.then(|| view! { <span class="required">" (required)"</span> })}
            </label>
            <input
                id=id.clone()
                name=id.clone()
                type=input_type
                autocomplete=autocomplete
                min=min
                step=step
                list=list
                aria-describedby=described_by
                aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                aria-required=if required { "true" } else { "false" }
                prop:value=move || value.get()
                on:input=on_input
                on:change=on_change
            />
            {help.map(|help| view! { <p class="help muted small" id=help_id>{help}</p> })}
            <p class="field-error" id=error_id>
                {move || error.get()}
            </p>
        </div>
    }
}

/// A destructive button that asks first: pressed, it is replaced by the question, the confirming
/// button and "Keep it" (inline, not `window.confirm`, so it is styled, announced and keyboard-usable).
#[component]
pub fn ConfirmButton(
    /// The first button, e.g. "Delete…".
    label: &'static str,
    /// Appended, visually hidden, to both buttons' names, e.g. the name of what is deleted.
    #[prop(optional, into)]
    what: String,
    /// The question, e.g. "Delete this schedule? Runs it already created stay."
    #[prop(into)]
    question: String,
    /// The confirming button, e.g. "Delete schedule".
    confirm_label: &'static str,
    /// While the action runs (the confirming button is disabled).
    busy: RwSignal<bool>,
    on_confirm: Callback<()>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let what = StoredValue::new(if what.is_empty() {
        String::new()
    } else {
        format!(" {what}")
    });
    let hidden_name = move || view! { <span class="visually-hidden">{what.get_value()}</span> };
    view! {
        <Show
            when=move || confirming.get()
            fallback=move || {
                view! {
                    <button type="button" class="button danger" on:click=move |_| confirming.set(true)>
                        {label}
                        {hidden_name()}
                    </button>
                }
            }
        >
            <div class="confirm" role="group" aria-label=format!("Confirm: {confirm_label}")>
                <p>{question.clone()}</p>
                <button
                    type="button"
                    class="button danger"
                    disabled=busy
                    on:click=move |_| on_confirm.run(())
                >
                    {confirm_label}
                    {hidden_name()}
                </button>
                <button type="button" class="button secondary" on:click=move |_| confirming.set(false)>
                    "Keep it"
                </button>
            </div>
        </Show>
    }
}
