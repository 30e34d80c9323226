//! A delivery survives the process: the real `chap-scheduler serve` binary writes a `run.failed`
//! delivery whose receiver is down, is killed with SIGKILL, and once the receiver is up the restarted
//! `serve` delivers it — exactly once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dhis2_sim::{Rejection, Scenario, Simulator};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_chap-scheduler");
const PASSWORD: &str = "admin-password-for-restart";

/// `serve` on a data directory of its own; killed when dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is owned by `Serve`, which kills and reaps it when dropped.
#[allow(clippy::zombie_processes)]
fn serve(data_dir: &std::path::Path) -> Serve {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHAP_SCHEDULER_DATA_DIR", data_dir)
        .env("CHAP_SCHEDULER_BIND", "127.0.0.1:0")
        .env("CHAP_SCHEDULER_ADMIN_PASSWORD", PASSWORD)
        .env("CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS", "2")
        .env("CHAP_SCHEDULER_PREDICTION_POLL_SECONDS", "0.05")
        .env("CHAP_SCHEDULER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            let url = url.to_string();
            std::thread::spawn(move || for _ in lines {});
            return Serve { child, url };
        }
    }
}

struct Api {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn login(url: &str) -> Api {
        let client = reqwest::Client::new();
        let resp = client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&json!({ "username": "admin", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let token = resp.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        Api {
            client,
            url: url.to_string(),
            token,
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "POST {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    /// Polls the run's deliveries until `done`.
    async fn deliveries_until(&self, run: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let list = self.get(&format!("/api/v1/runs/{run}/deliveries")).await;
            if list.get(0).is_some_and(&done) {
                return list;
            }
            assert!(tokio::time::Instant::now() < deadline, "not yet: {list}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn a_delivery_pending_when_serve_is_killed_is_sent_after_the_restart_once() {
    chap_scheduler::install_crypto_provider();
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.rejection = Some(Rejection {
        status: 500,
        body: json!({ "detail": "chap fell over" }),
        times: None,
    });
    let sim = Simulator::start(scenario).await.unwrap();
    // The receiver's port, with nothing listening on it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();

    let first = serve(data.path());
    let api = Api::login(&first.url).await;
    let dhis2 = api
        .post(
            "/api/v1/blocks",
            json!({ "name": "sim", "block_type": "dhis2-credentials",
                    "data": { "base_url": sim.base_url(), "username": sim.username(), "password": sim.password() } }),
        )
        .await;
    let hook = api
        .post(
            "/api/v1/blocks",
            json!({ "name": "hook", "block_type": "webhook",
                    "data": { "url": format!("http://127.0.0.1:{port}/hook") } }),
        )
        .await;
    api.post(
        "/api/v1/notification-rules",
        json!({ "name": "failures", "channel": hook["id"], "events": ["run.failed"] }),
    )
    .await;
    let deployments = api.get("/api/v1/deployments").await;
    let dep = deployments
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["flow_name"] == "dhis2-chap-prediction")
        .unwrap();
    let run = api
        .post(
            &format!("/api/v1/deployments/{}/runs", dep["id"].as_str().unwrap()),
            json!({ "parameters": { "credentials": dhis2["id"] } }),
        )
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    // The receiver is down: the first attempt fails, the next is 2 s away.
    let list = api.deliveries_until(&id, |d| d["attempts"] == 1).await;
    assert_eq!(list[0]["status"], "pending");
    assert!(
        list[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{list}"
    );
    drop(first); // SIGKILL

    let receiver = MockServer::builder()
        .listener(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap())
        .start()
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let second = serve(data.path());
    let api = Api::login(&second.url).await;
    let list = api.deliveries_until(&id, |d| d["status"] == "sent").await;
    assert_eq!(list[0]["attempts"], 2, "{list}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = receiver.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "sent once");
    let payload: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(payload["run"]["id"], id.as_str());
    assert_eq!(payload["event"], "run.failed");
}
