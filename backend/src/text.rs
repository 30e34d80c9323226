//! One rule for text that clients send: no control characters, and line breaks only in fields that are
//! documented to hold several lines. The same on SQLite and PostgreSQL (which refuses NUL in text and
//! in JSON), so a bad character is a 422 at its field, never a database error.

use serde_json::Value;

use crate::error::{AppError, AppResult};

/// The answer for a field holding a control character.
pub const CONTROL_MESSAGE: &str = "must not contain control characters";

/// Whether `c` is refused in any text: the C0 and C1 controls and DEL, except tab, line feed and
/// carriage return (which only multi-line fields keep; see [`single_line`]).
pub fn is_refused_anywhere(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The path of the first string or object key in `value` holding a character refused anywhere:
/// `name`, `data.username`, `tags[2]`. `None` when the text is clean.
pub fn first_bad_text(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &mut String) -> bool {
        match value {
            Value::String(s) => s.chars().any(is_refused_anywhere),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let bad = walk(item, path);
                if !bad {
                    path.truncate(len);
                }
                bad
            }),
            Value::Object(map) => map.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                let bad_key = key.chars().any(is_refused_anywhere);
                if bad_key {
                    path.push_str(&key.replace(is_refused_anywhere, "?"));
                } else {
                    path.push_str(key);
                }
                let bad = bad_key || walk(item, path);
                if !bad {
                    path.truncate(len);
                }
                bad
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then(|| if path.is_empty() { "body".into() } else { path })
}

/// A one-line text field: at most `max_chars` characters as sent, not blank, no control characters at
/// all; surrounding blanks are trimmed.
pub fn single_line(field: &str, raw: &str, max_chars: usize) -> AppResult<String> {
    let text = raw.trim();
    if text.is_empty() || raw.chars().count() > max_chars {
        return Err(AppError::field(
            field,
            format!("must be 1 to {max_chars} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(AppError::field(
            field,
            "must be one line without control characters",
        ));
    }
    Ok(text.to_string())
}

/// A free-text field that may hold several lines: at most `max_chars` characters, no control
/// characters but tab and line breaks.
pub fn multi_line(field: &str, raw: &str, max_chars: usize) -> AppResult<String> {
    if raw.chars().count() > max_chars {
        return Err(AppError::field(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if raw.chars().any(is_refused_anywhere) {
        return Err(AppError::field(field, CONTROL_MESSAGE));
    }
    Ok(raw.to_string())
}

/// What stands for a NUL character in stored text: PostgreSQL refuses NUL in text and in JSON, so text
/// that a flow relays from elsewhere (an upstream error, a report) is stored with it replaced.
pub const NUL_STORED_AS: char = '\u{FFFD}';

/// `text` as both databases store it: every NUL replaced by [`NUL_STORED_AS`].
pub fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', &NUL_STORED_AS.to_string())
    } else {
        text
    }
}

/// [`storable`] applied to every string and object key of a JSON value.
pub fn storable_value(value: &mut Value) {
    match value {
        Value::String(s) => *s = storable(std::mem::take(s)),
        Value::Array(items) => items.iter_mut().for_each(storable_value),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (storable(k), v))
                    .collect();
            }
            map.values_mut().for_each(storable_value);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_in_strings_and_keys_is_stored_as_the_replacement_character() {
        let mut value = json!({ "a\u{0}": ["x\u{0}y", 1, { "k": "\u{0}" }], "clean": "ok\n" });
        storable_value(&mut value);
        assert_eq!(
            value,
            json!({ "a\u{FFFD}": ["x\u{FFFD}y", 1, { "k": "\u{FFFD}" }], "clean": "ok\n" })
        );
        assert_eq!(storable("bell\u{7}".into()), "bell\u{7}", "only NUL");
    }

    #[test]
    fn the_path_of_the_first_bad_string_or_key_is_named() {
        assert_eq!(first_bad_text(&json!({ "a": "fine\nlines\ttabs" })), None);
        assert_eq!(
            first_bad_text(&json!({ "name": "x\u{0}y" })).as_deref(),
            Some("name")
        );
        assert_eq!(
            first_bad_text(&json!({ "data": { "ok": 1, "username": "\u{1b}[31m" } })).as_deref(),
            Some("data.username")
        );
        assert_eq!(
            first_bad_text(&json!({ "tags": ["a", "b\u{7f}"] })).as_deref(),
            Some("tags[1]")
        );
        assert_eq!(
            first_bad_text(&json!({ "parameters": { "k\u{0}": 1 } })).as_deref(),
            Some("parameters.k?")
        );
        assert_eq!(first_bad_text(&json!("\u{85}")).as_deref(), Some("body"));
    }

    #[test]
    fn single_line_fields_refuse_line_breaks_and_multi_line_fields_keep_them() {
        assert_eq!(single_line("name", "  prod ", 10).unwrap(), "prod");
        assert!(single_line("name", "a\nb", 10).is_err());
        assert!(single_line("name", "a\tb", 10).is_err());
        assert!(single_line("name", "   ", 10).is_err());
        assert!(single_line("name", &"x".repeat(11), 10).is_err());
        // The limit is on what was sent, as the API document says, not on what is left after trimming.
        assert!(single_line("name", &format!(" {} ", "x".repeat(9)), 10).is_err());
        assert_eq!(multi_line("d", "one\ntwo", 10).unwrap(), "one\ntwo");
        assert!(multi_line("d", "nul\u{0}", 10).is_err());
        assert!(multi_line("d", &"x".repeat(11), 10).is_err());
    }
}
