//! The form that creates or edits a credentials block, rendered from its type's schema. Which fields
//! show follows the schema's `allOf` / `if` / `then` rules (see `schema_form`): for DHIS2
//! credentials, the authentication type shows a username and password, or a token. Secrets are
//! never prefilled; on edit, an empty secret keeps the stored one when there is one.

use std::collections::{BTreeMap, BTreeSet};

use chap_scheduler_api::{BlockTypeView, BlockView, CreateBlockRequest, UpdateBlockRequest};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use crate::api;
use crate::components::form::FormActions;
use crate::schema_form::{self, FieldKind, FieldSpec};

/// One property of a block type's schema as a form field.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BlockField {
    /// Input, title, and when it shows (from `schema_form::fields`).
    pub spec: FieldSpec,
    /// `text`, `url` or `password`.
    pub input_type: &'static str,
    /// Encrypted at rest and never returned: the block shows `<name>_set` instead.
    pub secret: bool,
}

/// The fields of a block type, in the order a person fills them in.
pub(super) fn schema_fields(block_type: &BlockTypeView) -> Vec<BlockField> {
    let schema = &block_type.schema;
    let properties = schema.get("properties").and_then(Value::as_object);
    let mut fields: Vec<BlockField> = schema_form::fields(schema)
        .into_iter()
        .map(|spec| {
            let prop = properties.and_then(|p| p.get(&spec.name));
            let secret = block_type.secret_fields.contains(&spec.name)
                || prop.and_then(|p| p.get("writeOnly")) == Some(&Value::Bool(true));
            let input_type = if secret {
                "password"
            } else if prop.and_then(|p| p.get("format")).and_then(Value::as_str) == Some("uri") {
                "url"
            } else {
                "text"
            };
            BlockField {
                spec,
                input_type,
                secret,
            }
        })
        .collect();
    // The schema's properties come in alphabetical order: put DHIS2's where a person expects them
    // (a stable sort, so other fields keep `fields`' order).
    fields.sort_by_key(|f| match f.spec.name.as_str() {
        "base_url" | "url" => 0,
        "auth_type" => 1,
        "username" => 2,
        "password" => 3,
        "token" => 4,
        _ => 5,
    });
    fields
}

/// How an option of a select reads (the schema has only the values).
pub(super) fn option_label(field: &str, value: &str) -> String {
    match (field, value) {
        ("auth_type", "basic") => "Username and password",
        ("auth_type", "pat") => "Personal access token",
        _ => value,
    }
    .to_owned()
}

/// The secret fields `data` (a block's view) says are stored.
fn stored_secrets(data: &Value) -> BTreeSet<String> {
    data.as_object()
        .into_iter()
        .flatten()
        .filter(|(_, set)| set.as_bool() == Some(true))
        .filter_map(|(key, _)| key.strip_suffix("_set").map(str::to_owned))
        .collect()
}

/// The help under a field: on a stored secret, that leaving it empty keeps it.
fn help_text(field: &BlockField, stored: bool) -> Option<String> {
    if field.secret && stored {
        Some(format!(
            "Leave empty to keep the stored {}.",
            field.spec.name
        ))
    } else {
        field.spec.description.clone()
    }
}

/// The values a form for a block of type `slug` starts with: `data`'s, else the schema's defaults
/// (so a block stored before `auth_type` existed reads as basic). Secrets are never in a block's
/// data: they start empty.
fn start_values(types: &[BlockTypeView], slug: &str, data: &Value) -> BTreeMap<String, String> {
    types
        .iter()
        .find(|t| t.slug == slug)
        .map(|t| schema_form::initial_values(&t.schema, data))
        .unwrap_or_default()
}

/// Field → message for every shown field whose value is not acceptable; an empty secret that is
/// stored is acceptable (it is kept).
fn check(
    fields: &[BlockField],
    values: &BTreeMap<String, String>,
    stored: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    let specs: Vec<FieldSpec> = fields.iter().map(|f| f.spec.clone()).collect();
    let mut errors = schema_form::validate(&specs, values);
    errors.retain(|name, _| {
        let empty = values.get(name).is_none_or(|v| v.trim().is_empty());
        !(empty && stored.contains(name))
    });
    errors
}

/// The block's data to send: the shown, non-empty fields (a hidden field is never sent).
fn data_to_send(fields: &[BlockField], values: &BTreeMap<String, String>) -> Value {
    let specs: Vec<FieldSpec> = fields.iter().map(|f| f.spec.clone()).collect();
    schema_form::parameters(&specs, values)
}

/// Create or edit a block from its type's schema.
#[component]
pub(super) fn BlockForm(
    types: Vec<BlockTypeView>,
    block: Option<BlockView>,
    on_done: impl Fn(bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let editing_id = block.as_ref().map(|b| b.id);
    let type_slug = RwSignal::new(
        block
            .as_ref()
            .map(|b| b.block_type.clone())
            .or_else(|| types.first().map(|t| t.slug.clone()))
            .unwrap_or_default(),
    );
    let name = RwSignal::new(block.as_ref().map(|b| b.name.clone()).unwrap_or_default());
    let data = block.as_ref().map_or_else(|| json!({}), |b| b.data.clone());
    let values = RwSignal::new(start_values(&types, &type_slug.get_untracked(), &data));
    let stored = StoredValue::new(stored_secrets(&data));
    let errors = RwSignal::new(BTreeMap::<String, String>::new());
    let form_error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let types = StoredValue::new(types);
    let current_type = move || {
        let slug = type_slug.get();
        types.with_value(|t| t.iter().find(|t| t.slug == slug).cloned())
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(block_type) = current_type() else {
            return;
        };
        let fields = schema_fields(&block_type);
        let current = values.get_untracked();
        let mut found = stored.with_value(|s| check(&fields, &current, s));
        if name.get_untracked().trim().is_empty() {
            found.insert("name".to_owned(), "Required.".to_owned());
        }
        if !found.is_empty() {
            errors.set(found);
            form_error.set(Some("Correct the highlighted fields.".to_owned()));
            return;
        }
        let data = data_to_send(&fields, &current);
        errors.set(BTreeMap::new());
        form_error.set(None);
        saving.set(true);
        let block_name = name.get_untracked().trim().to_owned();
        spawn_local(async move {
            let result = match editing_id {
                Some(id) => {
                    let request = UpdateBlockRequest {
                        name: Some(block_name),
                        data: Some(data),
                    };
                    api::update_block(id, &request).await
                }
                None => {
                    let request = CreateBlockRequest {
                        name: block_name,
                        block_type: block_type.slug.clone(),
                        data,
                    };
                    api::create_block(&request).await
                }
            };
            saving.try_set(false);
            match result {
                Ok(_) => on_done(true),
                Err(e) => {
                    let mut field_errors = BTreeMap::new();
                    for field in fields.iter().map(|f| f.spec.name.as_str()).chain(["name"]) {
                        if let Some(m) = e
                            .field_error(field)
                            .or_else(|| e.field_error(&format!("data.{field}")))
                        {
                            field_errors.insert(field.to_owned(), m);
                        }
                    }
                    errors.try_set(field_errors);
                    form_error.try_set(Some(e.to_string()));
                }
            }
        });
    };

    let type_options = types.with_value(|t| {
        t.iter()
            .map(|t| {
                let slug = t.slug.clone();
                view! {
                    <option value=slug.clone() selected=move || type_slug.get() == slug>
                        {t.name.clone()}
                    </option>
                }
            })
            .collect_view()
    });
    let change_type = move |ev| {
        let slug = event_target_value(&ev);
        values.set(types.with_value(|t| start_values(t, &slug, &json!({}))));
        errors.set(BTreeMap::new());
        type_slug.set(slug);
    };
    let heading = if editing_id.is_some() {
        "Edit credentials"
    } else {
        "New credentials"
    };
    let editing_existing = editing_id.is_some();

    view! {
        <section class="panel" aria-labelledby="block-form-heading">
            <h2 id="block-form-heading">{heading}</h2>
            <form class="run-form" on:submit=submit novalidate>
                <div class="field">
                    <label for="block-type">"Type"</label>
                    <select id="block-type" disabled=editing_existing on:change=change_type>
                        {type_options}
                    </select>
                </div>
                <TextField
                    id="name"
                    label="Name".to_owned()
                    input_type="text"
                    required=true
                    value=Signal::derive(move || name.get())
                    on_input=move |v| name.set(v)
                    error=Signal::derive(move || errors.with(|e| e.get("name").cloned()))
                    help=None
                    shown=Signal::derive(|| true)
                />
                {move || {
                    current_type()
                        .map(|t| {
                            schema_fields(&t)
                                .into_iter()
                                .map(|field| {
                                    let is_stored = stored.with_value(|s| s.contains(&field.spec.name));
                                    view! { <BlockFieldInput field values errors stored=is_stored /> }
                                })
                                .collect_view()
                        })
                }}
                <FormActions
                    error=form_error
                    busy=saving
                    submit="Save"
                    busy_label="Saving…"
                    on_cancel=Callback::new(move |()| on_done(false))
                />
            </form>
        </section>
    }
}

/// One schema field: a select for a choice, else a text input; hidden while its condition (e.g.
/// `auth_type = pat`) does not hold.
#[component]
fn BlockFieldInput(
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

/// A labelled input with help text and an error; `id` names the input.
#[component]
fn TextField(
    #[prop(into)] id: String,
    label: String,
    input_type: &'static str,
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
    view! {
        <div class="field" data-field=id.clone() hidden=move || !shown.get()>
            <label for=id.clone()>
                {label} {required.then(|| view! { <span class="required">" (required)"</span> })}
            </label>
            <input
                id=id.clone()
                type=input_type
                autocomplete=autocomplete
                aria-describedby=format!("{help_id} {error_id}")
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                prop:value=value
                on:input=move |ev| on_input(event_target_value(&ev))
            />
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

#[cfg(test)]
mod tests {
    use super::super::tests::dhis2_type;
    use super::*;

    fn shown(fields: &[BlockField], values: &BTreeMap<String, String>) -> Vec<String> {
        fields
            .iter()
            .filter(|f| f.spec.is_shown(values))
            .map(|f| f.spec.name.clone())
            .collect()
    }

    #[test]
    fn the_authentication_type_shows_only_its_own_fields() {
        let fields = schema_fields(&dhis2_type());
        let names: Vec<_> = fields.iter().map(|f| f.spec.name.as_str()).collect();
        assert_eq!(
            names,
            ["base_url", "auth_type", "username", "password", "token"]
        );
        let types: Vec<_> = fields.iter().map(|f| f.input_type).collect();
        assert_eq!(types, ["url", "text", "text", "password", "password"]);
        assert!(matches!(fields[1].spec.kind, FieldKind::Choice(_)));

        // A new block starts on basic.
        let mut values = schema_form::initial_values(&dhis2_type().schema, &json!({}));
        assert_eq!(
            shown(&fields, &values),
            ["base_url", "auth_type", "username", "password"]
        );
        values.insert("auth_type".into(), "pat".into());
        assert_eq!(shown(&fields, &values), ["base_url", "auth_type", "token"]);
    }

    #[test]
    fn required_only_for_shown_fields_and_hidden_fields_are_not_sent() {
        let fields = schema_fields(&dhis2_type());
        let mut values = schema_form::initial_values(&dhis2_type().schema, &json!({}));
        let nothing = BTreeSet::new();
        let errors = check(&fields, &values, &nothing);
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["base_url", "password", "username"]
        );

        values.insert("base_url".into(), "https://dhis2.example.org".into());
        values.insert("username".into(), "admin".into());
        values.insert("auth_type".into(), "pat".into());
        assert_eq!(
            check(&fields, &values, &nothing).keys().collect::<Vec<_>>(),
            ["token"]
        );
        values.insert("token".into(), "d2pat_abc".into());
        assert!(check(&fields, &values, &nothing).is_empty());
        assert_eq!(
            data_to_send(&fields, &values),
            json!({ "base_url": "https://dhis2.example.org", "auth_type": "pat", "token": "d2pat_abc" })
        );
    }

    #[test]
    fn an_empty_secret_keeps_the_stored_one_only_when_one_is_stored() {
        let fields = schema_fields(&dhis2_type());
        // A basic block stored before auth_type existed: it reads as basic.
        let data = json!({ "base_url": "https://d", "username": "admin", "password_set": true, "token_set": false });
        let stored = stored_secrets(&data);
        let mut values = schema_form::initial_values(&dhis2_type().schema, &data);
        assert_eq!(values["auth_type"], "basic");
        assert_eq!(values["password"], "");
        assert!(check(&fields, &values, &stored).is_empty());
        assert_eq!(
            data_to_send(&fields, &values),
            json!({ "base_url": "https://d", "auth_type": "basic", "username": "admin" })
        );

        // Switching it to a token needs a token: none is stored.
        values.insert("auth_type".into(), "pat".into());
        assert_eq!(check(&fields, &values, &stored)["token"], "Required.");

        let password = fields.iter().find(|f| f.spec.name == "password");
        let token = fields.iter().find(|f| f.spec.name == "token");
        let (password, token) = (password.expect("password"), token.expect("token"));
        assert_eq!(
            help_text(password, true).as_deref(),
            Some("Leave empty to keep the stored password.")
        );
        assert_eq!(
            help_text(password, false).as_deref(),
            Some("DHIS2 password.")
        );
        assert_eq!(
            help_text(token, true).as_deref(),
            Some("Leave empty to keep the stored token.")
        );
        assert_eq!(help_text(token, false), None);
    }
}
