//! Transport of "run this" messages from dispatchers to workers. The database is the source of truth
//! (a run is queued when it is PENDING); the queue only carries the run id. Embedded mode needs no
//! transport at all: workers claim PENDING runs straight from the database and are woken in-process.

use std::sync::Arc;

use anyhow::Context;
use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

use crate::telemetry::repeats::{Level, Repeats};

/// The job a queue carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunJob {
    /// The run to execute.
    pub run_id: Uuid,
}

/// The queue of this process.
#[derive(Clone)]
pub enum Queue {
    /// PENDING rows are the queue; this wakes the in-process workers.
    Embedded {
        /// Notified on every push.
        wake: Arc<Notify>,
    },
    /// apalis on Redis: run ids travel through Redis to worker processes anywhere.
    Redis {
        /// The apalis storage.
        storage: Box<RedisStorage<RunJob>>,
        /// For `ping`.
        conn: ConnectionManager,
    },
}

impl Queue {
    /// An embedded queue.
    pub fn embedded() -> Self {
        Queue::Embedded {
            wake: Arc::new(Notify::new()),
        }
    }

    /// An apalis queue on Redis, named `name` (several installations can share one Redis).
    /// A connection whose server acknowledged nothing and answered no keepalive probe for
    /// `dead_after` is ended and opened again (Redis' host gone without closing it).
    pub async fn redis(
        url: &str,
        name: &str,
        dead_after: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let conn = connect_redis(url, dead_after)
            .await
            .with_context(|| format!("connecting to Redis at {}", crate::config::mask_url(url)))?;
        // One job per fetch: apalis moves a whole batch (default 10) into the fetching worker's
        // in-flight set at once, where it waits for that worker's slots while other workers idle.
        // Fetching only when a slot is free and only one job spreads runs over the workers.
        let config = apalis_redis::Config::default().queue(name).batch_size(1);
        let storage = RedisStorage::new(conn.clone()).with_config(config);
        Ok(Queue::Redis {
            storage: Box::new(storage),
            conn,
        })
    }

    /// `embedded` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Queue::Embedded { .. } => "embedded",
            Queue::Redis { .. } => "redis",
        }
    }

    /// Delivers a run id to a worker.
    pub async fn push(&self, run_id: Uuid) -> anyhow::Result<()> {
        match self {
            Queue::Embedded { wake } => {
                wake.notify_one();
                Ok(())
            }
            Queue::Redis { storage, .. } => {
                let mut storage = storage.as_ref().clone();
                storage
                    .push(RunJob { run_id })
                    .await
                    .map_err(|e| anyhow::anyhow!("pushing run {run_id} to Redis: {e}"))?;
                Ok(())
            }
        }
    }

    /// Whether the transport answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        match self {
            Queue::Embedded { .. } => Ok(()),
            Queue::Redis { conn, .. } => {
                let mut conn = conn.clone();
                let _: String = redis::cmd("PING").query_async(&mut conn).await?;
                Ok(())
            }
        }
    }
}

/// A connection manager for Redis at `url` whose sockets send each command at once (`TCP_NODELAY`;
/// the redis crate leaves Nagle's algorithm on, so a command written while the previous one is not yet
/// acknowledged would wait for that acknowledgement), and end a connection whose server is silent
/// for `dead_after` as the database's do (`db::dead_peers`): the manager's commands time out after
/// 0.5 s, but it reconnects only once its connection fails.
async fn connect_redis(
    url: &str,
    dead_after: std::time::Duration,
) -> redis::RedisResult<ConnectionManager> {
    use redis::io::tcp::{socket2::TcpKeepalive, TcpSettings};
    use redis::IntoConnectionInfo;
    let (idle, interval, probes) = crate::db::dead_peers::keepalive(dead_after);
    let keepalive = TcpKeepalive::new()
        .with_time(idle)
        .with_interval(interval)
        .with_retries(probes);
    let info = url.into_connection_info()?.set_tcp_settings(
        TcpSettings::default()
            .set_nodelay(true)
            .set_keepalive(keepalive)
            .set_user_timeout(dead_after),
    );
    redis::Client::open(info)?.get_connection_manager().await
}

/// Restarts of the apalis worker in a row (without a minute of work in between) after which this
/// process gives up and exits non-zero, for its supervisor to restart it.
const MAX_RESTARTS: u32 = 20;

/// How long apalis may take to close once this process's runs have ended.
const APALIS_CLOSE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs this process's Redis workers: each delivery is claimed by compare-and-set and executed; every
/// delivery is acknowledged (the run's outcome lives in the database, not in the queue). When the
/// apalis worker stops (Redis flushed or restarted: "worker not registered"), it is started again
/// with a backoff; after [`MAX_RESTARTS`] failures in a row this returns an error. Returns `Ok` once
/// the engine stops and every run in flight has finished or gone back to the queue.
pub async fn run_redis_workers(
    engine: super::Engine,
    storage: RedisStorage<RunJob>,
) -> anyhow::Result<()> {
    use apalis::prelude::{BackendExt, WorkerBuilder, WorkerBuilderExt};
    let concurrency = engine.settings().worker_concurrency.max(1);
    // apalis can miss a wake-up and leave a worker idle while jobs wait; the database is the source of
    // truth, so this process also sweeps for runs whose queue entry went undelivered.
    let slots = Arc::new(Semaphore::new(concurrency));
    let sweeper = tokio::spawn(sweep_stale(engine.clone(), slots.clone()));
    let mut failures: u32 = 0;
    let mut generation: u32 = 0;
    // One watchdog for the whole loop: when Redis dies, apalis' worker may end (and be restarted)
    // every second or so; a watchdog made anew with each restart never saw `lost_after` of silence.
    let lost_after = engine.settings().queue_lost_after;
    let lost = queue_lost(engine.queue().clone(), lost_after);
    tokio::pin!(lost);
    let gone = || {
        // apalis keeps polling a Redis that is gone without ever ending; the process would sit there
        // looking alive. Exiting non-zero lets compose (or systemd) restart it.
        anyhow::anyhow!(
            "Redis has not answered for {} s (CHAP_SCHEDULER_QUEUE_LOST_SECONDS); giving up",
            lost_after.as_secs_f64()
        )
    };
    let result = loop {
        generation += 1;
        let started = std::time::Instant::now();
        let worker = WorkerBuilder::new(format!("{}-{generation}", engine.worker_id()))
            // The storage does not poll by itself; 20 ms keeps trigger → RUNNING latency low at a few
            // cheap Redis calls a second per worker process.
            .backend(
                storage
                    .clone()
                    .poll_with_strategy(Tick::every(std::time::Duration::from_millis(20))),
            )
            .data(engine.clone())
            .data(slots.clone())
            .concurrency(concurrency)
            .build(handle_job);
        let stop = engine.stopping().clone();
        let run = worker.run_until(async move {
            stop.cancelled().await;
            Ok::<(), apalis::prelude::WorkerError>(())
        });
        // Once stopping, this process is done when its own attempts have ended (finished or handed
        // back): apalis' own shutdown is given a moment to acknowledge its entries, not more — with
        // runs in flight it could wait for ever (a stopped worker stayed up until SIGKILL).
        let ours_ended = async {
            engine.executions_ended().await;
            tokio::time::sleep(APALIS_CLOSE).await;
        };
        let outcome = tokio::select! {
            outcome = run => outcome,
            () = ours_ended => {
                tracing::debug!("the Redis worker did not close in time after the runs ended");
                Ok(())
            }
            () = &mut lost => break Err(gone()),
        };
        if engine.stopping().is_cancelled() {
            break Ok(());
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            failures = 0;
        }
        failures += 1;
        let why = match outcome {
            Ok(()) => "it ended".to_string(),
            Err(e) => e.to_string(),
        };
        if failures > MAX_RESTARTS {
            break Err(anyhow::anyhow!(
                "the Redis worker failed {MAX_RESTARTS} times in a row (last: {why}); giving up"
            ));
        }
        let backoff = std::time::Duration::from_millis(250 * 2u64.pow(failures.min(7)));
        tracing::warn!(error = %why, restart_in_ms = backoff.as_millis() as u64, "the Redis worker stopped; starting it again");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = engine.stopping().cancelled() => break Ok(()),
            () = &mut lost => break Err(gone()),
        }
    };
    if result.is_err() {
        engine.stop();
    }
    let _ = sweeper.await;
    // The sweep's runs execute in tasks of their own: they finish or go back before the process ends.
    engine.executions_ended().await;
    result
}

/// Wakes the apalis worker every `every` to fetch from Redis. apalis-core 1.0.0's `IntervalStrategy`
/// replaces a timer that fired with a new one it does not poll, so nothing is set to wake the worker
/// until that new timer is polled by a later wake-up; when the fetch the tick started comes back empty
/// after the next tick was due (Redis slow for a moment, a busy machine), the worker is left with no
/// timer at all and fetches nothing more until some other wake-up, seconds later (apalis' own heartbeat
/// is every 30 s): runs then waited for the sweep (bursts of issue 16 whose starts came 0.5 s apart).
/// This one polls each new timer at once, so the next tick always has a waker.
struct Tick {
    every: std::time::Duration,
    next: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Tick {
    fn every(every: std::time::Duration) -> Self {
        Tick {
            every,
            next: Box::pin(tokio::time::sleep(every)),
        }
    }
}

impl apalis::prelude::PollStrategy for Tick {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _: &apalis::prelude::PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let mut fired = false;
        while std::future::Future::poll(self.next.as_mut(), cx).is_ready() {
            fired = true;
            let at = tokio::time::Instant::now() + self.every;
            self.next.as_mut().reset(at);
        }
        if fired {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

/// Resolves once the queue has failed every ping for `after` (each ping waits 5 s at most, so a
/// frozen Redis counts as gone too).
async fn queue_lost(queue: Queue, after: std::time::Duration) {
    let every = (after / 4).clamp(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(5),
    );
    let mut failing_since: Option<std::time::Instant> = None;
    loop {
        let answered = matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), queue.ping()).await,
            Ok(Ok(()))
        );
        match (answered, failing_since) {
            (true, _) => failing_since = None,
            (false, None) => {
                tracing::warn!("Redis does not answer; this worker gives up if it stays so");
                failing_since = Some(std::time::Instant::now());
            }
            (false, Some(since)) if since.elapsed() >= after => return,
            (false, Some(_)) => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// Claims PENDING runs whose queue entry was not delivered within `sweep_after` (apalis missed a
/// wake-up, or fetched the entry into a worker whose slots are all busy), as many as this process has
/// free slots, and executes each in a task of its own, until the engine stops.
async fn sweep_stale(engine: super::Engine, slots: Arc<Semaphore>) {
    // An undelivered entry waits `sweep_after` and up to a quarter of it more: half a second and a
    // fraction by default (it was up to 3 s, seen as bursts that stalled for seconds, issue 16).
    let every = (engine.settings().sweep_after / 4).clamp(
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(1),
    );
    let mut failures = Repeats::new("sweeping for undelivered runs failed", Level::Warn);
    while !engine.stopping().is_cancelled() {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = engine.stopping().cancelled() => break,
        }
        while !engine.stopping().is_cancelled() {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let claimed = engine.claim_stale().await;
            failures.record(&claimed);
            match claimed {
                Ok(Some(claimed)) => {
                    let id = claimed.run.id;
                    tracing::info!(run = %id, "claimed a run whose queue entry was not delivered");
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        if let Err(e) = engine.execute_in_turn(claimed).await {
                            tracing::error!(run = %id, error = %e, "executing a run failed");
                        }
                        drop(slot);
                    });
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}

async fn handle_job(
    job: RunJob,
    engine: apalis::prelude::Data<super::Engine>,
    slots: apalis::prelude::Data<Arc<Semaphore>>,
) -> Result<(), apalis::prelude::BoxDynError> {
    // One of this process's slots, shared with the sweep (apalis' own concurrency counts only its
    // deliveries). The run executes in a task of its own: when apalis drops this handler (its worker
    // stopped because Redis was flushed), the run goes on to its end instead of stopping half-way.
    let slot = (*slots).clone().acquire_owned().await?;
    let engine = (*engine).clone();
    let execution = tokio::spawn(async move {
        if let Err(e) = engine.execute_delivered(job.run_id).await {
            tracing::error!(run = %job.run_id, error = %e, "executing a run failed");
        }
        drop(slot);
    });
    let _ = execution.await;
    Ok(())
}
