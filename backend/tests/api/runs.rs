use std::sync::atomic::Ordering;
use std::time::Duration;

use chap_scheduler_api::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_triggered_run_completes_with_its_steps_logs_and_report_stored() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let run = app
        .trigger_flow("test-steps", &token, json!({ "greeting": "hello" }))
        .await;
    assert_eq!(
        run["parameters"],
        json!({ "greeting": "hello", "count": 3 }),
        "defaults merged"
    );
    assert_eq!(run["triggered_by"], "user:admin");
    let id = run["id"].as_str().unwrap();
    let done = app.wait_for(id, &token, TERMINAL).await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert_eq!(
        states(&done["history"]),
        ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    );
    assert_eq!(done["attempt"], 1);
    let steps = done["task_runs"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert!(steps
        .iter()
        .all(|s| s["state"] == "COMPLETED" && s["duration_seconds"].is_number()));
    assert_eq!(steps[2]["label"], "greeting 3");

    let logs = body(app.get(&format!("/api/v1/runs/{id}/logs"), &token).await).await;
    let lines: Vec<&str> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(lines.contains(&"hello number 2"), "{lines:?}");
    let after = logs["items"][1]["id"].as_i64().unwrap();
    let rest = body(
        app.get(&format!("/api/v1/runs/{id}/logs?after={after}"), &token)
            .await,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), lines.len() - 2);

    let artifacts = body(
        app.get(&format!("/api/v1/runs/{id}/artifacts"), &token)
            .await,
    )
    .await;
    assert_eq!(artifacts[0]["key"], "run-report");
    assert_eq!(artifacts[0]["content"], "# Report\n\n3 greetings sent.\n");
    assert_eq!(
        artifacts[0]["html"], "<h1>Report</h1>\n<p>3 greetings sent.</p>\n",
        "rendered on the server"
    );

    let list = body(app.get("/api/v1/runs?state=COMPLETED", &token).await).await;
    assert_eq!(list["items"][0]["id"], run["id"]);
    let stats = body(app.get("/api/v1/runs/stats", &token).await).await;
    assert_eq!(stats["days"].as_array().unwrap().len(), 14);
    assert_eq!(stats["days"][13]["counts"]["COMPLETED"], 1);
}

#[tokio::test]
async fn invalid_parameters_are_refused_with_field_errors_and_no_run() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-steps", &token).await;
    let path = format!("/api/v1/deployments/{}/runs", dep["id"].as_str().unwrap());
    let r = app
        .post(
            &path,
            &token,
            json!({ "parameters": { "count": 0, "extra": true } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b = body(r).await;
    assert_eq!(b["error"], "validation_failed");
    assert_eq!(b["details"]["parameters.greeting"], "is required");
    assert!(b["details"]["parameters.count"]
        .as_str()
        .unwrap()
        .contains("at least 1"));
    assert!(b["details"]["parameters.extra"].is_string());
    // A deployment that does not exist: 404 naming it, no run either.
    let missing = uuid::Uuid::new_v4();
    let r = app
        .post(
            &format!("/api/v1/deployments/{missing}/runs"),
            &token,
            json!({ "parameters": { "greeting": "hi" } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let b = body(r).await;
    assert_eq!(
        b["message"],
        format!("no deployment with id {missing}"),
        "{b}"
    );
    let list = body(app.get("/api/v1/runs", &token).await).await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_run() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-steps", &token).await;
    let path = format!("/api/v1/deployments/{}/runs", dep["id"].as_str().unwrap());
    let req =
        json!({ "parameters": { "greeting": "hi" }, "idempotency_key": "nightly-2026-11-26" });
    let first = app.post(&path, &token, req.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = app.post(&path, &token, req).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(body(first).await["id"], body(second).await["id"]);
}

/// A run that takes a free slot of its deployment at its trigger (on PostgreSQL in the statement that
/// writes it) is written PENDING with its whole history and one audit event, and the same key again
/// answers with it and writes nothing.
#[tokio::test]
async fn a_run_that_takes_a_free_slot_at_its_trigger_has_its_history_and_one_event() {
    let (app, token) = spawn_app_without_workers().await;
    let dep = app
        .configure_flow("test-steps", &token, json!({ "concurrency_limit": 2 }))
        .await;
    let path = format!("/api/v1/deployments/{dep}/runs");
    let req = json!({ "parameters": { "greeting": "hi" }, "idempotency_key": "slot-1" });
    let first = app.post(&path, &token, req.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    assert_eq!(first["state"], "PENDING", "{first}");
    let again = app.post(&path, &token, req).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(body(again).await["id"], first["id"]);
    let id = first["id"].as_str().unwrap();
    let shown = body(app.get(&format!("/api/v1/runs/{id}"), &token).await).await;
    assert_eq!(shown["state"], "PENDING", "{shown}");
    assert_eq!(
        states(&shown["history"]),
        ["SCHEDULED", "PENDING"],
        "{shown}"
    );
    let runs = body(
        app.get(&format!("/api/v1/runs?deployment_id={dep}"), &token)
            .await,
    )
    .await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 1, "{runs}");
    let audit = body(app.get("/api/v1/audit?limit=500", &token).await).await;
    let events = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "run.triggered" && e["target"] == format!("run:{id}"))
        .count();
    assert_eq!(events, 1, "{audit}");
}

#[tokio::test]
async fn a_flow_failing_twice_then_succeeding_with_two_retries_completes_after_three_attempts() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-flaky", &token).await;
    let id = dep["id"].as_str().unwrap();
    app.set_deployment(
        &token,
        id,
        json!({ "retries": 2, "retry_delay_seconds": 0.1, "retry_backoff": 1.0 }),
    )
    .await;
    let run = app.trigger(id, &token, json!({ "succeed_on": 3 })).await;
    let done = app
        .wait_for(run["id"].as_str().unwrap(), &token, TERMINAL)
        .await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 3);
    let h = states(&done["history"]);
    assert_eq!(
        h.iter().filter(|s| *s == "AWAITING_RETRY").count(),
        2,
        "{h:?}"
    );
    assert_eq!(h.iter().filter(|s| *s == "RUNNING").count(), 3, "{h:?}");
    let failed_steps = done["task_runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "FAILED")
        .count();
    assert_eq!(failed_steps, 2);

    let run = app.trigger(id, &token, json!({ "succeed_on": 9 })).await;
    let done = app
        .wait_for(run["id"].as_str().unwrap(), &token, TERMINAL)
        .await;
    assert_eq!(done["state"], "FAILED", "{done}");
    assert_eq!(done["attempt"], 3);
    assert!(
        done["state_message"]
            .as_str()
            .unwrap()
            .contains("attempt 3 is not lucky"),
        "{done}"
    );
}

#[tokio::test]
async fn a_run_past_its_timeout_fails_saying_it_timed_out() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-sleepy", &token).await;
    let id = dep["id"].as_str().unwrap();
    app.set_deployment(&token, id, json!({ "timeout_seconds": 0.5 }))
        .await;
    let run = app.trigger(id, &token, json!({ "seconds": 5 })).await;
    let done = app
        .wait_for(run["id"].as_str().unwrap(), &token, TERMINAL)
        .await;
    assert_ended_saying(&done, "FAILED", "timed out after 0.5 s");
    let open = done["task_runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "RUNNING")
        .count();
    assert_eq!(open, 0, "no step is left running");
}

#[tokio::test]
async fn a_panicking_flow_fails_and_the_worker_lives_on() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let panics = app.deployment("test-panics", &token).await;
    let run = app
        .trigger(panics["id"].as_str().unwrap(), &token, json!({}))
        .await;
    let done = app
        .wait_for(run["id"].as_str().unwrap(), &token, TERMINAL)
        .await;
    assert_eq!(done["state"], "FAILED");
    assert!(
        done["state_message"]
            .as_str()
            .unwrap()
            .contains("panicked on purpose"),
        "{done}"
    );
    let steps = app.deployment("test-steps", &token).await;
    let run = app
        .trigger(
            steps["id"].as_str().unwrap(),
            &token,
            json!({ "greeting": "still alive" }),
        )
        .await;
    let done = app
        .wait_for(run["id"].as_str().unwrap(), &token, TERMINAL)
        .await;
    assert_eq!(done["state"], "COMPLETED");
}

#[tokio::test]
async fn cancelling_a_running_run_ends_it_cancelled_with_the_steps_that_ran() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let run = app
        .trigger_flow("test-sleepy", &token, json!({ "seconds": 30 }))
        .await;
    let id = run["id"].as_str().unwrap();
    app.wait_for(id, &token, &["RUNNING"]).await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = app
        .post(&format!("/api/v1/runs/{id}/cancel"), &token, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["state"], "CANCELLING");
    let done = app.wait_for(id, &token, TERMINAL).await;
    assert_eq!(done["state"], "CANCELLED", "{done}");
    assert_eq!(done["state_message"], "cancelled by user:admin");
    let steps = done["task_runs"].as_array().unwrap();
    assert!(steps.len() >= 3, "{steps:?}");
    assert!(steps.iter().filter(|s| s["state"] == "COMPLETED").count() >= 2);
    // The cancel lands inside a step (it ends CANCELLED) or, when the run was between two steps
    // (writing one's end or the next one's start), after the last completed one; never a RUNNING step.
    let (last, earlier) = steps.split_last().unwrap();
    assert!(
        matches!(last["state"].as_str(), Some("CANCELLED" | "COMPLETED")),
        "{steps:?}"
    );
    assert!(
        earlier.iter().all(|s| s["state"] == "COMPLETED"),
        "{steps:?}"
    );
    let again = app
        .post(&format!("/api/v1/runs/{id}/cancel"), &token, json!({}))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_same_job_delivered_twice_executes_the_flow_body_once() {
    let (app, token) = spawn_app_without_workers().await;
    let run = app
        .trigger_flow("test-sleepy", &token, json!({ "seconds": 0.2 }))
        .await;
    assert_eq!(run["state"], "PENDING");
    let id: uuid::Uuid = run["id"].as_str().unwrap().parse().unwrap();
    let (a, b) = tokio::join!(app.engine.execute(id), app.engine.execute(id));
    a.unwrap();
    b.unwrap();
    app.engine.execute(id).await.unwrap();
    assert_eq!(app.sleepy_started.load(Ordering::SeqCst), 1);
    let done = app.wait_for(&id.to_string(), &token, TERMINAL).await;
    assert_eq!(done["state"], "COMPLETED");
}

#[tokio::test]
async fn a_run_whose_worker_stops_heartbeating_crashes_and_is_retried() {
    let (app, token) = spawn_app_without_workers().await;
    let dep = app.deployment("test-steps", &token).await;
    let id = dep["id"].as_str().unwrap();
    app.set_deployment(
        &token,
        id,
        json!({ "retries": 1, "retry_delay_seconds": 0 }),
    )
    .await;
    let run = app
        .trigger(id, &token, json!({ "greeting": "again" }))
        .await;
    let run_id: uuid::Uuid = run["id"].as_str().unwrap().parse().unwrap();
    // A worker claims it and dies at once: nobody heartbeats any more.
    let claimed = app.engine.claim(run_id).await.unwrap().expect("claimable");
    assert_eq!(claimed.run.state, chap_scheduler_api::RunState::Running);
    // The reaper declares it CRASHED and, with a retry left, puts it back in the queue.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let run = body(app.get(&format!("/api/v1/runs/{run_id}"), &token).await).await;
        let crash = run["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["state"] == "CRASHED")
            .cloned();
        let retrying = states(&run["history"]).contains(&"AWAITING_RETRY".to_string());
        if let (Some(crash), true) = (crash, retrying) {
            let message = crash["message"].as_str().unwrap();
            assert!(message.contains("stopped heartbeating"), "{crash}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never crashed: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A live worker picks the retry up.
    tokio::spawn(chap_scheduler::startup::run_workers(app.engine.clone()));
    let done = app.wait_for(&run_id.to_string(), &token, TERMINAL).await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
}

#[tokio::test]
async fn a_limit_and_a_timeout_set_to_null_are_removed_and_absent_keys_change_nothing() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-sleepy", &token).await;
    let id = dep["id"].as_str().unwrap();
    let path = format!("/api/v1/deployments/{id}");
    app.set_deployment(
        &token,
        id,
        json!({ "concurrency_limit": 3, "timeout_seconds": 60 }),
    )
    .await;
    app.set_deployment(&token, id, json!({ "description": "kept limits" }))
        .await;
    let kept = body(app.get(&path, &token).await).await;
    assert_eq!(kept["concurrency_limit"], 3, "{kept}");
    assert_eq!(kept["timeout_seconds"], 60.0, "{kept}");
    app.set_deployment(
        &token,
        id,
        json!({ "concurrency_limit": null, "timeout_seconds": null }),
    )
    .await;
    let cleared = body(app.get(&path, &token).await).await;
    assert!(
        cleared["concurrency_limit"].is_null(),
        "unlimited: {cleared}"
    );
    assert!(
        cleared["timeout_seconds"].is_null(),
        "no timeout: {cleared}"
    );
}

#[tokio::test]
async fn with_a_limit_of_one_and_enqueue_two_runs_never_run_at_once() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-sleepy", &token).await;
    let id = dep["id"].as_str().unwrap();
    app.set_deployment(
        &token,
        id,
        json!({ "concurrency_limit": 1, "collision_strategy": "enqueue" }),
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            app.trigger(id, &token, json!({ "seconds": 0.3 })).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list = body(
            app.get(&format!("/api/v1/runs?deployment_id={id}"), &token)
                .await,
        )
        .await;
        let items = list["items"].as_array().unwrap();
        let running = items
            .iter()
            .filter(|r| r["state"] == "RUNNING" || r["state"] == "PENDING")
            .count();
        assert!(running <= 1, "two runs in flight at once: {list}");
        if items.iter().all(|r| r["state"] == "COMPLETED") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runs did not finish: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn with_cancel_new_a_run_beyond_the_limit_is_cancelled_at_once() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-sleepy", &token).await;
    let id = dep["id"].as_str().unwrap();
    app.set_deployment(
        &token,
        id,
        json!({ "concurrency_limit": 1, "collision_strategy": "cancel_new" }),
    )
    .await;
    let first = app.trigger(id, &token, json!({ "seconds": 3 })).await;
    let second = app.trigger(id, &token, json!({ "seconds": 3 })).await;
    assert_eq!(second["state"], "CANCELLED");
    assert!(
        second["state_message"]
            .as_str()
            .unwrap()
            .contains("concurrency limit of 1"),
        "{second}"
    );
    app.post(
        &format!("/api/v1/runs/{}/cancel", first["id"].as_str().unwrap()),
        &token,
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn a_viewer_cannot_trigger_cancel_or_retry_but_an_operator_can() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_session("vic", Role::Viewer).await;
    let (_, operator) = app.user_session("ola", Role::Operator).await;
    let dep = app.deployment("test-steps", &admin).await;
    let path = format!("/api/v1/deployments/{}/runs", dep["id"].as_str().unwrap());
    let r = app
        .post(&path, &viewer, json!({ "parameters": { "greeting": "x" } }))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let run = app
        .trigger(
            dep["id"].as_str().unwrap(),
            &operator,
            json!({ "greeting": "x" }),
        )
        .await;
    assert_eq!(run["triggered_by"], "user:ola");
    let id = run["id"].as_str().unwrap();
    app.wait_for(id, &viewer, TERMINAL).await;
    let r = app
        .post(&format!("/api/v1/runs/{id}/retry"), &viewer, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post(&format!("/api/v1/runs/{id}/retry"), &operator, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let retry = body(r).await;
    assert_eq!(retry["retry_of"], run["id"]);
    assert_eq!(retry["parameters"], run["parameters"]);
    // Viewers read everything.
    assert_eq!(
        app.get("/api/v1/runs", &viewer).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/runs/{id}"), &viewer)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_sse_client_receives_log_lines_while_the_run_is_going() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let run = app
        .trigger_flow("test-sleepy", &token, json!({ "seconds": 1.5 }))
        .await;
    let id = run["id"].as_str().unwrap();
    let mut resp = app
        .client
        .get(app.url(&format!("/api/v1/runs/{id}/logs/stream")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let mut saw_log_while_running = false;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains("event: log") && !saw_log_while_running {
            let now = body(app.get(&format!("/api/v1/runs/{id}"), &token).await).await;
            saw_log_while_running = now["state"] == "RUNNING";
        }
        if text.contains("event: end") {
            break;
        }
    }
    assert!(
        saw_log_while_running,
        "no log line arrived while the run was running: {text}"
    );
    assert!(text.contains("tick 14"), "{text}");
    assert!(text.contains("\"state\":\"COMPLETED\""), "{text}");
}

#[tokio::test]
async fn deployments_are_validated_and_the_default_ones_are_never_duplicated() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/deployments",
            &token,
            json!({ "name": "x", "flow_name": "nope" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post("/api/v1/deployments", &token, json!({ "name": "nightly", "flow_name": "test-steps", "parameters": { "count": "many" } }))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await["details"]["parameters.count"].is_string());
    let r = app
        .post("/api/v1/deployments", &token, json!({ "name": "nightly", "flow_name": "test-steps", "tags": ["a"], "parameters": { "greeting": "night" } }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .post(
            "/api/v1/deployments",
            &token,
            json!({ "name": "nightly", "flow_name": "test-steps" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // A restart (a second engine on the same database) creates no second default deployment.
    chap_scheduler::orchestrator::deployments::ensure_defaults(&app.db, app.engine.registry())
        .await
        .unwrap();
    let all = body(app.get("/api/v1/deployments", &token).await).await;
    let defaults = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["is_default"] == true)
        .count();
    // The six test flows and the production prediction flow.
    assert_eq!(defaults, 7);
    let flows = body(app.get("/api/v1/flows", &token).await).await;
    assert_eq!(flows.as_array().unwrap().len(), 7);

    let steps = app.deployment("test-steps", &token).await;
    app.set_deployment(
        &token,
        steps["id"].as_str().unwrap(),
        json!({ "paused": true }),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/deployments/{}/runs", steps["id"].as_str().unwrap()),
            &token,
            json!({ "parameters": { "greeting": "x" } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let audit = body(
        app.get("/api/v1/audit?action=deployment.paused", &token)
            .await,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn read_steps_show_while_they_run_and_end_in_order_even_when_the_run_times_out() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let dep = app.deployment("test-sleepy", &token).await;
    let id = dep["id"].as_str().unwrap();
    let run = app
        .trigger(id, &token, json!({ "seconds": 1.5, "read_steps": true }))
        .await;
    let run_id = run["id"].as_str().unwrap();
    // A read step's start is written by the log writer (at most 200 ms late): the page shows it
    // RUNNING while the run is still running.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = body(app.get(&format!("/api/v1/runs/{run_id}"), &token).await).await;
        let running_step = seen["task_runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["state"] == "RUNNING");
        if seen["state"] == "RUNNING" && running_step {
            break;
        }
        assert!(
            seen["state"] == "RUNNING" || seen["state"] == "PENDING",
            "the run ended before a running step was seen: {seen}"
        );
        assert!(std::time::Instant::now() < deadline, "never seen: {seen}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let done = app.wait_for(run_id, &token, TERMINAL).await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    let steps = done["task_runs"].as_array().unwrap();
    let labels: Vec<&str> = steps.iter().map(|t| t["label"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..15).map(|i| format!("tick {i}")).collect();
    assert_eq!(labels, expected, "every step once, in order");
    assert!(steps.iter().all(|t| t["state"] == "COMPLETED"), "{done}");

    // Timed out in the middle of a read step: nothing is left RUNNING.
    app.set_deployment(&token, id, json!({ "timeout_seconds": 0.45 }))
        .await;
    let run = app
        .trigger(id, &token, json!({ "seconds": 5, "read_steps": true }))
        .await;
    let done = app
        .wait_for(run["id"].as_str().unwrap(), &token, TERMINAL)
        .await;
    assert_eq!(done["state"], "FAILED");
    let steps = done["task_runs"].as_array().unwrap();
    assert!(!steps.is_empty(), "{done}");
    assert!(
        steps.iter().all(|t| t["state"] != "RUNNING"),
        "no step is left running: {done}"
    );
}
