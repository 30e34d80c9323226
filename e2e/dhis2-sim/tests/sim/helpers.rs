use dhis2_sim::{Scenario, SimHandle, Simulator};
use reqwest::{Response, StatusCode};
use serde_json::Value;

/// How a [`Client`] authenticates.
#[derive(Clone)]
enum Auth {
    Basic(String, String),
    Token(String),
}

/// A client that speaks to the simulator as the scheduler does (basic auth, or a personal access
/// token, on every call).
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    auth: Auth,
}

impl Client {
    pub fn new(sim: &SimHandle) -> Client {
        Client {
            http: http_client(),
            base: sim.base_url(),
            auth: Auth::Basic(sim.username(), sim.password()),
        }
    }

    /// A client that sends `Authorization: ApiToken <token>`.
    pub fn with_token(sim: &SimHandle, token: &str) -> Client {
        Client {
            auth: Auth::Token(token.to_string()),
            ..Client::new(sim)
        }
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
            Auth::Token(token) => request.header("Authorization", format!("ApiToken {token}")),
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.authed(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    /// POSTs raw bytes as JSON to a DHIS2 path.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .authed(self.http.post(format!("{}{path}", self.base)))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// POSTs JSON to a DHIS2 path.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, serde_json::to_vec(body).unwrap()).await
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn chap(&self, path: &str) -> (StatusCode, Value) {
        self.get_json(&format!("{}{path}", dhis2_sim::CHAP_ROUTE_PREFIX))
            .await
    }

    pub async fn post_chap(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post(&format!("{}{path}", dhis2_sim::CHAP_ROUTE_PREFIX), body)
            .await
    }
}

pub async fn start(scenario: Scenario) -> (SimHandle, Client) {
    let sim = Simulator::start(scenario).await.unwrap();
    let client = Client::new(&sim);
    (sim, client)
}

/// `GET /api/analytics` with the three dimensions in the flow's order.
pub fn analytics_path(dx: &[&str], pe: &str, ou: &[&str]) -> String {
    format!(
        "/api/analytics?dimension=dx:{}&dimension=pe:{pe}&dimension=ou:{}",
        dx.join(";"),
        ou.join(";")
    )
}

/// The rows of an analytics answer, as string cells.
pub fn rows(body: &Value) -> Vec<Vec<String>> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    c.as_str()
                        .expect("every analytics cell is a string")
                        .to_string()
                })
                .collect()
        })
        .collect()
}

pub fn header_names(body: &Value) -> Vec<String> {
    body["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect()
}

/// A valid run body for the fixture's org units, ending at `last_period`.
pub fn run_body(name: &str, periods: &[&str], n_periods: i64) -> Value {
    let mut provided = Vec::new();
    for ou in ["OU1", "OU2"] {
        for period in periods {
            provided.push(serde_json::json!({"featureName": "population", "orgUnit": ou, "period": period, "value": 1000.0}));
        }
    }
    serde_json::json!({
        "name": name,
        "geojson": {"type": "FeatureCollection", "features": []},
        "providedData": provided,
        "nPeriods": n_periods,
        "type": "forecasting",
    })
}

/// A plain HTTP client (the workspace's reqwest needs a rustls provider installed first).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Submits a run of the fixture's org units ending at `last_period` and polls its job to success;
/// returns the prediction id.
pub async fn finished_prediction(client: &Client, setup_id: i64, last_period: &str) -> i64 {
    let (status, job) = client
        .post_chap(
            &format!("/v1/crud/prediction-setups/{setup_id}/run"),
            &run_body("run", &[last_period], 3),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let job = job["id"].as_str().unwrap().to_string();
    for _ in 0..20 {
        if client.chap(&format!("/v1/jobs/{job}")).await.1 == "SUCCESS" {
            break;
        }
    }
    let (_, listed) = client.chap(&format!("/v1/jobs?ids={job}")).await;
    listed[0]["result"]
        .as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| listed[0]["result"].as_i64())
        .expect("the job succeeded with a prediction id")
}
