//! Schedules that follow chap (issue 12 §1): a `chap` schedule fires one run per enabled setup at the
//! setup's own cron (6-field crons, seconds first, are allowed here by the test-only setting
//! `CHAP_SCHEDULER_CHAP_CRON_SECONDS`), stops a setup disabled in chap at the next sync, never
//! duplicates a slot across scheduler instances, keeps its setups when a sync fails, and writes a
//! setup's schedule to chap from our API.

use std::collections::BTreeMap;
use std::time::Duration;

use chap_scheduler::db::entities::flow_run;
use chap_scheduler_api::Role;
use chrono::{DateTime, Utc};
use dhis2_sim::EndpointGroup;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::body;
use crate::prediction::{three_setups, world, World};

const FAST: &[(&str, &str)] = &[
    ("CHAP_SCHEDULER_CHAP_CRON_SECONDS", "true"),
    ("CHAP_SCHEDULER_CHAP_SYNC_SECONDS", "1"),
];

async fn create_chap_schedule(w: &World, extra: Value) -> Value {
    let mut req = json!({ "source": "chap", "parameters": { "credentials": w.block } });
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    let resp = w
        .app
        .post(
            &format!("/api/v1/deployments/{}/schedules", w.deployment),
            &w.token,
            req,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    body(resp).await
}

async fn setups(w: &World, schedule: &Value) -> Value {
    let id = schedule["id"].as_str().unwrap();
    let resp = w
        .app
        .get(&format!("/api/v1/schedules/{id}/setups"), &w.token)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    body(resp).await
}

fn setup(view: &Value, id: i64) -> &Value {
    view["setups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("setup {id} in {view}"))
}

async fn patch(w: &World, path: &str, token: &str, change: Value) -> reqwest::Response {
    w.app
        .client
        .patch(w.app.url(path))
        .bearer_auth(token)
        .json(&change)
        .send()
        .await
        .unwrap()
}

/// The slots of the schedule's runs, by the one setup each run is restricted to.
async fn slots_by_setup(w: &World, schedule: &Value) -> BTreeMap<i64, Vec<DateTime<Utc>>> {
    let id: uuid::Uuid = schedule["id"].as_str().unwrap().parse().unwrap();
    let runs = flow_run::Entity::find()
        .filter(flow_run::Column::ScheduleId.eq(id))
        .all(&w.app.db)
        .await
        .unwrap();
    let mut by_setup: BTreeMap<i64, Vec<DateTime<Utc>>> = BTreeMap::new();
    for run in runs {
        let ids = run.parameters["prediction_setup_ids"].as_array().unwrap();
        assert_eq!(ids.len(), 1, "one setup per run: {}", run.parameters);
        let setup = ids[0].as_i64().unwrap();
        let key = run.idempotency_key.clone().unwrap();
        assert_eq!(
            key,
            format!(
                "schedule:{id}:setup:{setup}:{}",
                run.expected_start_at.to_rfc3339()
            )
        );
        by_setup
            .entry(setup)
            .or_default()
            .push(run.expected_start_at);
    }
    for slots in by_setup.values_mut() {
        slots.sort();
    }
    by_setup
}

fn assert_spaced(slots: &[DateTime<Utc>], seconds: i64, what: &str) {
    for pair in slots.windows(2) {
        assert_eq!(
            (pair[1] - pair[0]).num_seconds(),
            seconds,
            "{what}: a slot missed or doubled between {} and {}",
            pair[0],
            pair[1]
        );
    }
}

async fn stop(w: &World, schedule: &Value) {
    let id = schedule["id"].as_str().unwrap();
    let resp = patch(
        w,
        &format!("/api/v1/schedules/{id}"),
        &w.token,
        json!({ "active": false }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

fn fast_setups() -> dhis2_sim::Scenario {
    let mut scenario = three_setups();
    // Every second, disabled (with a cron), every other second.
    for (setup, cron) in
        scenario
            .prediction_setups
            .iter_mut()
            .zip(["* * * * * *", "* * * * * *", "*/2 * * * * *"])
    {
        setup.setup.schedule_cron_expression = Some(cron.into());
    }
    scenario
}

#[tokio::test]
async fn each_enabled_setup_fires_at_its_own_cron_and_a_setup_disabled_in_chap_stops_after_a_sync()
{
    let w = world(fast_setups(), FAST).await;
    let schedule = create_chap_schedule(
        &w,
        json!({ "parameters": { "credentials": w.block, "only_new_data": true } }),
    )
    .await;
    assert_eq!(schedule["source"], "chap");
    assert!(schedule["cron"].is_null() && schedule["interval_seconds"].is_null());
    assert!(schedule["chap_sync"]["synced_at"].is_string(), "{schedule}");
    assert!(schedule["chap_sync"]["error"].is_null(), "{schedule}");
    let slot_setups: Vec<i64> = schedule["setup_slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["setup_id"].as_i64().unwrap())
        .collect();
    assert!(
        slot_setups.contains(&1) && slot_setups.contains(&3) && !slot_setups.contains(&2),
        "{schedule}"
    );
    assert_eq!(
        schedule["next_fire_at"],
        schedule["setup_slots"][0]["fire_at"]
    );

    let view = setups(&w, &schedule).await;
    assert_eq!(view["timezone"], "UTC");
    assert_eq!(setup(&view, 1)["status"], "scheduled");
    assert_eq!(setup(&view, 2)["status"], "disabled");
    assert_eq!(setup(&view, 2)["next_fire_times"], json!([]));
    assert_eq!(setup(&view, 3)["effective_cron"], "*/2 * * * * *");
    let times = |id| -> Vec<DateTime<Utc>> {
        serde_json::from_value(setup(&view, id)["next_fire_times"].clone()).unwrap()
    };
    assert_eq!(times(1).len(), 5);
    assert_spaced(&times(1), 1, "preview of setup 1");
    assert_spaced(&times(3), 2, "preview of setup 3");

    tokio::time::sleep(Duration::from_secs(7)).await;
    let fired = slots_by_setup(&w, &schedule).await;
    assert!(
        !fired.contains_key(&2),
        "the disabled setup never fires: {fired:?}"
    );
    assert!(fired[&1].len() >= 5, "setup 1 every second: {fired:?}");
    assert_spaced(&fired[&1], 1, "setup 1");
    assert!(fired[&3].len() >= 2, "setup 3 every 2 s: {fired:?}");
    assert_spaced(&fired[&3], 2, "setup 3");
    assert!(fired[&3].iter().all(|t| t.timestamp() % 2 == 0));
    // The runs carry the schedule's pinned parameters and the one setup.
    let run = flow_run::Entity::find()
        .filter(
            flow_run::Column::ScheduleId.eq(schedule["id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()),
        )
        .one(&w.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.parameters["only_new_data"], true);
    assert!(run.triggered_by.starts_with("schedule:"));

    // Disabled in chap's modeling app: the next sync (every second here) stops it.
    w.sim.set_setup_schedule(1, false, Some("* * * * * *"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let view = setups(&w, &schedule).await;
        if setup(&view, 1)["status"] == "disabled" {
            assert_eq!(setup(&view, 1)["next_fire_times"], json!([]));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never synced: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = slots_by_setup(&w, &schedule).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = slots_by_setup(&w, &schedule).await;
    assert_eq!(before[&1], after[&1], "setup 1 fired after it was disabled");
    assert!(after[&3].len() > before[&3].len(), "setup 3 goes on");
    // The schedule shows the latest slot any setup fired (at least as late as any slot of 3 s ago).
    let shown = body(
        w.app
            .get(
                &format!("/api/v1/schedules/{}", schedule["id"].as_str().unwrap()),
                &w.token,
            )
            .await,
    )
    .await;
    let last: DateTime<Utc> = serde_json::from_value(shown["last_fire_at"].clone()).unwrap();
    // A run is created before its setup's row advances: compare with the slots of 3 s ago.
    assert!(before.values().flatten().all(|t| *t <= last), "{shown}");
    // The last run of each setup is shown with the setup.
    let view = setups(&w, &schedule).await;
    let last = &setup(&view, 3)["last_run"];
    assert!(last["id"].is_string(), "{view}");
    assert!(last["scheduled_for"].is_string(), "{view}");
    stop(&w, &schedule).await;
}

#[tokio::test]
async fn two_scheduler_instances_never_duplicate_a_setup_slot() {
    let w = world(fast_setups(), FAST).await;
    // A second instance on the same database (and key file): its own engine and chap scheduler loop.
    let config = chap_scheduler::config::Config::from_source(&w.app.vars).unwrap();
    let registry = chap_scheduler::flows::registry(&config);
    let (engine, blocks) = chap_scheduler::startup::engine_and_blocks(&config, registry)
        .await
        .unwrap();
    let second = tokio::spawn(
        chap_scheduler::chap_schedules::ChapSchedules {
            engine,
            blocks,
            settings: config.chap_schedules.clone(),
        }
        .run(),
    );
    let schedule = create_chap_schedule(&w, json!({})).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop(&w, &schedule).await;
    second.abort();
    let fired = slots_by_setup(&w, &schedule).await;
    for (setup, slots) in &fired {
        let mut unique = slots.clone();
        unique.dedup();
        assert_eq!(&unique, slots, "setup {setup} has a slot twice");
    }
    assert!(fired[&1].len() >= 6, "{fired:?}");
    assert_spaced(&fired[&1], 1, "setup 1");
    assert_spaced(&fired[&3], 2, "setup 3");
}

#[tokio::test]
async fn a_failed_sync_keeps_the_last_setups_and_shows_the_error_with_its_time() {
    let w = world(three_setups(), &[]).await;
    let schedule = create_chap_schedule(
        &w,
        json!({ "fallback_cron": "30 2 * * *", "timezone": "Africa/Nairobi" }),
    )
    .await;
    let id = schedule["id"].as_str().unwrap();
    // A synchronisation on demand: the next periodic one is 5 minutes away.
    let resp = w
        .app
        .post(&format!("/api/v1/schedules/{id}/sync"), &w.token, json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let first = body(resp).await;
    assert_eq!(first["setups"].as_array().unwrap().len(), 3, "{first}");
    // Setup 1 and 3 have no cron in chap: they follow the fallback, read in Nairobi (UTC+3).
    assert_eq!(setup(&first, 1)["effective_cron"], "30 2 * * *");
    let next: DateTime<Utc> =
        serde_json::from_value(setup(&first, 1)["next_fire_times"][0].clone()).unwrap();
    assert_eq!(next.format("%H:%M").to_string(), "23:30");

    w.sim.set_chap_down(Some(503));
    let resp = w
        .app
        .post(&format!("/api/v1/schedules/{id}/sync"), &w.token, json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let failed = body(resp).await;
    let error = failed["sync"]["error"].as_str().unwrap();
    assert!(error.contains("503"), "{error}");
    assert!(!error.contains(&w.sim.password()), "no secret in {error}");
    assert_eq!(
        failed["setups"], first["setups"],
        "the last known setups stay"
    );
    assert_eq!(failed["sync"]["synced_at"], first["sync"]["synced_at"]);
    assert!(failed["sync"]["attempted_at"].as_str() > first["sync"]["attempted_at"].as_str());
    let shown = body(
        w.app
            .get(&format!("/api/v1/schedules/{id}"), &w.token)
            .await,
    )
    .await;
    assert_eq!(shown["chap_sync"]["error"], error);
    assert_eq!(shown["setup_slots"].as_array().unwrap().len(), 2, "{shown}");

    // Without a fallback, setups enabled without a cron are listed, not fired.
    let resp = patch(
        &w,
        &format!("/api/v1/schedules/{id}"),
        &w.token,
        json!({ "fallback_cron": "" }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let view = setups(&w, &schedule).await;
    assert_eq!(setup(&view, 1)["status"], "no_cron");
    assert_eq!(setup(&view, 1)["next_fire_times"], json!([]));

    w.sim.set_chap_down(None);
    let resp = w
        .app
        .post(&format!("/api/v1/schedules/{id}/sync"), &w.token, json!({}))
        .await;
    let healed = body(resp).await;
    assert!(healed["sync"]["error"].is_null(), "{healed}");
    assert!(healed["sync"]["synced_at"].as_str() > first["sync"]["synced_at"].as_str());
}

#[tokio::test]
async fn a_setup_schedule_is_written_to_chap_checked_first_and_audited() {
    let w = world(three_setups(), &[]).await;
    let schedule = create_chap_schedule(&w, json!({})).await;
    let id = schedule["id"].as_str().unwrap();
    let path = format!("/api/v1/schedules/{id}/setups/2");

    // Checked as chap checks it, and nothing is sent.
    for (change, field, message) in [
        (json!({ "enabled": true }), "cron", "without a cron"),
        (json!({ "cron": "0 6 * *" }), "cron", "exactly 5 fields"),
        (json!({ "cron": "0 0 6 * * 1" }), "cron", "exactly 5 fields"),
        (json!({ "cron": "61 6 * * 1" }), "cron", "invalid cron"),
        (json!({}), "enabled", "give enabled, cron or both"),
    ] {
        let resp = patch(&w, &path, &w.token, change.clone()).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{change}");
        let err = body(resp).await;
        let text = err["details"][field].as_str().unwrap_or_default();
        assert!(text.contains(message), "{change}: {err}");
    }
    let resp = patch(&w, &path, &w.token, json!({ "enabled": "yes" })).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(w.sim.setup_patches().is_empty(), "nothing reached chap");

    // A viewer may look, not change.
    let (_, viewer) = w.app.user_session("viewer1", Role::Viewer).await;
    assert_eq!(
        w.app
            .get(&format!("/api/v1/schedules/{id}/setups"), &viewer)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        patch(&w, &path, &viewer, json!({ "enabled": false }))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Enabled with a cron: written to chap through the route, then synchronised.
    let resp = patch(
        &w,
        &path,
        &w.token,
        json!({ "enabled": true, "cron": " 0  6 * * 1 " }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let view = body(resp).await;
    let patches = w.sim.setup_patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].setup_id, 2);
    assert_eq!(
        patches[0].body,
        json!({ "scheduleEnabled": true, "scheduleCronExpression": "0 6 * * 1" })
    );
    assert_eq!(
        w.sim
            .count("PATCH", "/api/routes/chap/run/v1/crud/prediction-setups/2"),
        1
    );
    let two = setup(&view, 2);
    assert_eq!(two["enabled"], true);
    assert_eq!(two["status"], "scheduled");
    let next: Vec<DateTime<Utc>> = serde_json::from_value(two["next_fire_times"].clone()).unwrap();
    assert_eq!(next.len(), 5);
    assert!(
        next.iter()
            .all(|t| t.format("%a %H:%M").to_string() == "Mon 06:00"),
        "{next:?}"
    );

    // chap's own refusal, as a list or a string, is shown at the field.
    for (status, detail, expected) in [
        (
            422,
            json!([{"type": "value_error", "loc": ["body", "scheduleCronExpression"], "msg": "Value error, not on Sundays"}]),
            "chap refused it: Value error, not on Sundays",
        ),
        (
            400,
            json!("Cannot change a setup with a running job"),
            "chap refused it: Cannot change a setup with a running job",
        ),
    ] {
        w.sim.inject(dhis2_sim::Fault {
            group: EndpointGroup::PredictionSetups,
            method: Some("PATCH".into()),
            status,
            next: Some(1),
            body: Some(json!({ "detail": detail }).to_string()),
            ..Default::default()
        });
        let resp = patch(&w, &path, &w.token, json!({ "cron": "0 7 * * 0" })).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let err = body(resp).await;
        assert_eq!(err["details"]["cron"], expected, "{err}");
    }
    assert_eq!(w.sim.setup_patches().len(), 1, "chap refused both");

    // Switched off again.
    let resp = patch(&w, &path, &w.token, json!({ "enabled": false })).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(setup(&body(resp).await, 2)["status"], "disabled");
    assert_eq!(
        w.sim.setup_patches()[1].body,
        json!({ "scheduleEnabled": false, "scheduleCronExpression": "0 6 * * 1" })
    );

    // Audited: who changed what.
    let audit = body(w.app.get("/api/v1/audit?limit=100", &w.token).await).await;
    let events: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "schedule.setup_updated")
        .collect();
    assert_eq!(events.len(), 2, "{audit}");
    let on = events
        .iter()
        .find(|e| e["detail"]["after"]["enabled"] == true)
        .unwrap();
    assert_eq!(on["actor"], "admin");
    assert_eq!(on["detail"]["setup"], "beta-disabled");
    assert_eq!(
        on["detail"]["before"],
        json!({ "enabled": false, "cron": null })
    );
    assert_eq!(
        on["detail"]["after"],
        json!({ "enabled": true, "cron": "0 6 * * 1" })
    );

    // Unknown setup, and a schedule with its own timing.
    let resp = patch(
        &w,
        &format!("/api/v1/schedules/{id}/setups/99"),
        &w.token,
        json!({ "enabled": false }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let own = w
        .app
        .post(
            &format!("/api/v1/deployments/{}/schedules", w.deployment),
            &w.token,
            json!({ "cron": "0 6 * * 1", "parameters": { "credentials": w.block } }),
        )
        .await;
    let own = body(own).await;
    let own_id = own["id"].as_str().unwrap();
    assert_eq!(own["source"], "own");
    assert!(own["chap_sync"].is_null());
    let none = body(
        w.app
            .get(&format!("/api/v1/schedules/{own_id}/setups"), &w.token)
            .await,
    )
    .await;
    assert_eq!(none["setups"], json!([]), "{none}");
    let resp = w
        .app
        .post(
            &format!("/api/v1/schedules/{own_id}/sync"),
            &w.token,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = patch(
        &w,
        &format!("/api/v1/schedules/{own_id}/setups/1"),
        &w.token,
        json!({ "enabled": false }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_chap_schedule_is_refused_what_it_cannot_follow() {
    let w = world(three_setups(), &[]).await;
    let url = format!("/api/v1/deployments/{}/schedules", w.deployment);
    let cases = [
        (
            json!({ "source": "chap", "cron": "0 6 * * 1", "parameters": { "credentials": w.block } }),
            "cron",
        ),
        (
            json!({ "source": "chap", "interval_seconds": 60, "parameters": { "credentials": w.block } }),
            "interval_seconds",
        ),
        (
            json!({ "source": "chap", "parameters": {} }),
            "parameters.credentials",
        ),
        (
            json!({ "source": "chap", "parameters": { "credentials": w.block }, "fallback_cron": "0 6 * *" }),
            "fallback_cron",
        ),
        (
            json!({ "source": "chap", "parameters": { "credentials": w.block }, "timezone": "Mars/Olympus" }),
            "timezone",
        ),
        (
            json!({ "source": "moon", "parameters": { "credentials": w.block } }),
            "source",
        ),
        (
            json!({ "source": "chap", "parameters": { "credentials": w.block, "prediction_setup_ids": [1] } }),
            "parameters.prediction_setup_ids",
        ),
        (
            json!({ "cron": "0 6 * * 1", "fallback_cron": "0 6 * * 1", "parameters": { "credentials": w.block } }),
            "fallback_cron",
        ),
    ];
    for (req, field) in cases {
        let resp = w.app.post(&url, &w.token, req.clone()).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{req}");
        let err = body(resp).await;
        assert!(err.to_string().contains(field), "{req}: {err}");
    }
    // Only the prediction flow's deployments follow chap.
    let other = w.app.deployment("test-steps", &w.token).await;
    let resp = w
        .app
        .post(
            &format!(
                "/api/v1/deployments/{}/schedules",
                other["id"].as_str().unwrap()
            ),
            &w.token,
            json!({ "source": "chap", "parameters": { "credentials": w.block } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = body(resp).await;
    let text = err["details"]["source"].as_str().unwrap_or_default();
    assert!(text.contains("dhis2-chap-prediction"), "{err}");

    // The source is fixed once created; a chap schedule takes no cron.
    let schedule = create_chap_schedule(&w, json!({})).await;
    let path = format!("/api/v1/schedules/{}", schedule["id"].as_str().unwrap());
    for (change, field) in [
        (json!({ "source": "own", "cron": "0 6 * * 1" }), "source"),
        (json!({ "cron": "0 6 * * 1" }), "cron"),
        (json!({ "fallback_cron": "bad" }), "fallback_cron"),
    ] {
        let resp = patch(&w, &path, &w.token, change.clone()).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{change}");
        assert!(body(resp).await["details"][field].is_string(), "{change}");
    }
}

#[tokio::test]
async fn the_missed_run_policy_applies_per_setup_after_a_downtime() {
    let mut scenario = three_setups();
    scenario.prediction_setups[0].setup.schedule_cron_expression = Some("* * * * *".into());
    let w = world(scenario, &[]).await;
    let schedule = create_chap_schedule(&w, json!({ "missed_policy": "latest" })).await;
    let id: uuid::Uuid = schedule["id"].as_str().unwrap().parse().unwrap();
    // Keep clear of a minute boundary, so that every slot below is older than the 5 s of grace.
    let second = Utc::now().timestamp() % 60;
    if !(10..=50).contains(&second) {
        tokio::time::sleep(Duration::from_secs(((70 - second) % 60) as u64)).await;
    }
    // As if the service had been down for ten minutes: eleven slots of setup 1 were missed.
    use chap_scheduler::db::entities::chap_setup;
    use chrono::DurationRound;
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let from = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap()
        - chrono::Duration::minutes(10);
    let row = chap_setup::Entity::find_by_id((id, 1))
        .one(&w.app.db)
        .await
        .unwrap()
        .unwrap();
    let mut row = row.into_active_model();
    row.next_fire_at = Set(Some(from));
    row.update(&w.app.db).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let view = loop {
        let view = setups(&w, &schedule).await;
        if setup(&view, 1)["skipped_count"] == 10 {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never fired: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fired = slots_by_setup(&w, &schedule).await;
    assert_eq!(
        fired[&1],
        vec![from + chrono::Duration::minutes(10)],
        "`latest` runs the most recent missed slot only"
    );
    assert!(!fired.contains_key(&3), "setup 3 has no cron: {fired:?}");
    assert_eq!(setup(&view, 3)["status"], "no_cron");
    stop(&w, &schedule).await;
}
