//! Tests of the block form's rules: which fields show, what is required, what is sent.

use super::super::tests::{dhis2_type, smtp_type, webhook_type};
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
        data_to_send(&fields, &values, &BTreeSet::new()),
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
        data_to_send(&fields, &values, &BTreeSet::new()),
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

#[test]
fn channel_fields_come_in_the_order_a_person_fills_them_in() {
    let webhook = schema_fields(&webhook_type());
    let names: Vec<_> = webhook.iter().map(|f| f.spec.name.as_str()).collect();
    assert_eq!(names, ["url", "format", "signing_secret"]);
    let types: Vec<_> = webhook.iter().map(|f| f.input_type).collect();
    assert_eq!(types, ["password", "text", "password"]);

    let smtp = schema_fields(&smtp_type());
    let names: Vec<_> = smtp.iter().map(|f| f.spec.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "host",
            "port",
            "security",
            "username",
            "password",
            "from",
            "ca_certificate"
        ]
    );
    let types: Vec<_> = smtp.iter().map(|f| f.input_type).collect();
    assert_eq!(
        types,
        ["text", "number", "text", "text", "password", "text", "text"]
    );
    // Only the certificate is a text area.
    let multiline: Vec<_> = smtp
        .iter()
        .filter(|f| f.multiline)
        .map(|f| f.spec.name.as_str())
        .collect();
    assert_eq!(multiline, ["ca_certificate"]);
    assert_eq!(
        option_label("security", "none"),
        "None (a trusted relay only)"
    );
}

#[test]
fn a_new_smtp_server_starts_on_its_defaults_and_sends_the_port_as_a_number() {
    let fields = schema_fields(&smtp_type());
    let mut values = schema_form::initial_values(&smtp_type().schema, &json!({}));
    assert_eq!(values["port"], "587");
    assert_eq!(values["security"], "starttls");
    assert_eq!(
        check(&fields, &values, &BTreeSet::new())
            .keys()
            .collect::<Vec<_>>(),
        ["from", "host"]
    );
    values.insert("host".into(), "smtp.example.org".into());
    values.insert("from".into(), "Forecasts <f@example.org>".into());
    assert_eq!(
        data_to_send(&fields, &values, &BTreeSet::new()),
        json!({ "host": "smtp.example.org", "port": 587, "security": "starttls",
                "from": "Forecasts <f@example.org>" })
    );
}

#[test]
fn an_emptied_optional_text_is_sent_empty_so_the_edit_removes_it() {
    let fields = schema_fields(&smtp_type());
    let data = json!({ "host": "smtp.example.org", "port": 587, "security": "starttls",
                       "from": "f@example.org", "ca_certificate": "-----BEGIN…",
                       "password_set": false });
    let mut values = schema_form::initial_values(&smtp_type().schema, &data);
    let texts = stored_texts(&data);
    // Untouched: sent as it is.
    assert_eq!(
        data_to_send(&fields, &values, &texts)["ca_certificate"],
        "-----BEGIN…"
    );
    values.insert("ca_certificate".into(), "  ".into());
    let sent = data_to_send(&fields, &values, &texts);
    assert_eq!(sent["ca_certificate"], "");
    // A field that held nothing is still left out, and no secret is ever sent empty.
    assert!(sent.get("username").is_none());
    assert!(sent.get("password").is_none());
}

#[test]
fn a_stored_webhook_url_is_kept_when_left_empty() {
    let fields = schema_fields(&webhook_type());
    let data = json!({ "format": "json", "url_set": true, "signing_secret_set": false });
    let stored = stored_secrets(&data);
    let values = schema_form::initial_values(&webhook_type().schema, &data);
    assert!(check(&fields, &values, &stored).is_empty());
    assert_eq!(
        data_to_send(&fields, &values, &stored_texts(&data)),
        json!({ "format": "json" })
    );
    let url = fields.iter().find(|f| f.spec.name == "url").expect("url");
    let signing = fields
        .iter()
        .find(|f| f.spec.name == "signing_secret")
        .expect("signing_secret");
    assert_eq!(
        help_text(url, true).as_deref(),
        Some("Leave empty to keep the stored URL.")
    );
    assert_eq!(
        help_text(signing, true).as_deref(),
        Some("Leave empty to keep the stored signing secret.")
    );
    // A new block has nothing stored to keep.
    assert_eq!(
        help_text(signing, false).as_deref(),
        Some("Write-only: it is never shown again.")
    );
}

#[test]
fn an_edit_that_changes_no_field_sends_only_the_name() {
    let data = json!({ "format": "json", "url_set": true, "signing_secret_set": true });
    let untouched = schema_form::initial_values(&webhook_type().schema, &data);
    let mut current = untouched.clone();
    assert!(!data_changed(&untouched, &current));
    current.insert("url".into(), " ".into());
    assert!(
        !data_changed(&untouched, &current),
        "blanks are not a value"
    );
    current.insert("format".into(), "slack".into());
    assert!(data_changed(&untouched, &current));
}
