use dhis2_sim::{Scenario, SimHandle, Simulator};
use reqwest::{Response, StatusCode};
use serde_json::Value;

/// A client that speaks to the simulator as the scheduler does (basic auth on every call).
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    user: String,
    password: String,
}

impl Client {
    pub fn new(sim: &SimHandle) -> Client {
        Client {
            http: http_client(),
            base: sim.base_url(),
            user: sim.username(),
            password: sim.password(),
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .unwrap()
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
        let response = self
            .http
            .post(format!(
                "{}{}{path}",
                self.base,
                dhis2_sim::CHAP_ROUTE_PREFIX
            ))
            .basic_auth(&self.user, Some(&self.password))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
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
