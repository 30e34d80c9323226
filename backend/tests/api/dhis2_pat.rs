//! Personal access tokens (issue 11 §2): a `dhis2-credentials` block with `auth_type: pat` signs every
//! DHIS2 and chap call with `Authorization: ApiToken …` (the simulator refuses Basic for it), the token
//! is write-only like the password and found nowhere in clear, and "Test connection" says who DHIS2
//! says we are and whether that account may import data values.

use chap_scheduler::db::entities::block;
use dhis2_sim::{AuthScheme, DataElement, DataSet, Scenario, Simulator};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::{body, spawn_app};
use crate::prediction::world_with_block;

const TOKEN: &str = "d2pat_Xk3F9qLmN2pR7sT1vW4yZ8aB5cD6eG0h1234567890";

/// The fixture behind a token only, with a median target so the run imports too.
fn token_only() -> Scenario {
    let mut s = Scenario::fixture().api_token(TOKEN);
    s.basic_auth = false;
    s.prediction_setups[0].setup = s.prediction_setups[0]
        .setup
        .clone()
        .quantile_targets(json!({ "median": "MED" }));
    s.data_element(DataElement::new("MED", "Cases (median)"))
        .data_set(DataSet::monthly("DsForecast", "Forecasts", 3, ["MED"]))
}

#[tokio::test]
async fn a_token_block_runs_a_whole_prediction_with_apitoken_on_every_call_and_never_shows_it() {
    let w = world_with_block(
        token_only(),
        &[],
        |sim| json!({ "base_url": sim.base_url(), "auth_type": "pat", "token": TOKEN }),
    )
    .await;
    let run = w.run(json!({ "import_to_dhis2": "import" })).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let requests = w.sim.requests();
    assert!(requests.len() > 10, "{}", requests.len());
    assert!(
        requests
            .iter()
            .all(|r| r.auth == AuthScheme::Token && r.status < 400),
        "every call signed with the token: {:?}",
        requests
            .iter()
            .filter(|r| r.auth != AuthScheme::Token || r.status >= 400)
            .collect::<Vec<_>>()
    );
    assert_eq!(w.sim.data_values().len(), 6, "the import went through too");

    let block_view = w.get(&format!("/api/v1/blocks/{}", w.block)).await;
    assert_eq!(block_view["data"]["auth_type"], "pat");
    assert_eq!(block_view["data"]["token_set"], true);
    assert!(block_view["data"].get("token").is_none());

    let id = run["id"].as_str().unwrap();
    let mut texts: Vec<String> = vec![block_view.to_string(), w.report(&run).await];
    for path in [
        format!("/api/v1/runs/{id}"),
        format!("/api/v1/runs/{id}/logs?limit=1000"),
        format!("/api/v1/runs/{id}/artifacts"),
        "/api/v1/blocks".to_string(),
        "/api/v1/audit".to_string(),
    ] {
        texts.push(w.get(&path).await.to_string());
    }
    for b in block::Entity::find().all(&w.app.db).await.unwrap() {
        texts.push(b.data.to_string());
    }
    texts.extend(w.stored_run_texts().await);
    for text in &texts {
        assert!(!text.contains(TOKEN), "the token leaked in {text}");
        assert!(
            !text.contains(&TOKEN[6..20]),
            "part of the token leaked in {text}"
        );
    }
}

#[tokio::test]
async fn a_wrong_token_fails_the_run_without_showing_it_and_basic_is_refused_for_a_token_only_dhis2(
) {
    let wrong = "d2pat_wrongwrongwrongwrong0000";
    let w = world_with_block(
        token_only(),
        &[],
        |sim| json!({ "base_url": sim.base_url(), "auth_type": "pat", "token": wrong }),
    )
    .await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    assert!(
        run["state_message"].as_str().unwrap().contains("HTTP 401"),
        "{run}"
    );
    assert!(!w.report(&run).await.contains(wrong));

    let basic = world_with_block(token_only(), &[], |sim| {
        json!({ "base_url": sim.base_url(), "username": sim.username(), "password": sim.password() })
    })
    .await;
    let run = basic.run(json!({})).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    assert!(basic
        .sim
        .requests()
        .iter()
        .all(|r| r.auth == AuthScheme::Basic));
}

async fn test_connection(app: &crate::helpers::TestApp, admin: &str, data: Value) -> Value {
    let created = body(
        app.post(
            "/api/v1/blocks",
            admin,
            json!({ "name": format!("b-{}", uuid::Uuid::new_v4()), "block_type": "dhis2-credentials", "data": data }),
        )
        .await,
    )
    .await;
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    body(
        app.post(&format!("/api/v1/blocks/{id}/test"), admin, json!({}))
            .await,
    )
    .await
}

#[tokio::test]
async fn test_connection_says_who_dhis2_says_we_are_and_warns_when_the_account_cannot_import() {
    let mut scenario = token_only();
    scenario.username = "forecaster".into();
    let sim = Simulator::start(scenario).await.unwrap();
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let data = json!({ "base_url": sim.base_url(), "auth_type": "pat", "token": TOKEN });
    let tested = test_connection(&app, &admin, data.clone()).await;
    assert_eq!(tested["dhis2"]["ok"], true, "{tested}");
    assert_eq!(tested["chap"]["ok"], true, "{tested}");
    assert_eq!(
        tested["account"],
        json!({ "ok": true, "username": "forecaster", "can_import_data_values": true })
    );

    sim.update_scenario(|s| s.dhis2.authorities = vec!["F_VIEW_DATA".into()]);
    let tested = test_connection(&app, &admin, data).await;
    assert_eq!(tested["account"]["ok"], true, "{tested}");
    assert_eq!(tested["account"]["can_import_data_values"], false);
    let warning = tested["account"]["warning"].as_str().unwrap();
    assert!(
        warning.contains("forecaster") && warning.contains("F_DATAVALUE_ADD"),
        "{warning}"
    );

    let wrong =
        json!({ "base_url": sim.base_url(), "auth_type": "pat", "token": "d2pat_nope1234" });
    let tested = test_connection(&app, &admin, wrong).await;
    assert_eq!(tested["account"]["ok"], false, "{tested}");
    assert!(tested["account"]["error"].as_str().unwrap().contains("401"));
    assert!(!tested.to_string().contains("d2pat_nope1234"));
}

#[tokio::test]
async fn token_blocks_follow_the_write_only_rules_and_switching_type_forgets_the_other_secret() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let create = |data: Value| json!({ "name": format!("b-{}", uuid::Uuid::new_v4()), "block_type": "dhis2-credentials", "data": data });
    // A token block needs a token, not a username; a token with blanks is refused.
    let resp = app
        .post(
            "/api/v1/blocks",
            &admin,
            create(json!({ "base_url": "https://dhis.example.org", "auth_type": "pat" })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body(resp).await;
    assert!(errors.to_string().contains("token"), "{errors}");
    let resp = app
        .post(
            "/api/v1/blocks",
            &admin,
            create(json!({ "base_url": "https://dhis.example.org", "auth_type": "pat", "token": "d2pat abc" })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A basic block becomes a token block: the password is forgotten, the token set.
    let basic = body(
        app.post(
            "/api/v1/blocks",
            &admin,
            create(json!({ "base_url": "https://dhis.example.org", "username": "alice", "password": "hunter2" })),
        )
        .await,
    )
    .await;
    let path = format!("/api/v1/blocks/{}", basic["id"].as_str().unwrap());
    let resp = app
        .patch(&path, &admin, json!({ "data": { "auth_type": "pat" } }))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a token is required to switch"
    );
    let resp = app
        .patch(
            &path,
            &admin,
            json!({ "data": { "auth_type": "pat", "token": TOKEN } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let view = body(resp).await;
    assert_eq!(view["data"]["token_set"], true, "{view}");
    assert_eq!(view["data"]["password_set"], false, "{view}");
    assert!(view["data"].get("username").is_none(), "{view}");
    assert!(!view.to_string().contains(TOKEN));
    // Editing without the token keeps it.
    let resp = app
        .patch(&path, &admin, json!({ "data": { "token": "" } }))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body(resp).await["data"]["token_set"], true);
}
