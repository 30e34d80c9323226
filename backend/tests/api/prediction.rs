//! The prediction flow end to end: the real application (engine, API, block store) against the DHIS2 +
//! chap simulator, a credentials block created through the API, runs triggered and read back through
//! the API (state, summary, steps, logs, report).

use chap_scheduler::db::entities::{artifact, flow_run, log, task_run};
use dhis2_sim::{
    EndpointGroup, PredictionSetup, Rejection, Scenario, SetupBehaviour, SimHandle, Simulator,
};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::{body, settings, spawn_app_with, TestApp};

const FLOW: &str = "dhis2-chap-prediction";
const SETUPS_PATH: &str = "/api/routes/chap/run/v1/crud/prediction-setups";

/// An application, a simulator, an admin token, the flow's deployment and a block for the simulator.
pub(crate) struct World {
    pub app: TestApp,
    pub sim: SimHandle,
    pub token: String,
    pub deployment: String,
    pub block: String,
}

pub(crate) async fn world(scenario: Scenario, overrides: &[(&str, &str)]) -> World {
    world_with_block(scenario, overrides, |sim| {
        json!({ "base_url": sim.base_url(), "username": sim.username(), "password": sim.password() })
    })
    .await
}

/// [`world`] with the credentials block's data chosen by `data` (e.g. a personal access token).
pub(crate) async fn world_with_block(
    scenario: Scenario,
    overrides: &[(&str, &str)],
    data: impl FnOnce(&SimHandle) -> Value,
) -> World {
    let sim = Simulator::start(scenario)
        .await
        .expect("start the simulator");
    let mut vars = settings();
    vars.insert(
        "CHAP_SCHEDULER_PREDICTION_POLL_SECONDS".into(),
        "0.02".into(),
    );
    for (k, v) in overrides {
        vars.insert((*k).into(), (*v).into());
    }
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;
    let resp = app
        .post(
            "/api/v1/blocks",
            &token,
            json!({ "name": "sim-dhis2", "block_type": "dhis2-credentials", "data": data(&sim) }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED, "create the block");
    let block = body(resp).await["id"].as_str().unwrap().to_string();
    let deployment = app.deployment(FLOW, &token).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    World {
        app,
        sim,
        token,
        deployment,
        block,
    }
}

impl World {
    /// Triggers a run with `parameters` (credentials added) and waits until it is over.
    pub async fn run(&self, mut parameters: Value) -> Value {
        parameters["credentials"] = json!(self.block);
        let run = self
            .app
            .trigger(&self.deployment, &self.token, parameters)
            .await;
        let id = run["id"].as_str().unwrap();
        self.app
            .wait_for(id, &self.token, &["COMPLETED", "FAILED", "CANCELLED"])
            .await
    }

    /// Every text the database holds about runs: state messages and parameters, step errors, log
    /// lines, artifacts (to look for a secret in clear).
    pub(crate) async fn stored_run_texts(&self) -> Vec<String> {
        let db = &self.app.db;
        let mut texts = Vec::new();
        for r in flow_run::Entity::find().all(db).await.unwrap() {
            texts.push(format!("{:?} {:?}", r.state_message, r.parameters));
        }
        for t in task_run::Entity::find().all(db).await.unwrap() {
            texts.push(format!("{:?}", t.error));
        }
        for l in log::Entity::find().all(db).await.unwrap() {
            texts.push(l.message);
        }
        for a in artifact::Entity::find().all(db).await.unwrap() {
            texts.push(a.content);
        }
        texts
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        body(self.app.get(path, &self.token).await).await
    }

    pub async fn report(&self, run: &Value) -> String {
        let artifacts = self
            .get(&format!(
                "/api/v1/runs/{}/artifacts",
                run["id"].as_str().unwrap()
            ))
            .await;
        let report = artifacts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == "dhis2-chap-prediction-report")
            .unwrap_or_else(|| panic!("no report among {artifacts}"));
        assert_eq!(report["kind"], "markdown");
        report["content"].as_str().unwrap().to_string()
    }

    pub async fn logs(&self, run: &Value) -> Vec<String> {
        let page = self
            .get(&format!(
                "/api/v1/runs/{}/logs?limit=1000",
                run["id"].as_str().unwrap()
            ))
            .await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["message"].as_str().unwrap().to_string())
            .collect()
    }
}

/// `(name, label, state, error)` of each step of a run detail.
pub(crate) fn steps(run: &Value) -> Vec<(String, String, String, String)> {
    run["task_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
            (s("name"), s("label"), s("state"), s("error"))
        })
        .collect()
}

pub(crate) fn step<'a>(
    run: &'a [(String, String, String, String)],
    name: &str,
) -> &'a (String, String, String, String) {
    run.iter()
        .find(|s| s.0 == name)
        .unwrap_or_else(|| panic!("no step {name} in {run:?}"))
}

/// The fixture (setup 1 "test" over OU1, OU2 with three covariates) plus a disabled setup 2 and an
/// enabled setup 3 "gamma" over OU2 whose job succeeds at once.
/// A run summary without its per-setup list: the counts and the failed setups' ids.
pub(crate) fn counts(summary: &Value) -> Value {
    let mut counts = summary.clone();
    if let Some(map) = counts.as_object_mut() {
        map.remove("setups");
    }
    counts
}

pub(crate) fn three_setups() -> Scenario {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.job_statuses = vec![
        "PENDING".into(),
        "RUNNING".into(),
        "RUNNING".into(),
        "SUCCESS".into(),
    ];
    let disabled = PredictionSetup {
        schedule_enabled: false,
        ..PredictionSetup::new(2, "beta-disabled")
            .org_units(["OU1"])
            .source("population", "POP1")
    };
    let gamma = PredictionSetup::new(3, "gamma")
        .org_units(["OU2"])
        .source("population", "POP1")
        .source("rainfall", "RAIN1");
    scenario.setup(disabled).setup_with(
        gamma,
        SetupBehaviour {
            job_statuses: vec!["SUCCESS".into()],
            ..SetupBehaviour::default()
        },
    )
}

fn query_pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_run_predicts_every_enabled_setup_and_skips_the_disabled_one() {
    let w = world(
        three_setups(),
        &[("CHAP_SCHEDULER_PREDICTION_PARALLELISM", "2")],
    )
    .await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(
        crate::prediction::counts(&run["summary"]),
        json!({ "succeeded": 2, "failed": 0, "skipped": 1, "failed_setup_ids": [] })
    );

    let report = w.report(&run).await;
    assert!(report.contains("**REACHABLE** -- DHIS2 "), "{report}");
    assert!(report.contains("**REACHABLE** -- chap-core 2.0.0.dev1"));
    assert!(report.contains("## Prediction setups (2 succeeded, 0 failed, 1 skipped)"));
    let beta = report.find("### `beta-disabled`").unwrap();
    let test = report.find("### `test` -- chapkit-ewars-model").unwrap();
    let gamma = report.find("### `gamma` -- chapkit-ewars-model").unwrap();
    assert!(
        beta < test && test < gamma,
        "skipped first, then chap's order: {report}"
    );
    assert!(report.contains("- **Status:** SKIPPED -- schedule_enabled=false"));
    for line in [
        "- Org units: 2",
        "- Input periods: 40",
        "- Analytics rows fetched: 240",
        "- Prediction values returned: 30",
        "- Predicted periods: 202605, 202606, 202607",
    ] {
        assert!(report.contains(line), "{line} missing from {report}");
    }

    // Steps: three checks, then each setup's steps labelled with it.
    let s = steps(&run);
    let names: Vec<&str> = s.iter().take(3).map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "Fetch DHIS2 system info",
            "Verify chap is reachable",
            "Fetch chap prediction setups"
        ]
    );
    for label in ["test (chapkit-ewars-model)", "gamma (chapkit-ewars-model)"] {
        let mine: Vec<&str> = s
            .iter()
            .filter(|t| t.1 == label)
            .map(|t| t.0.as_str())
            .collect();
        assert_eq!(
            mine,
            [
                "Probe DHIS2 for latest covariate periods",
                "Validate period range",
                "Fetch DHIS2 analytics",
                "Fetch org-unit geojson",
                "Build prediction request",
                "Run prediction setup",
                "Wait for prediction job",
                "Fetch prediction result"
            ],
            "{label}"
        );
    }
    assert!(s.iter().all(|t| t.2 == "COMPLETED"), "{s:?}");

    // The wire contract: probe, explicit periods, org units, the run body.
    let queries: Vec<Vec<(String, String)>> = w
        .sim
        .analytics_queries()
        .iter()
        .map(|q| query_pairs(q))
        .collect();
    let dim = |k: &str| ("dimension".to_string(), k.to_string());
    assert!(queries.contains(&vec![
        dim("dx:POP1;RAIN1;DISEASE1"),
        dim("pe:LAST_12_MONTHS"),
        dim("ou:OU1;OU2")
    ]));
    let input = queries
        .iter()
        .find(|q| q[0].1 == "dx:POP1;RAIN1;DISEASE1" && q[1].1.starts_with("pe:2023"))
        .unwrap();
    assert!(input[1].1.starts_with("pe:202301;202302;"));
    assert!(input[1].1.ends_with(";202604"));
    assert_eq!(input[1].1.split(';').count(), 40);
    assert_eq!(w.sim.count("POST", SETUPS_PATH), 2);
    let submission = w
        .sim
        .run_submissions()
        .into_iter()
        .find(|s| s.setup_id == 1)
        .unwrap()
        .body();
    let mut keys: Vec<&String> = submission.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["geojson", "nPeriods", "name", "providedData", "type"]
    );
    assert_eq!(
        submission["name"],
        "test (chapkit-ewars-model) 202301-202604"
    );
    assert_eq!(submission["nPeriods"], 3);
    assert_eq!(submission["type"], "forecasting");
    assert_eq!(submission["providedData"].as_array().unwrap().len(), 240);
    assert_eq!(
        submission["geojson"]["features"][0]["properties"]["parentGraph"],
        "PARENT"
    );

    // The operator's log lines (§2.8).
    let logs = w.logs(&run).await.join("\n");
    for line in [
        "DHIS2 is up at http://",
        "  system name : ",
        "chap is up on http://",
        "Skipping 1 disabled setup(s)",
        "Probing DHIS2 covariate freshness over LAST_12_MONTHS",
        "  latest period per covariate: {population: 202604, rainfall: 202604, disease_cases: 202604}",
        "Using probed end period 202604 (min latest across covariates)",
        "Fetching analytics for 'test': 3 dx x 40 pe (202301..202604) x 2 ou",
        "  -> 240 rows; columns: [dx, pe, ou, value]",
        "Fetched 2 org-unit features for 'test'",
        "built 240 observations",
        "Submitted prediction; job id = ",
        ": status=RUNNING",
        ": status=SUCCESS",
        "Fetched 30 prediction entries (prediction id=",
        "Prediction returned 30 values for 'test' across 3 periods",
    ] {
        assert!(logs.contains(line), "{line:?} missing from\n{logs}");
    }
}

#[tokio::test]
async fn a_missing_values_rejection_is_reported_grouped_by_covariate() {
    let w = world(Scenario::fixture(), &[]).await;
    w.sim.set_rejection(
        1,
        Some(Rejection::missing_values(
            "OU1",
            "rainfall",
            &["202510", "202511", "202512"],
        )),
    );
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED");
    assert_eq!(
        crate::prediction::counts(&run["summary"]),
        json!({ "succeeded": 0, "failed": 1, "skipped": 0, "failed_setup_ids": [1] })
    );
    assert!(run["state_message"]
        .as_str()
        .unwrap()
        .contains("no prediction setup succeeded"));
    let report = w.report(&run).await;
    assert!(report.contains("- **Status:** FAILED at `run_prediction_setup`"));
    assert!(report.contains("- **Error:** All regions rejected due to missing values (imported 0)"));
    assert!(report.contains(
        "  - `rainfall`: 1 org unit; periods affected: 202510, 202511, 202512 -- Missing value for some/all time periods"
    ), "{report}");
    assert!(
        !report.contains("ChapHttpError"),
        "the raw error is replaced: {report}"
    );
    let s = steps(&run);
    let submit = step(&s, "Run prediction setup");
    assert_eq!(submit.2, "FAILED");
    assert!(submit.3.contains("HTTP 400"), "{submit:?}");
    assert!(w.logs(&run).await.iter().any(|l| l.starts_with(
        "[skip] test (chapkit-ewars-model): failed at run_prediction_setup -- ChapHttpError"
    )));
}

#[tokio::test]
async fn a_failed_job_puts_the_tail_of_its_log_in_the_report() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim = SetupBehaviour {
        job_statuses: vec!["PENDING".into(), "FAILURE".into()],
        job_logs: Some("INFO loading data\nINFO fitting\nERROR model diverged\n".into()),
        ..SetupBehaviour::default()
    };
    let w = world(scenario, &[]).await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED");
    let report = w.report(&run).await;
    assert!(report.contains("- **Status:** FAILED at `wait_for_prediction`"));
    assert!(report.contains("- **Error:** `RuntimeError: job ended with status='FAILURE'`"));
    assert!(report.contains("- Job log (last 3 lines):"), "{report}");
    assert!(report.contains("INFO fitting\nERROR model diverged"));
    assert_eq!(w.sim.count("GET", "/api/routes/chap/run/v1/jobs/"), 3); // 2 polls + the log
    let s = steps(&run);
    assert_eq!(step(&s, "Wait for prediction job").2, "FAILED");
    assert!(!s.iter().any(|t| t.0 == "Fetch prediction result"));
}

#[tokio::test]
async fn an_unreachable_dhis2_fails_the_run_with_a_report() {
    let w = world(Scenario::fixture(), &[]).await;
    w.sim.set_dhis2_down(Some(503));
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED");
    assert!(run["state_message"].as_str().unwrap().starts_with(
        "DHIS2 not reachable: Dhis2HttpError: DHIS2 GET /api/system/info -> HTTP 503"
    ));
    assert_eq!(
        w.sim.count("GET", "/api/system/info"),
        3,
        "GET retried 3 times"
    );
    assert_eq!(w.sim.count("GET", "/api/routes/"), 0);
    let report = w.report(&run).await;
    assert!(report.contains("## DHIS2\n\n**NOT REACHABLE** -- `Dhis2HttpError: "));
    assert!(!report.contains("## chap-core"));
    let s = steps(&run);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, "Fetch DHIS2 system info");
    assert_eq!(s[0].2, "FAILED");
    assert!(w
        .logs(&run)
        .await
        .iter()
        .any(|l| l.starts_with("DHIS2 not reachable: ")));
}

#[tokio::test]
async fn an_unreachable_chap_fails_the_run_with_a_report() {
    let w = world(Scenario::fixture(), &[]).await;
    w.sim.set_chap_down(Some(502));
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED");
    assert!(run["state_message"]
        .as_str()
        .unwrap()
        .starts_with("chap-core not reachable: ChapHttpError: chap GET /system/info -> HTTP 502"));
    let report = w.report(&run).await;
    assert!(report.contains("**REACHABLE** -- DHIS2 "));
    assert!(report.contains("## chap-core\n\n**NOT REACHABLE** -- `ChapHttpError: "));
    assert!(!report.contains("## Prediction setups"));
    assert_eq!(w.sim.count("GET", SETUPS_PATH), 0);
    let s = steps(&run);
    assert_eq!(step(&s, "Verify chap is reachable").2, "FAILED");
}

#[tokio::test]
async fn a_job_that_outlives_the_timeout_fails_its_setup() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.job_statuses = vec!["RUNNING".into()];
    let w = world(
        scenario,
        &[("CHAP_SCHEDULER_PREDICTION_TIMEOUT_SECONDS", "1")],
    )
    .await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED");
    let report = w.report(&run).await;
    assert!(report.contains("- **Status:** FAILED at `wait_for_prediction`"));
    assert!(
        report.contains("did not finish within 1s (last status: 'RUNNING')"),
        "{report}"
    );
    assert!(report.contains("TimeoutError: chap job "));
    let polls = w.sim.count("GET", "/api/routes/chap/run/v1/jobs/");
    assert!(polls > 10, "polled every 20 ms for a second: {polls}");
}

#[tokio::test]
async fn cancelling_a_run_while_it_polls_ends_it_cancelled_with_its_steps_recorded() {
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.job_statuses = vec!["RUNNING".into()];
    let w = world(scenario, &[]).await;
    let run = w
        .app
        .trigger(&w.deployment, &w.token, json!({ "credentials": w.block }))
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let detail = w.get(&format!("/api/v1/runs/{id}")).await;
        let s = steps(&detail);
        if s.iter()
            .any(|t| t.0 == "Wait for prediction job" && t.2 == "RUNNING")
            && w.sim.count("GET", "/api/routes/chap/run/v1/jobs/") >= 2
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never polled: {detail}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let resp = w
        .app
        .post(&format!("/api/v1/runs/{id}/cancel"), &w.token, json!({}))
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let done = w.app.wait_for(&id, &w.token, &["CANCELLED"]).await;
    let s = steps(&done);
    assert_eq!(step(&s, "Wait for prediction job").2, "CANCELLED");
    for name in [
        "Fetch DHIS2 system info",
        "Fetch DHIS2 analytics",
        "Run prediction setup",
    ] {
        assert_eq!(step(&s, name).2, "COMPLETED", "{name}");
    }
    let polls = w.sim.count("GET", "/api/routes/chap/run/v1/jobs/");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        w.sim.count("GET", "/api/routes/chap/run/v1/jobs/"),
        polls,
        "polling stopped"
    );
}

#[tokio::test]
async fn gets_are_retried_on_503_and_the_post_never_is() {
    let w = world(Scenario::fixture(), &[]).await;
    w.sim.fail_next(EndpointGroup::Analytics, 2, 503);
    w.sim.fail_next(EndpointGroup::RunSetup, 1, 503);
    let run = w.run(json!({})).await;
    assert_eq!(w.sim.count_status(EndpointGroup::Analytics, 503), 2);
    assert_eq!(w.sim.count_status(EndpointGroup::RunSetup, 503), 1);
    assert_eq!(w.sim.count("POST", SETUPS_PATH), 1, "POST is never retried");
    assert_eq!(run["state"], "FAILED");
    let s = steps(&run);
    assert_eq!(
        step(&s, "Probe DHIS2 for latest covariate periods").2,
        "COMPLETED"
    );
    assert_eq!(step(&s, "Fetch DHIS2 analytics").2, "COMPLETED");
    assert_eq!(step(&s, "Run prediction setup").2, "FAILED");
    let report = w.report(&run).await;
    assert!(report.contains("- **Status:** FAILED at `run_prediction_setup`"));
    assert!(report.contains("HTTP 503"), "{report}");
}

#[tokio::test]
async fn invalid_parameters_fail_the_run_with_a_report_and_no_call() {
    let w = world(Scenario::fixture(), &[]).await;
    // Combinations the schema cannot express are refused when the run is triggered.
    let resp = w
        .app
        .post(
            &format!("/api/v1/deployments/{}/runs", w.deployment),
            &w.token,
            json!({ "parameters": { "credentials": w.block, "end_mode": "fixed" } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = body(resp).await;
    assert!(
        err.to_string()
            .contains("end_mode='fixed' requires end_date to be set"),
        "{err}"
    );

    // A credentials id that names no block is only found out by the run.
    let missing = uuid::Uuid::new_v4();
    let run = w
        .app
        .trigger(&w.deployment, &w.token, json!({ "credentials": missing }))
        .await;
    let run = w
        .app
        .wait_for(
            run["id"].as_str().unwrap(),
            &w.token,
            &["FAILED", "COMPLETED"],
        )
        .await;
    assert_eq!(run["state"], "FAILED");
    let message = run["state_message"].as_str().unwrap();
    assert_eq!(
        message,
        format!("invalid parameters: credentials: there is no block with id {missing}")
    );
    assert_eq!(run["attempt"], 1, "not retried");
    assert_eq!(
        crate::prediction::counts(&run["summary"]),
        json!({ "succeeded": 0, "failed": 0, "skipped": 0, "failed_setup_ids": [] })
    );
    let report = w.report(&run).await;
    assert!(report.contains("- DHIS2 instance: `(unknown)`"));
    assert!(report.contains(&format!(
        "## Parameters\n\n**INVALID** -- `credentials: there is no block with id {missing}`"
    )));
    assert!(w.sim.requests().is_empty(), "nothing was called");
}

#[tokio::test]
async fn the_block_password_appears_in_no_response_log_report_or_error() {
    const PASSWORD: &str = "Zq7-s3cret-Pa55word";
    let mut scenario = three_setups().credentials("alice", PASSWORD);
    // chap echoes the credentials in an error for setup 1; setup 3 succeeds.
    scenario.prediction_setups[0].sim.rejection = Some(Rejection {
        status: 500,
        body: json!({ "detail": format!("cannot log in as alice:{PASSWORD}") }),
        times: None,
    });
    let w = world(scenario, &[]).await;
    let ok = w.run(json!({})).await;
    assert_eq!(ok["state"], "COMPLETED", "{ok}");
    w.sim.set_dhis2_down(Some(500));
    let failed = w.run(json!({})).await;
    assert_eq!(failed["state"], "FAILED");

    let mut texts: Vec<String> = Vec::new();
    for run in [&ok, &failed] {
        let id = run["id"].as_str().unwrap();
        for path in [
            format!("/api/v1/runs/{id}"),
            format!("/api/v1/runs/{id}/logs?limit=1000"),
            format!("/api/v1/runs/{id}/artifacts"),
        ] {
            texts.push(w.get(&path).await.to_string());
        }
    }
    for path in [
        "/api/v1/runs".to_string(),
        "/api/v1/blocks".to_string(),
        format!("/api/v1/blocks/{}", w.block),
        "/api/v1/deployments".to_string(),
    ] {
        texts.push(w.get(&path).await.to_string());
    }
    let report = w.report(&ok).await;
    assert!(
        report.contains("cannot log in as alice:"),
        "the echo reached the report: {report}"
    );
    // Everything the database holds about runs too: state messages, steps, logs, artifacts.
    texts.extend(w.stored_run_texts().await);
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    for text in &texts {
        assert!(!text.contains(PASSWORD), "password leaked in {text}");
        assert!(!text.contains(&basic), "basic auth leaked in {text}");
    }
}
