//! Retention over a backlog larger than one batch: the first pass after the age was lowered, or
//! after a long downtime, deletes every old finished run with all it wrote, batch after batch, and
//! nothing else.

use chap_scheduler::db::entities::{flow_run, log};
use chap_scheduler::db::users::now;
use chap_scheduler::orchestrator::store;
use chap_scheduler_api::{LogLevel, RunState};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

/// Old finished runs in the backlog: many batches' worth (the first batch is 20 runs).
const OLD: usize = 450;

/// A running app and the row of one COMPLETED run of `test-steps`.
async fn app_with_a_completed_run() -> (TestApp, flow_run::Model) {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let run = app
        .trigger_flow(
            "test-steps",
            &token,
            json!({ "greeting": "kept", "count": 1 }),
        )
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    app.wait_for(&id, &token, &["COMPLETED"]).await;
    let row = flow_run::Entity::find_by_id(id.parse::<Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    (app, row)
}

#[tokio::test]
async fn a_backlog_of_many_batches_is_purged_whole_and_keeps_young_and_unfinished_runs() {
    let (app, template) = app_with_a_completed_run().await;
    // Copies of the finished run: OLD of them 100 days old, each with a log line; one as old but
    // still SCHEDULED, and one young.
    let copy = |age_days: i64, state: RunState| {
        let mut row = template.clone();
        row.id = Uuid::new_v4();
        row.idempotency_key = None;
        row.created_at = now() - chrono::Duration::days(age_days);
        row.state = state;
        row
    };
    let mut runs: Vec<flow_run::Model> = (0..OLD).map(|_| copy(100, RunState::Completed)).collect();
    let old_ids: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
    let unfinished = copy(100, RunState::Scheduled);
    let young = copy(10, RunState::Completed);
    runs.extend([unfinished.clone(), young.clone()]);
    for chunk in runs.chunks(100) {
        flow_run::Entity::insert_many(
            chunk
                .iter()
                .map(|r| r.clone().into_active_model().reset_all()),
        )
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    }
    for chunk in old_ids.chunks(100) {
        log::Entity::insert_many(chunk.iter().map(|run| log::ActiveModel {
            id: NotSet,
            flow_run_id: Set(*run),
            task_run_id: Set(None),
            at: Set(now() - chrono::Duration::days(100)),
            level: Set(LogLevel::Info),
            message: Set("old".into()),
        }))
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    }

    let deleted = store::retention::purge(app.engine.db(), 90).await.unwrap();

    assert_eq!(deleted, OLD as u64);
    let left: Vec<Uuid> = flow_run::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    for kept in [template.id, unfinished.id, young.id] {
        assert!(left.contains(&kept), "{kept} was deleted");
    }
    let old_logs = log::Entity::find()
        .filter(log::Column::Message.eq("old"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(old_logs, 0, "log lines go with their runs");
    // A second pass finds nothing.
    assert_eq!(
        store::retention::purge(app.engine.db(), 90).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn a_retention_age_past_the_calendar_deletes_nothing_and_does_not_panic() {
    let (app, _) = app_with_a_completed_run().await;
    // 4,294,967,295 days is before the earliest instant chrono holds: `now - days` used to panic, and
    // with it the retention task, for good.
    assert_eq!(
        store::retention::purge(app.engine.db(), u32::MAX)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        chap_scheduler::notify::purge(app.engine.db(), u32::MAX)
            .await
            .unwrap(),
        0
    );
    assert_eq!(flow_run::Entity::find().count(&app.db).await.unwrap(), 1);
}
