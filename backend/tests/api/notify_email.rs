//! Notification e-mail through a real SMTP server: aiosmtpd (PyPI; `scripts/test` installs it and sets
//! `CHAP_TEST_SMTP_PYTHON`) requiring STARTTLS with a certificate from a test CA, storing what it
//! receives in a maildir. A failed prediction run sends exactly one e-mail with the subject the issue
//! names and a text and an HTML part (the run report, raw HTML escaped).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dhis2_sim::{Rejection, Scenario};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::body;
use crate::prediction::{world, World};

/// aiosmtpd on a free port with STARTTLS required, and the CA that signed its certificate.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package `openssl`) makes the test certificates");
    assert!(status.success(), "openssl {args:?}");
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        let python = PathBuf::from(
            std::env::var("CHAP_TEST_SMTP_PYTHON")
                .unwrap_or_else(|_| "/var/tmp/chap-smtp-venv/bin/python".into()),
        );
        assert!(
            python.exists(),
            "no aiosmtpd: run scripts/test, or `python3 -m venv /var/tmp/chap-smtp-venv && \
             /var/tmp/chap-smtp-venv/bin/pip install aiosmtpd==1.4.6`"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=chap-test-ca",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            d.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["--tlscert", "cert.pem", "--tlskey", "key.pem"])
            .args(["-c", "aiosmtpd.handlers.Mailbox", "maildir"])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ca_pem = std::fs::read_to_string(d.join("ca.pem")).unwrap();
        SmtpServer {
            child,
            port,
            dir,
            ca_pem,
        }
    }

    /// Every message received, as text with quoted-printable soft breaks and escapes undone.
    fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("maildir").join("new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        entries
            .map(|e| unquote(&std::fs::read_to_string(e.unwrap().path()).unwrap()))
            .collect()
    }
}

/// Unfolds header lines and undoes quoted-printable's soft line breaks and `=XX` escapes (enough to
/// read the headers and the parts).
fn unquote(raw: &str) -> String {
    let joined = raw
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn mail_rule(w: &World, smtp: &SmtpServer, ca: bool) -> Value {
    let mut data = json!({ "host": "127.0.0.1", "port": smtp.port, "security": "starttls",
                           "from": "Forecasts <forecasts@example.org>" });
    if ca {
        data["ca_certificate"] = json!(smtp.ca_pem);
    }
    let block = w
        .app
        .post(
            "/api/v1/blocks",
            &w.token,
            json!({ "name": format!("mail-{ca}"), "block_type": "smtp", "data": data }),
        )
        .await;
    assert_eq!(block.status(), StatusCode::CREATED);
    let block = body(block).await;
    let rule = w
        .app
        .post(
            "/api/v1/notification-rules",
            &w.token,
            json!({ "name": format!("mail-rule-{ca}"), "channel": block["id"], "events": ["run.failed"],
                    "recipients": ["team@example.org", "lead@example.org"] }),
        )
        .await;
    assert_eq!(rule.status(), StatusCode::CREATED);
    body(rule).await
}

async fn settled(w: &World, run: &Value) -> Vec<Value> {
    let path = format!("/api/v1/runs/{}/deliveries", run["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list: Vec<Value> =
            serde_json::from_value(body(w.app.get(&path, &w.token).await).await).unwrap();
        if !list.is_empty() && list.iter().all(|d| d["attempts"].as_u64() > Some(0)) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_failed_run_sends_one_e_mail_over_starttls_with_a_text_and_an_html_part() {
    let smtp = SmtpServer::start().await;
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].setup.name = "<b>alpha</b>".into();
    scenario.prediction_setups[0].sim.rejection = Some(Rejection {
        status: 500,
        body: json!({ "detail": "chap is out of memory" }),
        times: None,
    });
    let w = world(
        scenario,
        &[
            ("CHAP_SCHEDULER_PUBLIC_URL", "https://forecasts.example.org"),
            ("CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS", "0.2"),
        ],
    )
    .await;
    mail_rule(&w, &smtp, true).await;
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    let deliveries = settled(&w, &run).await;
    assert_eq!(deliveries[0]["status"], "sent", "{deliveries:?}");
    assert_eq!(deliveries[0]["attempts"], 1);

    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "exactly one e-mail");
    let mail = &messages[0];
    assert!(
        mail.contains(
            "Subject: [chap-scheduler] dhis2-chap-prediction: FAILED (0 succeeded, 1 failed)"
        ),
        "{mail}"
    );
    assert!(
        mail.contains("From: Forecasts <forecasts@example.org>"),
        "{mail}"
    );
    assert!(
        mail.contains("team@example.org") && mail.contains("lead@example.org"),
        "{mail}"
    );
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(mail.contains("Content-Type: text/plain"), "{mail}");
    assert!(mail.contains("Content-Type: text/html"), "{mail}");
    let id = run["id"].as_str().unwrap();
    assert!(
        mail.contains(&format!("https://forecasts.example.org/runs/{id}")),
        "{mail}"
    );
    // The HTML part is the report rendered with raw HTML escaped.
    let html = &mail[mail.find("Content-Type: text/html").unwrap()..];
    assert!(html.contains("&lt;b&gt;alpha&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>alpha</b>"), "{html}");
    assert!(html.contains("<h"), "a rendered report: {html}");
    assert!(!mail.contains(&w.sim.password()), "no secret in the e-mail");
}

#[tokio::test]
async fn a_mail_server_whose_certificate_is_not_trusted_gets_nothing_and_the_error_is_shown() {
    let smtp = SmtpServer::start().await;
    let mut scenario = Scenario::fixture();
    scenario.prediction_setups[0].sim.rejection = Some(Rejection {
        status: 500,
        body: json!({ "detail": "no" }),
        times: None,
    });
    let w = world(
        scenario,
        &[("CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS", "30")],
    )
    .await;
    mail_rule(&w, &smtp, false).await;
    let run = w.run(json!({})).await;
    let deliveries = settled(&w, &run).await;
    assert_eq!(
        deliveries[0]["status"], "pending",
        "retried later: {deliveries:?}"
    );
    let error = deliveries[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("certificate") || error.contains("Certificate"),
        "{error}"
    );
    assert!(smtp.messages().is_empty());
}
