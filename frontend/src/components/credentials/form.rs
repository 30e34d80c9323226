//! The form that creates or edits a credentials block (DHIS2 credentials, or a notification channel:
//! a webhook or an SMTP server), rendered from its type's schema. Which fields show follows the
//! schema's `allOf` / `if` / `then` rules (see `schema_form`): for DHIS2 credentials, the
//! authentication type shows a username and password, or a token. Secrets are never prefilled; on
//! edit, an empty secret keeps the stored one when there is one, and an emptied optional text (an
//! SMTP username or CA certificate) is sent empty, which removes it.

use std::collections::{BTreeMap, BTreeSet};

use chap_scheduler_api::{BlockTypeView, BlockView, CreateBlockRequest, UpdateBlockRequest};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use super::fields::{BlockFieldInput, TextField};
use crate::api;
use crate::components::form::FormActions;
use crate::schema_form::{self, FieldKind, FieldSpec};

/// A string property longer than this (`maxLength`) is a text area: a PEM certificate, not a word.
const MULTILINE_MAX_LENGTH: u64 = 4096;

/// One property of a block type's schema as a form field.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BlockField {
    /// Input, title, and when it shows (from `schema_form::fields`).
    pub spec: FieldSpec,
    /// `text`, `url`, `number` or `password`.
    pub input_type: &'static str,
    /// Encrypted at rest and never returned: the block shows `<name>_set` instead.
    pub secret: bool,
    /// A long text (several lines, e.g. a PEM certificate): a text area.
    pub multiline: bool,
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
            } else if matches!(spec.kind, FieldKind::Integer { .. }) {
                "number"
            } else {
                "text"
            };
            let multiline = !secret
                && spec.kind == FieldKind::Text
                && prop
                    .and_then(|p| p.get("maxLength"))
                    .and_then(Value::as_u64)
                    .is_some_and(|m| m > MULTILINE_MAX_LENGTH);
            BlockField {
                spec,
                input_type,
                secret,
                multiline,
            }
        })
        .collect();
    // The schema's properties come in alphabetical order: put them where a person expects them
    // (a stable sort, so other fields keep `fields`' order): where to, how, who, then the rest.
    fields.sort_by_key(|f| match f.spec.name.as_str() {
        "base_url" | "url" | "host" => 0,
        "port" => 1,
        "auth_type" | "format" | "security" => 2,
        "username" => 3,
        "password" => 4,
        "token" => 5,
        "from" => 6,
        _ => 7,
    });
    fields
}

/// How an option of a select reads (the schema has only the values).
pub(super) fn option_label(field: &str, value: &str) -> String {
    match (field, value) {
        ("auth_type", "basic") => "Username and password",
        ("auth_type", "pat") => "Personal access token",
        ("format", "json") => "JSON",
        ("format", "slack") => "Slack text",
        ("format", "teams") => "Microsoft Teams text",
        ("security", "starttls") => "STARTTLS",
        ("security", "tls") => "Implicit TLS",
        ("security", "none") => "None (a trusted relay only)",
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

/// What the server's description of a secret says about keeping it, true only on edit.
const KEEP_CLAUSE: &str = "; leave it empty to keep the stored one.";

/// The help under a field: on a stored secret, that leaving it empty keeps it; on a secret not
/// stored yet, its description without that clause (there is nothing to keep).
pub(super) fn help_text(field: &BlockField, stored: bool) -> Option<String> {
    if field.secret && stored {
        let what = match field.spec.name.as_str() {
            "url" => "URL".to_owned(),
            name => name.replace('_', " "),
        };
        Some(format!("Leave empty to keep the stored {what}."))
    } else if field.secret {
        field
            .spec
            .description
            .as_ref()
            .map(|d| d.replace(KEEP_CLAUSE, "."))
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

/// Whether an edit changed any field: when it did not, only the name is sent, so the stored data
/// is not checked again. (The server checks a kept secret by a short placeholder: a stored webhook
/// signing secret, at least 16 characters, would be refused by a data change that keeps it.)
fn data_changed(untouched: &BTreeMap<String, String>, current: &BTreeMap<String, String>) -> bool {
    let value = |m: &BTreeMap<String, String>, k: &String| {
        m.get(k).map(|v| v.trim().to_owned()).unwrap_or_default()
    };
    untouched
        .keys()
        .chain(current.keys())
        .any(|k| value(untouched, k) != value(current, k))
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

/// The optional text fields `data` (a block's view) holds a value for.
fn stored_texts(data: &Value) -> BTreeSet<String> {
    data.as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()))
        .map(|(key, _)| key.clone())
        .collect()
}

/// The block's data to send: the shown, non-empty fields (a hidden field is never sent), and `""`
/// for a shown text field that holds a stored value (`stored_texts`) but was emptied: an edit
/// leaves out what it does not change, so only an empty value removes it.
fn data_to_send(
    fields: &[BlockField],
    values: &BTreeMap<String, String>,
    stored_texts: &BTreeSet<String>,
) -> Value {
    let specs: Vec<FieldSpec> = fields.iter().map(|f| f.spec.clone()).collect();
    let mut data = schema_form::parameters(&specs, values);
    if let Value::Object(map) = &mut data {
        for field in fields.iter().filter(|f| {
            !f.secret
                && f.spec.kind == FieldKind::Text
                && f.spec.is_shown(values)
                && stored_texts.contains(&f.spec.name)
        }) {
            let empty = values
                .get(&field.spec.name)
                .is_none_or(|v| v.trim().is_empty());
            if empty {
                map.insert(field.spec.name.clone(), Value::from(""));
            }
        }
    }
    data
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
    let untouched = StoredValue::new(values.get_untracked());
    let stored = StoredValue::new(stored_secrets(&data));
    let texts = StoredValue::new(stored_texts(&data));
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
        let data = texts.with_value(|t| data_to_send(&fields, &current, t));
        errors.set(BTreeMap::new());
        form_error.set(None);
        saving.set(true);
        let block_name = name.get_untracked().trim().to_owned();
        spawn_local(async move {
            let result = match editing_id {
                Some(id) => {
                    let request = UpdateBlockRequest {
                        name: Some(block_name),
                        data: untouched.with_value(|u| data_changed(u, &current).then_some(data)),
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
                    // The server's message names the field too: at the fields, say where to look.
                    form_error.try_set(Some(if field_errors.is_empty() {
                        e.to_string()
                    } else {
                        "Correct the highlighted fields.".to_owned()
                    }));
                    errors.try_set(field_errors);
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

#[cfg(test)]
#[path = "form_tests.rs"]
mod tests;
