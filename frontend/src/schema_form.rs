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
    /// An array of integers (`items.type: integer`): whole numbers typed in one text input,
    /// separated by commas or blanks (`1, 3 7`), at most `max_items` of them.
    IntegerList {
        /// `maxItems` of the schema.
        max_items: Option<usize>,
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
    // A boolean is a choice of `false` and `true`, sent as JSON booleans.
    if prop.get("enum").is_none() && type_includes(prop, "boolean") {
        return Some(
            [false, true]
                .into_iter()
                .map(|b| ChoiceOption {
                    text: b.to_string(),
                    value: Value::Bool(b),
                })
                .collect(),
        );
    }
    let values = prop.get("enum")?.as_array()?;
    Some(
        values
            .iter()
            .filter_map(|v| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
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
        } else if type_includes(prop, "array")
            && prop
                .get("items")
                .is_some_and(|i| type_includes(i, "integer"))
        {
            FieldKind::IntegerList {
                max_items: prop
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .and_then(|m| usize::try_from(m).ok()),
            }
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
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
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

/// The whole numbers of a list typed as `1, 3 7` (commas and blanks separate them), or `None`
/// when a piece is not a whole number.
pub fn parse_integer_list(text: &str) -> Option<Vec<i64>> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.parse::<i64>().ok())
        .collect()
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
            FieldKind::IntegerList { max_items } => match parse_integer_list(value) {
                None => Some("Enter whole numbers separated by commas.".to_owned()),
                Some(ids) if ids.is_empty() => {
                    Some("Enter whole numbers separated by commas.".to_owned())
                }
                Some(ids) if max_items.is_some_and(|m| ids.len() > m) => Some(format!(
                    "Enter at most {} numbers.",
                    max_items.unwrap_or_default()
                )),
                Some(_) => None,
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

/// The parameters to send: every shown, non-empty field (integers as numbers, a list of integers
/// as an array of numbers, a choice as the schema's value: a number for an enum of numbers).
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
            // Only separators typed (", "): nothing to send, as for an empty field.
            FieldKind::IntegerList { .. } => match parse_integer_list(value) {
                Some(ids) if ids.is_empty() => continue,
                Some(ids) => Value::from(ids),
                None => Value::from(value),
            },
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
#[path = "schema_form_tests.rs"]
mod tests;
