use std::collections::BTreeMap;
use std::time::Duration;

use chap_scheduler::db::entities::{flow_run, schedule};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{json, Value};

use crate::helpers::*;

async fn add_schedule(
    app: &TestApp,
    token: &str,
    deployment: &str,
    req: Value,
) -> reqwest::Response {
    app.post(
        &format!("/api/v1/deployments/{deployment}/schedules"),
        token,
        req,
    )
    .await
}

async fn runs_of(app: &TestApp, schedule: &str) -> Vec<flow_run::Model> {
    let id: uuid::Uuid = schedule.parse().unwrap();
    flow_run::Entity::find()
        .filter(flow_run::Column::ScheduleId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_cron_schedule_with_a_timezone_is_previewed_and_toggled() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-steps", &token).await;
    let dep_id = dep["id"].as_str().unwrap();
    let r = add_schedule(
        &app,
        &token,
        dep_id,
        json!({ "cron": "30 6 * * 1-5", "timezone": "Europe/Oslo", "parameters": { "greeting": "good morning" } }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let s = body(r).await;
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["active"], true);
    assert_eq!(s["missed_policy"], "skip");
    let next: DateTime<Utc> = s["next_fire_at"].as_str().unwrap().parse().unwrap();
    assert!(next > Utc::now());

    let preview = body(
        app.get(&format!("/api/v1/schedules/{id}/preview?count=3"), &token)
            .await,
    )
    .await;
    assert_eq!(preview["fire_times"].as_array().unwrap().len(), 3);
    for local in preview["local_times"].as_array().unwrap() {
        assert!(local.as_str().unwrap().contains("T06:30:00+0"), "{local}");
    }

    // Toggle off and on: the id stays, and resuming continues with the next future slot.
    let r = app
        .client
        .patch(app.url(&format!("/api/v1/schedules/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap();
    let off = body(r).await;
    assert_eq!(
        (
            off["id"].as_str().unwrap(),
            off["active"].as_bool().unwrap()
        ),
        (id, false)
    );
    assert!(off["next_fire_at"].is_null());
    let r = app
        .client
        .patch(app.url(&format!("/api/v1/schedules/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "active": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(body(r).await["next_fire_at"], s["next_fire_at"]);

    let list = body(
        app.get(&format!("/api/v1/deployments/{dep_id}/schedules"), &token)
            .await,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let audit = body(
        app.get("/api/v1/audit?action=schedule.updated", &token)
            .await,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn invalid_cron_timezone_interval_or_parameters_get_422_with_a_clear_message() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-steps", &token).await;
    let dep_id = dep["id"].as_str().unwrap();
    let params = json!({ "greeting": "x" });
    for (req, field, words) in [
        (
            json!({ "cron": "61 * * * *", "parameters": params }),
            "cron",
            "invalid cron",
        ),
        (
            json!({ "cron": "* * *", "parameters": params }),
            "cron",
            "5 fields",
        ),
        (
            json!({ "cron": "0 * * * *", "timezone": "Mars/Base", "parameters": params }),
            "timezone",
            "IANA",
        ),
        (
            json!({ "interval_seconds": 0, "parameters": params }),
            "interval_seconds",
            "between",
        ),
        (
            json!({ "cron": "0 * * * *", "interval_seconds": 60, "parameters": params }),
            "cron",
            "not both",
        ),
        (
            json!({ "cron": "0 * * * *" }),
            "parameters.greeting",
            "required",
        ),
    ] {
        let r = add_schedule(&app, &token, dep_id, req.clone()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{req}");
        let b = body(r).await;
        let msg = b["details"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing in {b}"));
        assert!(msg.contains(words), "{msg}");
    }
    let r = app
        .post(
            "/api/v1/schedules/preview",
            &token,
            json!({ "cron": "0 9 * * *", "timezone": "Africa/Nairobi", "count": 2 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let p = body(r).await;
    assert!(
        p["local_times"][0]
            .as_str()
            .unwrap()
            .ends_with("T09:00:00+03:00"),
        "{p}"
    );
    let r = app
        .post(
            "/api/v1/schedules/preview",
            &token,
            json!({ "cron": "0 9 * *" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Sets a schedule's next fire time as if the service had been down since then.
async fn simulate_downtime(app: &TestApp, id: &str, next_fire_at: DateTime<Utc>) {
    let row = schedule::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut active = row.into_active_model();
    active.next_fire_at = Set(Some(next_fire_at));
    active.update(&app.db).await.unwrap();
}

#[tokio::test]
async fn after_a_ten_minute_downtime_each_missed_run_policy_creates_exactly_what_it_promises() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-steps", &token).await;
    let dep_id = dep["id"].as_str().unwrap();
    // A slot every minute, on a grid 30 s off the present: the last missed slot is 30 s old.
    let now = Utc::now();
    let anchor = chrono::DurationRound::duration_trunc(
        now - chrono::Duration::seconds(630),
        chrono::Duration::microseconds(1),
    )
    .unwrap();
    let mut ids = BTreeMap::new();
    for policy in ["skip", "latest", "all"] {
        let r = add_schedule(
            &app,
            &token,
            dep_id,
            json!({ "interval_seconds": 60, "anchor_at": anchor, "missed_policy": policy, "max_missed": 100,
                    "parameters": { "greeting": policy, "count": 1 } }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = body(r).await["id"].as_str().unwrap().to_string();
        // The service went down 10 minutes ago, just before the slot at anchor + 60 s.
        simulate_downtime(&app, &id, anchor + chrono::Duration::seconds(60)).await;
        ids.insert(policy, id);
    }
    // Ten slots were missed (anchor + 1..=10 minutes). Wait until the scheduler has handled all three
    // (it advances a schedule after creating its runs).
    let resumed = anchor + chrono::Duration::seconds(660);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for id in ids.values() {
        loop {
            let s = body(app.get(&format!("/api/v1/schedules/{id}"), &token).await).await;
            let next: Option<DateTime<Utc>> =
                s["next_fire_at"].as_str().map(|t| t.parse().unwrap());
            if next == Some(resumed) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "schedule never advanced: {s}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let expected_latest = anchor + chrono::Duration::seconds(600);
    let skip = runs_of(&app, &ids["skip"]).await;
    assert!(skip.is_empty(), "skip created {} runs", skip.len());
    let latest = runs_of(&app, &ids["latest"]).await;
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].expected_start_at, expected_latest);
    let all = runs_of(&app, &ids["all"]).await;
    assert_eq!(all.len(), 10);
    for (policy, skipped) in [("skip", 10), ("latest", 9), ("all", 0)] {
        let s = body(
            app.get(&format!("/api/v1/schedules/{}", ids[policy]), &token)
                .await,
        )
        .await;
        assert_eq!(s["skipped_count"], skipped, "{policy}: {s}");
        let next: DateTime<Utc> = s["next_fire_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            next,
            anchor + chrono::Duration::seconds(660),
            "{policy} resumes with the next future slot"
        );
    }
    assert!(all.iter().all(|r| r.triggered_by.starts_with("schedule:")));
}

#[tokio::test]
async fn two_scheduler_instances_on_one_database_create_exactly_one_run_per_slot() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // A second instance: its own engine and scheduler loop on the same database.
    let mut vars = settings();
    vars.insert("DATABASE_URL".into(), app.database_url.clone());
    let second_dir = tempfile::tempdir().unwrap();
    vars.insert(
        "CHAP_SCHEDULER_DATA_DIR".into(),
        second_dir.path().display().to_string(),
    );
    let config = chap_scheduler::config::Config::from_source(&vars).unwrap();
    let (registry, _) = crate::test_flows::registry(&config);
    let second = chap_scheduler::startup::engine(&config, registry)
        .await
        .unwrap();
    let loop2 = tokio::spawn(chap_scheduler::orchestrator::schedules::run_scheduler(
        second,
    ));

    let dep = app.deployment("test-steps", &token).await;
    let r = add_schedule(
        &app,
        &token,
        dep["id"].as_str().unwrap(),
        json!({ "cron": "* * * * * *", "parameters": { "greeting": "tick", "count": 1 } }),
    )
    .await;
    let id = body(r).await["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(30)).await;
    app.client
        .patch(app.url(&format!("/api/v1/schedules/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap();
    loop2.abort();

    let runs = runs_of(&app, &id).await;
    let mut slots: Vec<DateTime<Utc>> = runs.iter().map(|r| r.expected_start_at).collect();
    slots.sort();
    let before = slots.len();
    slots.dedup();
    assert_eq!(before, slots.len(), "duplicate runs for a slot");
    assert!(slots.len() >= 28, "only {} slots in 30 s", slots.len());
    for pair in slots.windows(2) {
        assert_eq!(
            (pair[1] - pair[0]).num_seconds(),
            1,
            "a slot was missed between {} and {}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn every_schedule_is_listed_soonest_first_with_inactive_ones_last() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-steps", &token).await;
    let dep_id = dep["id"].as_str().unwrap();
    let params = json!({ "greeting": "x" });
    let mut ids = Vec::new();
    for req in [
        json!({ "cron": "0 0 1 1 *", "parameters": params }),
        json!({ "interval_seconds": 3600, "parameters": params, "active": false }),
        json!({ "interval_seconds": 3600, "parameters": params }),
    ] {
        let r = add_schedule(&app, &token, dep_id, req).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(body(r).await["id"].as_str().unwrap().to_string());
    }
    let (_, viewer) = app
        .user_session("vera", chap_scheduler_api::Role::Viewer)
        .await;
    let r = app.get("/api/v1/schedules", &viewer).await;
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Vec<String> = body(r)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    // Hourly first, then New Year, then the inactive one that never fires.
    assert_eq!(listed, [ids[2].clone(), ids[0].clone(), ids[1].clone()]);
}
