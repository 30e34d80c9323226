//! A small JSON Schema validator for flow parameters: the subset our flows use (`type`, `properties`,
//! `required`, `additionalProperties: false`, `enum`, `const`, `minimum`/`maximum`,
//! `minLength`/`maxLength`, `format: date | uuid`, `allOf`, `if`/`then`/`else`, `items` with
//! `minItems`/`maxItems`). Errors are keyed by
//! field path, ready for a 422 `details`. A keyword outside the subset is not ignored:
//! [`unsupported_keywords`] names it, and a flow whose schema uses one is refused at registration.

use std::collections::BTreeMap;

use serde_json::Value;

/// Field path → message.
pub type FieldErrors = BTreeMap<String, String>;

/// Validates `value` against `schema`. With `partial`, missing required properties are not errors
/// (deployment defaults need not be complete).
pub fn validate(schema: &Value, value: &Value, partial: bool) -> FieldErrors {
    let mut errors = FieldErrors::new();
    check(schema, value, "", partial, &mut errors);
    errors
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn field(path: &str) -> String {
    if path.is_empty() {
        "parameters".into()
    } else {
        path.to_string()
    }
}

/// Keywords this validator checks, and annotations it may skip.
const KNOWN: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "format",
    "allOf",
    "if",
    "then",
    "else",
    "items",
    "minItems",
    "maxItems",
    // Annotations: they constrain nothing.
    "title",
    "description",
    "default",
    "examples",
    "readOnly",
    "writeOnly",
    "$comment",
    "$schema",
    // Ours: the web UI renders a picker of the blocks of this type.
    "block_type_slug",
];

/// The keywords anywhere in `schema` that this validator would not check (sorted, each once).
pub fn unsupported_keywords(schema: &Value) -> Vec<String> {
    fn walk(schema: &Value, found: &mut std::collections::BTreeSet<String>) {
        let Some(obj) = schema.as_object() else {
            return;
        };
        for (key, value) in obj {
            if !KNOWN.contains(&key.as_str()) && !key.starts_with("x-") {
                found.insert(key.clone());
            }
            match key.as_str() {
                "properties" => value
                    .as_object()
                    .into_iter()
                    .flat_map(|p| p.values())
                    .for_each(|s| walk(s, found)),
                "allOf" => value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .for_each(|s| walk(s, found)),
                "if" | "then" | "else" | "items" => walk(value, found),
                _ => {}
            }
        }
    }
    let mut found = std::collections::BTreeSet::new();
    walk(schema, &mut found);
    found.into_iter().collect()
}

fn check(schema: &Value, value: &Value, path: &str, partial: bool, errors: &mut FieldErrors) {
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(sub, value, path, partial, errors);
        }
    }
    if let Some(condition) = schema.get("if") {
        // `if` decides, it reports nothing itself; with partial defaults a missing field counts as
        // absent, so only a present value can switch a branch on.
        let mut probe = FieldErrors::new();
        check(condition, value, path, false, &mut probe);
        let branch = if probe.is_empty() {
            schema.get("then")
        } else {
            schema.get("else")
        };
        if let Some(branch) = branch {
            check(branch, value, path, partial, errors);
        }
    }
    if let Some(expected) = schema.get("const") {
        if value != expected {
            errors.insert(field(path), format!("must be {expected}"));
            return;
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        errors.insert(
            field(path),
            format!("must be of type {}", types.join(" or ")),
        );
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(|o| o.to_string()).collect();
            errors.insert(field(path), format!("must be one of {}", list.join(", ")));
            return;
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                errors.insert(field(path), format!("must be at least {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                errors.insert(field(path), format!("must be at most {max}"));
            }
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if len < min {
                errors.insert(field(path), format!("must be at least {min} characters"));
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if len > max {
                errors.insert(field(path), format!("must be at most {max} characters"));
            }
        }
        match schema.get("format").and_then(Value::as_str) {
            Some("date") if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() => {
                errors.insert(field(path), "must be a date like 2024-01-31".into());
            }
            Some("uuid") if uuid::Uuid::parse_str(s).is_err() => {
                errors.insert(field(path), "must be a UUID".into());
            }
            _ => {}
        }
    }
    if let Some(items) = value.as_array() {
        let n = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if n < min {
                errors.insert(field(path), format!("must have at least {min} items"));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if n > max {
                errors.insert(field(path), format!("must have at most {max} items"));
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                let mut item_errors = FieldErrors::new();
                check(
                    item_schema,
                    item,
                    &join(path, &i.to_string()),
                    partial,
                    &mut item_errors,
                );
                if let Some((_, message)) = item_errors.into_iter().next() {
                    errors
                        .entry(field(path))
                        .or_insert_with(|| format!("item {i} {message}"));
                }
            }
        }
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        if !partial {
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if obj.get(req).is_none_or(Value::is_null) {
                    errors.insert(join(path, req), "is required".into());
                }
            }
        }
        for (key, v) in obj {
            match props.and_then(|p| p.get(key)) {
                Some(sub) => check(sub, v, &join(path, key), partial, errors),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.insert(join(path, key), "is not a known parameter".into());
                }
                None => {}
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["mode", "count"],
            "properties": {
                "mode": { "type": "string", "enum": ["fixed", "offset"] },
                "count": { "type": "integer", "minimum": 0 },
                "day": { "type": ["string", "null"], "format": "date" },
                "block": { "type": "string", "format": "uuid" }
            }
        })
    }

    #[test]
    fn arrays_are_checked_item_by_item_and_by_length() {
        let s = json!({
            "type": "object",
            "properties": {
                "ids": { "type": ["array", "null"], "items": { "type": "integer" }, "minItems": 1, "maxItems": 2 }
            }
        });
        assert!(validate(&s, &json!({ "ids": [1, 2] }), false).is_empty());
        assert!(validate(&s, &json!({ "ids": null }), false).is_empty());
        assert_eq!(
            validate(&s, &json!({ "ids": [1, "x"] }), false)["ids"],
            "item 1 must be of type integer"
        );
        assert_eq!(
            validate(&s, &json!({ "ids": [] }), false)["ids"],
            "must have at least 1 items"
        );
        assert_eq!(
            validate(&s, &json!({ "ids": [1, 2, 3] }), false)["ids"],
            "must have at most 2 items"
        );
        assert!(unsupported_keywords(&s).is_empty());
    }

    #[test]
    fn valid_parameters_have_no_errors() {
        let v =
            json!({ "mode": "fixed", "count": 3, "day": "2024-02-29", "block": uuid::Uuid::nil() });
        assert!(validate(&schema(), &v, false).is_empty());
    }

    #[test]
    fn all_of_and_if_then_else_apply_the_branch_the_condition_picks() {
        let s = json!({
            "type": "object",
            "properties": { "mode": { "enum": ["fixed", "offset"] }, "day": { "type": "string" } },
            "allOf": [{
                "if": { "properties": { "mode": { "const": "fixed" } }, "required": ["mode"] },
                "then": { "required": ["day"] },
                "else": { "properties": { "day": { "const": null } } }
            }]
        });
        assert_eq!(
            validate(&s, &json!({ "mode": "fixed" }), false)["day"],
            "is required"
        );
        assert!(validate(&s, &json!({ "mode": "fixed", "day": "x" }), false).is_empty());
        assert!(validate(&s, &json!({ "mode": "offset" }), false).is_empty());
        assert!(
            validate(&s, &json!({ "mode": "offset", "day": "x" }), false)["day"].contains("null")
        );
        // Partial (deployment defaults): a branch on a missing field is not taken.
        assert!(validate(&s, &json!({}), true).is_empty());
    }

    #[test]
    fn keywords_outside_the_subset_are_named_not_ignored() {
        assert!(unsupported_keywords(&schema()).is_empty());
        let s = json!({
            "type": "object",
            "properties": { "a": { "oneOf": [], "pattern": "x" } },
            "allOf": [{ "if": { "not": {} } }]
        });
        assert_eq!(unsupported_keywords(&s), vec!["not", "oneOf", "pattern"]);
    }

    #[test]
    fn every_problem_is_reported_at_its_field() {
        let v =
            json!({ "mode": "weird", "count": -1, "day": "31/01/2024", "block": "x", "extra": 1 });
        let e = validate(&schema(), &v, false);
        assert!(e["mode"].contains("one of"));
        assert!(e["count"].contains("at least 0"));
        assert!(e["day"].contains("date"));
        assert!(e["block"].contains("UUID"));
        assert!(e["extra"].contains("not a known"));
        let missing = validate(&schema(), &json!({}), false);
        assert_eq!(missing["mode"], "is required");
        assert!(validate(&schema(), &json!({}), true).is_empty());
        assert!(validate(&schema(), &json!({ "count": "3" }), true)["count"].contains("integer"));
    }
}
