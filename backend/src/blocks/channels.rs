//! Notification channels as block types, so their secrets follow the block rules (encrypted at rest,
//! write-only, redacted): `webhook` (a URL, secret since chat webhook URLs carry tokens, a format and
//! an optional signing secret) and `smtp` (a mail server and its account).

use serde_json::{json, Map, Value};

use super::store::KEPT;
use super::types::BlockType;
use crate::orchestrator::schema::FieldErrors;

/// `format` values of a webhook.
pub const WEBHOOK_FORMATS: [&str; 3] = ["json", "slack", "teams"];
/// `security` values of an SMTP server.
pub const SMTP_SECURITY: [&str; 3] = ["starttls", "tls", "none"];

/// A URL that receives events.
pub static WEBHOOK: BlockType = BlockType {
    slug: "webhook",
    name: "Webhook",
    description: "A URL that receives notifications: the event as JSON (signed with HMAC-SHA256 when \
                  a signing secret is set), or a short text for a Slack or Microsoft Teams incoming \
                  webhook.",
    secret_fields: &["url", "signing_secret"],
    schema: webhook_schema,
    refine: refine_webhook,
};

/// A mail server notifications are sent through.
pub static SMTP: BlockType = BlockType {
    slug: "smtp",
    name: "SMTP server",
    description:
        "A mail server that sends notification e-mails (STARTTLS, implicit TLS, or plain for \
                  a relay on a trusted network).",
    secret_fields: &["password"],
    schema: smtp_schema,
    refine: refine_smtp,
};

fn secret_field(title: &str, description: &str, min: u32) -> Value {
    json!({
        "type": "string",
        "title": title,
        "description": format!("{description} Write-only: it is never shown again; leave it empty to keep the stored one."),
        "format": "password",
        "writeOnly": true,
        "minLength": min,
        "maxLength": 2048
    })
}

fn webhook_schema() -> Value {
    json!({
        "type": "object",
        "title": "Webhook",
        "additionalProperties": false,
        "required": ["url"],
        "properties": {
            "url": secret_field("URL", "Where events are posted, e.g. a Slack or Teams incoming webhook URL (it carries a token, so it is kept secret).", 1),
            "format": {
                "type": "string",
                "title": "Format",
                "description": "json = the event as JSON; slack / teams = a short text with the link to the run.",
                "enum": WEBHOOK_FORMATS,
                "default": "json"
            },
            "signing_secret": secret_field("Signing secret", "Optional, at least 16 characters: json events then carry X-Chap-Scheduler-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">.", 16)
        }
    })
}

fn refine_webhook(data: &mut Map<String, Value>, errors: &mut FieldErrors) {
    if let Some(Value::String(url)) = data.get("url") {
        if url != KEPT {
            if let Err(message) = check_url(url) {
                errors.insert("url".into(), message.into());
            }
        }
    }
}

/// A webhook URL: absolute http(s) with a host, without whitespace.
pub fn check_url(raw: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(raw).map_err(|_| {
        "must be an absolute http or https URL, e.g. https://hooks.example.org/T0/B1"
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with http:// or https://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain blanks or control characters");
    }
    Ok(())
}

fn smtp_schema() -> Value {
    json!({
        "type": "object",
        "title": "SMTP server",
        "additionalProperties": false,
        "required": ["host", "from"],
        "properties": {
            "host": {
                "type": "string",
                "title": "Host",
                "description": "The mail server's host name, e.g. smtp.example.org.",
                "minLength": 1,
                "maxLength": 255
            },
            "port": {
                "type": "integer",
                "title": "Port",
                "description": "Default 587 (STARTTLS); 465 for implicit TLS; 25 for a plain relay.",
                "minimum": 1,
                "maximum": 65535,
                "default": 587
            },
            "security": {
                "type": "string",
                "title": "Security",
                "description": "starttls (default), tls (implicit TLS) or none (a relay on a trusted network only).",
                "enum": SMTP_SECURITY,
                "default": "starttls"
            },
            "username": {
                "type": "string",
                "title": "Username",
                "description": "The account to log in with (leave empty for a server that needs no login).",
                "maxLength": 255
            },
            "password": secret_field("Password", "The account's password.", 1),
            "from": {
                "type": "string",
                "title": "From",
                "description": "The sender, e.g. chap-scheduler <forecasts@example.org>.",
                "minLength": 3,
                "maxLength": 320
            },
            "ca_certificate": {
                "type": "string",
                "title": "CA certificate (PEM)",
                "description": "Optional: a CA certificate to trust besides the public ones, for a server with a certificate from a private CA.",
                "maxLength": 20000
            }
        }
    })
}

fn refine_smtp(data: &mut Map<String, Value>, errors: &mut FieldErrors) {
    for field in ["host", "username"] {
        if let Some(Value::String(v)) = data.get(field) {
            if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                errors.insert(field.into(), "must be one word without blanks".into());
            }
        }
    }
    for optional in ["username", "ca_certificate"] {
        if data.get(optional).and_then(Value::as_str) == Some("") {
            data.remove(optional);
        }
    }
    if let Some(Value::String(pem)) = data.get("ca_certificate") {
        if !is_pem_certificate(pem) {
            errors.insert(
                "ca_certificate".into(),
                "is not a PEM certificate (-----BEGIN CERTIFICATE----- …)".into(),
            );
        }
    }
    if let Some(Value::String(from)) = data.get("from") {
        if let Err(e) = from.parse::<lettre::message::Mailbox>() {
            errors.insert(
                "from".into(),
                format!(
                    "is not an e-mail address (e.g. chap-scheduler <forecasts@example.org>): {e}"
                ),
            );
        }
    }
    if data.contains_key("username") != data.contains_key("password") {
        let field = if data.contains_key("username") {
            "password"
        } else {
            "username"
        };
        errors.insert(
            field.into(),
            "give both a username and a password, or neither".into(),
        );
    }
}

/// Whether `pem` holds at least one PEM certificate block with valid base64 inside.
fn is_pem_certificate(pem: &str) -> bool {
    use base64::Engine;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut rest = pem;
    let mut found = false;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(end) = after.find(END) else {
            return false;
        };
        let body: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        match base64::engine::general_purpose::STANDARD.decode(body) {
            Ok(der) if !der.is_empty() => found = true,
            _ => return false,
        }
        rest = &after[end + END.len()..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ty: &BlockType, data: Value) -> Result<Map<String, Value>, FieldErrors> {
        ty.validate(data.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn a_webhook_needs_an_http_url_and_a_long_enough_signing_secret() {
        assert!(check(
            &WEBHOOK,
            json!({ "url": "https://hooks.example.org/T0/B1" })
        )
        .is_ok());
        let err = check(&WEBHOOK, json!({ "url": "ftp://x" })).unwrap_err();
        assert!(err["url"].contains("http"), "{err:?}");
        let err = check(
            &WEBHOOK,
            json!({ "url": "https://x.org", "signing_secret": "short" }),
        )
        .unwrap_err();
        assert!(err.contains_key("signing_secret"), "{err:?}");
        let err = check(&WEBHOOK, json!({ "url": "https://x.org", "format": "xml" })).unwrap_err();
        assert!(err.contains_key("format"), "{err:?}");
        assert!(
            check(&WEBHOOK, json!({ "url": KEPT })).is_ok(),
            "a kept URL"
        );
    }

    #[test]
    fn smtp_needs_a_host_a_sender_and_both_or_neither_of_username_and_password() {
        let ok = check(
            &SMTP,
            json!({ "host": "smtp.example.org", "from": "Forecasts <f@example.org>" }),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let err = check(
            &SMTP,
            json!({ "host": "smtp.example.org", "from": "nobody" }),
        )
        .unwrap_err();
        assert!(err.contains_key("from"), "{err:?}");
        let err = check(
            &SMTP,
            json!({ "host": "smtp.example.org", "from": "f@example.org", "username": "u" }),
        )
        .unwrap_err();
        assert!(err.contains_key("password"), "{err:?}");
        let err = check(
            &SMTP,
            json!({ "host": "smtp example", "from": "f@example.org" }),
        )
        .unwrap_err();
        assert!(err.contains_key("host"), "{err:?}");
        let err = check(
            &SMTP,
            json!({ "host": "h", "from": "f@example.org", "security": "ssl" }),
        )
        .unwrap_err();
        assert!(err.contains_key("security"), "{err:?}");
        for bad in [
            "not a certificate\nat all",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\nAAAA",
        ] {
            let data = json!({ "host": "h", "from": "f@example.org", "ca_certificate": bad });
            let err = check(&SMTP, data).unwrap_err();
            assert!(err.contains_key("ca_certificate"), "{bad}: {err:?}");
        }
        let good = "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n";
        let data = json!({ "host": "h", "from": "f@example.org", "ca_certificate": good });
        assert!(check(&SMTP, data).is_ok());
    }
}
