use chap_scheduler_api::{Role, UserView};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn viewers_and_operators_get_403_on_admin_endpoints() {
    let app = spawn_app().await;
    let (_, viewer) = app.user_session("vera", Role::Viewer).await;
    let (_, operator) = app.user_session("otto", Role::Operator).await;
    for token in [&viewer, &operator] {
        for path in ["/api/v1/users", "/api/v1/audit"] {
            let r = app.get(path, token).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
            assert_eq!(body(r).await["error"], "forbidden");
        }
        let r = app
            .client
            .post(app.url("/api/v1/users"))
            .bearer_auth(token)
            .json(&json!({ "username": "mallory", "password": PASSWORD, "role": "admin" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn admin_creates_a_user_changes_the_role_and_resets_the_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app.create_user("carol", Role::Viewer).await;
    assert_eq!(created.username, "carol");
    assert!(!created.disabled);

    let dup = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({ "username": "Carol", "password": PASSWORD, "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    assert_eq!(body(dup).await["error"], "conflict");

    let bad = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({ "username": "bad name!", "password": "short", "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(bad).await["details"]["username"].is_string());

    let carol_session = app.login_with(&browser(), "carol", PASSWORD).await;
    let carol_access = body(carol_session).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let r = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", created.id)))
        .bearer_auth(&admin)
        .json(&json!({ "role": "operator" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let updated: UserView = r.json().await.unwrap();
    assert_eq!(updated.role, Role::Operator);
    // The role applies at once to existing sessions.
    let me = body(app.get("/api/v1/auth/me", &carol_access).await).await;
    assert_eq!(me["role"], "operator");

    let r = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", created.id)))
        .bearer_auth(&admin)
        .json(&json!({ "password": "reset-by-the-admin-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/auth/me", &carol_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_with(&browser(), "carol", "reset-by-the-admin-1")
            .await
            .status(),
        StatusCode::OK
    );

    let list = body(app.get("/api/v1/users", &admin).await).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "carol"]);
    assert!(
        !list.to_string().contains("argon2"),
        "hashes must never be returned"
    );

    let missing = app
        .get(&format!("/api/v1/users/{}", uuid::Uuid::new_v4()), &admin)
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_api_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (dave, session) = app.user_session("dave", Role::Operator).await;
    let token = body(
        app.client
            .post(app.url("/api/v1/tokens"))
            .bearer_auth(&session)
            .json(&json!({ "name": "ci" }))
            .send()
            .await
            .unwrap(),
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status(),
        StatusCode::OK
    );

    let r = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", dave.id)))
        .bearer_auth(&admin)
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(r).await["disabled"].as_bool().unwrap());
    assert_eq!(
        app.get("/api/v1/auth/me", &session).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_with(&browser(), "dave", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Re-enabling lets dave log in again, but the old token stays revoked.
    app.client
        .patch(app.url(&format!("/api/v1/users/{}", dave.id)))
        .bearer_auth(&admin)
        .json(&json!({ "disabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.login_with(&browser(), "dave", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_disabled() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me = body(app.get("/api/v1/auth/me", &admin).await).await;
    let id = me["id"].as_str().unwrap();
    for change in [json!({ "role": "viewer" }), json!({ "disabled": true })] {
        let r = app
            .client
            .patch(app.url(&format!("/api/v1/users/{id}")))
            .bearer_auth(&admin)
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "{change}");
    }
}
