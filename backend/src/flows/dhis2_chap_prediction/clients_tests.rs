use secrecy::SecretString;
use serde_json::json;
use url::Url;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::flows::dhis2_chap_prediction::analytics::{
    AnalyticsRequest, ChunkLimits, PeriodDimension,
};
use crate::flows::dhis2_chap_prediction::model::CovariateSource;
use crate::flows::dhis2_chap_prediction::periods::PeriodType;

const PASSWORD: &str = "hunter2";
// base64("alice:hunter2")
const BASIC: &str = "Basic YWxpY2U6aHVudGVyMg==";

fn settings() -> HttpSettings {
    HttpSettings {
        retry_base_delay: Duration::from_millis(1),
        retry_max_delay: Duration::from_millis(5),
        ..HttpSettings::default()
    }
}

fn clients_with(server: &MockServer, settings: HttpSettings) -> RunClients {
    let creds = Credentials::basic(
        Url::parse(&server.uri()).unwrap(),
        "alice",
        SecretString::from(PASSWORD.to_string()),
    );
    RunClients::new(&creds, settings).unwrap()
}

fn clients(server: &MockServer) -> RunClients {
    clients_with(server, settings())
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

fn pairs(req: &wiremock::Request) -> Vec<(String, String)> {
    req.url.query_pairs().into_owned().collect()
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(PASSWORD), "password leaked: {text}");
    assert!(
        !text.contains("YWxpY2U6aHVudGVyMg"),
        "encoded credentials leaked: {text}"
    );
}

fn sources() -> Vec<CovariateSource> {
    [("population", "POP1"), ("rainfall", "RAIN1")]
        .iter()
        .map(|(c, d)| CovariateSource {
            covariate: (*c).into(),
            data_element_id: (*d).into(),
        })
        .collect()
}

#[tokio::test]
async fn dhis2_system_info_is_fetched_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/system/info"))
        .and(header("authorization", BASIC))
        .and(header("accept", "application/json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"version": "2.44-SNAPSHOT", "systemName": "Demo"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let info = clients(&server).dhis2.system_info().await.unwrap();
    assert_eq!(info.version, "2.44-SNAPSHOT");
}

#[tokio::test]
async fn the_probe_sends_dimension_three_times_in_order_and_nothing_else() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/analytics"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "headers": [{"name": "dx"}, {"name": "pe"}, {"name": "ou"}, {"name": "value"}],
            "rows": [["POP1", "202601", "OU1", "1"]]})))
        .mount(&server)
        .await;
    let req = AnalyticsRequest::probe(
        &sources(),
        PeriodType::Month.relative_window(),
        &["OU1".into(), "OU2".into()],
    );
    let table = clients(&server)
        .dhis2
        .analytics_chunked(&req)
        .await
        .unwrap();
    assert_eq!(table.rows.len(), 1);
    let got = requests(&server).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        pairs(&got[0]),
        [
            ("dimension".to_string(), "dx:POP1;RAIN1".to_string()),
            ("dimension".into(), "pe:LAST_12_MONTHS".into()),
            ("dimension".into(), "ou:OU1;OU2".into())
        ]
    );
}

#[tokio::test]
async fn a_large_analytics_request_is_chunked_and_merged() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/analytics"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"rows": [["POP1", "202601", "OU1", "1"]]})),
        )
        .mount(&server)
        .await;
    let req = AnalyticsRequest {
        dx: vec!["POP1".into(), "RAIN1".into()],
        pe: PeriodDimension::Ids(vec!["202601".into(), "202602".into()]),
        ou: vec!["OU1".into(), "OU2".into(), "OU3".into()],
    };
    let s = HttpSettings {
        analytics_limits: ChunkLimits {
            max_rows: 4,
            max_url_len: 8192,
        },
        ..settings()
    };
    let table = clients_with(&server, s)
        .dhis2
        .analytics_chunked(&req)
        .await
        .unwrap();
    let calls = requests(&server).await.len();
    assert!(calls > 1);
    assert_eq!(table.rows.len(), calls, "one row per chunk, merged");
}

#[tokio::test]
async fn org_units_are_requested_with_filter_fields_and_paging() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/organisationUnits"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"organisationUnits": [
            {"id": "OU1", "displayName": "Region 1", "level": 2, "parent": {"id": "P"},
             "geometry": {"type": "Polygon", "coordinates": []}},
            {"id": "OU2", "displayName": "No geometry"}]})),
        )
        .mount(&server)
        .await;
    let fc = clients(&server)
        .dhis2
        .org_unit_features(&["OU1".into(), "OU2".into()])
        .await
        .unwrap();
    assert_eq!(fc["features"].as_array().unwrap().len(), 1);
    let got = requests(&server).await;
    assert_eq!(
        pairs(&got[0]),
        [
            ("filter".to_string(), "id:in:[OU1,OU2]".to_string()),
            (
                "fields".into(),
                "id,geometry,parent[id],level,displayName,code".into()
            ),
            ("paging".into(), "false".into())
        ]
    );
}

#[tokio::test]
async fn no_org_units_means_no_dhis2_call() {
    let server = MockServer::start().await;
    let fc = clients(&server).dhis2.org_unit_features(&[]).await.unwrap();
    assert_eq!(fc, json!({"type": "FeatureCollection", "features": []}));
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn chap_calls_go_through_the_dhis2_route_proxy() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/system/info"))
        .and(header("authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"chap_core_version": "2.0.0.dev1",
            "python_version": "3.13.12", "server_date": "2026-05-07T11:38:23+00:00", "server_time_zone_id": "Etc/UTC"})))
        .expect(1)
        .mount(&server)
        .await;
    let info = clients(&server).chap.system_info().await.unwrap();
    assert_eq!(info.python_version, "3.13.12");
}

#[tokio::test]
async fn running_a_setup_posts_the_body_to_its_run_path() {
    let server = MockServer::start().await;
    let body = PredictionRequest {
        name: "test (m) 202301-202412".into(),
        geojson: json!({"type": "FeatureCollection", "features": []}),
        provided_data: vec![],
        n_periods: 3,
        dataset_type: "forecasting".into(),
    };
    Mock::given(method("POST"))
        .and(path("/api/routes/chap/run/v1/crud/prediction-setups/5/run"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"name": "test (m) 202301-202412", "geojson": {"type": "FeatureCollection", "features": []},
                              "providedData": [], "nPeriods": 3, "type": "forecasting"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "job-uuid-123"})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        clients(&server)
            .chap
            .run_prediction_setup(5, body.clone())
            .await
            .unwrap(),
        "job-uuid-123"
    );
}

#[tokio::test]
async fn prediction_entries_repeat_the_quantiles_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/api/routes/chap/run/v1/analytics/prediction-entry/42",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"orgUnit": "OU1", "period": "202501", "quantile": 0.5, "value": 7.0}])))
        .mount(&server)
        .await;
    let c = clients(&server);
    assert_eq!(
        c.chap
            .prediction_entries(42, &QUANTILES)
            .await
            .unwrap()
            .len(),
        1
    );
    let got = requests(&server).await;
    assert_eq!(
        got[0].url.query(),
        Some("quantiles=0.1&quantiles=0.25&quantiles=0.5&quantiles=0.75&quantiles=0.9")
    );
    let err = c.chap.prediction_entries(42, &[]).await.unwrap_err();
    assert!(err.to_string().contains("at least one quantile"));
    assert_eq!(
        requests(&server).await.len(),
        1,
        "empty quantiles are refused before HTTP"
    );
}

#[tokio::test]
async fn a_get_answered_503_is_retried_until_it_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    assert!(clients(&server)
        .chap
        .job_listing("j1")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_get_failing_three_times_reports_the_last_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>boom</html>"))
        .mount(&server)
        .await;
    let err = clients(&server).dhis2.system_info().await.unwrap_err();
    assert_eq!(requests(&server).await.len(), 3);
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        err.to_string(),
        "DHIS2 GET /api/system/info -> HTTP 503: <html>boom</html>"
    );
}

#[tokio::test]
async fn client_errors_and_posts_are_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"detail": "not found"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let c = clients(&server);
    assert_eq!(
        c.chap.job_listing("j1").await.unwrap_err().status(),
        Some(404)
    );
    assert_eq!(requests(&server).await.len(), 1);
    let body = PredictionRequest {
        name: "n".into(),
        geojson: json!({}),
        provided_data: vec![],
        n_periods: 3,
        dataset_type: "forecasting".into(),
    };
    let err = c
        .chap
        .run_prediction_setup(7, body.clone())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(requests(&server).await.len(), 2, "POST 503 is sent once");
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_millis(500)),
        )
        .mount(&server)
        .await;
    let s = HttpSettings {
        chap_timeout: Duration::from_millis(50),
        max_attempts: 2,
        ..settings()
    };
    let err = clients_with(&server, s)
        .chap
        .job_listing("j1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transport {
                timed_out: true,
                attempts: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), "TimeoutError");
    assert_eq!(requests(&server).await.len(), 2);
}

/// The error of DHIS2's system info answered 200 with `body`, checked to be a decode error.
async fn system_info_decode_error(body: &str) -> String {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(&server)
        .await;
    let err = clients(&server).dhis2.system_info().await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
    err.to_string()
}

#[tokio::test]
async fn malformed_json_is_a_clear_decode_error() {
    let err = system_info_decode_error("{\"version\": ").await;
    assert!(
        err.starts_with("DHIS2 GET /api/system/info: malformed response: malformed JSON"),
        "{err}"
    );
}

#[tokio::test]
async fn json_of_another_shape_is_a_clear_decode_error() {
    let err = system_info_decode_error("{\"version\": 2.41}").await;
    assert!(
        err.starts_with(
            "DHIS2 GET /api/system/info: malformed response: unexpected JSON shape: invalid type"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn chap_rejections_are_kept_verbatim() {
    let server = MockServer::start().await;
    let detail = json!({"detail": {"message": "All regions rejected due to missing values", "imported_count": 0,
        "rejected": [{"reason": "Missing value", "orgUnit": "OU1", "featureName": "rainfall",
                      "timePeriods": ["202510", "202511"]}]}});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(detail.clone()))
        .mount(&server)
        .await;
    let body = PredictionRequest {
        name: "n".into(),
        geojson: json!({}),
        provided_data: vec![],
        n_periods: 3,
        dataset_type: "forecasting".into(),
    };
    let err = clients(&server)
        .chap
        .run_prediction_setup(7, body.clone())
        .await
        .unwrap_err();
    match &err {
        ApiError::Status {
            method,
            path,
            status,
            body: ErrorBody::Json(v),
            ..
        } => {
            assert_eq!(
                (method.as_str(), path.as_str(), *status),
                ("POST", "/v1/crud/prediction-setups/7/run", 400)
            );
            assert_eq!(v, &detail);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.rejection().unwrap().rejected[0].feature_name,
        "rainfall"
    );
    assert!(err
        .report_text()
        .starts_with("ChapHttpError: chap POST /v1/crud/prediction-setups/7/run -> HTTP 400: {"));
}

#[tokio::test]
async fn the_password_appears_in_no_error_or_debug_output() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(500).set_body_string(format!("echo: alice/{PASSWORD} {BASIC}")),
        )
        .mount(&server)
        .await;
    let c = clients(&server);
    let err = c.dhis2.system_info().await.unwrap_err();
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));
    assert_no_secret(&format!("{c:?}"));
    // A connection that is refused: transport errors carry no secret either.
    let closed = Credentials::basic(
        Url::parse(&format!("http://alice:{PASSWORD}@127.0.0.1:9")).unwrap(),
        "alice",
        SecretString::from(PASSWORD.to_string()),
    );
    let c = RunClients::new(
        &closed,
        HttpSettings {
            max_attempts: 1,
            ..settings()
        },
    )
    .unwrap();
    let err = c.chap.system_info().await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));
}

#[tokio::test]
async fn job_status_is_a_bare_string_and_anything_else_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs/abc-123"))
        .respond_with(ResponseTemplate::new(200).set_body_string("\" SUCCESS \""))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs/odd"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "SUCCESS"})))
        .mount(&server)
        .await;
    let c = clients(&server);
    assert_eq!(
        c.chap.job_status("abc-123").await.unwrap().as_str(),
        "SUCCESS"
    );
    let err = c.chap.job_status("odd").await.unwrap_err();
    assert_eq!(err.status(), Some(200));
    assert!(err
        .to_string()
        .contains("expected a JSON string job status"));
}

async fn mount_jobs(server: &MockServer, jobs: Value) {
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jobs))
        .mount(server)
        .await;
}

#[tokio::test]
async fn waiting_follows_status_changes_until_a_terminal_one() {
    let server = MockServer::start().await;
    mount_jobs(&server, json!([{"id": "j1", "status": "PENDING"}])).await;
    for (status, times) in [("PENDING", 2), ("RUNNING", 1), ("RETRY", 1)] {
        Mock::given(method("GET"))
            .and(path("/api/routes/chap/run/v1/jobs/j1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!(status)))
            .up_to_n_times(times)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs/j1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("SUCCESS")))
        .mount(&server)
        .await;
    let mut seen = Vec::new();
    let status = clients(&server)
        .chap
        .wait_for_job(
            "j1",
            Duration::from_secs(10),
            Duration::from_millis(1),
            |s| seen.push(s.to_string()),
        )
        .await
        .unwrap();
    assert!(status.is_success());
    assert_eq!(seen, ["PENDING", "RUNNING", "RETRY", "SUCCESS"]);
}

#[tokio::test]
async fn a_failed_job_is_returned_not_retried() {
    let server = MockServer::start().await;
    mount_jobs(&server, json!([{"id": "j1"}])).await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs/j1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("FAILURE")))
        .expect(1)
        .mount(&server)
        .await;
    let status = clients(&server)
        .chap
        .wait_for_job(
            "j1",
            Duration::from_secs(10),
            Duration::from_millis(1),
            |_| {},
        )
        .await;
    assert_eq!(status.unwrap().as_str(), "FAILURE");
}

#[tokio::test]
async fn an_unknown_job_is_refused_without_polling() {
    let server = MockServer::start().await;
    mount_jobs(&server, json!([])).await;
    let err = clients(&server)
        .chap
        .wait_for_job(
            "bogus",
            Duration::from_secs(1),
            Duration::from_millis(1),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("unknown job id: 'bogus'"),
        "{err}"
    );
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_job_still_running_at_the_deadline_times_out() {
    let server = MockServer::start().await;
    mount_jobs(&server, json!([{"id": "j1"}])).await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs/j1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("RUNNING")))
        .mount(&server)
        .await;
    let err = clients(&server)
        .chap
        .wait_for_job("j1", Duration::ZERO, Duration::from_millis(1), |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "chap job j1 did not finish within 0s (last status: 'RUNNING')"
    );
    assert_eq!(err.kind(), "TimeoutError");
}

#[tokio::test]
async fn the_prediction_id_comes_from_the_job_listing() {
    let server = MockServer::start().await;
    mount_jobs(&server, json!([{"id": "a", "result": "42"}, {"id": "b", "result": 43}, {"id": "c", "result": null}])).await;
    let c = clients(&server);
    assert_eq!(c.chap.prediction_id("a").await.unwrap(), 42);
    assert_eq!(c.chap.prediction_id("b").await.unwrap(), 43);
    assert!(c
        .chap
        .prediction_id("c")
        .await
        .unwrap_err()
        .to_string()
        .contains("could not resolve prediction id"));
}

#[tokio::test]
async fn the_setup_listing_survives_a_bad_element_and_logs_are_text() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/crud/prediction-setups"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"id": 9, "name": "broken"}])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/routes/chap/run/v1/jobs/j1/logs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("line 1\nline 2")))
        .mount(&server)
        .await;
    let c = clients(&server);
    let listing = c.chap.prediction_setups().await.unwrap();
    assert_eq!(listing[0].as_ref().unwrap_err().id, Some(9));
    assert_eq!(c.chap.job_logs("j1").await.unwrap(), "line 1\nline 2");
}
