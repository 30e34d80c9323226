use chap_scheduler_api::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn logins_failures_and_user_and_token_changes_are_audited() {
    let app = spawn_app().await;
    app.login_with(&browser(), "admin", "wrong-password-1")
        .await;
    let (user, session) = app.user_session("hana", Role::Operator).await;
    let token = body(
        app.client
            .post(app.url("/api/v1/tokens"))
            .bearer_auth(&session)
            .json(&json!({ "name": "etl" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    app.client
        .delete(app.url(&format!(
            "/api/v1/tokens/{}",
            token["token"]["id"].as_str().unwrap()
        )))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    let admin = app.admin_token().await;
    app.client
        .patch(app.url(&format!("/api/v1/users/{}", user.id)))
        .bearer_auth(&admin)
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .unwrap();

    let page = body(app.get("/api/v1/audit?limit=500", &admin).await).await;
    let actions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "auth.login_failed",
        "auth.login",
        "user.created",
        "token.created",
        "token.revoked",
        "user.updated",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let failed = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auth.login_failed")
        .unwrap();
    assert_eq!(failed["actor"], "admin");
    assert_eq!(failed["detail"]["reason"], "wrong_password");
    assert_eq!(failed["ip"], "127.0.0.1");
    assert!(
        !page.to_string().contains("wrong-password-1"),
        "passwords are never audited"
    );
    let updated = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.updated")
        .unwrap();
    assert_eq!(updated["detail"]["role"]["to"], "viewer");
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_without_gaps_or_repeats() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.login_with(&browser(), &format!("nobody{i}"), "wrong-password-1")
            .await;
    }
    let admin = app.admin_token().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/audit?limit=3&cursor={c}"),
            None => "/api/v1/audit?limit=3".to_string(),
        };
        let page = body(app.get(&path, &admin).await).await;
        for e in page["items"].as_array().unwrap() {
            seen.push((
                e["at"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let all = body(app.get("/api/v1/audit?limit=500", &admin).await).await;
    assert_eq!(seen.len(), all["items"].as_array().unwrap().len());
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen.len(), sorted.len(), "no repeats");
    assert!(
        seen.len() >= 9,
        "7 failures, the first admin and a login: {seen:?}"
    );

    let bad = app.get("/api/v1/audit?cursor=nonsense", &admin).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = app.get("/api/v1/audit?limit=0", &admin).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
