//! Outages under the installation rather than in it: its PostgreSQL database gone for seconds, or its
//! host vanished from under the connections open to it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Result;
use chap_scheduler::db::entities::flow_run_state;
use chap_scheduler_api::RunState;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::faults::{row, SETTLE};
use crate::rig::{Options, Rig};
use crate::support::Services;
use crate::tally::tally;
use crate::Row;

/// How long the database is gone: longer than the rig's heartbeat timeout (5 s), so that no heartbeat
/// lands for longer than it.
const DATABASE_DOWN: Duration = Duration::from_secs(8);

/// 200 runs; once 50 have ended, every session on the database is ended and new ones are refused for
/// 8 s (what `serve` and the workers see of a PostgreSQL restart or fail-over). No worker stops, so
/// none of the runs may be crashed: each run with a crashed attempt counts as a wrong final state.
pub async fn postgres(services: &Services) -> Result<Row> {
    let (rig, ids) = fifty_of_two_hundred_ended(services).await?;
    let ended = rig.database_outage(DATABASE_DOWN).await?;
    if !rig.settle(&ids, SETTLE).await? {
        println!("   some runs did not settle within {SETTLE:?}");
    }
    completed_without_a_crash(
        rig,
        &ids,
        "PostgreSQL gone for 8 s after 50 of 200 runs ended (every session ended, new ones refused)",
        format!("{ended} database sessions were ended"),
    )
    .await
}

/// 200 runs; once 50 have ended, every connection open to the database (`serve`'s and the workers')
/// goes silent for good, as when its host crashes or a fail-over moves its address: no packet of them
/// passes either way, while new connections reach the same server. No worker stops, so none of the
/// runs may be crashed.
pub async fn vanish(services: &Services) -> Result<Row> {
    let (rig, ids) = fifty_of_two_hundred_ended(services).await?;
    let cut_at = std::time::Instant::now();
    let (filter, cut) = rig.cut_database_connections().await?;
    let settled = rig.settle(&ids, SETTLE).await?;
    let took = cut_at.elapsed();
    if !settled {
        println!("   some runs did not settle within {SETTLE:?}");
    }
    drop(filter);
    completed_without_a_crash(
        rig,
        &ids,
        "PostgreSQL's host vanished after 50 of 200 runs ended (every open connection silent for good)",
        format!(
            "dead connections ended after 30 s; {cut} connections cut; the last run ended {:.1} s \
             after the cut",
            took.as_secs_f64()
        ),
    )
    .await
}

/// A rig of 2 workers × 16 slots, 200 runs triggered over 50 setups, 50 of them ended.
async fn fifty_of_two_hundred_ended(services: &Services) -> Result<(Rig, Vec<Uuid>)> {
    let rig = Rig::start(
        services,
        &Options {
            job_polls: 3,
            slots: 16,
            setups: 50,
            ..Options::default()
        },
    )
    .await?;
    let ids = rig.trigger(200, 50).await?;
    rig.wait_ended(&ids, 50, Duration::from_secs(120)).await?;
    Ok((rig, ids))
}

/// The row of a fault after which every run must be COMPLETED: a run with a crashed attempt counts as
/// a wrong final state (no worker stopped).
async fn completed_without_a_crash(
    rig: Rig,
    ids: &[Uuid],
    fault: &str,
    notes: String,
) -> Result<Row> {
    let (attempts, runs) = crashed(&rig, ids).await?;
    let mut t = tally(&rig, ids, RunState::Completed, &HashMap::new()).await?;
    t.wrong_state += runs;
    row(
        rig,
        t,
        fault,
        format!(
            "2 workers × 16 slots, heartbeat timeout 5 s; {notes}; attempts crashed: {attempts}"
        ),
    )
    .await
}

/// The attempts of `ids` that ended CRASHED, and the runs they belong to.
async fn crashed(rig: &Rig, ids: &[Uuid]) -> Result<(usize, usize)> {
    let entries = flow_run_state::Entity::find()
        .filter(flow_run_state::Column::FlowRunId.is_in(ids.to_vec()))
        .filter(flow_run_state::Column::State.eq(RunState::Crashed))
        .all(&rig.db)
        .await?;
    let runs: HashSet<Uuid> = entries.iter().map(|e| e.flow_run_id).collect();
    Ok((entries.len(), runs.len()))
}
