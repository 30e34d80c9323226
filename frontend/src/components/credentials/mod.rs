//! `/credentials`: credentials blocks — DHIS2 credentials and the notification channels (webhooks,
//! SMTP servers) — list, create and edit from the block type's schema (`form`, `fields`), and for
//! DHIS2 credentials "Test connection": whether DHIS2 and chap answer, and whose account they are.

mod fields;
mod form;

use chap_scheduler_api::{
    AccountCheck, BlockTestResult, BlockTypeView, BlockView, Role, ServiceCheck,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api::{self, ApiError};
use crate::components::form::ConfirmButton;
use crate::components::shell::use_current_user;
use crate::components::{set_document_title, LoadingNotice};
use crate::schema_form::{self, FieldKind};

use form::{option_label, schema_fields, BlockForm};

/// The block types, loaded once per page.
type BlockTypes = LocalResource<Result<Vec<BlockTypeView>, ApiError>>;

/// The one block type "Test connection" applies to (the server's test reaches DHIS2 and chap).
const TESTABLE_TYPE: &str = "dhis2-credentials";

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
            <p>
                "Credentials blocks hold what a run needs to reach DHIS2, and the channels notifications are sent through: webhooks and mail (SMTP) servers. Passwords, tokens and webhook URLs are stored encrypted and never shown."
            </p>
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
                                    types
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
    types: BlockTypes,
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
    let facts = {
        let block = block.clone();
        move || {
            let block_type = types
                .get()
                .and_then(Result::ok)
                .and_then(|t| t.into_iter().find(|t| t.slug == block.block_type));
            block_facts(block_type.as_ref(), &block.data)
                .into_iter()
                .map(|(label, text)| {
                    view! {
                        <dt>{label}</dt>
                        <dd>{text}</dd>
                    }
                })
                .collect_view()
        }
    };
    let for_edit = block.clone();
    let delete_name = StoredValue::new(block.name.clone());
    let testable = block.block_type == TESTABLE_TYPE;
    let type_name = {
        let slug = block.block_type.clone();
        move || {
            types
                .get()
                .and_then(Result::ok)
                .and_then(|t| t.into_iter().find(|t| t.slug == slug))
                .map_or_else(|| slug.clone(), |t| t.name)
        }
    };
    view! {
        <li class="card" data-block-id=id.to_string() data-block-type=block.block_type.clone()>
            <h2>{block.name.clone()}</h2>
            <p class="muted small">{type_name}</p>
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
                <Show when=move || testable && can_test.get()>
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
                                    <AccountCheckLine check=r.account />
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

/// "Account: admin — can import data values", the warning instead when there is one, or
/// "Account: failed — why".
#[component]
fn AccountCheckLine(check: AccountCheck) -> impl IntoView {
    let (class, text) = account_line(check);
    view! { <li class=class data-testid="account-check">{text}</li> }
}

/// The class and text of the account line.
fn account_line(check: AccountCheck) -> (&'static str, String) {
    if !check.ok {
        let why = check.error.unwrap_or_else(|| "no answer".to_owned());
        return ("check-failed", format!("Account: failed — {why}"));
    }
    let who = check
        .username
        .unwrap_or_else(|| "unknown username".to_owned());
    match (check.warning, check.can_import_data_values) {
        (Some(warning), _) => ("check-warn", format!("Account: {who} — {warning}")),
        (None, Some(true)) => (
            "check-ok",
            format!("Account: {who} — can import data values"),
        ),
        (None, Some(false)) => (
            "check-warn",
            format!("Account: {who} — cannot import data values"),
        ),
        (None, None) => ("check-ok", format!("Account: {who}")),
    }
}

/// The card's facts, label and text: the fields shown for the block's authentication type (a
/// secret as "set (hidden)" or "not set"), or every field as stored when its type is unknown.
fn block_facts(block_type: Option<&BlockTypeView>, data: &Value) -> Vec<(String, String)> {
    let Some(block_type) = block_type else {
        return raw_facts(data);
    };
    let values = schema_form::initial_values(&block_type.schema, data);
    schema_fields(block_type)
        .into_iter()
        .filter(|f| f.spec.is_shown(&values))
        .filter_map(|f| {
            let text = if f.secret {
                let set = data.get(format!("{}_set", f.spec.name)) == Some(&Value::Bool(true));
                if set { "set (hidden)" } else { "not set" }.to_owned()
            } else {
                let value = values.get(&f.spec.name).cloned().unwrap_or_default();
                if value.is_empty() {
                    return None;
                }
                match f.spec.kind {
                    FieldKind::Choice(_) => option_label(&f.spec.name, &value),
                    // A PEM certificate is too long for a card.
                    _ if f.multiline => format!("given ({} lines)", value.trim().lines().count()),
                    _ => value,
                }
            };
            Some((f.spec.title, text))
        })
        .collect()
}

/// Every stored field by its key, secrets as `<field>: set (hidden)`.
fn raw_facts(data: &Value) -> Vec<(String, String)> {
    let Some(data) = data.as_object() else {
        return Vec::new();
    };
    data.iter()
        .map(|(key, value)| match key.strip_suffix("_set") {
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
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The `dhis2-credentials` type as the server describes it (shared with the form's tests).
    pub(crate) fn dhis2_type() -> BlockTypeView {
        BlockTypeView {
            slug: "dhis2-credentials".into(),
            name: "DHIS2 credentials".into(),
            description: String::new(),
            schema: json!({
                "type": "object",
                "required": ["base_url"],
                "properties": {
                    "base_url": { "type": "string", "title": "Base URL", "format": "uri" },
                    "auth_type": { "type": "string", "title": "Authentication", "enum": ["basic", "pat"], "default": "basic" },
                    "username": { "type": "string", "title": "Username" },
                    "password": { "type": "string", "title": "Password", "format": "password", "writeOnly": true,
                                  "description": "DHIS2 password." },
                    "token": { "type": "string", "title": "Personal access token", "format": "password", "writeOnly": true }
                },
                "allOf": [
                    { "if": { "properties": { "auth_type": { "const": "basic" } } },
                      "then": { "required": ["username", "password"] } },
                    { "if": { "properties": { "auth_type": { "const": "pat" } }, "required": ["auth_type"] },
                      "then": { "required": ["token"] } }
                ]
            }),
            secret_fields: vec!["password".into(), "token".into()],
        }
    }

    fn secret(title: &str) -> Value {
        json!({ "type": "string", "title": title, "format": "password", "writeOnly": true,
                "description": "Write-only: it is never shown again; leave it empty to keep the stored one." })
    }

    /// The `webhook` channel type as the server describes it.
    pub(crate) fn webhook_type() -> BlockTypeView {
        BlockTypeView {
            slug: "webhook".into(),
            name: "Webhook".into(),
            description: String::new(),
            schema: json!({
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": secret("URL"),
                    "format": { "type": "string", "title": "Format", "enum": ["json", "slack", "teams"], "default": "json" },
                    "signing_secret": secret("Signing secret")
                }
            }),
            secret_fields: vec!["url".into(), "signing_secret".into()],
        }
    }

    /// The `smtp` channel type as the server describes it.
    pub(crate) fn smtp_type() -> BlockTypeView {
        BlockTypeView {
            slug: "smtp".into(),
            name: "SMTP server".into(),
            description: String::new(),
            schema: json!({
                "type": "object",
                "required": ["host", "from"],
                "properties": {
                    "host": { "type": "string", "title": "Host", "maxLength": 255 },
                    "port": { "type": "integer", "title": "Port", "minimum": 1, "maximum": 65535, "default": 587 },
                    "security": { "type": "string", "title": "Security", "enum": ["starttls", "tls", "none"], "default": "starttls" },
                    "username": { "type": "string", "title": "Username", "maxLength": 255 },
                    "password": secret("Password"),
                    "from": { "type": "string", "title": "From", "minLength": 3, "maxLength": 320 },
                    "ca_certificate": { "type": "string", "title": "CA certificate (PEM)", "maxLength": 20000 }
                }
            }),
            secret_fields: vec!["password".into()],
        }
    }

    #[test]
    fn channel_cards_show_secrets_as_set_and_a_certificate_by_its_length() {
        assert_eq!(
            block_facts(
                Some(&webhook_type()),
                &json!({ "format": "slack", "url_set": true, "signing_secret_set": false })
            ),
            [
                pair("URL", "set (hidden)"),
                pair("Format", "Slack text"),
                pair("Signing secret", "not set"),
            ]
        );
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(
            block_facts(
                Some(&smtp_type()),
                &json!({ "host": "smtp.example.org", "port": 465, "security": "tls",
                         "from": "f@example.org", "password_set": false, "ca_certificate": pem })
            ),
            [
                pair("Host", "smtp.example.org"),
                pair("Port", "465"),
                pair("Security", "Implicit TLS"),
                pair("Password", "not set"),
                pair("From", "f@example.org"),
                pair("CA certificate (PEM)", "given (3 lines)"),
            ]
        );
    }

    fn facts(data: Value) -> Vec<(String, String)> {
        block_facts(Some(&dhis2_type()), &data)
    }

    fn pair(label: &str, text: &str) -> (String, String) {
        (label.to_owned(), text.to_owned())
    }

    #[test]
    fn a_card_shows_the_facts_of_its_authentication_type() {
        assert_eq!(
            facts(
                json!({ "base_url": "https://d", "auth_type": "pat", "password_set": false, "token_set": true })
            ),
            [
                pair("Base URL", "https://d"),
                pair("Authentication", "Personal access token"),
                pair("Personal access token", "set (hidden)"),
            ]
        );
        // Stored before auth_type existed: basic.
        assert_eq!(
            facts(
                json!({ "base_url": "https://d", "username": "admin", "password_set": true, "token_set": false })
            ),
            [
                pair("Base URL", "https://d"),
                pair("Authentication", "Username and password"),
                pair("Username", "admin"),
                pair("Password", "set (hidden)"),
            ]
        );
        // Without its type, every stored field by its key.
        assert_eq!(
            block_facts(None, &json!({ "base_url": "https://d", "token_set": true })),
            [pair("base_url", "https://d"), pair("token", "set (hidden)")]
        );
    }

    #[test]
    fn the_account_line_says_who_and_whether_imports_will_work() {
        let ok = AccountCheck {
            ok: true,
            username: Some("admin".into()),
            can_import_data_values: Some(true),
            warning: None,
            error: None,
        };
        assert_eq!(
            account_line(ok.clone()),
            (
                "check-ok",
                "Account: admin — can import data values".to_owned()
            )
        );
        let warned = AccountCheck {
            can_import_data_values: Some(false),
            warning: Some("it may not import data values".into()),
            ..ok.clone()
        };
        assert_eq!(
            account_line(warned),
            (
                "check-warn",
                "Account: admin — it may not import data values".to_owned()
            )
        );
        let failed = AccountCheck {
            ok: false,
            error: Some("401 Unauthorized".into()),
            ..AccountCheck::default()
        };
        assert_eq!(
            account_line(failed),
            (
                "check-failed",
                "Account: failed — 401 Unauthorized".to_owned()
            )
        );
    }
}
