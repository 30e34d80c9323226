//! `/credentials`: credentials blocks — list, create and edit from the block type's schema (a
//! password is never shown or prefilled; left empty it keeps the stored one), and "Test connection".

use std::collections::BTreeMap;

use chap_scheduler_api::{
    BlockTestResult, BlockTypeView, BlockView, CreateBlockRequest, Role, ServiceCheck,
    UpdateBlockRequest,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value};

use crate::api::{self, ApiError};
use crate::components::form::{ConfirmButton, FormActions};
use crate::components::shell::use_current_user;
use crate::components::{set_document_title, LoadingNotice};

/// What the form is doing.
#[derive(Debug, Clone, PartialEq)]
enum Editing {
    None,
    New,
    Block(BlockView),
}

/// `/credentials`.
#[component]
pub fn CredentialsPage() -> impl IntoView {
    set_document_title("Credentials");
    let user = use_current_user();
    let role = move || user.with(|u| u.as_ref().map(|u| u.role));
    let is_admin = Signal::derive(move || role().is_some_and(|r| r >= Role::Admin));
    let can_test = Signal::derive(move || role().is_some_and(|r| r >= Role::Operator));
    let blocks = RwSignal::new(None::<Result<Vec<BlockView>, ApiError>>);
    let types = LocalResource::new(api::list_block_types);
    let editing = RwSignal::new(Editing::None);
    let reload = move || {
        spawn_local(async move {
            let result = api::list_blocks().await;
            blocks.try_set(Some(result));
        });
    };
    reload();

    view! {
        <section class="page">
            <h1>"Credentials"</h1>
            <p>"Credentials blocks hold what a run needs to reach DHIS2. Passwords are stored encrypted and never shown."</p>
            <Show when=move || is_admin.get() && editing.with(|e| *e == Editing::None)>
                <div class="actions">
                    <button
                        type="button"
                        class="button primary"
                        on:click=move |_| editing.set(Editing::New)
                    >
                        "New credentials"
                    </button>
                </div>
            </Show>
        </section>
        {move || {
            let current = editing.get();
            if current == Editing::None {
                return None;
            }
            types
                .get()
                .map(|result| match result {
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(types) => {
                        let block = match current {
                            Editing::Block(b) => Some(b),
                            _ => None,
                        };
                        view! {
                            <BlockForm
                                types
                                block
                                on_done=move |saved| {
                                    editing.set(Editing::None);
                                    if saved {
                                        reload();
                                    }
                                }
                            />
                        }
                            .into_any()
                    }
                })
        }}
        {move || match blocks.get() {
            None => view! { <LoadingNotice /> }.into_any(),
            Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            Some(Ok(list)) if list.is_empty() => view! {
                <p class="empty" data-testid="credentials-empty">"There are no credentials yet."</p>
            }
            .into_any(),
            Some(Ok(list)) => view! {
                <ul class="card-list" data-testid="credentials">
                    {list
                        .into_iter()
                        .map(|block| {
                            view! {
                                <BlockCard
                                    block
                                    editing
                                    is_admin
                                    can_test
                                    on_deleted=Callback::new(move |()| reload())
                                />
                            }
                        })
                        .collect_view()}
                </ul>
            }
            .into_any(),
        }}
    }
}

/// One block: its non-secret fields, whether each secret is set, Edit, Test connection and Delete.
#[component]
fn BlockCard(
    block: BlockView,
    editing: RwSignal<Editing>,
    is_admin: Signal<bool>,
    can_test: Signal<bool>,
    on_deleted: Callback<()>,
) -> impl IntoView {
    let id = block.id;
    let deleting = RwSignal::new(false);
    let delete_error = RwSignal::new(None::<String>);
    let delete = move |()| {
        deleting.set(true);
        delete_error.set(None);
        spawn_local(async move {
            match api::delete_block(id).await {
                Ok(()) => on_deleted.run(()),
                Err(e) => {
                    // 409 names what still uses the block.
                    delete_error.try_set(Some(e.to_string()));
                    deleting.try_set(false);
                }
            }
        });
    };
    let result = RwSignal::new(None::<Result<BlockTestResult, ApiError>>);
    let testing = RwSignal::new(false);
    let test = move |_| {
        testing.set(true);
        result.set(None);
        spawn_local(async move {
            let outcome = api::test_block(id).await;
            result.try_set(Some(outcome));
            testing.try_set(false);
        });
    };
    let facts = block.data.as_object().map(|data| {
        data.iter()
            .map(|(key, value)| {
                let (label, text) = match key.strip_suffix("_set") {
                    Some(secret) => (
                        secret.to_owned(),
                        if value.as_bool() == Some(true) {
                            "set (hidden)"
                        } else {
                            "not set"
                        }
                        .to_owned(),
                    ),
                    None => (
                        key.clone(),
                        value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned),
                    ),
                };
                view! {
                    <dt>{label}</dt>
                    <dd>{text}</dd>
                }
            })
            .collect_view()
    });
    let for_edit = block.clone();
    let delete_name = StoredValue::new(block.name.clone());
    view! {
        <li class="card" data-block-id=id.to_string()>
            <h2>{block.name.clone()}</h2>
            <p class="muted small">{block.block_type.clone()}</p>
            <dl class="facts">{facts}</dl>
            <div class="actions">
                <Show when=move || is_admin.get()>
                    <button
                        type="button"
                        class="button secondary"
                        on:click={
                            let for_edit = for_edit.clone();
                            move |_| editing.set(Editing::Block(for_edit.clone()))
                        }
                    >
                        "Edit"
                        <span class="visually-hidden">{format!(" {}", block.name)}</span>
                    </button>
                </Show>
                <Show when=move || can_test.get()>
                    <button type="button" class="button secondary" on:click=test disabled=testing>
                        {move || if testing.get() { "Testing…" } else { "Test connection" }}
                    </button>
                </Show>
                <Show when=move || is_admin.get()>
                    <ConfirmButton
                        label="Delete…"
                        what=delete_name.get_value()
                        question="Delete these credentials? Runs that are over keep their history."
                        confirm_label="Delete credentials"
                        busy=deleting
                        on_confirm=Callback::new(delete)
                    />
                </Show>
            </div>
            {move || delete_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            <div role="status" data-testid="test-result">
                {move || {
                    result
                        .get()
                        .map(|r| match r {
                            Ok(r) => view! {
                                <ul class="checks">
                                    <ServiceCheckLine name="DHIS2" check=r.dhis2 />
                                    <ServiceCheckLine name="chap" check=r.chap />
                                </ul>
                            }
                            .into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        })
                }}
            </div>
        </li>
    }
}

/// "DHIS2: reachable (2.41.1)" or "DHIS2: failed — why".
#[component]
fn ServiceCheckLine(name: &'static str, check: ServiceCheck) -> impl IntoView {
    let text = if check.ok {
        match check.version {
            Some(v) => format!("{name}: reachable (version {v})"),
            None => format!("{name}: reachable"),
        }
    } else {
        format!(
            "{name}: failed — {}",
            check.error.unwrap_or_else(|| "no answer".to_owned())
        )
    };
    let class = if check.ok { "check-ok" } else { "check-failed" };
    view! { <li class=class>{text}</li> }
}

/// Create or edit a block from its type's schema.
#[component]
fn BlockForm(
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
    // Non-secret values start from the block; secrets always start empty.
    let values = RwSignal::new(
        block
            .as_ref()
            .and_then(|b| b.data.as_object().cloned())
            .map(|data| {
                data.into_iter()
                    .filter(|(k, _)| !k.ends_with("_set"))
                    .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
    );
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
        let mut found = BTreeMap::new();
        if name.get_untracked().trim().is_empty() {
            found.insert("name".to_owned(), "Required.".to_owned());
        }
        let mut data = Map::new();
        for field in &fields {
            let value = current.get(&field.name).map(|v| v.trim()).unwrap_or("");
            if value.is_empty() {
                // An empty secret on edit keeps the stored one.
                let keeps_secret = field.secret && editing_id.is_some();
                if field.required && !keeps_secret {
                    found.insert(field.name.clone(), "Required.".to_owned());
                }
                continue;
            }
            data.insert(field.name.clone(), Value::from(value));
        }
        if !found.is_empty() {
            errors.set(found);
            form_error.set(Some("Correct the highlighted fields.".to_owned()));
            return;
        }
        errors.set(BTreeMap::new());
        form_error.set(None);
        saving.set(true);
        let block_name = name.get_untracked().trim().to_owned();
        spawn_local(async move {
            let result = match editing_id {
                Some(id) => {
                    let request = UpdateBlockRequest {
                        name: Some(block_name),
                        data: Some(Value::Object(data)),
                    };
                    api::update_block(id, &request).await
                }
                None => {
                    let request = CreateBlockRequest {
                        name: block_name,
                        block_type: block_type.slug.clone(),
                        data: Value::Object(data),
                    };
                    api::create_block(&request).await
                }
            };
            saving.try_set(false);
            match result {
                Ok(_) => on_done(true),
                Err(e) => {
                    let mut field_errors = BTreeMap::new();
                    for field in fields.iter().map(|f| f.name.as_str()).chain(["name"]) {
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
                    <select
                        id="block-type"
                        disabled=editing_existing
                        on:change=move |ev| type_slug.set(event_target_value(&ev))
                    >
                        {type_options}
                    </select>
                </div>
                <TextField id="name" label="Name".to_owned() input_type="text" required=true
                    value=Signal::derive(move || name.get())
                    on_input=move |v| name.set(v)
                    error=Signal::derive(move || errors.with(|e| e.get("name").cloned()))
                    help=None
                />
                {move || {
                    current_type()
                        .map(|t| {
                            schema_fields(&t)
                                .into_iter()
                                .map(|field| {
                                    let key = field.name.clone();
                                    let key_for_value = key.clone();
                                    let key_for_input = key.clone();
                                    let key_for_error = key.clone();
                                    let help = if field.secret && editing_existing {
                                        Some("Leave empty to keep the stored password.".to_owned())
                                    } else {
                                        field.description.clone()
                                    };
                                    view! {
                                        <TextField
                                            id=format!("block-{key}")
                                            label=field.title.clone()
                                            input_type=field.input_type
                                            required=field.required && !(field.secret && editing_existing)
                                            value=Signal::derive(move || {
                                                values.with(|v| v.get(&key_for_value).cloned().unwrap_or_default())
                                            })
                                            on_input=move |v| {
                                                values.update(|vals| {
                                                    vals.insert(key_for_input.clone(), v);
                                                })
                                            }
                                            error=Signal::derive(move || {
                                                errors.with(|e| e.get(&key_for_error).cloned())
                                            })
                                            help
                                        />
                                    }
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
) -> impl IntoView {
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    let autocomplete = if input_type == "password" {
        "new-password"
    } else {
        "off"
    };
    view! {
        <div class="field" data-field=id.clone()>
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

/// One property of a block type's schema.
struct BlockField {
    name: String,
    title: String,
    description: Option<String>,
    input_type: &'static str,
    required: bool,
    secret: bool,
}

fn schema_fields(block_type: &BlockTypeView) -> Vec<BlockField> {
    let schema = &block_type.schema;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    // Keep the schema's natural order for DHIS2 credentials: URL, username, password.
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort_by_key(|n| match n.as_str() {
        "base_url" | "url" => 0,
        "username" => 1,
        "password" => 2,
        _ => 3,
    });
    names
        .into_iter()
        .map(|name| {
            let prop = &properties[name];
            let secret = block_type.secret_fields.iter().any(|s| s == name)
                || prop.get("writeOnly").and_then(Value::as_bool) == Some(true);
            let input_type = if secret {
                "password"
            } else if prop.get("format").and_then(Value::as_str) == Some("uri") {
                "url"
            } else {
                "text"
            };
            BlockField {
                name: name.clone(),
                title: prop
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_owned(),
                description: prop
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                input_type,
                required: required.contains(&name.as_str()),
                secret,
            }
        })
        .collect()
}
