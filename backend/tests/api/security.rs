//! Tried as an attacker would: every protected operation under every spelling of its path.

use std::collections::BTreeMap;

use chap_scheduler_api::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// `path` percent-encoded character by character (but `/`), with upper- or lower-case hex digits.
fn encode_every_char(path: &str, upper: bool) -> String {
    path.chars()
        .map(|c| match c {
            '/' => "/".to_string(),
            c if upper => format!("%{:02X}", c as u32),
            c => format!("%{:02x}", c as u32),
        })
        .collect()
}

/// The ways a client can spell `path` (which starts with `/`) that a naive string check would not
/// recognise as `path`.
pub(crate) fn spellings(path: &str) -> Vec<String> {
    let rest = &path[1..];
    let first = rest.as_bytes()[0];
    let after_first = &rest[1..];
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let slash_tail = if tail.is_empty() {
        String::new()
    } else {
        format!("/{tail}")
    };
    vec![
        path.to_string(),
        format!("/%{first:02x}{after_first}"),
        format!("/%{first:02X}{after_first}"),
        encode_every_char(path, false),
        encode_every_char(path, true),
        format!("/%25{first:02x}{after_first}"),
        format!("/%2525{first:02x}{after_first}"),
        format!("/{}", rest.replace('/', "%2F")),
        format!("/{}", rest.replace('/', "%2f")),
        format!("/%2F{rest}"),
        format!("/%2f{rest}"),
        format!("{path}/"),
        format!("{path}//"),
        format!("/{path}"),
        format!("///{rest}"),
        format!("/{head}/{slash_tail}"),
        format!("/.{path}"),
        format!("/{head}/.{slash_tail}"),
        format!("/x/..{path}"),
        format!("/%2e{path}"),
        format!("/{head}/%2e%2e/{head}{slash_tail}"),
        format!("/{}{after_first}", (first as char).to_ascii_uppercase()),
        path.to_uppercase(),
        format!("{path}?"),
        format!("{path}?x=1"),
        format!("{path};"),
        format!("{path}%00"),
        format!("{path}%20"),
        format!("{path}#x"),
    ]
}

/// Real ids of every kind of resource, so that an unprotected read would find data.
pub(crate) async fn real_ids(app: &TestApp, admin: &str) -> BTreeMap<&'static str, String> {
    let run = app
        .trigger_flow("test-steps", admin, json!({ "greeting": "hello" }))
        .await;
    let run_id = run["id"].as_str().unwrap().to_string();
    app.wait_for(&run_id, admin, &["COMPLETED"]).await;
    let deployment = run["deployment_id"].as_str().unwrap().to_string();
    let block = body(
        app.post(
            "/api/v1/blocks",
            admin,
            json!({ "name": "district", "block_type": "dhis2-credentials",
                    "data": { "base_url": "https://dhis2.example.org", "username": "alice", "password": "pw-123456789" } }),
        )
        .await,
    )
    .await;
    let schedule = body(
        app.post(
            &format!("/api/v1/deployments/{deployment}/schedules"),
            admin,
            json!({ "cron": "0 3 * * *", "parameters": { "greeting": "hi" } }),
        )
        .await,
    )
    .await;
    let hook = body(
        app.post(
            "/api/v1/blocks",
            admin,
            json!({ "name": "team-chat", "block_type": "webhook",
                    "data": { "url": "https://hooks.example.org/T0/B1/secret-token" } }),
        )
        .await,
    )
    .await;
    let rule = body(
        app.post(
            "/api/v1/notification-rules",
            admin,
            json!({ "name": "failures", "channel": hook["id"], "events": ["run.failed"] }),
        )
        .await,
    )
    .await;
    let (user, _) = app.user_session("victor", Role::Viewer).await;
    let token = body(
        app.post("/api/v1/tokens", admin, json!({ "name": "ci" }))
            .await,
    )
    .await;
    BTreeMap::from([
        ("runs", run_id),
        ("deployments", deployment),
        ("blocks", block["id"].as_str().unwrap().to_string()),
        ("schedules", schedule["id"].as_str().unwrap().to_string()),
        ("users", user.id.to_string()),
        ("tokens", token["token"]["id"].as_str().unwrap().to_string()),
        ("flows", "test-steps".to_string()),
        ("setups", "1".to_string()),
        (
            "notification-rules",
            rule["id"].as_str().unwrap().to_string(),
        ),
    ])
}

/// `template` with each `{param}` replaced by the id of the resource named before it.
pub(crate) fn concrete(template: &str, ids: &BTreeMap<&'static str, String>) -> String {
    let segments: Vec<&str> = template.split('/').collect();
    segments
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            if seg.starts_with('{') {
                let resource = segments[i - 1];
                ids.get(resource)
                    .unwrap_or_else(|| panic!("no real id for `{resource}` in {template}"))
                    .clone()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every protected operation of the OpenAPI document `doc`: its method (upper case) and its path with
/// the real `ids` filled in.
pub(crate) fn protected_operations(
    doc: &serde_json::Value,
    ids: &BTreeMap<&'static str, String>,
) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_some()
                && ["get", "post", "put", "patch", "delete"].contains(&method.as_str())
            {
                operations.push((method.to_uppercase(), concrete(template, ids)));
            }
        }
    }
    operations
}

#[tokio::test]
async fn no_spelling_of_a_protected_path_reaches_data_without_credentials() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ids = real_ids(&app, &admin).await;
    let doc = app.openapi_document().await;
    let mut tried = 0;
    let mut leaks = Vec::new();
    for (method, path) in protected_operations(&doc, &ids) {
        if method == "GET" {
            // The ids are real: signed in, the plain path answers with data.
            let (status, _) = raw_request(
                &app.address,
                "GET",
                &path,
                &[("Authorization", &format!("Bearer {admin}"))],
                "",
            )
            .await;
            assert!(
                (200..300).contains(&status),
                "GET {path} as admin answered {status}"
            );
        }
        let methods: Vec<&str> = if method == "GET" {
            vec!["GET", "HEAD", "get"]
        } else {
            vec![method.as_str()]
        };
        for spelled in spellings(&path) {
            for m in &methods {
                for auth in [None, Some("Bearer not-a-valid-token")] {
                    let headers: Vec<(&str, &str)> =
                        auth.map(|a| ("Authorization", a)).into_iter().collect();
                    let body = if *m == "GET" || *m == "HEAD" || *m == "get" {
                        ""
                    } else {
                        "{}"
                    };
                    let (status, answer) =
                        raw_request(&app.address, m, &spelled, &headers, body).await;
                    tried += 1;
                    if status != 401 && status != 404 {
                        leaks.push(format!(
                            "{m} {spelled} (auth {auth:?}) answered {status}: {}",
                            answer.chars().take(120).collect::<String>()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} of {tried} requests were neither 401 nor 404:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    assert!(tried > 1000, "only {tried} requests tried");
}

#[tokio::test]
async fn a_viewer_is_refused_with_403_before_the_body_is_looked_at() {
    let app = spawn_app().await;
    let (_, viewer) = app.user_session("vera", Role::Viewer).await;
    let admin = app.admin_token().await;
    let deployment = app.deployment("test-steps", &admin).await;
    let dep = deployment["id"].as_str().unwrap();
    for (path, bad_body) in [
        ("/api/v1/blocks".to_string(), json!({ "name": 42 })),
        ("/api/v1/users".to_string(), json!([])),
        (
            "/api/v1/deployments".to_string(),
            json!({ "flow_name": null }),
        ),
        (format!("/api/v1/deployments/{dep}/runs"), json!("nonsense")),
        (
            format!("/api/v1/deployments/{dep}/schedules"),
            json!({ "cron": 5 }),
        ),
    ] {
        let r = app.post(&path, &viewer, bad_body).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "POST {path}");
        assert_eq!(body(r).await["error"], "forbidden", "POST {path}");
    }
    // Without credentials a malformed body is 401, not 400.
    let (status, _) = raw_request(&app.address, "POST", "/api/v1/blocks", &[], "{not json").await;
    assert_eq!(status, 401);
}

/// `(method, path, body, field)`: a control character in `field` must be a 422 naming it.
async fn refused_text_cases(
    app: &TestApp,
    admin: &str,
) -> Vec<(&'static str, String, Value, &'static str)> {
    let dep = app.deployment("test-steps", admin).await;
    let dep = dep["id"].as_str().unwrap().to_string();
    let (user, _) = app.user_session("tess", Role::Viewer).await;
    let block = |username: &str| {
        json!({ "name": "b", "block_type": "dhis2-credentials",
                "data": { "base_url": "https://dhis2.example.org", "username": username, "password": "pw-123456789" } })
    };
    // One-line fields: control characters and line breaks are refused alike.
    let one_line = |bad: &str| {
        vec![
            (
                "POST",
                "/api/v1/deployments".to_string(),
                json!({ "name": bad, "flow_name": "test-steps" }),
                "name",
            ),
            (
                "POST",
                "/api/v1/deployments".to_string(),
                json!({ "name": "d", "flow_name": "test-steps", "tags": ["ok", bad] }),
                "tags[1]",
            ),
            (
                "POST",
                "/api/v1/tokens".to_string(),
                json!({ "name": bad }),
                "name",
            ),
            (
                "POST",
                "/api/v1/blocks".to_string(),
                block(bad),
                "data.username",
            ),
        ]
    };
    let mut cases = Vec::new();
    for bad in ["two\nlines", "tab\there"] {
        cases.extend(one_line(bad));
    }
    for bad in ["a\u{0}b", "a\u{1b}[2Jb", "a\u{7f}", "x\u{85}y"] {
        cases.extend(one_line(bad));
        cases.extend([
            (
                "POST",
                "/api/v1/deployments".to_string(),
                json!({ "name": "d", "flow_name": "test-steps", "description": bad }),
                "description",
            ),
            (
                "PATCH",
                format!("/api/v1/deployments/{dep}"),
                json!({ "description": bad }),
                "description",
            ),
            (
                "POST",
                "/api/v1/users".to_string(),
                json!({ "username": bad, "password": PASSWORD, "role": "viewer" }),
                "username",
            ),
            (
                "PATCH",
                format!("/api/v1/users/{}", user.id),
                json!({ "password": format!("{bad}{PASSWORD}") }),
                "password",
            ),
            (
                "POST",
                format!("/api/v1/deployments/{dep}/runs"),
                json!({ "parameters": { "greeting": bad } }),
                "parameters.greeting",
            ),
            (
                "POST",
                format!("/api/v1/deployments/{dep}/runs"),
                json!({ "idempotency_key": bad }),
                "idempotency_key",
            ),
            (
                "POST",
                format!("/api/v1/deployments/{dep}/schedules"),
                json!({ "cron": "0 3 * * *", "timezone": bad }),
                "timezone",
            ),
            (
                "POST",
                "/api/v1/schedules/preview".to_string(),
                json!({ "cron": bad }),
                "cron",
            ),
            (
                "POST",
                "/api/v1/auth/login".to_string(),
                json!({ "username": bad, "password": "whatever-it-is" }),
                "username",
            ),
        ]);
    }
    cases
}

#[tokio::test]
async fn control_characters_in_text_are_refused_with_422_at_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut wrong = Vec::new();
    for (method, path, payload, field) in refused_text_cases(&app, &admin).await {
        let request = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&admin)
            .json(&payload);
        let r = request.send().await.unwrap();
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        if status != StatusCode::UNPROCESSABLE_ENTITY || answer["details"].get(field).is_none() {
            wrong.push(format!("{method} {path} {payload} → {status} {answer}"));
        }
    }
    // Query strings: the audit filters and the run list.
    for path in [
        "/api/v1/audit?actor=al%00ice",
        "/api/v1/audit?action=auth.login%0A",
        "/api/v1/runs?flow_name=x%00",
        "/api/v1/runs?state=FAILED%00",
    ] {
        let r = app.get(path, &admin).await;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        if status != StatusCode::UNPROCESSABLE_ENTITY || answer["error"] != "validation_failed" {
            wrong.push(format!("GET {path} → {status} {answer}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused at the field:\n{}",
        wrong.join("\n")
    );
    // A description keeps its lines.
    let r = app
        .post(
            "/api/v1/deployments",
            &admin,
            json!({ "name": "multi", "flow_name": "test-steps", "description": "line one\nline two\ttabbed" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(body(r).await["description"], "line one\nline two\ttabbed");
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (user, _) = app.user_session("olga", Role::Operator).await;
    for payload in [
        json!([null, null]),
        json!(["operator", true, null]),
        json!("x"),
        json!(42),
        json!(null),
    ] {
        let r = app
            .client
            .patch(app.url(&format!("/api/v1/users/{}", user.id)))
            .bearer_auth(&admin)
            .json(&payload)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{payload}");
        assert_eq!(
            body(r).await["details"]["body"],
            "must be a JSON object",
            "{payload}"
        );
    }
    let r = app
        .post("/api/v1/auth/login", "", json!(["admin", ADMIN_PASSWORD]))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Unchanged.
    let olga = body(app.get(&format!("/api/v1/users/{}", user.id), &admin).await).await;
    assert_eq!(olga["role"], "operator");
    assert_eq!(olga["disabled"], false);
}

#[tokio::test]
async fn an_undeclared_method_on_a_known_path_is_405_with_allow() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dep = app.deployment("test-steps", &admin).await;
    let dep = dep["id"].as_str().unwrap();
    for (method, path, allow) in [
        ("DELETE", "/api/v1/runs".to_string(), "GET"),
        (
            "PUT",
            format!("/api/v1/deployments/{dep}"),
            "GET, DELETE, PATCH",
        ),
        ("GET", "/api/v1/auth/login".to_string(), "POST"),
        ("PATCH", "/api/v1/users".to_string(), "GET, POST"),
    ] {
        let (status, answer) = raw_request(
            &app.address,
            method,
            &path,
            &[("Authorization", &format!("Bearer {admin}"))],
            "",
        )
        .await;
        assert_eq!(status, 405, "{method} {path}: {answer}");
        assert!(answer.contains("method_not_allowed"), "{answer}");
        let (status, _) = raw_request(&app.address, method, &path, &[], "").await;
        assert_eq!(status, 401, "{method} {path} without credentials");
        let r = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
    }
}
