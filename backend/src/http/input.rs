//! What clients send, checked once at the edge: [`JsonBody`] and [`QueryParams`] replace actix's `Json`
//! and `Query` for every handler. A body must be a JSON object (serde would read a struct from an
//! array), no text may hold a control character, and a value of the wrong type is a 422 that names
//! its field.

use std::future::{ready, Ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::AppError;
use crate::text;

/// A JSON object body deserialized into `T`; see the module documentation.
pub struct JsonBody<T>(pub T);

/// The query string deserialized into `T`; see the module documentation.
pub struct QueryParams<T>(pub T);

impl<T> JsonBody<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> QueryParams<T> {
    /// The parameters.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for QueryParams<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A deserialization error as a 422 at the field serde was reading.
fn field_error(path: String, message: String) -> AppError {
    // A missing field is reported at the level above it: name the field itself.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string);
    let field = match (path.as_str(), missing) {
        (".", Some(name)) => name,
        (_, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_string(),
        _ => path,
    };
    AppError::field(&field, message)
}

/// Checks a parsed body and reads it as `T`.
pub fn parse_body<T: DeserializeOwned>(value: Value) -> Result<T, AppError> {
    if !value.is_object() {
        return Err(AppError::field("body", "must be a JSON object"));
    }
    if let Some(path) = text::first_bad_text(&value) {
        return Err(AppError::field(&path, text::CONTROL_MESSAGE));
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| field_error(e.path().to_string(), e.into_inner().to_string()))
}

/// Checks a raw query string and reads it as `T`.
pub fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, AppError> {
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if key.chars().chain(value.chars()).any(char::is_control) {
            let key = key.replace(char::is_control, "?");
            return Err(AppError::field(&key, text::CONTROL_MESSAGE));
        }
    }
    let pairs = url::form_urlencoded::parse(raw.as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
        .map_err(|e| field_error(e.path().to_string(), e.into_inner().to_string()))
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // actix's own extractor keeps the size limit, the content-type check and the 400 for bad JSON.
        let value = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let web::Json(value) = value.await?;
            Ok(JsonBody(parse_body(value)?))
        })
    }
}

impl<T: DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(QueryParams))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        limit: Option<u64>,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    fn details(err: AppError) -> Value {
        match err {
            AppError::Validation { details, .. } => details.unwrap(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn bodies_must_be_objects_with_clean_text_and_errors_name_the_field() {
        assert!(parse_body::<Body>(json!({ "name": "x" })).is_ok());
        let array = parse_body::<Body>(json!([null, null])).unwrap_err();
        assert_eq!(details(array)["body"], "must be a JSON object");
        let nul = parse_body::<Body>(json!({ "name": "a\u{0}b" })).unwrap_err();
        assert_eq!(details(nul)["name"], text::CONTROL_MESSAGE);
        let wrong = details(parse_body::<Body>(json!({ "name": 42 })).unwrap_err());
        assert!(
            wrong["name"]
                .as_str()
                .unwrap()
                .contains("expected a string"),
            "{wrong}"
        );
        let missing = details(parse_body::<Body>(json!({})).unwrap_err());
        assert!(
            missing["name"].as_str().unwrap().contains("missing"),
            "{missing}"
        );
        let nested = details(parse_body::<Body>(json!({ "name": "x", "inner": {} })).unwrap_err());
        assert!(nested.get("inner.flag").is_some(), "{nested}");
    }

    #[test]
    fn query_strings_refuse_control_characters_and_name_the_parameter() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Q {
            actor: Option<String>,
            limit: Option<u64>,
        }
        assert!(parse_query::<Q>("actor=alice&limit=5").is_ok());
        let nul = details(parse_query::<Q>("actor=al%00ice").unwrap_err());
        assert_eq!(nul["actor"], text::CONTROL_MESSAGE);
        let bad = details(parse_query::<Q>("limit=many").unwrap_err());
        assert!(bad.get("limit").is_some(), "{bad}");
    }
}
