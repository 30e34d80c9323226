//! A `worker` whose Redis is gone for good exits non-zero, so that its supervisor (compose's
//! `restart: unless-stopped`, systemd) restarts it, instead of sitting there looking alive.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chap-scheduler");

/// A child process killed when dropped (also when the test fails half-way).
struct Killed(Child);

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

#[tokio::test]
async fn a_worker_whose_redis_is_gone_for_good_exits_non_zero() {
    chap_scheduler::install_crypto_provider();
    // A Redis of this test's own (Debian's redis-server), which the test then stops for good.
    let redis_port = free_port();
    let redis = Killed(
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package)"),
    );
    let data_dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut worker = Killed(
        Command::new(BIN)
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CHAP_SCHEDULER_DATA_DIR", data_dir.path())
            .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
            .env("CHAP_SCHEDULER_QUEUE_LOST_SECONDS", "2")
            .env("CHAP_SCHEDULER_METRICS_BIND", &metrics)
            .env("CHAP_SCHEDULER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );

    let health = format!("http://{metrics}/health");
    let t0 = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(&health).await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            worker.0.try_wait().unwrap().is_none(),
            "the worker exited before it was healthy"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the worker never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    drop(redis);
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = worker.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "the worker was still up 30 s after its Redis went away"
        );
        if let Ok(r) = reqwest::get(&health).await {
            // While it still runs, its health says so.
            if stopped.elapsed() > Duration::from_secs(1) {
                assert_eq!(r.status(), 503);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!status.success(), "exit status {status}");
    let mut stderr = String::new();
    worker
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("Redis has not answered for 2 s"),
        "{stderr}"
    );
}
