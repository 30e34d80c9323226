//! A `worker` whose Redis is gone for good exits non-zero, so that its supervisor (compose's
//! `restart: unless-stopped`, systemd) restarts it, instead of sitting there looking alive; so does a
//! `serve` whose in-process workers take runs from that Redis.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chap-scheduler");

/// A child process killed when dropped (also when the test fails half-way).
pub(crate) struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Redis of the test's own (Debian's redis-server), which the test then stops for good.
pub(crate) fn own_redis() -> (Killed, u16) {
    let port = free_port();
    let redis = Killed(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package)"),
    );
    (redis, port)
}

/// `chap-scheduler <command>` on `redis_port`, giving up on Redis after 2 s of silence.
fn start(
    command: &str,
    redis_port: u16,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Killed {
    let mut cmd = Command::new(BIN);
    cmd.arg(command)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHAP_SCHEDULER_DATA_DIR", data_dir)
        .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
        .env("CHAP_SCHEDULER_QUEUE_LOST_SECONDS", "2")
        .env("CHAP_SCHEDULER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        cmd.env(name, value);
    }
    Killed(cmd.spawn().unwrap())
}

/// Waits until `health` answers 200, stops `redis`, then waits for the process to exit: its status
/// and what it wrote on stderr. While it still runs after its Redis has gone, `health` must not say
/// 200 (`health_turns_503`) .
async fn exit_after_losing(
    mut process: Killed,
    health: &str,
    redis: Killed,
    health_turns_503: bool,
) -> (std::process::ExitStatus, String) {
    let t0 = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(health).await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            process.0.try_wait().unwrap().is_none(),
            "the process exited before it was healthy"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the process never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    drop(redis);
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "the process was still up 30 s after its Redis went away"
        );
        if let Ok(r) = reqwest::get(health).await {
            if health_turns_503 && stopped.elapsed() > Duration::from_secs(1) {
                assert_eq!(r.status(), 503);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut stderr = String::new();
    process
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[tokio::test]
async fn a_worker_whose_redis_is_gone_for_good_exits_non_zero() {
    chap_scheduler::install_crypto_provider();
    let (redis, redis_port) = own_redis();
    let data_dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let worker = start(
        "worker",
        redis_port,
        data_dir.path(),
        &[("CHAP_SCHEDULER_METRICS_BIND", &metrics)],
    );
    let health = format!("http://{metrics}/health");
    let (status, stderr) = exit_after_losing(worker, &health, redis, true).await;
    assert!(!status.success(), "exit status {status}");
    assert!(
        stderr.contains("Redis has not answered for 2 s"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_server_whose_in_process_workers_lose_redis_for_good_exits_non_zero() {
    chap_scheduler::install_crypto_provider();
    let (redis, redis_port) = own_redis();
    let data_dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{}", free_port());
    let server = start(
        "serve",
        redis_port,
        data_dir.path(),
        &[
            ("CHAP_SCHEDULER_BIND", &bind),
            ("CHAP_SCHEDULER_ADMIN_PASSWORD", "queue-loss-admin-0123"),
        ],
    );
    let health = format!("http://{bind}/health");
    let (status, stderr) = exit_after_losing(server, &health, redis, false).await;
    assert!(!status.success(), "exit status {status}");
    assert!(
        stderr.contains("Redis has not answered for 2 s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the in-process workers gave up"),
        "{stderr}"
    );
}
