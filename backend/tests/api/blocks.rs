use std::collections::HashMap;

use base64::Engine;
use chap_scheduler::blocks::BlockStore;
use chap_scheduler::orchestrator::BlockSource;
use chap_scheduler::secrets::KeyRing;
use chap_scheduler_api::Role;
use reqwest::StatusCode;
use sea_orm::{FromQueryResult, JsonValue, Statement};
use serde_json::{json, Value};

use crate::helpers::*;

const SECRET: &str = "s3cret-district-pass";

fn key_text(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

async fn spawn_with_key(spec: &str) -> TestApp {
    spawn_app_with(HashMap::from([(
        "CHAP_SCHEDULER_ENCRYPTION_KEY".to_string(),
        spec.to_string(),
    )]))
    .await
}

/// A block reaching the simulator with its credentials (or `password` instead).
fn sim_block(name: &str, sim: &dhis2_sim::SimHandle, password: Option<&str>) -> Value {
    json!({
        "name": name,
        "block_type": "dhis2-credentials",
        "data": {
            "base_url": format!("{}/", sim.base_url()),
            "username": sim.username(),
            "password": password.map(str::to_string).unwrap_or_else(|| sim.password()),
        }
    })
}

fn credentials(name: &str, base_url: &str, password: &str) -> Value {
    json!({
        "name": name,
        "block_type": "dhis2-credentials",
        "data": { "base_url": base_url, "username": "admin", "password": password }
    })
}

impl TestApp {
    pub(crate) async fn patch(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Creates a block as admin; returns its view (asserting 201).
    async fn create_block(&self, admin: &str, body: Value) -> Value {
        let resp = self.post("/api/v1/blocks", admin, body).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        crate::helpers::body(resp).await
    }

    /// The decrypted password of a block, through the engine's block source.
    async fn stored_password(&self, id: &str) -> String {
        let block = self
            .blocks
            .load(id.parse().unwrap())
            .await
            .unwrap()
            .expect("the block exists");
        assert_eq!(block.secrets.len(), 1);
        block.data["password"].as_str().unwrap().to_string()
    }

    /// Every row of a table, every column, as JSON text (JSON columns unescaped, whether the
    /// database returns them as text or as JSON).
    async fn dump(&self, table: &str) -> String {
        let backend = self.db.get_database_backend();
        let rows = JsonValue::find_by_statement(Statement::from_string(
            backend,
            format!("SELECT * FROM {table}"),
        ))
        .all(&self.db)
        .await
        .unwrap();
        Value::Array(rows).to_string().replace("\\\"", "\"")
    }
}

#[tokio::test]
async fn block_types_are_listed_with_their_secret_fields_marked_write_only() {
    let app = spawn_app().await;
    let (_, viewer) = app.user_session("vera", Role::Viewer).await;
    let resp = app.get("/api/v1/block-types", &viewer).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let types = body(resp).await;
    let dhis2 = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == "dhis2-credentials")
        .expect("dhis2-credentials is listed");
    assert_eq!(dhis2["secret_fields"], json!(["password", "token"]));
    let password = &dhis2["schema"]["properties"]["password"];
    assert_eq!(password["writeOnly"], true);
    assert_eq!(password["format"], "password");
    assert_eq!(dhis2["schema"]["required"], json!(["base_url"]));
    assert_eq!(
        dhis2["schema"]["allOf"][0]["then"]["required"],
        json!(["username", "password"])
    );
    assert_eq!(
        dhis2["schema"]["allOf"][1]["then"]["required"],
        json!(["token"])
    );
}

#[tokio::test]
async fn viewers_read_blocks_and_only_admins_create_change_or_delete_them() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_session("vera", Role::Viewer).await;
    let (_, operator) = app.user_session("otto", Role::Operator).await;
    let body_ = credentials("prod", "https://dhis.example.org", SECRET);
    for token in [&viewer, &operator] {
        let resp = app.post("/api/v1/blocks", token, body_.clone()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
    let created = app.create_block(&admin, body_).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["name"], "prod");
    assert_eq!(created["block_type"], "dhis2-credentials");
    assert_eq!(
        created["data"],
        json!({ "base_url": "https://dhis.example.org", "username": "admin", "password_set": true, "token_set": false })
    );

    let list = body(app.get("/api/v1/blocks", &viewer).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["data"]["password_set"], true);
    let one = app.get(&format!("/api/v1/blocks/{id}"), &viewer).await;
    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(body(one).await, created);

    let path = format!("/api/v1/blocks/{id}");
    for token in [&viewer, &operator] {
        let r = app.patch(&path, token, json!({ "name": "x" })).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            app.delete(&path, token).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let renamed = app
        .patch(&path, &admin, json!({ "name": "production" }))
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(body(renamed).await["name"], "production");
    assert_eq!(
        app.delete(&path, &admin).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&path, &viewer).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&path, &admin).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn invalid_fields_are_refused_with_details_per_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let resp = app
        .post(
            "/api/v1/blocks",
            &admin,
            json!({ "name": "bad", "block_type": "dhis2-credentials",
                    "data": { "base_url": "ftp://dhis.example.org", "colour": "red" } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = body(resp).await;
    assert_eq!(err["error"], "validation_failed");
    let details = &err["details"];
    for field in ["data.username", "data.password", "data.colour"] {
        assert!(details[field].is_string(), "{field} missing in {err}");
    }
    // The URL is checked once the schema passes.
    let resp = app
        .post(
            "/api/v1/blocks",
            &admin,
            credentials("bad", "dhis.example.org", SECRET),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = body(resp).await;
    assert!(err["details"]["data.base_url"].is_string(), "{err}");
    assert!(!err.to_string().contains(SECRET));

    let unknown = app
        .post(
            "/api/v1/blocks",
            &admin,
            json!({ "name": "x", "block_type": "aws-credentials", "data": {} }),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(unknown).await["details"]["block_type"].is_string());
    let blank = app
        .post(
            "/api/v1/blocks",
            &admin,
            credentials("  ", "https://dhis.example.org", SECRET),
        )
        .await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(blank).await["details"]["name"].is_string());
    let not_object = app
        .post(
            "/api/v1/blocks",
            &admin,
            json!({ "name": "x", "block_type": "dhis2-credentials", "data": [1] }),
        )
        .await;
    assert_eq!(not_object.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = app
        .post("/api/v1/blocks", &admin, json!({ "name": "x" }))
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let created = app
        .create_block(
            &admin,
            credentials("ok", "https://dhis.example.org", SECRET),
        )
        .await;
    let path = format!("/api/v1/blocks/{}", created["id"].as_str().unwrap());
    let resp = app
        .patch(
            &path,
            &admin,
            json!({ "data": { "base_url": "http://", "username": "" } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = body(resp).await;
    assert!(err["details"]["data.username"].is_string(), "{err}");
    let unchanged = body(app.get(&path, &admin).await).await;
    assert_eq!(unchanged["data"]["base_url"], "https://dhis.example.org");
}

#[tokio::test]
async fn the_trailing_slash_of_the_base_url_is_trimmed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .create_block(
            &admin,
            credentials("prod", "https://dhis.example.org/dhis/", SECRET),
        )
        .await;
    assert_eq!(created["data"]["base_url"], "https://dhis.example.org/dhis");
    let path = format!("/api/v1/blocks/{}", created["id"].as_str().unwrap());
    let updated = app
        .patch(
            &path,
            &admin,
            json!({ "data": { "base_url": "https://play.dhis2.org//" } }),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    assert_eq!(
        body(updated).await["data"]["base_url"],
        "https://play.dhis2.org"
    );
}

#[tokio::test]
async fn a_duplicate_name_is_a_conflict() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_block(&admin, credentials("prod", "https://a.example.org", SECRET))
        .await;
    let again = app
        .post(
            "/api/v1/blocks",
            &admin,
            credentials(" prod ", "https://b.example.org", SECRET),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(body(again).await["error"], "conflict");
    let other = app
        .create_block(&admin, credentials("test", "https://b.example.org", SECRET))
        .await;
    let rename = app
        .patch(
            &format!("/api/v1/blocks/{}", other["id"].as_str().unwrap()),
            &admin,
            json!({ "name": "prod" }),
        )
        .await;
    assert_eq!(rename.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_update_without_the_password_keeps_it_and_a_new_one_replaces_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .create_block(&admin, credentials("prod", "https://a.example.org", SECRET))
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/blocks/{id}");
    assert_eq!(app.stored_password(id).await, SECRET);

    for keep in [
        json!({ "data": { "username": "bob" } }),
        json!({ "data": { "password": null } }),
        json!({ "data": { "password": "" } }),
        json!({ "name": "production" }),
    ] {
        let resp = app.patch(&path, &admin, keep.clone()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{keep}");
        assert_eq!(body(resp).await["data"]["password_set"], true);
        assert_eq!(app.stored_password(id).await, SECRET, "after {keep}");
    }
    let block = app.blocks.load(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(block.data["username"], "bob");
    assert_eq!(block.secrets, vec![SECRET.to_string()]);

    let resp = app
        .patch(
            &path,
            &admin,
            json!({ "data": { "password": "a-new-password" } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.stored_password(id).await, "a-new-password");
}

#[tokio::test]
async fn the_password_appears_in_no_response_and_nowhere_in_clear_in_the_database() {
    let sim = dhis2_sim::Simulator::start(dhis2_sim::Scenario::fixture())
        .await
        .unwrap();
    let password = sim.password();
    let second = "another-secret-pass";
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut seen = Vec::new();

    let resp = app
        .post("/api/v1/blocks", &admin, sim_block("sim", &sim, None))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created = body(resp).await;
    seen.push(created.to_string());
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/blocks/{id}");
    seen.push(
        body(app.get("/api/v1/blocks", &admin).await)
            .await
            .to_string(),
    );
    seen.push(body(app.get(&path, &admin).await).await.to_string());
    seen.push(
        body(
            app.patch(
                &path,
                &admin,
                json!({ "name": "renamed", "data": { "username": sim.username() } }),
            )
            .await,
        )
        .await
        .to_string(),
    );
    let tested = body(app.post(&format!("{path}/test"), &admin, json!({})).await).await;
    assert_eq!(tested["dhis2"]["ok"], true, "{tested}");
    seen.push(tested.to_string());
    seen.push(
        body(
            app.patch(&path, &admin, json!({ "data": { "password": second } }))
                .await,
        )
        .await
        .to_string(),
    );
    seen.push(
        body(app.post(&format!("{path}/test"), &admin, json!({})).await)
            .await
            .to_string(),
    );
    let duplicate = app
        .post(
            "/api/v1/blocks",
            &admin,
            credentials("sim", &sim.base_url(), &password),
        )
        .await;
    seen.push(body(duplicate).await.to_string());
    seen.push(
        body(app.get("/api/v1/audit?limit=500", &admin).await)
            .await
            .to_string(),
    );
    let audit = seen.last().unwrap().clone();
    for action in ["block.created", "block.updated"] {
        assert!(audit.contains(action), "{action} not audited: {audit}");
    }
    let database = format!(
        "{}\n{}",
        app.dump("blocks").await,
        app.dump("audit_events").await
    );
    assert!(
        database.contains("\"ct\""),
        "the secret is stored sealed: {database}"
    );

    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in [password.as_str(), second] {
        for text in seen.iter().chain([&database]) {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
            assert!(
                !text.contains(&b64.encode(secret)),
                "{secret} leaked encoded in {text}"
            );
        }
    }
}

#[tokio::test]
async fn block_changes_are_audited_by_name_and_field_never_by_value() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .create_block(&admin, credentials("prod", "https://a.example.org", SECRET))
        .await;
    let path = format!("/api/v1/blocks/{}", created["id"].as_str().unwrap());
    app.patch(
        &path,
        &admin,
        json!({ "data": { "base_url": "https://b.example.org", "password": "rotated-password" } }),
    )
    .await;
    app.delete(&path, &admin).await;
    let page = body(app.get("/api/v1/audit?limit=500", &admin).await).await;
    let events: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("block."))
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["block.deleted", "block.updated", "block.created"]);
    let updated = events[1];
    assert_eq!(updated["actor"], "admin");
    assert_eq!(
        updated["target"],
        format!("block:{}", created["id"].as_str().unwrap())
    );
    assert_eq!(
        updated["detail"]["changed"],
        json!(["base_url", "password"])
    );
    let text = page.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains("rotated-password"),
        "{text}"
    );
}

#[tokio::test]
async fn a_wrong_encryption_key_refuses_to_decrypt_with_a_clear_error() {
    let app = spawn_with_key(&format!("A:{}", key_text(1))).await;
    let admin = app.admin_token().await;
    let created = app
        .create_block(&admin, credentials("prod", "https://a.example.org", SECRET))
        .await;
    let id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.stored_password(&id.to_string()).await, SECRET);

    let other_key = BlockStore::new(
        app.db.clone(),
        KeyRing::parse(&format!("A:{}", key_text(2)))
            .unwrap()
            .into(),
    );
    let err = format!("{:#}", other_key.load(id).await.unwrap_err());
    assert!(
        err.contains("cannot decrypt `password` of block `prod`"),
        "{err}"
    );
    assert!(
        err.contains("not the key the value was encrypted with"),
        "{err}"
    );
    assert!(!err.contains(SECRET));

    let missing_key = BlockStore::new(
        app.db.clone(),
        KeyRing::parse(&format!("B:{}", key_text(3)))
            .unwrap()
            .into(),
    );
    let err = format!("{:#}", missing_key.load(id).await.unwrap_err());
    assert!(err.contains("key id `A`"), "{err}");
    assert_eq!(
        missing_key.missing_keys().await.unwrap(),
        vec![("prod".to_string(), "A".to_string())]
    );
    assert!(app.blocks.missing_keys().await.unwrap().is_empty());
    assert!(err.contains("CHAP_SCHEDULER_ENCRYPTION_KEY"), "{err}");
    // Reading never needs the key.
    let view = body(app.get(&format!("/api/v1/blocks/{id}"), &admin).await).await;
    assert_eq!(view["data"]["password_set"], true);
}

#[tokio::test]
async fn a_value_encrypted_under_an_old_key_decrypts_after_rotation() {
    let (a, b) = (key_text(1), key_text(2));
    let app = spawn_with_key(&format!("A:{a}")).await;
    let admin = app.admin_token().await;
    let created = app
        .create_block(&admin, credentials("prod", "https://a.example.org", SECRET))
        .await;
    let id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();

    let rotated = BlockStore::new(
        app.db.clone(),
        KeyRing::parse(&format!("B:{b},A:{a}")).unwrap().into(),
    );
    let block = rotated.load(id).await.unwrap().unwrap();
    assert_eq!(block.data["password"], SECRET);

    // A new password is sealed under the new first key; the old ring can no longer read it.
    rotated
        .update(
            id,
            serde_json::from_value(json!({ "data": { "password": "after-rotation" } })).unwrap(),
        )
        .await
        .unwrap();
    assert!(app.dump("blocks").await.contains("\"kid\":\"B\""));
    assert_eq!(
        rotated.load(id).await.unwrap().unwrap().data["password"],
        "after-rotation"
    );
    let err = format!("{:#}", app.blocks.load(id).await.unwrap_err());
    assert!(err.contains("key id `B`"), "{err}");
}

#[tokio::test]
async fn start_refuses_an_invalid_encryption_key_naming_the_variable() {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert(
        "CHAP_SCHEDULER_ENCRYPTION_KEY".into(),
        "too-short-to-be-a-key".into(),
    );
    let err = chap_scheduler::config::Config::from_source(&vars)
        .unwrap_err()
        .to_string();
    assert!(err.contains("CHAP_SCHEDULER_ENCRYPTION_KEY"), "{err}");
    assert!(!err.contains("too-short-to-be-a-key"), "{err}");
}

#[tokio::test]
async fn testing_a_block_against_the_simulator_reports_both_versions() {
    let sim = dhis2_sim::Simulator::start(dhis2_sim::Scenario::fixture())
        .await
        .unwrap();
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, operator) = app.user_session("otto", Role::Operator).await;
    let (_, viewer) = app.user_session("vera", Role::Viewer).await;
    let created = app.create_block(&admin, sim_block("sim", &sim, None)).await;
    let path = format!("/api/v1/blocks/{}/test", created["id"].as_str().unwrap());
    assert_eq!(
        app.post(&path, &viewer, json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    let resp = app.post(&path, &operator, json!({})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let result = body(resp).await;
    let scenario = sim.scenario();
    assert_eq!(
        result,
        json!({
            "dhis2": { "ok": true, "version": scenario.dhis2.version },
            "chap": { "ok": true, "version": scenario.chap.chap_core_version },
            "account": { "ok": true, "username": scenario.username, "can_import_data_values": true },
        })
    );
    assert_eq!(sim.count("GET", "/api/system/info"), 1);
    assert_eq!(sim.count("GET", "/api/routes/chap/run/system/info"), 1);
    let missing = app
        .post(
            &format!("/api/v1/blocks/{}/test", uuid::Uuid::new_v4()),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn testing_with_a_wrong_password_or_a_stopped_simulator_reports_the_failure_without_the_password(
) {
    let sim = dhis2_sim::Simulator::start(dhis2_sim::Scenario::fixture())
        .await
        .unwrap();
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let wrong = "wrong-password-for-sim";
    let bad = app
        .create_block(&admin, sim_block("bad", &sim, Some(wrong)))
        .await;
    let resp = app
        .post(
            &format!("/api/v1/blocks/{}/test", bad["id"].as_str().unwrap()),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let result = body(resp).await;
    for service in ["dhis2", "chap"] {
        assert_eq!(result[service]["ok"], false, "{result}");
        assert!(
            result[service]["error"].as_str().unwrap().contains("401"),
            "{result}"
        );
    }
    assert!(!result.to_string().contains(wrong), "{result}");

    let good = app
        .create_block(
            &admin,
            credentials("good", &sim.base_url(), &sim.password()),
        )
        .await;
    sim.stop_listening().await;
    let resp = app
        .post(
            &format!("/api/v1/blocks/{}/test", good["id"].as_str().unwrap()),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let result = body(resp).await;
    for service in ["dhis2", "chap"] {
        assert_eq!(result[service]["ok"], false, "{result}");
        assert!(result[service].get("version").is_none(), "{result}");
        assert!(!result[service]["error"].as_str().unwrap().is_empty());
    }
    assert!(!result.to_string().contains(&sim.password()), "{result}");
}

#[tokio::test]
async fn a_block_used_by_a_deployment_cannot_be_deleted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .create_block(&admin, credentials("prod", "https://a.example.org", SECRET))
        .await;
    let id = created["id"].as_str().unwrap();
    let deployment = app.deployment("test-flaky", &admin).await;
    let dep_path = format!("/api/v1/deployments/{}", deployment["id"].as_str().unwrap());
    let resp = app
        .patch(
            &dep_path,
            &admin,
            json!({ "parameters": { "credentials": id } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let path = format!("/api/v1/blocks/{id}");
    let refused = app.delete(&path, &admin).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let err = body(refused).await;
    assert!(
        err["message"].as_str().unwrap().contains("test-flaky"),
        "{err}"
    );
    assert_eq!(app.get(&path, &admin).await.status(), StatusCode::OK);

    let resp = app
        .patch(&dep_path, &admin, json!({ "parameters": {} }))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&path, &admin).await.status(),
        StatusCode::NO_CONTENT
    );
}
