use std::collections::BTreeMap;

use chap_scheduler_api::{CollisionStrategy, MissedPolicy};
use chrono::Utc;
use serde_json::json;

use super::*;
use crate::import_prefect::client::{PrefectDeployment, PrefectSchedule};

const KAMPALA: &str = "0 6 * * 1";

fn prefect_block(name: &str, base_url: &str, password: &str) -> PrefectBlock {
    PrefectBlock {
        id: Uuid::new_v4(),
        name: name.into(),
        fields: json!({ "base_url": base_url, "username": "admin" })
            .as_object()
            .unwrap()
            .clone(),
        secrets: BTreeMap::from([("password".to_string(), SecretString::from(password))]),
    }
}

fn reference(block: &PrefectBlock) -> Value {
    json!({ "$ref": { "block_document_id": block.id.to_string() } })
}

fn prefect_schedule(schedule: Value, active: bool, parameters: Value) -> PrefectSchedule {
    PrefectSchedule {
        id: Uuid::new_v4(),
        created: None,
        schedule,
        active,
        parameters: parameters.as_object().unwrap().clone(),
        max_scheduled_runs: None,
    }
}

/// Two blocks, defaults naming the first, and the three schedules of the API test.
fn snapshot() -> Snapshot {
    let first = prefect_block("prod-dhis2", "https://dhis.example.org/", "district");
    let second = prefect_block("other", "https://other.example.org", "s3cret");
    let deployment = PrefectDeployment {
        id: Uuid::new_v4(),
        name: PREFECT_DEPLOYMENT.into(),
        paused: false,
        parameters: json!({
            "credentials": reference(&first),
            "end_mode": "calculated",
            "end_date": null,
            "prediction_setup_id": null
        })
        .as_object()
        .unwrap()
        .clone(),
        schedules: vec![
            prefect_schedule(
                json!({ "cron": KAMPALA, "timezone": "Africa/Kampala", "day_or": true }),
                true,
                json!({}),
            ),
            prefect_schedule(
                json!({ "interval": 21600.0, "anchor_date": "2026-01-01T00:30:00Z", "timezone": "Europe/Oslo" }),
                true,
                json!({}),
            ),
            prefect_schedule(
                json!({ "cron": "30 2 1 * *", "timezone": "UTC", "day_or": true }),
                false,
                json!({ "credentials": reference(&second), "end_mode": "offset", "end_period_offset": 1 }),
            ),
        ],
    };
    Snapshot {
        url: "http://127.0.0.1:4200/api".into(),
        version: "3.9.1".into(),
        blocks: vec![first, second],
        deployment: Some(deployment),
        other_deployments: vec![],
    }
}

fn ours() -> Ours {
    let now = Utc::now();
    Ours {
        blocks: vec![],
        deployment: deployment::Model {
            id: Uuid::new_v4(),
            name: PREFECT_DEPLOYMENT.into(),
            flow_name: PREFECT_DEPLOYMENT.into(),
            description: String::new(),
            tags: json!([]),
            parameters: json!({ "end_mode": "calculated" }),
            paused: false,
            concurrency_limit: Some(1),
            collision_strategy: CollisionStrategy::Enqueue,
            retries: 0,
            retry_delay_seconds: 10.0,
            retry_backoff: 2.0,
            timeout_seconds: None,
            is_default: true,
            created_at: now,
            updated_at: now,
        },
        schedules: vec![],
        parameter_schema: crate::flows::dhis2_chap_prediction::params::schema(),
    }
}

fn accept(_: &Value, _: &ScheduleRequest) -> Result<(), String> {
    Ok(())
}

/// What applying `plan` would leave here (blocks get fresh ids, schedules are stored as asked).
fn applied(plan: &Plan, snap: &Snapshot, mut ours: Ours) -> Ours {
    for b in &plan.blocks {
        if let BlockAction::Create(new) = &b.action {
            let data = new.data();
            ours.blocks.push(OurBlock {
                id: Uuid::new_v4(),
                name: new.name.clone(),
                block_type: DHIS2_CREDENTIALS.slug.into(),
                data: json!({ "base_url": data["base_url"], "username": data["username"] })
                    .as_object()
                    .unwrap()
                    .clone(),
                password: data["password"].as_str().map(SecretString::from),
            });
        }
    }
    // The ids are known now: plan again, as the import does, and store what it creates.
    let again = super::plan(snap, &ours, &accept);
    if let Some(new) = again.defaults.as_ref().and_then(|d| d.new.clone()) {
        ours.deployment.parameters = new;
    }
    let now = Utc::now();
    for s in &again.schedules {
        if let ScheduleAction::Create(req) = &s.action {
            ours.schedules.push(schedule::Model {
                id: Uuid::new_v4(),
                deployment_id: ours.deployment.id,
                source: ScheduleSource::Own,
                fallback_cron: None,
                cron: req.cron.clone(),
                interval_seconds: req.interval_seconds.map(|i| i as i64),
                anchor_at: req.anchor_at.unwrap_or(now),
                timezone: req.timezone.clone().unwrap(),
                parameters: req.parameters.clone().unwrap(),
                active: req.active.unwrap(),
                missed_policy: MissedPolicy::Skip,
                max_missed: 100,
                next_fire_at: None,
                last_fire_at: None,
                skipped_count: 0,
                ready_by_seconds: None,
                pause_after_failures: None,
                consecutive_failures: 0,
                paused_reason: None,
                late_checked_until: None,
                created_at: now,
                updated_at: now,
            });
        }
    }
    ours
}

#[test]
fn a_first_import_creates_both_blocks_the_defaults_and_the_three_schedules() {
    let plan = plan(&snapshot(), &ours(), &accept);
    let c = plan.counts();
    assert_eq!(
        (c.blocks_create, c.defaults_change, c.schedules_create),
        (2, true, 3)
    );
    let defaults = plan.defaults.as_ref().unwrap();
    assert!(defaults
        .items
        .contains(&DefaultItem::Unchanged("end_mode".into())));
    assert!(defaults
        .items
        .contains(&DefaultItem::Unchanged("end_date".into())));
    let new = defaults.new.as_ref().unwrap();
    assert_eq!(new["end_mode"], "calculated");
    assert!(new.get("end_date").is_none(), "a null default is left out");
    let ScheduleAction::Create(pinned) = &plan.schedules[2].action else {
        panic!("the pinned schedule is created");
    };
    assert_eq!(pinned.active, Some(false));
    assert_eq!(pinned.parameters.as_ref().unwrap()["end_period_offset"], 1);
    let text = plan.render();
    assert!(text.contains("credentials: block `prod-dhis2`"), "{text}");
    assert!(text.contains("credentials: block `other`"), "{text}");
    assert!(
        !text.contains("district") && !text.contains("s3cret"),
        "{text}"
    );
}

#[test]
fn a_second_import_finds_everything_existing_and_changes_nothing() {
    let snap = snapshot();
    let first = plan(&snap, &ours(), &accept);
    let after = applied(&first, &snap, ours());
    let second = plan(&snap, &after, &accept);
    let c = second.counts();
    assert_eq!(
        (c.blocks_exist, c.schedules_exist, c.defaults_change),
        (2, 3, false)
    );
    assert!(!second.changes_something());
    assert!(second
        .render()
        .contains("exists      prod-dhis2: the same here"));
}

#[test]
fn a_schedule_that_differs_in_any_setting_is_created_beside_the_existing_one() {
    let snap = snapshot();
    let first = plan(&snap, &ours(), &accept);
    let mut after = applied(&first, &snap, ours());
    after.schedules[0].timezone = "Europe/Oslo".into();
    after.schedules[1].anchor_at += chrono::Duration::seconds(1);
    after.schedules[2].active = true;
    let second = plan(&snap, &after, &accept);
    assert_eq!(second.counts().schedules_create, 3);
}

#[test]
fn a_block_whose_name_exists_is_left_as_it_is_and_its_differences_named() {
    let mut here = ours();
    let existing = Uuid::new_v4();
    here.blocks.push(OurBlock {
        id: existing,
        name: "prod-dhis2".into(),
        block_type: DHIS2_CREDENTIALS.slug.into(),
        data: json!({ "base_url": "https://elsewhere.example.org", "username": "admin" })
            .as_object()
            .unwrap()
            .clone(),
        password: Some(SecretString::from("district")),
    });
    let plan = plan(&snapshot(), &here, &accept);
    let BlockAction::Exists { id, differs } = &plan.blocks[0].action else {
        panic!("exists");
    };
    assert_eq!(
        (*id, differs.as_slice()),
        (existing, &["base_url".to_string()][..])
    );
    // The defaults point at the existing block.
    let new = plan.defaults.as_ref().unwrap().new.as_ref().unwrap();
    assert_eq!(new["credentials"], existing.to_string());
}

#[test]
fn a_block_that_cannot_be_imported_skips_the_schedules_and_defaults_that_refer_to_it() {
    let mut snap = snapshot();
    snap.blocks[1]
        .fields
        .insert("base_url".into(), json!("not a url"));
    let plan = plan(&snap, &ours(), &accept);
    let BlockAction::NotMapped(why) = &plan.blocks[1].action else {
        panic!("not mapped");
    };
    assert!(why.starts_with("base_url:"), "{why}");
    let ScheduleAction::NotMapped(why) = &plan.schedules[2].action else {
        panic!("the schedule pinning that block is skipped");
    };
    assert!(
        why.contains("parameter `credentials`") && why.contains("`other`"),
        "{why}"
    );
    assert_eq!(plan.counts().schedules_create, 2);
}

#[test]
fn unknown_defaults_are_not_mapped_and_the_rest_are() {
    let mut snap = snapshot();
    let dep = snap.deployment.as_mut().unwrap();
    dep.parameters
        .insert("chap_url".into(), json!("http://chap:8000"));
    dep.parameters.insert("end_mode".into(), json!("sometimes"));
    let plan = plan(&snap, &ours(), &accept);
    let items = &plan.defaults.as_ref().unwrap().items;
    assert!(items.iter().any(
        |i| matches!(i, DefaultItem::NotMapped(k, why) if k == "chap_url" && why.contains("not a parameter"))
    ));
    assert!(items
        .iter()
        .any(|i| matches!(i, DefaultItem::NotMapped(k, _) if k == "end_mode")));
    assert!(items
        .iter()
        .any(|i| matches!(i, DefaultItem::Set(k, _) if k == "credentials")));
}

#[test]
fn a_schedule_the_api_would_refuse_is_reported_with_the_apis_reason() {
    let refuse = |_: &Value, req: &ScheduleRequest| match req.interval_seconds {
        Some(_) => Err("interval_seconds: too long".to_string()),
        None => Ok(()),
    };
    let mut snap = snapshot();
    snap.deployment
        .as_mut()
        .unwrap()
        .schedules
        .push(prefect_schedule(
            json!({ "rrule": "FREQ=DAILY", "timezone": "UTC" }),
            true,
            json!({}),
        ));
    let plan = plan(&snap, &ours(), &refuse);
    let reasons: Vec<String> = plan
        .schedules
        .iter()
        .filter_map(|s| match &s.action {
            ScheduleAction::NotMapped(why) => Some(why.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("too long"));
    assert!(reasons[1].contains("rrule"));
}

#[test]
fn a_prefect_server_without_the_deployment_imports_only_blocks() {
    let mut snap = snapshot();
    snap.deployment = None;
    snap.other_deployments = vec!["something-else".into()];
    let plan = plan(&snap, &ours(), &accept);
    assert!(plan.defaults.is_none() && plan.schedules.is_empty());
    let text = plan.render();
    assert!(
        text.contains("no deployment `dhis2-chap-prediction`"),
        "{text}"
    );
    assert!(text.contains("something-else"), "{text}");
}
