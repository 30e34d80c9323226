use std::collections::HashMap;

use chap_scheduler::config::Config;
use chap_scheduler::startup::Application;
use chap_scheduler_api::{Role, TokenResponse, UserView};
use reqwest::{Client, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const JWT_SECRET: &str = "test-jwt-secret-test-jwt-secret-0123456789";
pub const PASSWORD: &str = "a-good-long-password";

/// A running application for one test.
pub struct TestApp {
    pub address: String,
    /// The configuration the app was built from (for worker processes on the same database and queue).
    pub vars: HashMap<String, String>,
    /// The database the app uses (for a second instance on the same database).
    pub database_url: String,
    pub db: DatabaseConnection,
    pub engine: chap_scheduler::orchestrator::Engine,
    /// The block store the engine and the API use.
    pub blocks: chap_scheduler::blocks::BlockStore,
    /// How many times the sleepy test flow's body started.
    pub sleepy_started: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// A client with its own cookie jar (a browser).
    pub client: Client,
    _data_dir: tempfile::TempDir,
}

/// Settings a test may override.
pub fn settings() -> HashMap<String, String> {
    HashMap::new()
}

/// An app on a Redis database of its own (`CHAP_TEST_FLUSH_REDIS_URL`, default the local Redis's
/// database `db`), without in-process workers, re-enqueueing lost entries after a second: a test may
/// FLUSHDB there without touching the queues of the tests running beside it.
pub async fn spawn_app_on_own_redis(db: u8, queue_prefix: &str) -> (TestApp, String) {
    let redis = std::env::var("CHAP_TEST_FLUSH_REDIS_URL")
        .unwrap_or_else(|_| format!("redis://127.0.0.1:6379/{db}"));
    let mut vars = settings();
    vars.insert("REDIS_URL".into(), redis.clone());
    vars.insert(
        "CHAP_SCHEDULER_QUEUE_NAME".into(),
        format!("{queue_prefix}:{}", uuid::Uuid::new_v4().simple()),
    );
    vars.insert("CHAP_SCHEDULER_IN_PROCESS_WORKERS".into(), "false".into());
    vars.insert("CHAP_SCHEDULER_REQUEUE_AFTER_SECONDS".into(), "1".into());
    (spawn_app_with(vars).await, redis)
}

/// An app without in-process workers (worker processes or the test itself claim its runs), and an
/// admin access token.
pub async fn spawn_app_without_workers() -> (TestApp, String) {
    let mut vars = settings();
    vars.insert("CHAP_SCHEDULER_IN_PROCESS_WORKERS".into(), "false".into());
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    (app, token)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(settings()).await
}

/// A test setting from the environment (`CHAP_TEST_DATABASE_URL`, `CHAP_TEST_REDIS_URL`), if set and
/// not empty.
pub fn test_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A fresh database for a test: SQLite in `data_dir`, or a new PostgreSQL database on the server
/// `CHAP_TEST_DATABASE_URL` names.
pub async fn database_url(data_dir: &std::path::Path) -> String {
    match std::env::var("CHAP_TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            let name = format!("chap_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(server.as_str())
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (base, _) = server.rsplit_once('/').expect("database URL has a path");
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", data_dir.join("test.db").display()),
    }
}

pub async fn spawn_app_with(mut overrides: HashMap<String, String>) -> TestApp {
    if let Ok(filter) = std::env::var("CHAP_TEST_LOG") {
        chap_scheduler::telemetry::init(&filter, "text");
    }
    chap_scheduler::install_crypto_provider();
    let data_dir = tempfile::tempdir().unwrap();
    let static_dir = data_dir.path().join("dist");
    std::fs::create_dir_all(&static_dir).unwrap();
    std::fs::write(
        static_dir.join("index.html"),
        "<!doctype html><title>chap-scheduler</title><script type=\"module\" src=\"/boot.js\"></script>",
    )
    .unwrap();
    std::fs::write(static_dir.join("boot.js"), "console.log('boot');").unwrap();
    let db_url = match overrides.get("DATABASE_URL") {
        Some(url) => url.clone(),
        None => database_url(data_dir.path()).await,
    };
    let mut vars: HashMap<String, String> = [
        ("CHAP_SCHEDULER_BIND", "127.0.0.1:0".to_string()),
        (
            "CHAP_SCHEDULER_DATA_DIR",
            data_dir.path().display().to_string(),
        ),
        (
            "CHAP_SCHEDULER_STATIC_DIR",
            static_dir.display().to_string(),
        ),
        ("CHAP_SCHEDULER_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("CHAP_SCHEDULER_JWT_SECRET", JWT_SECRET.to_string()),
        ("CHAP_SCHEDULER_LOG", "warn".to_string()),
        ("CHAP_SCHEDULER_HEARTBEAT_SECONDS", "0.25".to_string()),
        (
            "CHAP_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS",
            "1.5".to_string(),
        ),
        ("DATABASE_URL", db_url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Ok(redis) = std::env::var("CHAP_TEST_REDIS_URL") {
        if !redis.is_empty() {
            vars.insert("REDIS_URL".into(), redis);
            // Every test its own queue: tests share one Redis.
            vars.insert(
                "CHAP_SCHEDULER_QUEUE_NAME".into(),
                format!("chap-test:{}", uuid::Uuid::new_v4().simple()),
            );
        }
    }
    vars.extend(overrides.drain());
    let config = Config::from_source(&vars).expect("test configuration");
    let app_vars = vars.clone();
    let (registry, sleepy_started) = crate::test_flows::registry(&config);
    let app = Application::build_with(config, registry)
        .await
        .expect("build application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    let engine = app.engine().clone();
    let blocks = app.blocks().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        vars: app_vars,
        database_url: db_url,
        db,
        engine,
        blocks,
        sleepy_started,
        client: browser(),
        _data_dir: data_dir,
    }
}

/// The terminal run states.
pub const TERMINAL: &[&str] = &["COMPLETED", "FAILED", "CRASHED", "CANCELLED"];

/// Asserts that a run (its detail) COMPLETED at its first attempt, never CRASHED.
pub fn assert_completed_without_a_crash(done: &Value) {
    let states = states(&done["history"]);
    assert_eq!(done["state"], "COMPLETED", "{states:?}: {done}");
    assert_eq!(done["attempt"], 1, "executed once: {states:?}");
    assert!(!states.iter().any(|s| s == "CRASHED"), "{states:?}");
}

/// Asserts that the run `done` (as the API shows it) is in `state` and its message says `says`.
pub fn assert_ended_saying(done: &Value, state: &str, says: &str) {
    assert_eq!(done["state"], state, "{done}");
    assert!(
        done["state_message"]
            .as_str()
            .is_some_and(|m| m.contains(says)),
        "{done}"
    );
}

/// The states of a run's `history`, oldest first.
pub fn states(history: &Value) -> Vec<String> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap().to_string())
        .collect()
}

/// An app with `vars`, the admin's token and a run of `test-sleepy` for `seconds`: (app, token, run id).
pub async fn app_with_a_sleepy_run(
    vars: HashMap<String, String>,
    seconds: f64,
) -> (TestApp, String, String) {
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    let run = app
        .trigger_flow("test-sleepy", &token, json!({ "seconds": seconds }))
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    (app, token, id)
}

/// Opens a live stream of `run_id` and returns the response as soon as its headers came (the
/// stream stays open for as long as the response is kept).
pub async fn open_stream(app: &TestApp, token: &str, run_id: &str) -> Response {
    app.client
        .get(app.url(&format!("/api/v1/runs/{run_id}/logs/stream")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The seconds of a response's `Retry-After` header.
pub fn retry_after_secs(resp: &Response) -> u64 {
    resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A fresh HTTP client with its own cookie jar.
pub fn browser() -> Client {
    chap_scheduler::install_crypto_provider();
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn body(resp: Response) -> Value {
    resp.json().await.expect("JSON body")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Logs in with `client`; returns the raw response.
    pub async fn login_with(&self, client: &Client, username: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Logs in with this app's browser client and returns the access token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let resp = self.login_with(&self.client, username, password).await;
        assert_eq!(resp.status(), StatusCode::OK, "login as {username}");
        resp.json::<TokenResponse>().await.unwrap().access_token
    }

    pub async fn admin_token(&self) -> String {
        self.login_with(&browser(), "admin", ADMIN_PASSWORD)
            .await
            .json::<TokenResponse>()
            .await
            .unwrap()
            .access_token
    }

    /// Creates a user through the API as admin; returns it.
    pub async fn create_user(&self, username: &str, role: Role) -> UserView {
        let admin = self.admin_token().await;
        let resp = self
            .client
            .post(self.url("/api/v1/users"))
            .bearer_auth(admin)
            .json(&json!({ "username": username, "password": PASSWORD, "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json().await.unwrap()
    }

    /// A fresh session of a new user with the given role: (user, access token).
    pub async fn user_session(&self, username: &str, role: Role) -> (UserView, String) {
        let user = self.create_user(username, role).await;
        let token = self
            .login_with(&browser(), username, PASSWORD)
            .await
            .json::<TokenResponse>()
            .await
            .unwrap()
            .access_token;
        (user, token)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The default deployment of a test flow.
    pub async fn deployment(&self, flow: &str, token: &str) -> Value {
        let all = body(self.get("/api/v1/deployments", token).await).await;
        all.as_array()
            .unwrap()
            .iter()
            .find(|d| d["flow_name"] == flow && d["is_default"] == true)
            .cloned()
            .unwrap_or_else(|| panic!("no default deployment for {flow}: {all}"))
    }

    /// Triggers a run of a deployment; returns the run (asserting 201).
    pub async fn trigger(&self, deployment_id: &str, token: &str, parameters: Value) -> Value {
        let r = self
            .post(
                &format!("/api/v1/deployments/{deployment_id}/runs"),
                token,
                json!({ "parameters": parameters }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        body(r).await
    }

    /// Triggers a run of a flow's default deployment; returns the run (asserting 201).
    pub async fn trigger_flow(&self, flow: &str, token: &str, parameters: Value) -> Value {
        let dep = self.deployment(flow, token).await;
        self.trigger(dep["id"].as_str().unwrap(), token, parameters)
            .await
    }

    /// Triggers a run of `test-steps`, waits until it is COMPLETED and returns its row: a template that
    /// tests copy into histories of many runs.
    pub async fn completed_run_row(
        &self,
        token: &str,
    ) -> chap_scheduler::db::entities::flow_run::Model {
        use sea_orm::EntityTrait;
        let run = self
            .trigger_flow(
                "test-steps",
                token,
                json!({ "greeting": "kept", "count": 1 }),
            )
            .await;
        let id = run["id"].as_str().unwrap().to_string();
        self.wait_for(&id, token, &["COMPLETED"]).await;
        chap_scheduler::db::entities::flow_run::Entity::find_by_id(
            id.parse::<uuid::Uuid>().unwrap(),
        )
        .one(&self.db)
        .await
        .unwrap()
        .unwrap()
    }

    /// The messages of a run's first page of log lines, oldest first.
    pub async fn log_messages(&self, run_id: &str, token: &str) -> Vec<String> {
        let logs = body(
            self.get(&format!("/api/v1/runs/{run_id}/logs"), token)
                .await,
        )
        .await;
        logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["message"].as_str().unwrap().to_string())
            .collect()
    }

    /// Polls a run until it is in one of `states` (20 s at most); returns its detail.
    pub async fn wait_for(&self, run_id: &str, token: &str, states: &[&str]) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let run = body(self.get(&format!("/api/v1/runs/{run_id}"), token).await).await;
            if states.contains(&run["state"].as_str().unwrap_or("")) {
                return run;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run never reached {states:?}: {run}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Changes the default deployment of `flow` (asserting 200); returns its id.
    /// The `test-sleepy` deployment, retried once at once when an attempt fails or crashes: its id.
    pub async fn sleepy_retried_once(&self, token: &str) -> String {
        self.configure_flow(
            "test-sleepy",
            token,
            json!({ "retries": 1, "retry_delay_seconds": 0 }),
        )
        .await
    }

    pub async fn configure_flow(&self, flow: &str, token: &str, change: Value) -> String {
        let dep = self.deployment(flow, token).await;
        let id = dep["id"].as_str().unwrap().to_string();
        self.set_deployment(token, &id, change).await;
        id
    }

    /// Changes a deployment (asserting 200).
    pub async fn set_deployment(&self, token: &str, id: &str, change: Value) {
        let r = self
            .client
            .patch(self.url(&format!("/api/v1/deployments/{id}")))
            .bearer_auth(token)
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{change}");
    }

    /// The OpenAPI document the app serves (without credentials, as anyone may).
    pub async fn openapi_document(&self) -> Value {
        body(
            browser()
                .get(self.url("/api/openapi.json"))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// The status and body of one HTTP/1.1 request sent byte for byte as given: the path is not
/// normalised or re-encoded (no HTTP client library lets a test send `/%61pi` or `/./api` as is).
pub async fn raw_request(
    address: &str,
    method: &str,
    raw_path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut request =
        format!("{method} {raw_path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || !["GET", "HEAD"].contains(&method) {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in the answer to {method} {raw_path}: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
