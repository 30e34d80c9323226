//! The binary as an operator runs it: first start, CLI user management, `info`, graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chap-scheduler");

fn command(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHAP_SCHEDULER_DATA_DIR", data_dir)
        .env("CHAP_SCHEDULER_BIND", "127.0.0.1:0")
        .env("CHAP_SCHEDULER_LOG", "warn");
    cmd
}

/// Starts `serve`; returns the child, the URL and everything printed before it.
// The caller owns the child and reaps it with `stop`.
#[allow(clippy::zombie_processes)]
fn serve(data_dir: &std::path::Path) -> (Child, String, String) {
    let mut child = command(data_dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(url) = line.strip_prefix("listening on ") {
            let url = url.to_string();
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, url, printed);
        }
    }
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn login(url: &str, username: &str, password: &str) -> reqwest::StatusCode {
    chap_scheduler::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
            .status()
    })
}

#[test]
fn first_start_prints_a_working_admin_password_once_and_sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url, printed) = serve(dir.path());
    let password = printed
        .lines()
        .skip_while(|l| !l.contains("created user `admin`"))
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("created user"))
        .expect("password printed")
        .to_string();
    assert!(password.len() >= 16, "{printed}");
    assert_eq!(login(&url, "admin", &password), reqwest::StatusCode::OK);
    assert!(stop(child).success());

    let (child, url, printed) = serve(dir.path());
    assert!(
        !printed.contains("created user"),
        "printed again: {printed}"
    );
    assert_eq!(login(&url, "admin", &password), reqwest::StatusCode::OK);
    assert!(stop(child).success());
}

#[test]
fn the_user_cli_adds_lists_resets_and_disables_users() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = command(dir.path())
            .env("CHAP_SCHEDULER_ADMIN_PASSWORD", "first-admin-password")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(
        &[
            "user",
            "add",
            "ivy",
            "--role",
            "operator",
            "--password-stdin",
        ],
        Some("ivy-password-123\n"),
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("created user `ivy` with role operator"),
        "{out}"
    );
    let (ok, out) = run(&["user", "add", "ivy"], None);
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = run(
        &["user", "add", "weak", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!ok && out.contains("at least 12"), "{out}");

    let (ok, out) = run(&["user", "set-password", "ivy"], None);
    assert!(ok, "{out}");
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .to_string();

    let (ok, out) = run(&["user", "list"], None);
    assert!(
        ok && out.contains("ivy") && out.contains("operator") && out.contains("active"),
        "{out}"
    );
    assert!(!out.contains(&generated));

    let (child, url, _) = serve(dir.path());
    assert_eq!(
        login(&url, "ivy", "ivy-password-123"),
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(&url, "ivy", &generated), reqwest::StatusCode::OK);
    let (ok, out) = run(&["user", "disable", "ivy"], None);
    assert!(ok, "{out}");
    assert_eq!(
        login(&url, "ivy", &generated),
        reqwest::StatusCode::UNAUTHORIZED
    );
    stop(child);

    let (ok, out) = run(&["user", "disable", "nobody"], None);
    assert!(!ok && out.contains("no user named `nobody`"), "{out}");
}

#[test]
fn info_prints_the_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .env("DATABASE_URL", "postgres://chap:db-secret-pw@db:5432/chap")
        .env(
            "CHAP_SCHEDULER_JWT_SECRET",
            "jwt-secret-value-jwt-secret-value-123",
        )
        .arg("info")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("postgres://chap:******@db:5432/chap"),
        "{text}"
    );
    assert!(text.contains("CHAP_SCHEDULER_BIND"), "{text}");
    assert!(
        !text.contains("db-secret-pw") && !text.contains("jwt-secret-value"),
        "{text}"
    );

    let bad = command(dir.path())
        .env("CHAP_SCHEDULER_BIND", "nowhere")
        .arg("info")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("CHAP_SCHEDULER_BIND"));

    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("chap-scheduler {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve_and_worker_help_list_every_setting_and_the_file_variants() {
    for sub in ["serve", "worker"] {
        let out = Command::new(BIN).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for key in [
            "DATABASE_URL",
            "CHAP_SCHEDULER_METRICS_BIND",
            "CHAP_SCHEDULER_QUEUE_LOST_SECONDS",
            "CHAP_SCHEDULER_PUBLIC_PATH",
            "<NAME>_FILE",
            "chap-scheduler info",
        ] {
            assert!(text.contains(key), "{sub} --help lacks {key}: {text}");
        }
    }
}

#[test]
fn a_bad_public_path_stops_the_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "chap-scheduler",
        "/chap-scheduler/",
        "/",
        "/a//b",
        "/a/../b",
        "/chap%20scheduler",
        "/chap scheduler",
        "/<script>",
        "https://example.org/chap",
    ] {
        for sub in ["info", "serve"] {
            let out = command(dir.path())
                .env("CHAP_SCHEDULER_PUBLIC_PATH", bad)
                .arg(sub)
                .output()
                .unwrap();
            assert!(!out.status.success(), "{sub} started with {bad:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("CHAP_SCHEDULER_PUBLIC_PATH"), "{bad:?}: {err}");
        }
    }
    let out = command(dir.path())
        .env("CHAP_SCHEDULER_PUBLIC_PATH", "/chap-scheduler")
        .arg("info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("CHAP_SCHEDULER_PUBLIC_PATH") && l.contains("/chap-scheduler")),
        "{text}"
    );
}

#[test]
fn migrate_status_lists_pending_then_applied_migrations_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let status = || {
        let out = command(dir.path())
            .args(["migrate", "status"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = status();
    assert!(
        before.contains("pending  m20261126_000001_auth"),
        "{before}"
    );
    assert!(
        before.lines().last().unwrap().starts_with("0 applied, "),
        "{before}"
    );
    assert_eq!(status(), before, "status applies nothing");
    for _ in 0..2 {
        let out = command(dir.path()).arg("migrate").output().unwrap();
        assert!(out.status.success(), "migrate is idempotent");
    }
    let after = status();
    assert!(after.contains("applied  m20261126_000001_auth"), "{after}");
    assert!(after.contains(", 0 pending"), "{after}");
    assert!(!after.contains("pending  "), "{after}");
}

#[test]
fn a_secret_from_a_file_is_used_and_setting_both_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("admin-password");
    std::fs::write(&secret, "from-a-file-long-enough-pw\n").unwrap();
    let out = command(dir.path())
        .env("CHAP_SCHEDULER_ADMIN_PASSWORD_FILE", &secret)
        .arg("info")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CHAP_SCHEDULER_ADMIN_PASSWORD") && text.contains("****** (set)"),
        "{text}"
    );
    assert!(!text.contains("from-a-file"), "{text}");

    let out = command(dir.path())
        .env("CHAP_SCHEDULER_ADMIN_PASSWORD_FILE", &secret)
        .env("CHAP_SCHEDULER_ADMIN_PASSWORD", "another-long-password")
        .arg("info")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CHAP_SCHEDULER_ADMIN_PASSWORD and CHAP_SCHEDULER_ADMIN_PASSWORD_FILE"),
        "{err}"
    );
}
