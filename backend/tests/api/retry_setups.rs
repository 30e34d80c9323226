//! Several setups in one run and a retry of only the failed ones (issue 12 §3), and the outcome rule
//! for a run where every setup was skipped (§2): against the simulator, through the API.

use dhis2_sim::{Rejection, Scenario};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::body;
use crate::prediction::{three_setups, world, World};

fn submitted(w: &World) -> Vec<i64> {
    w.sim.run_submissions().iter().map(|s| s.setup_id).collect()
}

async fn retry(w: &World, run: &Value, body_json: Option<Value>) -> reqwest::Response {
    let url = w.app.url(&format!(
        "/api/v1/runs/{}/retry",
        run["id"].as_str().unwrap()
    ));
    let request = w.app.client.post(url).bearer_auth(&w.token);
    match body_json {
        Some(b) => request.json(&b),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn several_setup_ids_run_exactly_those_and_an_unknown_one_fails_alone() {
    let w = world(three_setups(), &[]).await;
    let run = w.run(json!({ "prediction_setup_ids": [3, 2, 99] })).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(
        crate::prediction::counts(&run["summary"]),
        json!({ "succeeded": 2, "failed": 1, "skipped": 0, "failed_setup_ids": [99] })
    );
    let mut ids = submitted(&w);
    ids.sort_unstable();
    assert_eq!(
        ids,
        [2, 3],
        "the disabled setup 2 runs when named; setup 1 does not"
    );
    let report = w.report(&run).await;
    assert!(
        report.contains("prediction setup 99 is not in chap's listing; available ids: [1, 2, 3]"),
        "{report}"
    );
    // Both spellings at once are refused at trigger.
    let resp = w
        .app
        .post(
            &format!("/api/v1/deployments/{}/runs", w.deployment),
            &w.token,
            json!({ "parameters": { "credentials": w.block, "prediction_setup_id": 1, "prediction_setup_ids": [3] } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body(resp).await;
    assert!(errors.to_string().contains("not both"), "{errors}");
}

#[tokio::test]
async fn a_retry_of_the_failed_setups_runs_exactly_those_and_the_runs_link_each_other() {
    let mut scenario = three_setups();
    scenario.prediction_setups[0].sim.rejection = Some(Rejection {
        status: 500,
        body: json!({ "detail": "chap had a bad day" }),
        times: Some(1),
    });
    let w = world(scenario, &[]).await;
    let first = w.run(json!({})).await;
    assert_eq!(first["state"], "COMPLETED", "{first}");
    assert_eq!(first["summary"]["failed_setup_ids"], json!([1]), "{first}");
    assert_eq!(submitted(&w), [1, 3]);

    let resp = retry(&w, &first, Some(json!({ "failed_setups_only": true }))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created = body(resp).await;
    assert_eq!(created["retry_of"], first["id"]);
    assert_eq!(created["parameters"]["prediction_setup_ids"], json!([1]));
    let id = created["id"].as_str().unwrap();
    let second = w.app.wait_for(id, &w.token, &["COMPLETED", "FAILED"]).await;
    assert_eq!(second["state"], "COMPLETED", "{second}");
    assert_eq!(submitted(&w), [1, 3, 1], "only setup 1 again");
    let report = w.report(&second).await;
    assert!(report.contains("### `test`"), "{report}");
    assert!(!report.contains("### `gamma`"), "{report}");

    let parent = w
        .get(&format!("/api/v1/runs/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(parent["retried_by"], json!([id]), "{parent}");
    assert_eq!(second["retry_of"], first["id"]);

    // Nothing failed in the retry: a second retry of its failed setups is refused with the reason.
    let resp = retry(&w, &second, Some(json!({ "failed_setups_only": true }))).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let error = body(resp).await;
    assert!(
        error
            .to_string()
            .contains("no prediction setup failed in this run"),
        "{error}"
    );
    // A plain retry (no body) still retries the whole run.
    let resp = retry(&w, &second, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    // A body that is not the request is refused.
    let resp = retry(&w, &second, Some(json!({ "failed_setups": true }))).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let resp = w
        .app
        .client
        .post(w.app.url(&format!("/api/v1/runs/{id}/retry")))
        .bearer_auth(&w.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_run_where_every_setup_was_skipped_and_none_failed_is_completed() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].setup.schedule_enabled = false;
    let w = world(scenario, &[]).await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(
        crate::prediction::counts(&run["summary"]),
        json!({ "succeeded": 0, "failed": 0, "skipped": 1, "failed_setup_ids": [] })
    );
    assert!(w.sim.run_submissions().is_empty());
}
