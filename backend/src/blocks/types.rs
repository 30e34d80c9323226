//! Block types, defined in code: the JSON schema the UI renders a form from (secret fields marked
//! `writeOnly` + `format: password`), the list of secret fields, and validation with normalisation.

use chap_scheduler_api::BlockTypeView;
use serde_json::{json, Map, Value};

use crate::flows::dhis2_chap_prediction::params::CREDENTIALS_BLOCK_TYPE;
use crate::orchestrator::schema::{self, FieldErrors};

/// A kind of block.
pub struct BlockType {
    /// Stable identifier.
    pub slug: &'static str,
    /// Display name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Fields encrypted at rest and never returned.
    pub secret_fields: &'static [&'static str],
    pub(super) schema: fn() -> Value,
    /// Type-specific checks and normalisation after the schema passed.
    pub(super) refine: fn(&mut Map<String, Value>, &mut FieldErrors),
}

impl std::fmt::Debug for BlockType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockType")
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

impl BlockType {
    /// JSON Schema of the block's `data`.
    pub fn schema(&self) -> Value {
        (self.schema)()
    }

    /// Whether `field` is secret.
    pub fn is_secret(&self, field: &str) -> bool {
        self.secret_fields.contains(&field)
    }

    /// The API view.
    pub fn view(&self) -> BlockTypeView {
        BlockTypeView {
            slug: self.slug.into(),
            name: self.name.into(),
            description: self.description.into(),
            schema: self.schema(),
            secret_fields: self.secret_fields.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Checks complete data (secret fields in clear, or a placeholder for a kept secret) and returns it
    /// normalised; errors are keyed by field name.
    pub fn validate(
        &self,
        mut data: Map<String, Value>,
    ) -> Result<Map<String, Value>, FieldErrors> {
        for (key, value) in data.iter_mut() {
            // Surrounding blanks in names and URLs are typing accidents; a secret is taken verbatim.
            if let (false, Value::String(s)) = (self.is_secret(key), &mut *value) {
                *s = s.trim().to_string();
            }
        }
        let mut errors = schema::validate(&self.schema(), &Value::Object(data.clone()), false);
        // A kept secret stands as a placeholder here: it was checked when it was stored.
        errors.retain(|field, _| {
            !(self.is_secret(field)
                && data.get(field).and_then(Value::as_str) == Some(super::store::KEPT))
        });
        for message in errors.values_mut() {
            if message == "is not a known parameter" {
                *message = format!("is not a field of {}", self.slug);
            }
        }
        if errors.is_empty() {
            (self.refine)(&mut data, &mut errors);
        }
        if errors.is_empty() {
            Ok(data)
        } else {
            Err(errors)
        }
    }
}

/// DHIS2 base URL and either a username and password (`auth_type` `basic`, the default) or a personal
/// access token (`pat`): what the prediction flow connects with.
pub static DHIS2_CREDENTIALS: BlockType = BlockType {
    slug: CREDENTIALS_BLOCK_TYPE,
    name: "DHIS2 credentials",
    description:
        "Credentials for connecting to a DHIS2 instance (and to chap-core through its route): a username \
         and password, or a personal access token.",
    secret_fields: &["password", "token"],
    schema: dhis2_schema,
    refine: refine_dhis2,
};

/// `auth_type` values.
pub const AUTH_TYPES: [&str; 2] = ["basic", "pat"];

fn dhis2_schema() -> Value {
    json!({
        "type": "object",
        "title": "DHIS2 credentials",
        "additionalProperties": false,
        "required": ["base_url"],
        "properties": {
            "base_url": {
                "type": "string",
                "title": "Base URL",
                "description": "DHIS2 instance base URL, e.g. https://dhis.example.org",
                "format": "uri",
                "minLength": 1,
                "maxLength": 2048
            },
            "auth_type": {
                "type": "string",
                "title": "Authentication",
                "description": "basic = username and password; pat = a DHIS2 personal access token \
                                (sent as `Authorization: ApiToken …`).",
                "enum": AUTH_TYPES,
                "default": "basic"
            },
            "username": {
                "type": "string",
                "title": "Username",
                "description": "DHIS2 username.",
                "minLength": 1,
                "maxLength": 255
            },
            "password": {
                "type": "string",
                "title": "Password",
                "description": "DHIS2 password. Write-only: it is never shown again; leave it empty to keep the stored one.",
                "format": "password",
                "writeOnly": true,
                "minLength": 1,
                "maxLength": 1024
            },
            "token": {
                "type": "string",
                "title": "Personal access token",
                "description": "A DHIS2 personal access token (d2pat_…). Write-only: it is never shown again; leave it empty to keep the stored one.",
                "format": "password",
                "writeOnly": true,
                "minLength": 1,
                "maxLength": 1024
            }
        },
        "allOf": [
            {
                "if": { "properties": { "auth_type": { "const": "basic" } } },
                "then": { "required": ["username", "password"] }
            },
            {
                "if": { "properties": { "auth_type": { "const": "pat" } }, "required": ["auth_type"] },
                "then": { "required": ["token"] }
            }
        ]
    })
}

/// `base_url` must be an absolute http(s) URL with a host, no credentials, query or fragment; trailing
/// slashes are trimmed. `username` is one line. The fields of the other authentication type are
/// dropped, so switching a block to a token forgets its password (and back).
fn refine_dhis2(data: &mut Map<String, Value>, errors: &mut FieldErrors) {
    let pat = data.get("auth_type").and_then(Value::as_str) == Some("pat");
    let unused: &[&str] = if pat {
        &["username", "password"]
    } else {
        &["token"]
    };
    for field in unused {
        data.remove(*field);
    }
    if let Some(Value::String(username)) = data.get("username") {
        if username.chars().any(char::is_control) {
            errors.insert(
                "username".into(),
                "must be one line without control characters".into(),
            );
        }
    }
    if let Some(Value::String(token)) = data.get("token") {
        if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
            errors.insert(
                "token".into(),
                "must be one word without blanks or control characters".into(),
            );
        }
    }
    let Some(Value::String(raw)) = data.get("base_url") else {
        return;
    };
    match check_base_url(raw) {
        Ok(url) => {
            data.insert("base_url".into(), Value::String(url));
        }
        Err(message) => {
            errors.insert("base_url".into(), message.into());
        }
    }
}

/// The normalised base URL, or why it is refused.
pub fn check_base_url(raw: &str) -> Result<String, &'static str> {
    let url = url::Url::parse(raw.trim())
        .map_err(|_| "must be an absolute http or https URL, e.g. https://dhis.example.org")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with http:// or https://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials; use username and password");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment");
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Every block type.
pub fn all() -> [&'static BlockType; 3] {
    [
        &DHIS2_CREDENTIALS,
        &super::channels::WEBHOOK,
        &super::channels::SMTP,
    ]
}

/// The block type with this slug.
pub fn find(slug: &str) -> Option<&'static BlockType> {
    all().into_iter().find(|t| t.slug == slug)
}

/// A block's name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockName(String);

impl BlockName {
    /// Parses a name given by a client.
    pub fn parse(raw: &str) -> Result<BlockName, &'static str> {
        let name = raw.trim();
        if name.is_empty() || raw.chars().count() > 100 {
            return Err("must be 1 to 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(BlockName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn base_urls_are_checked_and_trailing_slashes_trimmed() {
        assert_eq!(
            check_base_url("https://dhis.example.org/").unwrap(),
            "https://dhis.example.org"
        );
        assert_eq!(
            check_base_url(" HTTPS://Dhis.Example.org/dhis//").unwrap(),
            "https://dhis.example.org/dhis"
        );
        assert_eq!(
            check_base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "dhis.example.org",
            "ftp://dhis.example.org",
            "https://u:p@dhis.example.org",
            "https://dhis.example.org/?x=1",
            "https://dhis.example.org/#top",
            "not a url",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dhis2_credentials_report_every_field_error() {
        let errors = DHIS2_CREDENTIALS
            .validate(data(json!({ "base_url": "nope", "extra": 1 })))
            .unwrap_err();
        assert_eq!(errors["username"], "is required");
        assert_eq!(errors["password"], "is required");
        assert!(errors["extra"].contains("not a field"));
        let errors = DHIS2_CREDENTIALS
            .validate(data(
                json!({ "base_url": "nope", "username": "  ", "password": "pw" }),
            ))
            .unwrap_err();
        assert!(errors["username"].contains("at least 1"), "{errors:?}");
        let errors = DHIS2_CREDENTIALS
            .validate(data(
                json!({ "base_url": "nope", "username": "admin", "password": "pw" }),
            ))
            .unwrap_err();
        assert!(errors["base_url"].contains("absolute"), "{errors:?}");
    }

    #[test]
    fn valid_dhis2_credentials_are_normalised_and_the_password_kept_verbatim() {
        let ok = DHIS2_CREDENTIALS
            .validate(data(json!({
                "base_url": "https://dhis.example.org/ ",
                "username": " admin ",
                "password": " district "
            })))
            .unwrap();
        assert_eq!(ok["base_url"], "https://dhis.example.org");
        assert_eq!(ok["username"], "admin");
        assert_eq!(ok["password"], " district ");
    }

    #[test]
    fn a_token_block_needs_a_token_and_drops_the_fields_of_basic_auth() {
        let ok = DHIS2_CREDENTIALS
            .validate(data(json!({
                "base_url": "https://dhis.example.org",
                "auth_type": "pat",
                "token": "d2pat_abc",
                "username": "stale",
                "password": "stale"
            })))
            .unwrap();
        assert_eq!(
            Value::Object(ok),
            json!({ "base_url": "https://dhis.example.org", "auth_type": "pat", "token": "d2pat_abc" })
        );
        let errors = DHIS2_CREDENTIALS
            .validate(data(
                json!({ "base_url": "https://dhis.example.org", "auth_type": "pat" }),
            ))
            .unwrap_err();
        assert!(errors.contains_key("token"), "{errors:?}");
        let errors = DHIS2_CREDENTIALS
            .validate(data(json!({
                "base_url": "https://dhis.example.org", "auth_type": "pat", "token": "d2pat abc\n"
            })))
            .unwrap_err();
        assert!(errors["token"].contains("blanks"), "{errors:?}");
        // Without auth_type a block is basic: username and password are required, a token dropped.
        let basic = DHIS2_CREDENTIALS
            .validate(data(json!({
                "base_url": "https://dhis.example.org", "username": "a", "password": "p", "token": "t"
            })))
            .unwrap();
        assert!(!basic.contains_key("token"));
        let errors = DHIS2_CREDENTIALS
            .validate(data(
                json!({ "base_url": "https://dhis.example.org", "token": "t" }),
            ))
            .unwrap_err();
        assert!(errors.contains_key("username") && errors.contains_key("password"));
    }

    #[test]
    fn the_schema_marks_secret_fields_write_only() {
        let view = DHIS2_CREDENTIALS.view();
        assert_eq!(view.secret_fields, ["password", "token"]);
        for field in ["password", "token"] {
            let secret = &view.schema["properties"][field];
            assert_eq!(secret["writeOnly"], true);
            assert_eq!(secret["format"], "password");
        }
        assert!(find("dhis2-credentials").is_some());
        assert!(find("other").is_none());
    }

    #[test]
    fn block_names_are_trimmed_and_bounded() {
        assert_eq!(BlockName::parse("  prod ").unwrap().as_str(), "prod");
        assert!(BlockName::parse("   ").is_err());
        assert!(BlockName::parse(&"x".repeat(101)).is_err());
        assert!(BlockName::parse("a\nb").is_err());
    }
}
