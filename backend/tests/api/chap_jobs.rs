//! Exactly one chap job per setup and run: a job already running in chap for the setup is followed, a
//! run retried after its worker died follows the job its dead attempt submitted, and a job chap revokes
//! or forgets ends its setup with the reason.

use std::time::{Duration, Instant};

use dhis2_sim::Scenario;
use serde_json::json;

use crate::prediction::{step, steps, world};
use crate::processes::{kill, terminate, worker_process, worker_process_with};

const POLLS: &str = "/api/routes/chap/run/v1/jobs/";
const REVOKED: &str = "was revoked (the setup was deleted or the job cancelled in chap)";

fn statuses(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// Waits (10 s at most) until `ready` holds.
async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_job_already_running_in_chap_for_the_setup_is_followed_not_duplicated() {
    let w = world(Scenario::fixture(), &[]).await;
    let job = w
        .sim
        .start_job(1, statuses(&["STARTED", "STARTED", "SUCCESS"]));
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(w.sim.jobs().len(), 1, "no second job: {:?}", w.sim.jobs());
    assert!(w.sim.run_submissions().is_empty(), "nothing submitted");
    let report = w.report(&run).await;
    assert!(
        report.contains(&format!(
            "- Job: `{job}` (followed job {job} already running in chap)"
        )),
        "{report}"
    );
    assert!(report.contains("- Prediction: `"), "{report}");
    assert!(w
        .logs(&run)
        .await
        .iter()
        .any(|l| l.starts_with(&format!("Followed job {job} already running in chap"))));
    assert_eq!(step(&steps(&run), "Run prediction setup").2, "COMPLETED");

    // Once that job is over, the next run submits its own.
    let again = w.run(json!({})).await;
    assert_eq!(again["state"], "COMPLETED", "{again}");
    assert_eq!(w.sim.jobs().len(), 2);
    assert_eq!(w.sim.run_submissions().len(), 1);
}

#[tokio::test]
async fn an_older_chap_whose_job_listing_names_no_setup_gets_a_new_job_with_a_warning() {
    let mut scenario = Scenario::fixture();
    scenario.chap.jobs_name_setup = false;
    let w = world(scenario, &[]).await;
    w.sim.start_job(1, statuses(&["STARTED"]));
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(w.sim.run_submissions().len(), 1, "submitted as before");
    assert_eq!(w.sim.jobs().len(), 2);
    assert!(w
        .logs(&run)
        .await
        .iter()
        .any(|l| l
            .contains("chap's job listing does not say which setup a job is for (an older chap)")));
}

#[tokio::test]
async fn a_job_chap_revokes_ends_its_setup_failed_with_the_reason() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.job_statuses = statuses(&["STARTED", "REVOKED"]);
    let w = world(scenario, &[]).await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    let report = w.report(&run).await;
    assert!(
        report.contains("- **Status:** FAILED at `wait_for_prediction`"),
        "{report}"
    );
    assert!(report.contains("RuntimeError: the chap job "), "{report}");
    assert!(report.contains(REVOKED), "{report}");
    assert_eq!(step(&steps(&run), "Wait for prediction job").2, "FAILED");
    assert!(
        !w.sim.requests().iter().any(|r| r.path.ends_with("/logs")),
        "a revoked job has no log worth fetching"
    );
}

#[tokio::test]
async fn a_job_chap_forgets_while_it_is_polled_ends_its_setup_as_revoked() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.job_statuses = statuses(&["RUNNING"]);
    let w = world(scenario, &[]).await;
    let run = w
        .app
        .trigger(&w.deployment, &w.token, json!({ "credentials": w.block }))
        .await;
    let id = run["id"].as_str().unwrap();
    until("the job is polled", || w.sim.count("GET", POLLS) >= 2).await;
    let job = w.sim.jobs()[0].0.clone();
    assert!(w.sim.delete_job(&job));
    let done = w
        .app
        .wait_for(id, &w.token, &["COMPLETED", "FAILED", "CANCELLED"])
        .await;
    assert_eq!(done["state"], "FAILED", "{done}");
    let report = w.report(&done).await;
    assert!(
        report.contains(&format!("the chap job {job} {REVOKED}")),
        "{report}"
    );
}

/// `setups` setups like the fixture's, whose jobs succeed after 150 polls (3 s at the tests' 20 ms);
/// an app without in-process workers, its deployment retrying once at once.
async fn world_for_worker_processes(setups: i64) -> crate::prediction::World {
    let mut long = vec!["STARTED"; 150];
    long.push("SUCCESS");
    let mut scenario = Scenario::fixture();
    let template = scenario.prediction_setups.remove(0);
    for id in 1..=setups {
        let mut setup = template.clone();
        setup.setup.id = id;
        setup.setup.name = format!("setup {id}");
        setup.sim.job_statuses = statuses(&long);
        scenario.prediction_setups.push(setup);
    }
    // The worker processes have data directories of their own: the block's key is given to all.
    let w = world(
        scenario,
        &[
            ("CHAP_SCHEDULER_IN_PROCESS_WORKERS", "false"),
            (
                "CHAP_SCHEDULER_ENCRYPTION_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
        ],
    )
    .await;
    w.app
        .set_deployment(
            &w.token,
            &w.deployment,
            json!({ "retries": 1, "retry_delay_seconds": 0, "concurrency_limit": null }),
        )
        .await;
    w
}

#[tokio::test]
async fn runs_handed_back_by_a_stopping_worker_follow_their_jobs_and_the_worker_exits() {
    let w = world_for_worker_processes(8).await;
    let mut stopping =
        worker_process_with(&w.app, &[("CHAP_SCHEDULER_SHUTDOWN_GRACE_SECONDS", "1")]);
    let mut ids = Vec::new();
    for setup in 1..=8 {
        let run = w
            .app
            .trigger(
                &w.deployment,
                &w.token,
                json!({ "credentials": w.block, "prediction_setup_id": setup }),
            )
            .await;
        ids.push(run["id"].as_str().unwrap().to_string());
    }
    until("every run has submitted its job", || {
        w.sim.jobs().len() == 8 && w.sim.count("GET", POLLS) >= 16
    })
    .await;
    // A grace period of 1 s: the worker must be gone well within 8 s.
    let (status, _) = terminate(&mut stopping, Duration::from_secs(8)).await;
    assert!(status.success(), "{status}");
    let next = worker_process(&w.app);
    let mut handed_back = 0;
    for id in &ids {
        let done = w
            .app
            .wait_for(
                id,
                &w.token,
                &["COMPLETED", "FAILED", "CRASHED", "CANCELLED"],
            )
            .await;
        assert_eq!(done["state"], "COMPLETED", "{done}");
        let history = crate::helpers::states(&done["history"]);
        if history.iter().filter(|s| *s == "RUNNING").count() == 2 {
            handed_back += 1;
            assert!(!history.contains(&"CRASHED".to_string()), "{done}");
            let report = w.report(&done).await;
            assert!(
                report.contains("(submitted by an earlier attempt of this run, followed)"),
                "{report}"
            );
        }
    }
    kill(next);
    assert!(handed_back > 0, "no run was in flight at SIGTERM");
    assert_eq!(w.sim.run_submissions().len(), 8, "one submit per run");
    assert_eq!(w.sim.jobs().len(), 8, "one chap job per run");
}

#[tokio::test]
async fn a_run_retried_after_its_worker_was_killed_follows_the_job_it_had_submitted() {
    let w = world_for_worker_processes(1).await;
    let first = worker_process(&w.app);
    let run = w
        .app
        .trigger(&w.deployment, &w.token, json!({ "credentials": w.block }))
        .await;
    let id = run["id"].as_str().unwrap();
    until("the first attempt polls its job", || {
        w.sim.count("GET", POLLS) >= 3
    })
    .await;
    // SIGKILL after the submit: the job keeps running in chap.
    kill(first);
    let second = worker_process(&w.app);
    let done = w
        .app
        .wait_for(id, &w.token, &["COMPLETED", "FAILED", "CANCELLED"])
        .await;
    kill(second);
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(w.sim.run_submissions().len(), 1, "one submit in all");
    assert_eq!(w.sim.jobs().len(), 1, "one chap job: {:?}", w.sim.jobs());
    let job = &w.sim.jobs()[0].0;
    let report = w.report(&done).await;
    assert!(
        report.contains(&format!(
            "- Job: `{job}` (submitted by an earlier attempt of this run, followed)"
        )),
        "{report}"
    );
}

#[tokio::test]
async fn a_run_asks_chap_for_its_own_job_not_for_the_whole_job_table() {
    // chap keeps every job it ever ran: a listing of all of them grows with each run (issue 16: the
    // simulator's CPU per run tripled between 200 and 1,000 runs, and ours grew with it).
    let w = world(Scenario::fixture(), &[]).await;
    for _ in 0..2 {
        let run = w.run(json!({})).await;
        assert_eq!(run["state"], "COMPLETED", "{run}");
    }
    let jobs = w.sim.jobs();
    let listings: Vec<String> = w
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method.eq_ignore_ascii_case("GET") && r.path == POLLS.trim_end_matches('/'))
        .map(|r| r.query)
        .collect();
    assert!(!listings.is_empty());
    for query in &listings {
        let id = query.strip_prefix("ids=");
        assert!(
            id.is_some() || query.starts_with("predictionSetupId="),
            "a listing of the whole job table: {listings:?}"
        );
        if id.is_none() {
            // The setup's jobs in flight only: its finished jobs also grow with each run.
            let statuses: Vec<&str> = query
                .split('&')
                .filter_map(|pair| pair.strip_prefix("status="))
                .collect();
            assert_eq!(
                statuses,
                [
                    "PENDING",
                    "RUNNING",
                    "STARTED",
                    "QUEUED",
                    "PROCESSING",
                    "RETRY"
                ],
                "{query}"
            );
        }
        if let Some(id) = id {
            assert!(
                jobs.iter().any(|(job, _, _)| job == id),
                "{query} names none of the runs' jobs: {jobs:?}"
            );
        }
    }
}
