use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn health_and_ready_answer_without_credentials() {
    let app = spawn_app().await;
    let h = browser().get(app.url("/health")).send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    assert_eq!(body(h).await["status"], "ok");
    let r = browser().get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = body(r).await;
    assert_eq!(r["status"], "ready");
    assert_eq!(r["checks"]["database"], "ok");
    assert_eq!(r["checks"]["queue"], "ok");
}

#[tokio::test]
async fn info_tells_version_and_backends_to_signed_in_users() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let info = body(app.get("/info", &token).await).await;
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(["sqlite", "postgres"].contains(&info["database"].as_str().unwrap()));
    let expected_queue = if std::env::var("CHAP_TEST_REDIS_URL").is_ok_and(|u| !u.is_empty()) {
        "redis"
    } else {
        "embedded"
    };
    assert_eq!(info["queue"], expected_queue);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/", "/runs/123", "/health", "/api/v1/auth/me", "/docs/"] {
        let r = browser().get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {path}"))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn client_routes_get_the_spa_and_unknown_api_paths_get_json_404() {
    let app = spawn_app().await;
    for path in ["/", "/runs", "/deployments/abc/schedules"] {
        let r = browser().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.text().await.unwrap().contains("/boot.js"), "{path}");
    }
    let js = browser().get(app.url("/boot.js")).send().await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let missing = browser().get(app.url("/missing.js")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let token = app.admin_token().await;
    for path in ["/api/v1/nothing-here", "/api/v2/whatever"] {
        // Without credentials nothing under /api/ tells whether a route exists.
        let anonymous = browser().get(app.url(path)).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = app.get(path, &token).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body(r).await["error"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn bad_bodies_get_the_common_error_shape() {
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_MAX_BODY_BYTES".into(), "1024".into());
    let app = spawn_app_with(vars).await;
    let login = app.url("/api/v1/auth/login");
    let r = browser()
        .post(&login)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(r).await["error"], "bad_request");

    let r = browser()
        .post(&login)
        .json(&serde_json::json!({ "username": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(r).await["error"], "validation_failed");

    let huge = serde_json::json!({ "username": "x", "password": "p".repeat(4096) });
    let r = browser().post(&login).json(&huge).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body(r).await["error"], "payload_too_large");
}

#[tokio::test]
async fn the_ui_assets_go_out_in_brotli_or_gzip_to_clients_that_take_it() {
    let app = spawn_app().await;
    let dir = std::path::PathBuf::from(&app.vars["CHAP_SCHEDULER_STATIC_DIR"]);
    std::fs::write(dir.join("app_bg.wasm"), b"\0asm plain").unwrap();
    // The server does not look inside: the copy's bytes show which file was sent.
    std::fs::write(dir.join("app_bg.wasm.gz"), b"gzipped copy").unwrap();
    std::fs::write(dir.join("app_bg.wasm.br"), b"brotli copy").unwrap();
    let get = |encoding: &'static str| {
        let request = browser().get(app.url("/app_bg.wasm"));
        async move {
            let r = if encoding.is_empty() {
                request
            } else {
                request.header("accept-encoding", encoding)
            }
            .send()
            .await
            .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "application/wasm");
            assert_eq!(r.headers()["vary"], "accept-encoding");
            let encoded = r
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_owned());
            (encoded, r.bytes().await.unwrap().to_vec())
        }
    };
    let br = (Some("br".to_string()), b"brotli copy".to_vec());
    let gz = (Some("gzip".to_string()), b"gzipped copy".to_vec());
    let plain = (None, b"\0asm plain".to_vec());
    assert_eq!(get("gzip, deflate, br").await, br);
    assert_eq!(get("br;q=0.5").await, br);
    assert_eq!(get("gzip;q=0, br").await, br);
    assert_eq!(get("gzip").await, gz);
    assert_eq!(get("br;q=0, gzip;q=0.8").await, gz);
    assert_eq!(get("BR ; q=0 , GZIP").await, gz);
    assert_eq!(get("").await, plain);
    assert_eq!(get("gzip;q=0, deflate").await, plain);
    // Without a Brotli copy, gzip.
    std::fs::remove_file(dir.join("app_bg.wasm.br")).unwrap();
    assert_eq!(get("gzip, br").await, gz);
    // Without a copy the file itself is sent; a copy without its file is not served.
    let js = browser()
        .get(app.url("/boot.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(js.headers().get("content-encoding").is_none());
    assert_eq!(js.text().await.unwrap(), "console.log('boot');");
    std::fs::remove_file(dir.join("app_bg.wasm")).unwrap();
    let gone = browser()
        .get(app.url("/app_bg.wasm"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lazy_modules_named_by_their_hash_are_cached_for_good_and_the_rest_revalidated() {
    let app = spawn_app().await;
    let dir = std::path::PathBuf::from(&app.vars["CHAP_SCHEDULER_STATIC_DIR"]);
    for file in [
        "app_bg.wasm",
        "__wasm_split.js",
        "split_runs-d1611b3838.wasm",
        "chunk_4-34e302eabc.wasm",
        "split_runs.wasm",
    ] {
        std::fs::write(dir.join(file), b"\0asm").unwrap();
    }
    std::fs::write(dir.join("split_runs-d1611b3838.wasm.br"), b"brotli copy").unwrap();
    let cache_control = |path: &'static str, encoding: &'static str| {
        let request = browser()
            .get(app.url(path))
            .header("accept-encoding", encoding);
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            r.headers()["cache-control"].to_str().unwrap().to_owned()
        }
    };
    let immutable = "public, max-age=31536000, immutable";
    assert_eq!(
        cache_control("/split_runs-d1611b3838.wasm", "br").await,
        immutable
    );
    assert_eq!(
        cache_control("/split_runs-d1611b3838.wasm", "").await,
        immutable
    );
    assert_eq!(
        cache_control("/chunk_4-34e302eabc.wasm", "gzip").await,
        immutable
    );
    // Files whose names do not change with their content are revalidated on every use, so a browser
    // never runs the main module of one build with the loader or lazy modules of another.
    for path in [
        "/app_bg.wasm",
        "/__wasm_split.js",
        "/boot.js",
        "/split_runs.wasm",
    ] {
        assert_eq!(cache_control(path, "br").await, "no-cache", "{path}");
    }
}

#[tokio::test]
async fn without_its_schema_the_database_is_not_ready_and_requests_answer_503() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.db
        .execute_unprepared("DROP TABLE audit_events")
        .await
        .unwrap();
    let r = app.get("/api/v1/audit", &admin).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(body(r).await["error"], "unavailable");

    app.db
        .execute_unprepared("DROP TABLE seaql_migrations")
        .await
        .unwrap();
    let r = browser().get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = body(r).await;
    assert_eq!(r["status"], "not_ready");
    assert_eq!(r["checks"]["database"], "not_migrated");
    // Alive all the same.
    let h = browser().get(app.url("/health")).send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_dropped_postgresql_database_is_503_unavailable_not_500() {
    use sea_orm::ConnectionTrait;
    let Some(server) = test_env("CHAP_TEST_DATABASE_URL") else {
        return; // PostgreSQL only: SQLite has no server to lose.
    };
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    let maintenance = sea_orm::Database::connect(server.as_str()).await.unwrap();
    maintenance
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    for path in ["/api/v1/runs", "/api/v1/deployments"] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(body(r).await["error"], "unavailable", "{path}");
    }
    let r = browser().get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body(r).await["checks"]["database"], "unavailable");
}

/// A database that does not answer (here: a lock on the schema's table held by another session, as
/// a frozen or overloaded server would hold every read) makes `/ready` answer 503 with
/// `database: unavailable` within seconds, not wait with it; `/health` answers all along, and both
/// are as before once the database answers again.
#[tokio::test]
async fn ready_answers_503_promptly_while_the_database_does_not_answer() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    if std::env::var("CHAP_TEST_DATABASE_URL").map_or(true, |u| u.is_empty()) {
        return; // PostgreSQL only: a SQLite reader is never kept waiting (WAL).
    }
    let app = spawn_app().await;
    let other = sea_orm::Database::connect(app.database_url.as_str())
        .await
        .unwrap();
    let holder = other.begin().await.unwrap();
    holder
        .execute_unprepared("LOCK TABLE seaql_migrations IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let probe = |path: &'static str| {
        let url = app.url(path);
        async move {
            browser()
                .get(url)
                .timeout(std::time::Duration::from_secs(15))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path} did not answer: {e}"))
        }
    };
    let r = probe("/ready").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = body(r).await;
    assert_eq!(r["status"], "not_ready", "{r}");
    assert_eq!(r["checks"]["database"], "unavailable", "{r}");
    assert_eq!(probe("/health").await.status(), StatusCode::OK);

    holder.rollback().await.unwrap();
    let r = probe("/ready").await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", body(r).await);
}
