//! `CHAP_SCHEDULER_PUBLIC_PATH=/chap-scheduler`: everything under the prefix, nothing outside it but
//! the probes, and every address the service hands out carries the prefix.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::security::{protected_operations, real_ids, spellings};

const PREFIX: &str = "/chap-scheduler";

/// An app served under [`PREFIX`] whose `url()` (and every helper built on it) is under the prefix,
/// and its origin, for requests outside it.
async fn spawn_prefixed_app() -> (TestApp, String) {
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_PUBLIC_PATH".into(), PREFIX.into());
    vars.insert(
        "CHAP_SCHEDULER_PUBLIC_URL".into(),
        "https://dhis2.example.org".into(),
    );
    let mut app = spawn_app_with(vars).await;
    let origin = app.address.clone();
    app.address = format!("{origin}{PREFIX}");
    (app, origin)
}

fn is_page(body: &str) -> bool {
    body.to_ascii_lowercase().contains("<!doctype html")
}

#[tokio::test]
async fn the_web_ui_is_served_under_the_public_path_with_it_as_its_base() {
    let (app, origin) = spawn_prefixed_app().await;
    for path in ["/", "/index.html", "/runs/0190a1b2-c3d4", "/admin/users"] {
        let r = browser().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains("<base href=\"/chap-scheduler/\">") && text.contains("boot.js"),
            "{path}: {text}"
        );
    }
    let js = browser().get(app.url("/boot.js")).send().await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert_eq!(js.text().await.unwrap(), "console.log('boot');");

    // The bare prefix goes to the page; the query comes along.
    for (path, to) in [
        (PREFIX.to_string(), "/chap-scheduler/"),
        (
            format!("{PREFIX}?next=%2Fruns"),
            "/chap-scheduler/?next=%2Fruns",
        ),
    ] {
        let r = browser()
            .get(format!("{origin}{path}"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(r.headers()["location"], to, "{path}");
    }

    // Outside the prefix: neither the page nor its assets.
    for path in [
        "/",
        "/index.html",
        "/boot.js",
        "/runs/0190a1b2-c3d4",
        "/login",
    ] {
        let r = browser()
            .get(format!("{origin}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("not_found") && body.contains("/chap-scheduler/"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn the_api_answers_under_the_public_path_and_not_at_the_root() {
    let (app, origin) = spawn_prefixed_app().await;
    let login = app.login_with(&app.client, "admin", ADMIN_PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("chap_refresh="))
        .expect("refresh cookie");
    assert!(
        cookie.contains("Path=/chap-scheduler/api/v1/auth"),
        "{cookie}"
    );
    let token = login.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let r = app.get("/api/v1/runs", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/info", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        body(r).await["public_url"],
        "https://dhis2.example.org/chap-scheduler"
    );
    // The cookie jar sends the refresh cookie to its path only: the prefixed refresh works.
    let r = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    for (method, path) in [
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/auth/me"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/info"),
        ("GET", "/api/openapi.json"),
        ("GET", "/docs/"),
    ] {
        let (status, answer) = raw_request(
            &origin,
            method,
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            if method == "POST" { "{}" } else { "" },
        )
        .await;
        assert_eq!(status, 404, "{method} {path} at the root: {answer}");
    }
}

#[tokio::test]
async fn the_probes_answer_at_the_root_and_under_the_public_path() {
    let (app, origin) = spawn_prefixed_app().await;
    for path in ["/health", "/ready", "/metrics"] {
        for url in [format!("{origin}{path}"), app.url(path)] {
            let r = browser().get(&url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{url}");
        }
    }
    // Only these exact paths: anything else at the root is outside.
    for path in ["/health/", "//health", "/HEALTH", "/%68ealth", "/ready/x"] {
        let (status, _) = raw_request(&origin, "GET", path, &[], "").await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn swagger_ui_and_the_document_point_under_the_public_path() {
    let (app, origin) = spawn_prefixed_app().await;
    let r = browser().get(app.url("/docs")).send().await.unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(r.headers()["location"], "/chap-scheduler/docs/");
    let r = browser().get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("swagger"));
    let init = browser()
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        init.contains("\"/chap-scheduler/api/openapi.json\""),
        "{init}"
    );

    let doc = app.openapi_document().await;
    assert_eq!(doc["servers"], json!([{ "url": "/chap-scheduler" }]));
    assert!(
        doc["paths"]["/api/v1/runs"].is_object(),
        "paths stay as they are"
    );
    let r = browser()
        .get(format!("{origin}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Without a public path the document names no server (as the checked-in copy).
    let plain = spawn_app().await;
    assert!(plain.openapi_document().await.get("servers").is_none());
}

#[tokio::test]
async fn report_links_go_under_the_public_path() {
    let (app, _) = spawn_prefixed_app().await;
    let token = app.admin_token().await;
    let run = app
        .trigger_flow(
            "test-steps",
            &token,
            json!({ "greeting": "hi", "count": 1, "link": "/runs?state=FAILED" }),
        )
        .await;
    let id = run["id"].as_str().unwrap();
    app.wait_for(id, &token, &["COMPLETED"]).await;
    let artifacts = body(
        app.get(&format!("/api/v1/runs/{id}/artifacts"), &token)
            .await,
    )
    .await;
    assert_eq!(
        artifacts[0]["content"],
        "# Report\n\n1 greetings sent. [More](/runs?state=FAILED)\n"
    );
    let html = artifacts[0]["html"].as_str().unwrap();
    assert!(
        html.contains("href=\"/chap-scheduler/runs?state=FAILED\""),
        "{html}"
    );
}

#[tokio::test]
async fn odd_spellings_of_the_prefix_or_behind_it_never_reach_data_or_the_page() {
    let (app, origin) = spawn_prefixed_app().await;
    let admin = app.admin_token().await;
    let bearer = format!("Bearer {admin}");
    // With a valid token: outside the prefix is 404, however close to it.
    for path in [
        "/Chap-Scheduler/api/v1/runs",
        "/CHAP-SCHEDULER/api/v1/runs",
        "//chap-scheduler/api/v1/runs",
        "/./chap-scheduler/api/v1/runs",
        "/x/../chap-scheduler/api/v1/runs",
        "/%63hap-scheduler/api/v1/runs",
        "/chap-scheduler%2Fapi/v1/runs",
        "/chap-scheduler%2fapi/v1/runs",
        "/chap-schedulerx/api/v1/runs",
        "/api/v1/runs",
        "/%61pi/v1/runs",
    ] {
        let (status, answer) =
            raw_request(&origin, "GET", path, &[("Authorization", &bearer)], "").await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(!is_page(&answer), "{path}: {answer}");
    }
    // Behind the prefix, the routes' own hardening applies: without credentials never data, and an
    // odd spelling is never the page.
    for path in [
        "/chap-scheduler/%61pi/v1/runs",
        "/chap-scheduler//api/v1/runs",
        "/chap-scheduler/../api/v1/runs",
        "/chap-scheduler/./api/v1/runs",
        "/chap-scheduler/API/v1/runs",
        "/chap-scheduler/%2e%2e/api/v1/runs",
        "/chap-scheduler/%2Fapi/v1/runs",
    ] {
        for method in ["GET", "HEAD"] {
            let (status, answer) = raw_request(&origin, method, path, &[], "").await;
            assert!(
                status == 401 || status == 404,
                "{method} {path}: {status} {answer}"
            );
            assert!(!is_page(&answer), "{method} {path}: {answer}");
        }
    }
}

#[tokio::test]
async fn no_spelling_of_a_protected_path_under_the_public_path_reaches_data_without_credentials() {
    let (app, origin) = spawn_prefixed_app().await;
    let admin = app.admin_token().await;
    let ids = real_ids(&app, &admin).await;
    let doc = app.openapi_document().await;
    let mut tried = 0;
    let mut leaks = Vec::new();
    for (method, path) in protected_operations(&doc, &ids) {
        let body = if method == "GET" { "" } else { "{}" };
        // The prefix spelled oddly, and the path behind it spelled oddly.
        let spelled = spellings(&format!("{PREFIX}{path}"))
            .into_iter()
            .chain(spellings(&path).into_iter().map(|s| format!("{PREFIX}{s}")));
        for spelled in spelled {
            for auth in [None, Some("Bearer not-a-valid-token")] {
                let headers: Vec<(&str, &str)> =
                    auth.map(|a| ("Authorization", a)).into_iter().collect();
                let (status, answer) =
                    raw_request(&origin, &method, &spelled, &headers, body).await;
                tried += 1;
                if status != 401 && status != 404 || is_page(&answer) {
                    leaks.push(format!(
                        "{method} {spelled} (auth {auth:?}) answered {status}: {}",
                        answer.chars().take(120).collect::<String>()
                    ));
                }
            }
        }
        // Signed in, the path without the prefix is not served.
        let (status, _) = raw_request(
            &origin,
            &method,
            &path,
            &[("Authorization", &format!("Bearer {admin}"))],
            body,
        )
        .await;
        tried += 1;
        if status != 404 {
            leaks.push(format!("{method} {path} as admin, at the root: {status}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "{} of {tried} requests leaked:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    assert!(tried > 1000, "only {tried} requests tried");
}
