//! `chap-scheduler import-prefect` (issue 15 §3) against a real Prefect 3 server: `prefect server
//! start` from the venv `scripts/test` installs (`CHAP_TEST_PREFECT_VENV`), seeded the way the old
//! (Python) chap-scheduler left it by `e2e/prefect/seed.py`. The real binary imports into the
//! database of a running application, which then runs predictions against the DHIS2/chap simulator
//! with the imported passwords.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chap_scheduler::db::entities::{audit_event, block, deployment, schedule};
use dhis2_sim::{Scenario, Simulator};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{json, Value};

use crate::helpers::{body, database_url, settings, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_chap-scheduler");
const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e/prefect/seed.py");
const FLOW: &str = "dhis2-chap-prediction";

fn venv() -> PathBuf {
    let venv = PathBuf::from(
        std::env::var("CHAP_TEST_PREFECT_VENV")
            .unwrap_or_else(|_| "/var/tmp/chap-prefect-venv".into()),
    );
    assert!(
        venv.join("bin/prefect").is_file(),
        "no Prefect in {} (CHAP_TEST_PREFECT_VENV): scripts/test installs it (ensure_prefect in \
         scripts/lib.sh)",
        venv.display()
    );
    venv
}

/// A Prefect server of its own (SQLite in a temporary PREFECT_HOME), stopped when dropped.
struct PrefectServer {
    child: Child,
    port: u16,
    home: tempfile::TempDir,
}

impl PrefectServer {
    fn start(venv: &Path) -> PrefectServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let home = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(home.path().join("server.log")).unwrap();
        let child = prefect_env(Command::new(venv.join("bin/prefect")), home.path(), port)
            .args(["server", "start", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start prefect server");
        PrefectServer { child, port, home }
    }

    fn api(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    /// Waits for `/api/health` (Prefect starts in 10 to 30 s).
    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let client = reqwest::Client::new();
        loop {
            let health = client.get(format!("{}/health", self.api())).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            let exited = self.child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.home.path().join("server.log"))
                    .unwrap_or_default();
                panic!("Prefect did not become healthy ({exited:?}):\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Runs `e2e/prefect/seed.py` against the server; returns what it printed.
    async fn seed(&self, venv: &Path, spec: Value) -> Value {
        let mut cmd = prefect_env(
            Command::new(venv.join("bin/python")),
            self.home.path(),
            self.port,
        );
        cmd.arg(SEED)
            .arg(spec.to_string())
            .env("PREFECT_API_URL", self.api());
        let out = output(cmd).await;
        assert!(
            out.status.success(),
            "seed.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("seed.py prints JSON")
    }
}

impl Drop for PrefectServer {
    fn drop(&mut self) {
        // Its whole process group, at once: its state is a temporary directory, and a graceful stop
        // (SIGTERM) was seen to hang here for minutes.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn prefect_env(mut cmd: Command, home: &Path, port: u16) -> Command {
    cmd.env("PREFECT_HOME", home)
        .env("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        .env("PREFECT_SERVER_UI_ENABLED", "false")
        .env("PREFECT_API_URL", format!("http://127.0.0.1:{port}/api"));
    cmd
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run the command"))
        .await
        .unwrap()
}

/// The real binary on the test's data dir and database.
async fn chap_scheduler(data_dir: &Path, database_url: &str, args: &[&str]) -> (Output, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHAP_SCHEDULER_DATA_DIR", data_dir)
        .env("DATABASE_URL", database_url)
        .env("CHAP_SCHEDULER_LOG", "warn")
        .args(args)
        .stdin(Stdio::null());
    let out = output(cmd).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The lines of one section of the plan (from its heading to the next blank line).
fn section<'a>(plan: &'a str, heading: &str) -> Vec<&'a str> {
    plan.lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

fn count(lines: &[&str], action: &str) -> usize {
    lines
        .iter()
        .filter(|l| l.trim_start().starts_with(action))
        .count()
}

/// What an import may change: blocks, deployments' defaults, schedules, audit events. In id order:
/// the app's scheduler updates schedules' fire times meanwhile, and PostgreSQL returns an updated row
/// elsewhere in an unordered read.
async fn state(db: &DatabaseConnection) -> Value {
    let blocks: Vec<Value> = block::Entity::find()
        .order_by_asc(block::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|b| json!([b.id, b.name, b.data, b.updated_at]))
        .collect();
    let deployments: Vec<Value> = deployment::Entity::find()
        .order_by_asc(deployment::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| json!([d.id, d.parameters, d.updated_at]))
        .collect();
    let schedules: Vec<Value> = schedule::Entity::find()
        .order_by_asc(schedule::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        // Not the fire times: the app's scheduler moves them.
        .map(|s| {
            json!([
                s.id,
                s.cron,
                s.interval_seconds,
                s.anchor_at,
                s.timezone,
                s.active,
                s.parameters
            ])
        })
        .collect();
    let audit = audit_event::Entity::find().all(db).await.unwrap().len();
    json!({ "blocks": blocks, "deployments": deployments, "schedules": schedules, "audit": audit })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_prefect_brings_over_blocks_defaults_and_schedules_whose_passwords_run_predictions_and_a_second_import_changes_nothing(
) {
    let venv = venv();
    let mut prefect = PrefectServer::start(&venv);

    // While Prefect starts: the simulator, and the application on a data dir and database the CLI
    // shares (the same encryption key file, as `serve` and `import-prefect` on one host).
    let sim = Simulator::start(Scenario::fixture()).await.unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let db_url = database_url(data_dir.path()).await;
    let mut vars = settings();
    vars.insert(
        "CHAP_SCHEDULER_DATA_DIR".into(),
        data_dir.path().display().to_string(),
    );
    vars.insert("DATABASE_URL".into(), db_url.clone());
    vars.insert(
        "CHAP_SCHEDULER_PREDICTION_POLL_SECONDS".into(),
        "0.02".into(),
    );
    let app = spawn_app_with(vars).await;
    let token = app.admin_token().await;

    let started = Instant::now();
    prefect.wait_until_healthy().await;
    let credentials = |name: &str, base_url: String| json!({ "name": name, "base_url": base_url, "username": sim.username(), "password": sim.password() });
    let seeded = prefect
        .seed(
            &venv,
            json!({ "blocks": [
                credentials("prod-dhis2", format!("{}/", sim.base_url())),
                credentials("backup-dhis2", sim.base_url()),
            ] }),
        )
        .await;
    eprintln!(
        "Prefect healthy and seeded {:.1} s after the app started",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(seeded["schedules"].as_array().unwrap().len(), 3);
    let url = prefect.api();

    // Prefect cannot be read: non-zero, the URL and the status named.
    let wrong = format!("http://127.0.0.1:{}/prefect/api", prefect.port);
    let (out, text) = chap_scheduler(
        data_dir.path(),
        &db_url,
        &["import-prefect", "--url", &wrong],
    )
    .await;
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&wrong) && text.contains("HTTP 404"), "{text}");

    // The dry run: the plan, and nothing changed.
    let before = state(&app.db).await;
    let (out, plan) = chap_scheduler(
        data_dir.path(),
        &db_url,
        &["import-prefect", "--url", &url, "--dry-run"],
    )
    .await;
    assert!(out.status.success(), "{plan}");
    let blocks = section(&plan, "blocks");
    let schedules = section(&plan, "schedules");
    assert_eq!((count(&blocks, "create"), blocks.len()), (2, 2), "{plan}");
    assert_eq!(
        (count(&schedules, "create"), schedules.len()),
        (3, 3),
        "{plan}"
    );
    assert!(
        plan.contains("set         credentials: block `prod-dhis2`"),
        "{plan}"
    );
    assert!(plan.contains("dry run: nothing was changed"), "{plan}");
    assert_eq!(state(&app.db).await, before, "the dry run changed nothing");

    // The import.
    let (out, text) =
        chap_scheduler(data_dir.path(), &db_url, &["import-prefect", "--url", &url]).await;
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("imported: 2 block(s) created, the parameter defaults of `dhis2-chap-prediction` updated, 3 schedule(s) created"),
        "{text}"
    );
    assert!(
        !text.contains(&sim.password()),
        "a password was printed: {text}"
    );

    let blocks = body(app.get("/api/v1/blocks", &token).await).await["items"].clone();
    let mut by_name = std::collections::HashMap::new();
    for b in blocks.as_array().unwrap() {
        assert_eq!(b["block_type"], "dhis2-credentials");
        assert_eq!(
            b["data"]["base_url"],
            sim.base_url(),
            "trailing slash trimmed"
        );
        assert_eq!(b["data"]["username"], sim.username());
        assert_eq!(b["data"]["password_set"], true);
        by_name.insert(b["name"].as_str().unwrap().to_string(), b["id"].clone());
    }
    assert_eq!(by_name.len(), 2);
    let (prod, backup) = (
        by_name["prod-dhis2"].clone(),
        by_name["backup-dhis2"].clone(),
    );

    let dep = app.deployment(FLOW, &token).await;
    assert_eq!(
        dep["parameters"],
        json!({ "credentials": prod, "end_mode": "calculated" })
    );
    let dep_id = dep["id"].as_str().unwrap().to_string();
    let listed = body(
        app.get(&format!("/api/v1/deployments/{dep_id}/schedules"), &token)
            .await,
    )
    .await;
    let got: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!([
                s["cron"],
                s["interval_seconds"],
                s["anchor_at"],
                s["timezone"],
                s["active"],
                s["parameters"]
            ])
        })
        .collect();
    let cron_anchor = listed[0]["anchor_at"].clone();
    let pinned_anchor = listed[2]["anchor_at"].clone();
    assert_eq!(
        got,
        vec![
            json!(["0 6 * * 1", null, cron_anchor, "Africa/Kampala", true, {}]),
            json!([null, 21600, "2026-01-01T00:30:00Z", "Europe/Oslo", true, {}]),
            json!(["30 2 1 * *", null, pinned_anchor, "UTC", false,
                   { "credentials": backup, "end_mode": "offset", "end_period_offset": 1 }]),
        ],
        "{listed}"
    );
    assert!(listed[0]["next_fire_at"].is_string() && listed[2]["next_fire_at"].is_null());

    let audit = body(
        app.get("/api/v1/audit?actor=import-prefect&limit=50", &token)
            .await,
    )
    .await;
    let mut actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "block.created",
            "block.created",
            "deployment.updated",
            "schedule.created",
            "schedule.created",
            "schedule.created"
        ]
    );

    // The passwords are usable: a run with the imported default credentials, and one with the
    // block the inactive schedule pins, authenticate against the simulator and complete.
    for parameters in [json!({}), json!({ "credentials": backup })] {
        let run = app.trigger(&dep_id, &token, parameters).await;
        let run = app
            .wait_for(
                run["id"].as_str().unwrap(),
                &token,
                &["COMPLETED", "FAILED", "CRASHED", "CANCELLED"],
            )
            .await;
        assert_eq!(run["state"], "COMPLETED", "{run}");
    }
    assert!(sim.requests().iter().all(|r| r.status != 401));

    // A second import finds everything and changes nothing.
    let before = state(&app.db).await;
    let (out, text) =
        chap_scheduler(data_dir.path(), &db_url, &["import-prefect", "--url", &url]).await;
    assert!(out.status.success(), "{text}");
    assert_eq!(count(&section(&text, "blocks"), "exists"), 2, "{text}");
    assert_eq!(count(&section(&text, "schedules"), "exists"), 3, "{text}");
    assert!(text.contains("defaults unchanged"), "{text}");
    assert!(text.contains("nothing to change"), "{text}");
    assert_eq!(
        state(&app.db).await,
        before,
        "the second import changed nothing"
    );
}
