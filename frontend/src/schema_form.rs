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
    /// `enum`: a select of these values.
    Choice(Vec<String>),
    /// `block_type_slug`: a select of the blocks of this type (the value is the block id).
    Block(String),
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
            .and_then(|(f, c)| Some((f.clone(), c.get("const")?.as_str()?.to_owned())));
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
        } else if let Some(values) = prop.get("enum").and_then(Value::as_array) {
            FieldKind::Choice(
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            )
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
            let text = match value {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => String::new(),
            };
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
            FieldKind::Choice(options) if !options.iter().any(|o| o == value) => {
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

/// The parameters to send: every shown, non-empty field (integers as numbers).
pub fn parameters(fields: &[FieldSpec], values: &BTreeMap<String, String>) -> Value {
    let mut out = Map::new();
    for field in fields.iter().filter(|f| f.is_shown(values)) {
        let value = values.get(&field.name).map(|v| v.trim()).unwrap_or("");
        if value.is_empty() {
            continue;
        }
        let json = match field.kind {
            FieldKind::Integer { .. } => value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(value)),
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
                "prediction_setup_id": { "title": "Prediction setup id", "type": ["integer", "null"], "default": null }
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
                "prediction_setup_id"
            ]
        );
        assert_eq!(f[0].kind, FieldKind::Block("dhis2-credentials".into()));
        assert!(f[0].required);
        assert!(matches!(f[1].kind, FieldKind::Choice(_)));
        assert_eq!(f[2].kind, FieldKind::Date);
        assert_eq!(f[2].shown_when, Some(("end_mode".into(), "fixed".into())));
        assert_eq!(f[3].kind, FieldKind::Integer { minimum: Some(0) });
        assert!(!f[4].required);
    }

    #[test]
    fn end_mode_shows_only_the_field_it_needs_and_requires_it() {
        let f = fields(&prediction_schema());
        let mut values = initial_values(&prediction_schema(), &json!({ "credentials": "b1" }));
        assert_eq!(values["end_mode"], "calculated");
        assert!(validate(&f, &values).is_empty());
        assert_eq!(
            parameters(&f, &values),
            json!({ "credentials": "b1", "end_mode": "calculated" })
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
            json!({ "credentials": "b1", "end_mode": "offset", "end_period_offset": 2 })
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
}
