//! What an attempt takes from its deployment: the timeout and retry policy in force when it starts
//! (read by its claim), not those of when its run was triggered.

use chap_scheduler::db::entities::flow_run;
use chap_scheduler::orchestrator::state::RunState;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn an_attempt_runs_under_the_timeout_its_deployment_has_when_it_starts() {
    let (app, token) = spawn_app_without_workers().await;
    let dep = app
        .configure_flow(
            "test-sleepy",
            &token,
            json!({ "timeout_seconds": null, "retries": 0 }),
        )
        .await;
    let run = app.trigger(&dep, &token, json!({ "seconds": 5 })).await;
    let id: Uuid = run["id"].as_str().unwrap().parse().unwrap();
    // Changed after the trigger, before any worker took the run.
    app.set_deployment(
        &token,
        &dep,
        json!({ "timeout_seconds": 0.5, "retry_delay_seconds": 7 }),
    )
    .await;

    let claimed = app.engine.claim(id).await.unwrap().expect("claimable");
    let read = claimed.deployment.as_ref().expect("the run's deployment");
    assert_eq!(read.id.to_string(), dep);
    assert_eq!(read.timeout_seconds, Some(0.5));
    assert_eq!(read.retry_delay_seconds, 7.0);
    assert_eq!(claimed.run.state, RunState::Running);

    app.engine.execute_claimed(claimed).await.unwrap();
    let done = app.wait_for(&id.to_string(), &token, TERMINAL).await;
    assert_ended_saying(&done, "FAILED", "timed out after 0.5 s");
}

#[tokio::test]
async fn a_run_without_a_deployment_is_claimed_without_one() {
    let (app, token) = spawn_app_without_workers().await;
    let run = app
        .trigger_flow("test-steps", &token, json!({ "greeting": "hi" }))
        .await;
    let id: Uuid = run["id"].as_str().unwrap().parse().unwrap();
    // A run whose deployment is gone keeps its row, without the deployment.
    flow_run::Entity::update_many()
        .col_expr(
            flow_run::Column::DeploymentId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(flow_run::Column::Id.eq(id))
        .exec(app.engine.db())
        .await
        .unwrap();

    let claimed = app.engine.claim(id).await.unwrap().expect("claimable");
    assert!(claimed.deployment.is_none());
    app.engine.execute_claimed(claimed).await.unwrap();
    let done = app.wait_for(&id.to_string(), &token, TERMINAL).await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
}
