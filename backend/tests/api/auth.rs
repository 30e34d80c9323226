use chap_scheduler::auth::jwt::{JwtKeys, TokenType};
use chap_scheduler::db::entities::user;
use chap_scheduler_api::{Role, TokenResponse};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn login_returns_an_access_token_and_an_httponly_strict_refresh_cookie() {
    let app = spawn_app().await;
    let resp = app.login_with(&browser(), "admin", ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("chap_refresh="), "{cookie}");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(cookie.contains(part), "{part} missing in {cookie}");
    }
    let body: TokenResponse = resp.json().await.unwrap();
    assert_eq!(body.token_type, "Bearer");
    assert_eq!(body.expires_in, 900);
    assert_eq!(body.user.username, "admin");
    assert_eq!(body.user.role, Role::Admin);

    let me = app.get("/api/v1/auth/me", &body.access_token).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(crate::helpers::body(me).await["username"], "admin");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401_body() {
    let app = spawn_app().await;
    let wrong = app
        .login_with(&browser(), "admin", "not-the-password")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong = wrong.text().await.unwrap();
    let unknown = app
        .login_with(&browser(), "nobody", "not-the-password")
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown.text().await.unwrap());
    let parsed: serde_json::Value = serde_json::from_str(&wrong).unwrap();
    assert_eq!(parsed["error"], "invalid_credentials");
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_429_and_retry_after() {
    let mut vars = settings();
    vars.insert(
        "CHAP_SCHEDULER_LOGIN_MAX_FAILURES_PER_ACCOUNT".into(),
        "3".into(),
    );
    let app = spawn_app_with(vars).await;
    app.create_user("other", Role::Viewer).await;
    for _ in 0..3 {
        let r = app
            .login_with(&browser(), "admin", "wrong-password-x")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now: the throttle is checked before the password.
    let r = app.login_with(&browser(), "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = retry_after_secs(&r);
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    assert_eq!(body(r).await["error"], "too_many_requests");
    // Other accounts from the same address are not locked out by this account's limit.
    let r = app.login_with(&browser(), "other", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn per_address_limit_throttles_guessing_across_accounts() {
    let mut vars = settings();
    vars.insert(
        "CHAP_SCHEDULER_LOGIN_MAX_FAILURES_PER_IP".into(),
        "4".into(),
    );
    let app = spawn_app_with(vars).await;
    for name in ["a", "b", "c", "d"] {
        let r = app.login_with(&browser(), name, "wrong-password-x").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.login_with(&browser(), "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

/// `n` failed logins sent at once from `address` (a trusted proxy reports it); the 401s and 429s.
async fn parallel_failures(app: &TestApp, address: &str, usernames: Vec<String>) -> (usize, usize) {
    let requests = usernames.into_iter().map(|name| {
        browser()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", address)
            .json(&serde_json::json!({ "username": name, "password": "wrong-password-x" }))
            .send()
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut counts = (0, 0);
    for r in answers {
        match r.unwrap().status() {
            StatusCode::UNAUTHORIZED => counts.0 += 1,
            StatusCode::TOO_MANY_REQUESTS => counts.1 += 1,
            other => panic!("a failed login answered {other}"),
        }
    }
    counts
}

#[tokio::test]
async fn parallel_failed_logins_are_counted_before_the_password_is_checked() {
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_TRUST_PROXY_HEADERS".into(), "true".into());
    let app = spawn_app_with(vars).await;
    // 64 at once from one address, each for another account: the address limit (30) holds.
    let names = (0..64).map(|i| format!("guess{i}")).collect();
    let (verified, throttled) = parallel_failures(&app, "10.0.0.1", names).await;
    assert_eq!((verified, throttled), (30, 34));
    // 20 at once for one account from another address: the account limit (5) holds.
    let names = (0..20).map(|_| "admin".to_string()).collect();
    let (verified, throttled) = parallel_failures(&app, "10.0.0.2", names).await;
    assert_eq!((verified, throttled), (5, 15));
    // Only verified attempts were audited as failed logins.
    let failed = sea_orm::ConnectionTrait::query_one_raw(
        &app.db,
        sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'auth.login_failed'",
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap();
    assert_eq!(failed, 35);
    // The owner signs in from elsewhere.
    let r = browser()
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "10.0.0.3")
        .json(&serde_json::json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

fn forged(claims: serde_json::Value, secret: &str) -> String {
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn expired_tampered_unsigned_foreign_audience_and_refresh_tokens_are_rejected() {
    let app = spawn_app().await;
    let good = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        app.get("/api/v1/auth/me", &good).await.status(),
        StatusCode::OK
    );

    let payload = good.split('.').nth(1).unwrap();
    let claims: serde_json::Value = {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: serde_json::Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };

    let expired = forged(with("exp", json!(now - 120)), JWT_SECRET);
    let wrong_audience = forged(with("aud", json!("someone-else")), JWT_SECRET);
    let wrong_issuer = forged(with("iss", json!("someone-else")), JWT_SECRET);
    let refresh_as_access = forged(with("typ", json!("refresh")), JWT_SECRET);
    let foreign_key = forged(claims.clone(), "a-completely-different-secret-key-123456");
    let mut tampered = good.clone();
    let sig_start = tampered.rfind('.').unwrap() + 1;
    let flipped = if &tampered[sig_start..sig_start + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(sig_start..sig_start + 1, flipped);
    let alg_none = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            payload
        )
    };
    // A genuine refresh token signed by the server is still not an access token.
    let session: uuid::Uuid = claims["sid"].as_str().unwrap().parse().unwrap();
    let user: uuid::Uuid = claims["sub"].as_str().unwrap().parse().unwrap();
    let real_refresh = JwtKeys::new(JWT_SECRET.as_bytes())
        .issue(TokenType::Refresh, user, session, 600)
        .unwrap();

    for (name, token) in [
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("refresh typ", refresh_as_access),
        ("foreign key", foreign_key),
        ("tampered", tampered),
        ("alg none", alg_none),
        ("refresh token", real_refresh),
        ("garbage", "not-a-token".to_string()),
    ] {
        let resp = app.get("/api/v1/auth/me", &token).await;
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{name} token was accepted"
        );
        assert_eq!(body(resp).await["error"], "unauthorized", "{name}");
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_of_an_old_refresh_token_revokes_the_session() {
    let app = spawn_app().await;
    let first = app.login_with(&app.client, "admin", ADMIN_PASSWORD).await;
    let old_cookie = first
        .cookies()
        .find(|c| c.name() == "chap_refresh")
        .unwrap()
        .value()
        .to_string();
    let access1 = first.json::<TokenResponse>().await.unwrap().access_token;

    // The browser (cookie jar) refreshes: a new access token and a rotated cookie.
    let r = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let new_cookie = r
        .cookies()
        .find(|c| c.name() == "chap_refresh")
        .unwrap()
        .value()
        .to_string();
    assert_ne!(new_cookie, old_cookie);
    let access2 = r.json::<TokenResponse>().await.unwrap().access_token;
    assert_eq!(
        app.get("/api/v1/auth/me", &access2).await.status(),
        StatusCode::OK
    );

    // An attacker replays the old refresh token: refused, and the whole session dies.
    let replay = reqwest::Client::new()
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", format!("chap_refresh={old_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    for access in [&access1, &access2] {
        assert_eq!(
            app.get("/api/v1/auth/me", access).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let legit = reqwest::Client::new()
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", format!("chap_refresh={new_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(legit.status(), StatusCode::UNAUTHORIZED);

    let admin = app.admin_token().await;
    let audit = body(
        app.get("/api/v1/audit?action=auth.refresh_reuse_detected", &admin)
            .await,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn refresh_without_a_cookie_is_401() {
    let app = spawn_app().await;
    let r = browser()
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["error"], "unauthorized");
}

#[tokio::test]
async fn logout_ends_the_session_and_clears_the_cookie() {
    let app = spawn_app().await;
    let access = app.login("admin", ADMIN_PASSWORD).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        app.get("/api/v1/auth/me", &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_but_keeps_this_one() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Operator).await;
    let laptop = app
        .login_with(&browser(), "alice", PASSWORD)
        .await
        .json::<TokenResponse>()
        .await
        .unwrap();
    let phone = app
        .login_with(&browser(), "alice", PASSWORD)
        .await
        .json::<TokenResponse>()
        .await
        .unwrap();

    let wrong = app
        .client
        .put(app.url("/api/v1/auth/password"))
        .bearer_auth(&laptop.access_token)
        .json(&json!({ "current_password": "not-my-password", "new_password": "brand-new-password-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(wrong).await["details"]["current_password"].is_string());

    let weak = app
        .client
        .put(app.url("/api/v1/auth/password"))
        .bearer_auth(&laptop.access_token)
        .json(&json!({ "current_password": PASSWORD, "new_password": "short" }))
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(weak).await["details"]["new_password"].is_string());

    let ok = app
        .client
        .put(app.url("/api/v1/auth/password"))
        .bearer_auth(&laptop.access_token)
        .json(&json!({ "current_password": PASSWORD, "new_password": "brand-new-password-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/auth/me", &laptop.access_token)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &phone.access_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let old = app.login_with(&browser(), "alice", PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = app
        .login_with(&browser(), "alice", "brand-new-password-1")
        .await;
    assert_eq!(new.status(), StatusCode::OK);
}

#[tokio::test]
async fn stored_password_hashes_are_argon2id_with_at_least_owasp_parameters() {
    let app = spawn_app().await;
    app.create_user("bob", Role::Viewer).await;
    let users = user::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(users.len(), 2);
    for u in users {
        let phc = argon2::password_hash::phc::PasswordHash::new(&u.password_hash).unwrap();
        assert_eq!(phc.algorithm.as_str(), "argon2id", "{}", u.username);
        let param = |name: &str| -> u32 {
            phc.params
                .get_decimal(name)
                .unwrap_or_else(|| panic!("{name} missing in {}", u.password_hash))
        };
        assert!(param("m") >= 19_456, "{}", u.password_hash);
        assert!(param("t") >= 2, "{}", u.password_hash);
        assert!(param("p") >= 1, "{}", u.password_hash);
        assert!(!u.password_hash.contains(PASSWORD));
    }
}
