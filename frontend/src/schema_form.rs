//! A flow's parameter JSON schema as form fields: what input each property gets, when it shows
//! (`allOf` / `if` / `then` on an enum's value), client-side checks, and the parameters to send.
//! Pure functions, so the rules are unit-tested without a browser.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The input a property gets.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A whole number, at least `minimum` when the schema sets one.
    Integer {
        /// `minimum` of the schema.
        minimum: Option<i64>,
    },
    /// `format: date`: a date input, `YYYY-MM-DD`.
    Date,
    /// `enum`: a select of these values (strings or numbers).
    Choice(Vec<ChoiceOption>),
    /// `block_type_slug`: a select of the blocks of this type (the value is the block id).
    Block(String),
}

/// One value of an `enum`: its text in the form and the JSON value sent for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceOption {
    /// The value as the form holds it (`"0.75"` for the number 0.75).
    pub text: String,
    /// The schema's value, sent as it is (a number stays a number).
    pub value: Value,
}

impl ChoiceOption {
    /// Whether `text` picks this option: the same text, or the same number written otherwise
    /// (`1.0` for `1`).
    fn is_picked_by(&self, text: &str) -> bool {
        self.text == text
            || self.value.as_f64().is_some_and(|n| {
                text.parse::<f64>()
                    .is_ok_and(|t| t.is_finite() && (t - n).abs() < 1e-9)
            })
    }
}

/// The options of an `enum` property (strings and numbers; other values are skipped).
fn choice_options(prop: &Value) -> Option<Vec<ChoiceOption>> {
    let values = prop.get("enum")?.as_array()?;
    Some(
        values
            .iter()
            .filter_map(|v| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some(ChoiceOption {
                    text,
                    value: v.clone(),
                })
            })
            .collect(),
    )
}

/// The option `text` picks, if any.
fn picked<'a>(options: &'a [ChoiceOption], text: &str) -> Option<&'a ChoiceOption> {
    options
        .iter()
        .find(|o| o.text == text)
        .or_else(|| options.iter().find(|o| o.is_picked_by(text)))
}

/// One property of the schema as a form field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// Property name (the parameter key).
    pub name: String,
    /// `title`, else the name.
    pub title: String,
    /// `description`.
    pub description: Option<String>,
    /// Which input.
    pub kind: FieldKind,
    /// Required whenever shown.
    pub required: bool,
    /// Shown only while field `.0` has value `.1` (it is then required).
    pub shown_when: Option<(String, String)>,
}

impl FieldSpec {
    /// Whether the field shows, given the current values.
    pub fn is_shown(&self, values: &BTreeMap<String, String>) -> bool {
        match &self.shown_when {
            None => true,
            Some((field, value)) => values.get(field).is_some_and(|v| v == value),
        }
    }
}

fn type_includes(schema: &Value, wanted: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some(wanted)),
        _ => false,
    }
}

/// The fields of `schema` (an object schema), each conditional field right after the one it
/// depends on.
pub fn fields(schema: &Value) -> Vec<FieldSpec> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();

    // `allOf: [{ if: { properties: { f: { const: v } } }, then: { required: [g] } }]` → g shows when f = v.
    let mut conditions = BTreeMap::<String, (String, String)>::new();
    for rule in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let condition = rule
            .pointer("/if/properties")
            .and_then(Value::as_object)
            .and_then(|p| p.iter().next())
            .and_then(|(f, c)| {
                let value = match c.get("const")? {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((f.clone(), value))
            });
        let Some(condition) = condition else { continue };
        for field in rule
            .pointer("/then/required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            conditions.insert(field.to_owned(), condition.clone());
        }
    }

    let spec = |name: &str, prop: &Value| {
        let kind = if let Some(slug) = prop.get("block_type_slug").and_then(Value::as_str) {
            FieldKind::Block(slug.to_owned())
        } else if let Some(options) = choice_options(prop) {
            FieldKind::Choice(options)
        } else if type_includes(prop, "integer") {
            FieldKind::Integer {
                minimum: prop.get("minimum").and_then(Value::as_i64),
            }
        } else if prop.get("format").and_then(Value::as_str) == Some("date") {
            FieldKind::Date
        } else {
            FieldKind::Text
        };
        let shown_when = conditions.get(name).cloned();
        FieldSpec {
            name: name.to_owned(),
            title: prop
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned(),
            description: prop
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            kind,
            required: required.contains(&name) || shown_when.is_some(),
            shown_when,
        }
    };

    let mut out = Vec::new();
    for (name, prop) in properties {
        if conditions.contains_key(name) {
            continue;
        }
        out.push(spec(name, prop));
        for (dependent, (on, _)) in &conditions {
            if on == name {
                if let Some(prop) = properties.get(dependent) {
                    out.push(spec(dependent, prop));
                }
            }
        }
    }
    out
}

/// The starting value of each field: the deployment's default, else the schema's.
pub fn initial_values(schema: &Value, defaults: &Value) -> BTreeMap<String, String> {
    field_values(schema, defaults, true)
}

/// Each field's value in `parameters` as text, empty where it has none (no schema defaults):
/// what a schedule pins.
pub fn values_of(schema: &Value, parameters: &Value) -> BTreeMap<String, String> {
    field_values(schema, parameters, false)
}

fn field_values(
    schema: &Value,
    parameters: &Value,
    schema_defaults: bool,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in properties {
            let value = parameters
                .get(name)
                .filter(|v| !v.is_null())
                .or_else(|| prop.get("default").filter(|_| schema_defaults));
            let mut text = match value {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => String::new(),
            };
            // A stored number written otherwise (`1.0`) still selects its option (`1`).
            if let Some(option) = choice_options(prop).and_then(|o| picked(&o, &text).cloned()) {
                text = option.text;
            }
            values.insert(name.clone(), text);
        }
    }
    values
}

fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
}

/// Field → message for every shown field whose value is not acceptable.
pub fn validate(
    fields: &[FieldSpec],
    values: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut errors = BTreeMap::new();
    for field in fields.iter().filter(|f| f.is_shown(values)) {
        let value = values.get(&field.name).map(|v| v.trim()).unwrap_or("");
        if value.is_empty() {
            if field.required {
                errors.insert(field.name.clone(), "Required.".to_owned());
            }
            continue;
        }
        let problem = match &field.kind {
            FieldKind::Integer { minimum } => match value.parse::<i64>() {
                Err(_) => Some("Enter a whole number.".to_owned()),
                Ok(n) if minimum.is_some_and(|m| n < m) => {
                    Some(format!("Must be at least {}.", minimum.unwrap_or_default()))
                }
                Ok(_) => None,
            },
            FieldKind::Date if !is_date(value) => Some("Enter a date as YYYY-MM-DD.".to_owned()),
            FieldKind::Choice(options) if picked(options, value).is_none() => {
                Some("Choose one of the options.".to_owned())
            }
            _ => None,
        };
        if let Some(problem) = problem {
            errors.insert(field.name.clone(), problem);
        }
    }
    errors
}

/// The parameters to send: every shown, non-empty field (integers as numbers, a choice as the
/// schema's value: a number for an enum of numbers).
pub fn parameters(fields: &[FieldSpec], values: &BTreeMap<String, String>) -> Value {
    let mut out = Map::new();
    for field in fields.iter().filter(|f| f.is_shown(values)) {
        let value = values.get(&field.name).map(|v| v.trim()).unwrap_or("");
        if value.is_empty() {
            continue;
        }
        let json = match &field.kind {
            FieldKind::Integer { .. } => value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(value)),
            FieldKind::Choice(options) => {
                picked(options, value).map_or_else(|| Value::from(value), |o| o.value.clone())
            }
            _ => Value::from(value),
        };
        out.insert(field.name.clone(), json);
    }
    Value::Object(out)
}

/// `values` over `inherited`: an empty value falls back to the inherited one.
pub fn merged(
    inherited: &BTreeMap<String, String>,
    values: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = inherited.clone();
    for (name, value) in values {
        if !value.trim().is_empty() {
            out.insert(name.clone(), value.clone());
        }
    }
    out
}

/// The parameters a schedule pins: its non-empty values of the fields shown once merged over the
/// deployment's defaults (`inherited`); everything else is left to the deployment.
pub fn pinned_parameters(
    fields: &[FieldSpec],
    pinned: &BTreeMap<String, String>,
    inherited: &BTreeMap<String, String>,
) -> Value {
    let all = merged(inherited, pinned);
    let shown: Vec<FieldSpec> = fields
        .iter()
        .filter(|f| f.is_shown(&all))
        .map(|f| FieldSpec {
            shown_when: None,
            ..f.clone()
        })
        .collect();
    parameters(&shown, pinned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prediction_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "credentials": { "title": "DHIS2 credentials", "type": "string", "format": "uuid", "block_type_slug": "dhis2-credentials" },
                "end_mode": { "title": "End mode", "type": "string", "enum": ["calculated", "fixed", "offset"], "default": "calculated" },
                "end_date": { "title": "End date", "type": ["string", "null"], "format": "date", "default": null },
                "end_period_offset": { "title": "End period offset", "type": ["integer", "null"], "minimum": 0, "default": null },
                "prediction_setup_id": { "title": "Prediction setup id", "type": ["integer", "null"], "default": null },
                "import_to_dhis2": { "title": "Import forecasts to DHIS2", "type": "string", "enum": ["off", "dry_run", "import"], "default": "off" },
                "outbreak_probability": { "title": "Outbreak probability", "type": "number", "enum": [0.9, 0.75, 0.5, 0.25, 0.1], "default": 0.75 }
            },
            "required": ["credentials"],
            "allOf": [
                { "if": { "properties": { "end_mode": { "const": "fixed" } }, "required": ["end_mode"] },
                  "then": { "required": ["end_date"] } },
                { "if": { "properties": { "end_mode": { "const": "offset" } }, "required": ["end_mode"] },
                  "then": { "required": ["end_period_offset"] } }
            ]
        })
    }

    #[test]
    fn fields_get_their_inputs_in_a_sensible_order() {
        let f = fields(&prediction_schema());
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "credentials",
                "end_mode",
                "end_date",
                "end_period_offset",
                "import_to_dhis2",
                "outbreak_probability",
                "prediction_setup_id"
            ]
        );
        assert_eq!(f[0].kind, FieldKind::Block("dhis2-credentials".into()));
        assert!(f[0].required);
        assert!(matches!(f[1].kind, FieldKind::Choice(_)));
        assert_eq!(f[2].kind, FieldKind::Date);
        assert_eq!(f[2].shown_when, Some(("end_mode".into(), "fixed".into())));
        assert_eq!(f[3].kind, FieldKind::Integer { minimum: Some(0) });
        assert!(!f[6].required);
    }

    #[test]
    fn end_mode_shows_only_the_field_it_needs_and_requires_it() {
        let f = fields(&prediction_schema());
        let mut values = initial_values(&prediction_schema(), &json!({ "credentials": "b1" }));
        assert_eq!(values["end_mode"], "calculated");
        assert!(validate(&f, &values).is_empty());
        assert_eq!(
            parameters(&f, &values),
            json!({
                "credentials": "b1",
                "end_mode": "calculated",
                "import_to_dhis2": "off",
                "outbreak_probability": 0.75
            })
        );

        values.insert("end_mode".into(), "offset".into());
        values.insert("end_date".into(), "2026-01-01".into());
        assert_eq!(validate(&f, &values)["end_period_offset"], "Required.");
        values.insert("end_period_offset".into(), "-1".into());
        assert_eq!(
            validate(&f, &values)["end_period_offset"],
            "Must be at least 0."
        );
        values.insert("end_period_offset".into(), "2".into());
        assert!(validate(&f, &values).is_empty());
        // The hidden end_date is not sent.
        assert_eq!(
            parameters(&f, &values),
            json!({
                "credentials": "b1",
                "end_mode": "offset",
                "end_period_offset": 2,
                "import_to_dhis2": "off",
                "outbreak_probability": 0.75
            })
        );

        values.insert("end_mode".into(), "fixed".into());
        values.insert("end_date".into(), "30/04/2026".into());
        assert_eq!(
            validate(&f, &values)["end_date"],
            "Enter a date as YYYY-MM-DD."
        );
    }

    #[test]
    fn missing_required_and_bad_integers_are_reported() {
        let f = fields(&prediction_schema());
        let mut values = initial_values(&prediction_schema(), &json!({}));
        values.insert("prediction_setup_id".into(), "two".into());
        let errors = validate(&f, &values);
        assert_eq!(errors["credentials"], "Required.");
        assert_eq!(errors["prediction_setup_id"], "Enter a whole number.");
    }

    #[test]
    fn a_schedule_pins_only_what_it_sets_and_conditions_see_the_deployment_defaults() {
        let schema = prediction_schema();
        let f = fields(&schema);
        let inherited = initial_values(
            &schema,
            &json!({ "credentials": "b1", "end_mode": "fixed", "end_date": "2026-01-31" }),
        );
        // Nothing pinned: everything comes from the deployment, and that is valid.
        let mut pinned = values_of(&schema, &json!({}));
        assert_eq!(pinned["end_mode"], "");
        assert!(validate(&f, &merged(&inherited, &pinned)).is_empty());
        assert_eq!(pinned_parameters(&f, &pinned, &inherited), json!({}));

        // end_date pinned while end_mode comes from the deployment (fixed): it is shown and sent.
        pinned.insert("end_date".into(), "2026-06-30".into());
        assert_eq!(
            pinned_parameters(&f, &pinned, &inherited),
            json!({ "end_date": "2026-06-30" })
        );

        // Pinning offset mode needs an offset, and then the pinned end_date is hidden and dropped.
        pinned.insert("end_mode".into(), "offset".into());
        assert_eq!(
            validate(&f, &merged(&inherited, &pinned))["end_period_offset"],
            "Required."
        );
        pinned.insert("end_period_offset".into(), "3".into());
        assert_eq!(
            pinned_parameters(&f, &pinned, &inherited),
            json!({ "end_mode": "offset", "end_period_offset": 3 })
        );
    }

    #[test]
    fn an_enum_of_numbers_offers_its_numbers_and_sends_a_number() {
        let schema = prediction_schema();
        let f = fields(&schema);
        let probability = f
            .iter()
            .find(|f| f.name == "outbreak_probability")
            .expect("the field");
        let FieldKind::Choice(options) = &probability.kind else {
            panic!("not a choice: {:?}", probability.kind);
        };
        let texts: Vec<_> = options.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(texts, ["0.9", "0.75", "0.5", "0.25", "0.1"]);

        let mut values = initial_values(&schema, &json!({ "credentials": "b1" }));
        assert_eq!(values["outbreak_probability"], "0.75");
        values.insert("import_to_dhis2".into(), "dry_run".into());
        values.insert("outbreak_probability".into(), "0.9".into());
        assert!(validate(&f, &values).is_empty());
        let sent = parameters(&f, &values);
        assert_eq!(sent["import_to_dhis2"], json!("dry_run"));
        assert_eq!(sent["outbreak_probability"], json!(0.9));
        assert!(sent["outbreak_probability"].is_number());

        values.insert("outbreak_probability".into(), "0.3".into());
        assert_eq!(
            validate(&f, &values)["outbreak_probability"],
            "Choose one of the options."
        );
        values.insert("import_to_dhis2".into(), "sometimes".into());
        assert_eq!(
            validate(&f, &values)["import_to_dhis2"],
            "Choose one of the options."
        );
    }

    #[test]
    fn an_enum_of_integers_keeps_integers_and_matches_a_number_written_otherwise() {
        let schema = json!({
            "type": "object",
            "properties": {
                "level": { "type": "integer", "enum": [1, 2, 3] },
                "count": { "type": "integer", "minimum": 1 }
            }
        });
        let f = fields(&schema);
        assert_eq!(f[1].name, "level");
        assert!(matches!(&f[1].kind, FieldKind::Choice(o) if o.len() == 3));
        assert_eq!(f[0].kind, FieldKind::Integer { minimum: Some(1) });
        // A stored 2.0 selects the option 2, and is sent back as the integer 2.
        let values = values_of(&schema, &json!({ "level": 2.0, "count": 4 }));
        assert_eq!(values["level"], "2");
        assert!(validate(&f, &values).is_empty());
        assert_eq!(parameters(&f, &values), json!({ "level": 2, "count": 4 }));
    }

    #[test]
    fn a_pinned_number_choice_is_sent_as_a_number_and_an_empty_one_is_left_to_the_deployment() {
        let schema = prediction_schema();
        let f = fields(&schema);
        let inherited = initial_values(&schema, &json!({ "credentials": "b1" }));
        let mut pinned = values_of(&schema, &json!({}));
        assert_eq!(pinned["outbreak_probability"], "");
        assert_eq!(pinned_parameters(&f, &pinned, &inherited), json!({}));
        pinned.insert("outbreak_probability".into(), "0.25".into());
        assert_eq!(
            pinned_parameters(&f, &pinned, &inherited),
            json!({ "outbreak_probability": 0.25 })
        );
    }

    #[test]
    fn a_condition_on_a_default_shows_its_fields_from_the_start() {
        // The credentials block's schema: basic (the default) needs a username and password, pat a token.
        let schema = json!({
            "type": "object",
            "required": ["base_url"],
            "properties": {
                "base_url": { "type": "string" },
                "auth_type": { "type": "string", "enum": ["basic", "pat"], "default": "basic" },
                "username": { "type": "string" },
                "password": { "type": "string" },
                "token": { "type": "string" }
            },
            "allOf": [
                { "if": { "properties": { "auth_type": { "const": "basic" } } },
                  "then": { "required": ["username", "password"] } },
                { "if": { "properties": { "auth_type": { "const": "pat" } }, "required": ["auth_type"] },
                  "then": { "required": ["token"] } }
            ]
        });
        let f = fields(&schema);
        let shown = |values: &BTreeMap<String, String>| -> Vec<String> {
            f.iter()
                .filter(|f| f.is_shown(values))
                .map(|f| f.name.clone())
                .collect()
        };
        // A block stored before auth_type existed reads as basic.
        let mut values = initial_values(
            &schema,
            &json!({ "base_url": "https://d", "username": "u" }),
        );
        assert_eq!(values["auth_type"], "basic");
        assert_eq!(
            shown(&values),
            ["auth_type", "password", "username", "base_url"]
        );
        assert_eq!(validate(&f, &values)["password"], "Required.");

        values.insert("auth_type".into(), "pat".into());
        assert_eq!(shown(&values), ["auth_type", "token", "base_url"]);
        let errors = validate(&f, &values);
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["token"]);
        values.insert("token".into(), "d2pat_x".into());
        // The username typed before is hidden now, and not sent.
        assert_eq!(
            parameters(&f, &values),
            json!({ "auth_type": "pat", "base_url": "https://d", "token": "d2pat_x" })
        );
    }
}
