//! Authentication: personal access tokens, Basic turned off, what each request presented, `/api/me`.

use dhis2_sim::{AuthScheme, EndpointGroup, Scenario};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{analytics_path, start, Client};

const TOKEN: &str = "d2pat_5xVA12xyUbWNedQxy4ohH77WlxRGVvZZ1151814092";

#[tokio::test]
async fn an_api_token_is_accepted_on_dhis2_and_chap_paths_and_every_request_records_its_scheme() {
    let (sim, basic) = start(Scenario::fixture().api_token(TOKEN)).await;
    let token = Client::with_token(&sim, TOKEN);
    assert_eq!(token.get_json("/api/system/info").await.0, StatusCode::OK);
    let (status, _) = token
        .get_json(&analytics_path(&["POP1"], "202604", &["OU1"]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        token.chap("/v1/crud/prediction-setups").await.0,
        StatusCode::OK
    );
    let (status, _) = token
        .post_chap(
            "/v1/crud/prediction-setups/1/run",
            &crate::helpers::run_body("a", &["202604"], 3),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        sim.requests().iter().all(|r| r.auth == AuthScheme::Token),
        "every request of the run used ApiToken"
    );
    // Basic still works when it is not turned off, and is recorded as such.
    assert_eq!(basic.get_json("/api/system/info").await.0, StatusCode::OK);
    let anonymous = basic
        .http
        .get(format!("{}/api/system/info", basic.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let schemes: Vec<AuthScheme> = sim.requests().iter().map(|r| r.auth).collect();
    assert_eq!(
        schemes[4..],
        [AuthScheme::Basic, AuthScheme::None],
        "{schemes:?}"
    );
    let log: serde_json::Value = basic
        .http
        .get(format!("{}/__sim/requests", basic.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["auth"], "token");
    assert_eq!(log[4]["auth"], "basic");
    assert_eq!(log[5]["auth"], "none");
}

#[tokio::test]
async fn a_wrong_token_is_refused_like_a_wrong_password() {
    let (sim, _) = start(Scenario::fixture().api_token(TOKEN)).await;
    for path in ["/api/system/info", "/api/routes/chap/run/system/info"] {
        let wrong = Client::with_token(&sim, "d2pat_not-the-token");
        let (status, body) = wrong.get_json(path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["httpStatusCode"], 401);
        assert_eq!(body["status"], "ERROR");
    }
    // Without a token in the scenario, no token is valid.
    let (sim, _) = start(Scenario::fixture()).await;
    let (status, _) = Client::with_token(&sim, TOKEN)
        .get_json("/api/system/info")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(sim.requests()[0].auth, AuthScheme::Token);
}

#[tokio::test]
async fn basic_credentials_are_refused_when_basic_auth_is_off_even_when_correct() {
    let scenario = Scenario {
        basic_auth: false,
        ..Scenario::fixture().api_token(TOKEN)
    };
    let (sim, basic) = start(scenario).await;
    for path in ["/api/system/info", "/api/routes/chap/run/system/info"] {
        let response = basic.get(path).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"DHIS2\""
        );
    }
    let token = Client::with_token(&sim, TOKEN);
    assert_eq!(token.get_json("/api/system/info").await.0, StatusCode::OK);
    assert_eq!(sim.count_status(EndpointGroup::SystemInfo, 401), 1);
}

#[tokio::test]
async fn api_me_names_the_user_and_their_authorities() {
    let mut scenario = Scenario::fixture();
    scenario.dhis2.authorities = vec![
        "F_DATAVALUE_ADD".into(),
        "M_dhis-web-aggregate-data-entry".into(),
    ];
    let (sim, client) = start(scenario).await;
    let (status, me) = client.get_json("/api/me?fields=username,authorities").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me,
        json!({"username": "alice", "authorities": ["F_DATAVALUE_ADD", "M_dhis-web-aggregate-data-entry"]})
    );
    let (_, everything) = client.get_json("/api/me").await;
    assert_eq!(everything["username"], "alice");
    assert!(everything["id"].is_string());
    let (_, defaults) = start(Scenario::default())
        .await
        .1
        .get_json("/api/me?fields=authorities")
        .await;
    assert_eq!(defaults, json!({"authorities": ["ALL"]}));
    assert_eq!(sim.count_status(EndpointGroup::Me, 200), 2);
}
