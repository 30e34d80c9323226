use chap_scheduler::db::entities::api_token;
use chap_scheduler_api::{CreatedApiToken, Role};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::json;

use crate::helpers::*;

async fn create_token(
    app: &TestApp,
    session: &str,
    request: serde_json::Value,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(session)
        .json(&request)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_api_token_authenticates_until_it_is_revoked() {
    let app = spawn_app().await;
    let (_, session) = app.user_session("erin", Role::Operator).await;
    let r = create_token(&app, &session, json!({ "name": "reporting system" })).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: CreatedApiToken = r.json().await.unwrap();
    assert!(created.secret.starts_with("chap_"));
    assert_eq!(created.token.role, Role::Operator);
    assert!(created.secret.starts_with(&created.token.prefix));

    let me = app.get("/api/v1/auth/me", &created.secret).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(body(me).await["username"], "erin");

    let list = app
        .get("/api/v1/tokens", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("reporting system"));
    assert!(
        !list.contains(&created.secret),
        "the secret must never be listed"
    );
    let listed: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert!(
        listed["items"][0]["last_used_at"].is_string(),
        "use is recorded: {list}"
    );

    let r = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{}", created.token.id)))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/auth/me", &created.secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_expired_api_token_is_rejected() {
    let app = spawn_app().await;
    let (_, session) = app.user_session("fay", Role::Viewer).await;
    let soon = chrono::Utc::now() + chrono::Duration::hours(1);
    let created: CreatedApiToken = create_token(
        &app,
        &session,
        json!({ "name": "short-lived", "expires_at": soon }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        app.get("/api/v1/auth/me", &created.secret).await.status(),
        StatusCode::OK
    );
    // Time passes: move the expiry into the past.
    let row = api_token::Entity::find_by_id(created.token.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut active = row.into_active_model();
    active.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    active.update(&app.db).await.unwrap();
    assert_eq!(
        app.get("/api/v1/auth/me", &created.secret).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let past = create_token(
        &app,
        &session,
        json!({ "name": "x", "expires_at": "2020-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(past.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_token_role_cannot_exceed_its_creator_and_acts_with_its_own_role() {
    let app = spawn_app().await;
    let (_, session) = app.user_session("gus", Role::Operator).await;
    let too_high = create_token(&app, &session, json!({ "name": "x", "role": "admin" })).await;
    assert_eq!(too_high.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(too_high).await["details"]["role"].is_string());

    let admin = app.admin_token().await;
    let viewer_token: CreatedApiToken = create_token(
        &app,
        &admin,
        json!({ "name": "read-only", "role": "viewer" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let me = body(app.get("/api/v1/auth/me", &viewer_token.secret).await).await;
    assert_eq!(me["role"], "viewer");
    assert_eq!(
        app.get("/api/v1/users", &viewer_token.secret)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/users", &admin).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn users_see_and_revoke_only_their_own_tokens_while_admins_see_all() {
    let app = spawn_app().await;
    let (_, alice) = app.user_session("alice", Role::Operator).await;
    let (_, bob) = app.user_session("bob", Role::Operator).await;
    let alices: CreatedApiToken = create_token(&app, &alice, json!({ "name": "alice-ci" }))
        .await
        .json()
        .await
        .unwrap();
    create_token(&app, &bob, json!({ "name": "bob-ci" })).await;

    let bob_list = body(app.get("/api/v1/tokens", &bob).await).await;
    assert_eq!(bob_list["items"].as_array().unwrap().len(), 1);
    assert_eq!(bob_list["items"][0]["name"], "bob-ci");
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{}", alices.token.id)))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/auth/me", &alices.secret).await.status(),
        StatusCode::OK
    );

    let admin = app.admin_token().await;
    let all = body(app.get("/api/v1/tokens", &admin).await).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

/// DHIS2 routes of auth type `api-token` send `Authorization: ApiToken <token>`.
#[tokio::test]
async fn an_api_token_is_accepted_with_the_apitoken_scheme_and_an_access_token_is_not() {
    let app = spawn_app().await;
    let (_, session) = app.user_session("fay", Role::Operator).await;
    let r = create_token(&app, &session, json!({ "name": "dhis2 route" })).await;
    let created: CreatedApiToken = r.json().await.unwrap();
    let me = |value: String| {
        app.client
            .get(app.url("/api/v1/auth/me"))
            .header("Authorization", value)
            .send()
    };
    for scheme in ["ApiToken", "apitoken", "APITOKEN"] {
        let r = me(format!("{scheme} {}", created.secret)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
        assert_eq!(body(r).await["username"], "fay");
    }
    let r = me(format!("ApiToken {session}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body(r).await["message"]
        .as_str()
        .unwrap()
        .contains("ApiToken takes an API token"));
    let r = me("ApiToken chap_not-a-real-token".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
