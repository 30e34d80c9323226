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

/// Makes the database refuse new audit events (`on`) or accept them again.
async fn refuse_audit_events(app: &TestApp, on: bool) {
    use sea_orm::{ConnectionTrait, DatabaseBackend};
    let sql: &[&str] = match (app.db.get_database_backend(), on) {
        (DatabaseBackend::Sqlite, true) => {
            &["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit refused'); END"]
        }
        (DatabaseBackend::Sqlite, false) => &["DROP TRIGGER refuse_audit"],
        (_, true) => &[
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ],
        (_, false) => &["DROP TRIGGER refuse_audit ON audit_events"],
    };
    for statement in sql {
        app.db.execute_unprepared(statement).await.unwrap();
    }
}

/// How many runs the database holds.
async fn runs_stored(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    chap_scheduler::db::entities::flow_run::Entity::find()
        .count(&app.db)
        .await
        .unwrap()
}

/// Sends `request` to `path` five times at once: every answer must be a success naming the same
/// run, which is returned as the last answer gave it.
async fn one_run_of_five_at_once(
    app: &TestApp,
    token: &str,
    path: &str,
    request: serde_json::Value,
) -> serde_json::Value {
    let answers =
        futures_util::future::join_all((0..5).map(|_| app.post(path, token, request.clone())))
            .await;
    let mut runs = Vec::new();
    for resp in answers {
        assert!(resp.status().is_success(), "{}", resp.status());
        runs.push(body(resp).await);
    }
    let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every answer names the one run: {ids:?}"
    );
    runs.pop().unwrap()
}

#[tokio::test]
async fn a_run_is_created_together_with_its_audit_event_or_not_at_all() {
    let (app, admin) = spawn_app_without_workers().await;
    let dep = app.deployment("test-steps", &admin).await;
    let dep_id = dep["id"].as_str().unwrap();
    let first = app
        .trigger(dep_id, &admin, json!({ "greeting": "hi" }))
        .await;
    let first_id = first["id"].as_str().unwrap();
    app.engine
        .cancel(first_id.parse().unwrap(), "test")
        .await
        .unwrap();

    refuse_audit_events(&app, true).await;
    // A trigger whose audit event cannot be written answers an error and leaves no run behind: a
    // client that retries on the error must not get a second run it did not ask for.
    let resp = app
        .post(
            &format!("/api/v1/deployments/{dep_id}/runs"),
            &admin,
            json!({ "parameters": { "greeting": "hi" } }),
        )
        .await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert_eq!(runs_stored(&app).await, 1, "no run without its audit event");
    let resp = app
        .post(&format!("/api/v1/runs/{first_id}/retry"), &admin, json!({}))
        .await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert_eq!(
        runs_stored(&app).await,
        1,
        "no retry without its audit event"
    );

    refuse_audit_events(&app, false).await;
    let run = app
        .trigger(dep_id, &admin, json!({ "greeting": "hi" }))
        .await;
    let resp = app
        .post(&format!("/api/v1/runs/{first_id}/retry"), &admin, json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let retry = body(resp).await;
    assert_eq!(runs_stored(&app).await, 3);
    let page = body(app.get("/api/v1/audit?limit=500", &admin).await).await;
    let targets = |action: &str| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["target"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        targets("run.triggered"),
        [
            format!("run:{}", run["id"].as_str().unwrap()),
            format!("run:{first_id}")
        ]
    );
    assert_eq!(
        targets("run.retried"),
        [format!("run:{}", retry["id"].as_str().unwrap())]
    );
}

#[tokio::test]
async fn the_same_trigger_sent_five_times_at_once_makes_one_run_and_one_audit_event() {
    let (app, admin) = spawn_app_without_workers().await;
    let dep = app.deployment("test-steps", &admin).await;
    let path = format!("/api/v1/deployments/{}/runs", dep["id"].as_str().unwrap());
    let request = json!({ "parameters": { "greeting": "hi" }, "idempotency_key": "nightly-1" });
    let run = one_run_of_five_at_once(&app, &admin, &path, request).await;
    assert_eq!(run["state"], "PENDING", "{run}");
    assert_eq!(runs_stored(&app).await, 1);
    let page = body(app.get("/api/v1/audit?limit=500", &admin).await).await;
    let triggered = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "run.triggered")
        .count();
    assert_eq!(triggered, 1, "one event for the one run");
}

/// A trigger into a full deployment reads and locks nothing: its run, history and event are one
/// write (on PostgreSQL one statement). It is all or none as the other path is, and the same key
/// sent at once still makes one run.
#[tokio::test]
async fn a_trigger_into_a_full_deployment_writes_its_run_and_event_all_or_none() {
    let (app, admin) = spawn_app_without_workers().await;
    let dep = app.deployment("test-steps", &admin).await;
    let dep_id = dep["id"].as_str().unwrap();
    app.set_deployment(
        &admin,
        dep_id,
        json!({ "concurrency_limit": 1, "collision_strategy": "enqueue" }),
    )
    .await;
    // No worker takes it: PENDING holds the one slot.
    let first = app
        .trigger(dep_id, &admin, json!({ "greeting": "hi" }))
        .await;
    assert_eq!(first["state"], "PENDING");

    refuse_audit_events(&app, true).await;
    let path = format!("/api/v1/deployments/{dep_id}/runs");
    let resp = app
        .post(&path, &admin, json!({ "parameters": { "greeting": "hi" } }))
        .await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert_eq!(runs_stored(&app).await, 1, "no run without its audit event");
    refuse_audit_events(&app, false).await;

    let request = json!({ "parameters": { "greeting": "hi" }, "idempotency_key": "backlog-1" });
    let run = one_run_of_five_at_once(&app, &admin, &path, request).await;
    let run_id = run["id"].as_str().unwrap();
    assert_eq!(runs_stored(&app).await, 2);
    let detail = body(app.get(&format!("/api/v1/runs/{run_id}"), &admin).await).await;
    assert_eq!(detail["state"], "SCHEDULED");
    assert_eq!(detail["history"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(detail["history"][0]["state"], "SCHEDULED");
    let page = body(app.get("/api/v1/audit?limit=500", &admin).await).await;
    let mut targets: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "run.triggered")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    targets.sort_unstable();
    let mut expected = [
        format!("run:{}", first["id"].as_str().unwrap()),
        format!("run:{run_id}"),
    ];
    expected.sort_unstable();
    assert_eq!(targets, expected, "one event per run");
}
