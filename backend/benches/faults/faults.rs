//! The faults, one function each: set up a rig, do the harm, wait for the runs to settle, count.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chap_scheduler::db::entities::{artifact, log, task_run};
use chap_scheduler_api::RunState;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::rig::{Options, Rig};
use crate::support::Services;
use crate::tally::{slots, tally, Tally};
use crate::Row;

pub(crate) const SETTLE: Duration = Duration::from_secs(180);

/// Runs one named fault.
pub async fn run(name: &str, services: &Services) -> Result<Row> {
    match name {
        "kill" => kill(services).await,
        "term" => term(services).await,
        "redis" => redis(services).await,
        "restart" => restart(services).await,
        "two-serves" => two_serves(services).await,
        "zombie" => zombie(services).await,
        "spread" => spread(services).await,
        "postgres" => crate::outages::postgres(services).await,
        "vanish" => crate::outages::vanish(services).await,
        _ => cancels(services).await,
    }
}

/// Waits until at least 80 % of `ids` are RUNNING at once (the rest may wait for a slot), or says in
/// which states they are.
async fn mostly_running(rig: &Rig, ids: &[Uuid]) -> Result<()> {
    if rig
        .wait_until(
            ids,
            &[RunState::Running],
            ids.len() * 4 / 5,
            Duration::from_secs(60),
        )
        .await?
    {
        return Ok(());
    }
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, state, _) in rig.states(ids).await? {
        *counts.entry(format!("{state:?}")).or_default() += 1;
    }
    bail!(
        "the {} runs were never 80 % running at once: {counts:?}",
        ids.len()
    )
}

/// Runs of `ids` a worker held when looked at.
async fn held_by(rig: &Rig, ids: &[Uuid], worker: usize) -> Result<usize> {
    let id = rig.worker_id(worker).context("worker id")?;
    Ok(rig
        .states(ids)
        .await?
        .iter()
        .filter(|(_, s, w)| *s == RunState::Running && w.as_deref() == Some(id.as_str()))
        .count())
}

/// Stops the rig and makes its row of the table.
pub(crate) async fn row(
    rig: Rig,
    tally: Tally,
    fault: impl Into<String>,
    notes: String,
) -> Result<Row> {
    rig.stop().await;
    Ok(Row {
        fault: fault.into(),
        tally,
        notes,
    })
}

/// Waits for the runs to settle, counts them (all expected COMPLETED) and makes the row.
async fn finish(rig: Rig, ids: &[Uuid], fault: String, notes: String) -> Result<Row> {
    if !rig.settle(ids, SETTLE).await? {
        println!("   some runs did not settle within {SETTLE:?}");
    }
    let t = tally(&rig, ids, RunState::Completed, &HashMap::new()).await?;
    row(rig, t, fault, notes).await
}

async fn kill(services: &Services) -> Result<Row> {
    let mut rig = Rig::start(
        services,
        &Options {
            job_polls: 100,
            ..Options::default()
        },
    )
    .await?;
    let ids = rig.trigger(50, 50).await?;
    mostly_running(&rig, &ids).await?;
    let on_killed = held_by(&rig, &ids, 0).await?;
    rig.signal_worker(0, "KILL")?;
    rig.drop_worker(0);
    rig.add_worker()?;
    finish(
        rig,
        &ids,
        "SIGKILL a worker with 50 runs in flight (a new worker starts)".into(),
        format!("{on_killed} runs were on the killed worker; heartbeat timeout 5 s, retries 3"),
    )
    .await
}

async fn term(services: &Services) -> Result<Row> {
    let mut rig = Rig::start(
        services,
        &Options {
            job_polls: 100,
            grace_seconds: 1,
            ..Options::default()
        },
    )
    .await?;
    let ids = rig.trigger(50, 50).await?;
    mostly_running(&rig, &ids).await?;
    let on_stopped = held_by(&rig, &ids, 0).await?;
    let exited = rig.workers[0].take().and_then(|w| w.stop_timed());
    rig.add_worker()?;
    finish(
        rig,
        &ids,
        "SIGTERM a worker with 50 runs in flight (grace 1 s; a new worker starts)".into(),
        format!(
            "{on_stopped} runs were on the stopped worker, which exited {}",
            exited.map_or("only at SIGKILL, 10 s later".into(), |d| format!(
                "after {:.1} s",
                d.as_secs_f64()
            ))
        ),
    )
    .await
}

/// A Redis server of the harness's own, so it can be flushed and restarted.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(port: u16) -> Result<OwnRedis> {
        let mut redis = OwnRedis { port, child: None };
        redis.restart()?;
        Ok(redis)
    }

    fn restart(&mut self) -> Result<()> {
        self.kill();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server (apt-get install redis-server)")?;
        self.child = Some(child);
        for _ in 0..100 {
            if self.cli(&["PING"]).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("redis-server on port {} did not answer", self.port)
    }

    fn cli(&self, args: &[&str]) -> Result<()> {
        let status = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("redis-cli {args:?} failed");
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn redis(services: &Services) -> Result<Row> {
    let mut own = OwnRedis::start(6391)?;
    let rig = Rig::start(
        services,
        &Options {
            job_polls: 3,
            slots: 16,
            redis: Some(format!("redis://127.0.0.1:{}", own.port)),
            ..Options::default()
        },
    )
    .await?;
    let ids = rig.trigger(200, 50).await?;
    rig.wait_ended(&ids, 50, Duration::from_secs(60)).await?;
    own.cli(&["FLUSHDB"])?;
    rig.wait_ended(&ids, 120, Duration::from_secs(90)).await?;
    own.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    own.restart()?;
    finish(
        rig,
        &ids,
        "Redis FLUSHDB after 50 of 200 runs ended, then Redis killed and restarted (empty) after 120"
            .into(),
        "2 workers × 16 slots; Redis down 3 s".into(),
    )
    .await
}

/// Creates a schedule firing every second (missed slots: all).
async fn every_second(rig: &Rig) -> Result<Uuid> {
    let (status, body) = rig
        .api
        .send(
            Method::POST,
            &format!("/api/v1/deployments/{}/schedules", rig.deployment),
            json!({ "interval_seconds": 1, "parameters": rig.parameters(1),
                    "missed_policy": "all", "max_missed": 1000 }),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!("creating the schedule: {status} {body}");
    }
    Ok(body["id"].as_str().context("schedule id")?.parse()?)
}

async fn switch_off(rig: &Rig, schedule: Uuid) -> Result<()> {
    let (status, body) = rig
        .api
        .send(
            Method::PATCH,
            &format!("/api/v1/schedules/{schedule}"),
            json!({ "active": false }),
        )
        .await?;
    if status != StatusCode::OK {
        bail!("switching the schedule off: {status} {body}");
    }
    Ok(())
}

async fn schedule_row(
    rig: Rig,
    schedule: Uuid,
    from: chrono::DateTime<chrono::Utc>,
    fault: String,
    notes: String,
) -> Result<Row> {
    switch_off(&rig, schedule).await?;
    let to = chrono::Utc::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (ids, _, _) = slots(&rig, schedule, from, to).await?;
    rig.settle(&ids, SETTLE).await?;
    let (ids, duplicates, missed) = slots(&rig, schedule, from, to).await?;
    let mut t = tally(&rig, &ids, RunState::Completed, &HashMap::new()).await?;
    t.duplicate_slots = duplicates;
    t.missed_slots = missed;
    row(rig, t, fault, notes).await
}

async fn restart(services: &Services) -> Result<Row> {
    let mut rig = Rig::start(
        services,
        &Options {
            job_polls: 1,
            slots: 8,
            ..Options::default()
        },
    )
    .await?;
    let from = chrono::Utc::now();
    let schedule = every_second(&rig).await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    rig.stop_serve(0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    rig.start_serve(0)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    schedule_row(
        rig,
        schedule,
        from,
        "`serve` stopped for 5 s (SIGTERM) and started again during a per-second schedule".into(),
        "25 s of schedule; missed-run policy `all`".into(),
    )
    .await
}

async fn two_serves(services: &Services) -> Result<Row> {
    let seconds: u64 = std::env::var("CHAP_FAULTS_TWO_SERVE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let rig = Rig::start(
        services,
        &Options {
            serves: 2,
            job_polls: 1,
            slots: 8,
            ..Options::default()
        },
    )
    .await?;
    let from = chrono::Utc::now();
    let schedule = every_second(&rig).await?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    schedule_row(
        rig,
        schedule,
        from,
        format!("two `serve` instances for {seconds} s of a per-second schedule"),
        "both run the scheduler loop".into(),
    )
    .await
}

/// What a run looks like to a reader: state, report, step and log counts.
async fn look(rig: &Rig, ids: &[Uuid]) -> Result<HashMap<Uuid, String>> {
    let mut seen = HashMap::new();
    for (id, state, _) in rig.states(ids).await? {
        let report = artifact::Entity::find()
            .filter(artifact::Column::FlowRunId.eq(id))
            .all(&rig.db)
            .await?
            .into_iter()
            .map(|a| a.content)
            .collect::<Vec<_>>()
            .join("\n");
        let steps = task_run::Entity::find()
            .filter(task_run::Column::FlowRunId.eq(id))
            .all(&rig.db)
            .await?
            .into_iter()
            .map(|s| format!("{}:{:?}", s.name, s.state))
            .collect::<Vec<_>>()
            .join(",");
        let logs = log::Entity::find()
            .filter(log::Column::FlowRunId.eq(id))
            .count(&rig.db)
            .await?;
        seen.insert(id, format!("{state:?}|{steps}|{logs}|{report}"));
    }
    Ok(seen)
}

async fn zombie(services: &Services) -> Result<Row> {
    let rig = Rig::start(
        services,
        &Options {
            job_polls: 60,
            slots: 10,
            setups: 20,
            ..Options::default()
        },
    )
    .await?;
    let ids = rig.trigger(20, 20).await?;
    mostly_running(&rig, &ids).await?;
    let frozen = held_by(&rig, &ids, 0).await?;
    rig.signal_worker(0, "STOP")?;
    let settled = rig.settle(&ids, SETTLE).await?;
    let before = look(&rig, &ids).await?;
    rig.signal_worker(0, "CONT")?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = look(&rig, &ids).await?;
    let changed = ids
        .iter()
        .filter(|id| before.get(id) != after.get(id))
        .count();
    let mut t = tally(&rig, &ids, RunState::Completed, &HashMap::new()).await?;
    t.wrong_state += changed;
    let notes = format!(
        "{frozen} runs were on the frozen worker; settled before SIGCONT: {settled}; runs changed after SIGCONT: {changed}"
    );
    row(
        rig,
        t,
        "zombie: SIGSTOP a worker past the heartbeat timeout, its runs retried elsewhere, then SIGCONT",
        notes,
    )
    .await
}

async fn cancels(services: &Services) -> Result<Row> {
    let rig = Rig::start(
        services,
        &Options {
            job_polls: 5000,
            slots: 50,
            setups: 100,
            ..Options::default()
        },
    )
    .await?;
    let ids = rig.trigger(100, 100).await?;
    let mut accepted: HashMap<Uuid, RunState> = HashMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while accepted.len() < ids.len() && std::time::Instant::now() < deadline {
        for (id, state, _) in rig.states(&ids).await? {
            if state != RunState::Running || accepted.contains_key(&id) {
                continue;
            }
            let (status, _) = rig
                .api
                .send(
                    Method::POST,
                    &format!("/api/v1/runs/{id}/cancel"),
                    json!({}),
                )
                .await?;
            if status.is_success() {
                accepted.insert(id, RunState::Cancelled);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rig.settle(&ids, SETTLE).await?;
    let t: Tally = tally(&rig, &ids, RunState::Cancelled, &accepted).await?;
    let n = accepted.len();
    row(
        rig,
        t,
        "100 cancels of running runs (jobs polling in chap)",
        format!("{n} cancels accepted"),
    )
    .await
}

/// Not a fault: how the Redis queue spreads work (2 workers × 12 slots, 24 runs of about 11 s). With
/// perfect spreading all 24 run at once and the burst takes one run's time.
async fn spread(services: &Services) -> Result<Row> {
    let rig = Rig::start(
        services,
        &Options {
            job_polls: 110,
            slots: 12,
            setups: 24,
            ..Options::default()
        },
    )
    .await?;
    let started = std::time::Instant::now();
    let ids = rig.trigger(24, 24).await?;
    let mut most = 0;
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    let mut first_all = None;
    while started.elapsed() < SETTLE {
        let states = rig.states(&ids).await?;
        let running: Vec<_> = states
            .iter()
            .filter(|(_, s, _)| *s == RunState::Running)
            .collect();
        if running.len() > most {
            most = running.len();
            per_worker.clear();
            for (_, _, w) in &running {
                *per_worker.entry(w.clone().unwrap_or_default()).or_default() += 1;
            }
        }
        if first_all.is_none() && running.len() == ids.len() {
            first_all = Some(started.elapsed());
        }
        if states.iter().all(|(_, s, _)| s.is_terminal()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    let t = tally(&rig, &ids, RunState::Completed, &HashMap::new()).await?;
    let mut split: Vec<usize> = per_worker.into_values().collect();
    split.sort_unstable();
    let notes = format!(
        "burst took {:.1} s; at most {most} running at once (per worker {split:?}); all 24 running after {}",
        took.as_secs_f64(),
        first_all.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
    );
    row(
        rig,
        t,
        "spread (no fault): 24 runs of ~11 s on 2 workers × 12 slots",
        notes,
    )
    .await
}
