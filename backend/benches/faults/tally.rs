//! What a fault cost, read from the database and the simulator after the runs settled.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use chap_scheduler::db::entities::{flow_run, flow_run_state, run_checkpoint, task_run};
use chap_scheduler_api::RunState;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::rig::Rig;

/// One row of the fault table.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Runs the fault touched.
    pub runs: usize,
    /// Runs in a terminal state at the end.
    pub terminal: usize,
    /// Runs that never ended.
    pub lost: usize,
    /// Runs executed by two attempts without an interruption between them.
    pub twice: usize,
    /// chap jobs the simulator created beyond one per job a run recorded.
    pub duplicate_jobs: usize,
    /// Schedule slots with more than one run.
    pub duplicate_slots: usize,
    /// Schedule slots without a run.
    pub missed_slots: usize,
    /// Runs that ended in another state than expected, or left a step RUNNING.
    pub wrong_state: usize,
    /// chap jobs the simulator created in all.
    pub jobs: usize,
}

impl Tally {
    /// Whether every loss column is zero.
    pub fn clean(&self) -> bool {
        self.lost
            + self.twice
            + self.duplicate_jobs
            + self.duplicate_slots
            + self.missed_slots
            + self.wrong_state
            == 0
    }
}

/// Counts the runs `ids`, each expected to end in `expected` (or in the state the map gives).
pub async fn tally(
    rig: &Rig,
    ids: &[Uuid],
    expected: RunState,
    exceptions: &HashMap<Uuid, RunState>,
) -> Result<Tally> {
    let mut t = Tally {
        runs: ids.len(),
        ..Tally::default()
    };
    let wanted: HashSet<Uuid> = ids.iter().copied().collect();
    let mut found = 0;
    for chunk in ids.chunks(500) {
        let runs = flow_run::Entity::find()
            .filter(flow_run::Column::Id.is_in(chunk.to_vec()))
            .all(&rig.db)
            .await?;
        let history = flow_run_state::Entity::find()
            .filter(flow_run_state::Column::FlowRunId.is_in(chunk.to_vec()))
            .order_by_asc(flow_run_state::Column::At)
            .order_by_asc(flow_run_state::Column::Id)
            .all(&rig.db)
            .await?;
        let open_steps: HashSet<Uuid> = task_run::Entity::find()
            .filter(task_run::Column::FlowRunId.is_in(chunk.to_vec()))
            .filter(task_run::Column::State.eq(RunState::Running))
            .all(&rig.db)
            .await?
            .into_iter()
            .map(|s| s.flow_run_id)
            .collect();
        let mut by_run: HashMap<Uuid, Vec<RunState>> = HashMap::new();
        for h in history {
            by_run.entry(h.flow_run_id).or_default().push(h.state);
        }
        for run in runs {
            found += 1;
            if !run.state.is_terminal() {
                t.lost += 1;
                continue;
            }
            t.terminal += 1;
            let want = exceptions.get(&run.id).copied().unwrap_or(expected);
            if run.state != want || open_steps.contains(&run.id) {
                t.wrong_state += 1;
            }
            if ran_twice(by_run.get(&run.id).map_or(&[][..], Vec::as_slice)) {
                t.twice += 1;
            }
        }
    }
    t.lost += ids.len() - found;
    t.duplicate_jobs = duplicate_jobs(rig, &wanted).await?;
    t.jobs = rig.sim.jobs().len();
    Ok(t)
}

/// chap jobs beyond one per run, per setup: a setup's jobs minus the distinct jobs its runs recorded,
/// minus one for each of its runs that was cancelled without a record (the cancel may have come between
/// the submit and the record; such a run never runs again, so its job is not a duplicate).
async fn duplicate_jobs(rig: &Rig, runs: &HashSet<Uuid>) -> Result<usize> {
    let mut setup_of: HashMap<Uuid, i64> = HashMap::new();
    let mut cancelled: HashSet<Uuid> = HashSet::new();
    let ids: Vec<Uuid> = runs.iter().copied().collect();
    for chunk in ids.chunks(500) {
        for run in flow_run::Entity::find()
            .filter(flow_run::Column::Id.is_in(chunk.to_vec()))
            .all(&rig.db)
            .await?
        {
            if let Some(setup) = run.parameters["prediction_setup_id"].as_i64() {
                setup_of.insert(run.id, setup);
            }
            if run.state == RunState::Cancelled {
                cancelled.insert(run.id);
            }
        }
    }
    let mut recorded: HashMap<i64, HashSet<String>> = HashMap::new();
    let mut with_record: HashSet<Uuid> = HashSet::new();
    for c in run_checkpoint::Entity::find().all(&rig.db).await? {
        let (Some(setup), Some(job)) = (setup_of.get(&c.flow_run_id), c.value.as_str()) else {
            continue;
        };
        recorded.entry(*setup).or_default().insert(job.to_string());
        with_record.insert(c.flow_run_id);
    }
    let mut excused: HashMap<i64, usize> = HashMap::new();
    for run in cancelled.difference(&with_record) {
        if let Some(setup) = setup_of.get(run) {
            *excused.entry(*setup).or_default() += 1;
        }
    }
    let mut jobs: HashMap<i64, usize> = HashMap::new();
    for (_, setup, _) in rig.sim.jobs() {
        *jobs.entry(setup).or_default() += 1;
    }
    Ok(jobs
        .iter()
        .map(|(setup, n)| {
            let known = recorded.get(setup).map_or(0, HashSet::len);
            n.saturating_sub(known + excused.get(setup).copied().unwrap_or(0))
        })
        .sum())
}

/// Two RUNNING entries with no interruption (crash, retry, hand-back) between them.
fn ran_twice(history: &[RunState]) -> bool {
    let mut running = false;
    for state in history {
        match state {
            RunState::Running if running => return true,
            RunState::Running => running = true,
            RunState::Crashed | RunState::AwaitingRetry | RunState::Pending => running = false,
            _ => {}
        }
    }
    false
}

/// Slots of a schedule firing every second from `from` to `to`: how many got more than one run, and
/// how many none (slots in the last two seconds may still be on their way and are not counted).
pub async fn slots(
    rig: &Rig,
    schedule: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<Uuid>, usize, usize)> {
    let runs = flow_run::Entity::find()
        .filter(flow_run::Column::ScheduleId.eq(schedule))
        .all(&rig.db)
        .await?;
    let mut per_slot: BTreeMap<i64, usize> = BTreeMap::new();
    for run in &runs {
        *per_slot
            .entry(run.expected_start_at.timestamp())
            .or_default() += 1;
    }
    let duplicates = per_slot.values().map(|n| n.saturating_sub(1)).sum();
    let first = from.timestamp() + 1;
    let last = to.timestamp() - 2;
    let missed = (first..=last).filter(|s| !per_slot.contains_key(s)).count();
    Ok((runs.iter().map(|r| r.id).collect(), duplicates, missed))
}
