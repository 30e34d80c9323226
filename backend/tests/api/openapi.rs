use reqwest::{Method, StatusCode};

use crate::helpers::*;

/// The operations documented as public; anything else must demand credentials.
const EXPECTED_PUBLIC: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/refresh"),
];

#[tokio::test]
async fn every_documented_route_but_the_public_ones_answers_401_without_credentials() {
    let app = spawn_app().await;
    let doc = app.openapi_document().await;
    let mut public = Vec::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            if op.get("security").is_none() {
                public.push((method.clone(), path.clone()));
                continue;
            }
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        uuid::Uuid::new_v4().to_string()
                    } else {
                        seg.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for auth in [
                None,
                Some("Bearer not-a-valid-token"),
                Some("Bearer chap_notarealtoken"),
            ] {
                let mut req = browser()
                    .request(m.clone(), app.url(&concrete))
                    .json(&serde_json::json!({}));
                if let Some(a) = auth {
                    req = req.header("authorization", a);
                }
                let resp = req.send().await.unwrap();
                assert_eq!(
                    resp.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {auth:?} did not answer 401"
                );
                assert_eq!(body(resp).await["error"], "unauthorized");
            }
            checked += 1;
        }
    }
    public.sort();
    let mut expected: Vec<(String, String)> = EXPECTED_PUBLIC
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(public, expected, "the set of public operations changed");
    assert!(checked >= 11, "only {checked} protected operations found");
}

#[test]
fn the_checked_in_openapi_json_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let current = chap_scheduler::cli::openapi_json().unwrap();
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == current,
        "openapi/openapi.json is stale: run `cargo run -p chap-scheduler -- openapi --output openapi/openapi.json`"
    );
}

#[tokio::test]
async fn swagger_ui_is_served_from_local_assets_with_a_bearer_authorize_button() {
    let app = spawn_app().await;
    let r = browser().get(app.url("/docs")).send().await.unwrap();
    assert!(r.status().is_redirection());
    let page = browser().get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "Swagger UI must not load from a CDN: {html}"
    );
    let bundle = browser()
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    let init = browser()
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    let init = init.text().await.unwrap();
    assert!(init.contains("/api/openapi.json"), "{init}");

    let doc = app.openapi_document().await;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}
