//! `CHAP_BENCH_PREDICTION_HISTORY=100000`: a kept history under each `prediction` burst, to see
//! whether a run costs more on an installation that has kept many. Real runs first (20 of the
//! bench's deployment, triggered through the API and waited for), then copies of them with all they
//! wrote (state history, steps, log lines, artifacts, checkpoints) until the history holds that many
//! finished runs, spread over the last 80 days: inside the default retention of 90, so the
//! retention pass deletes nothing during the burst. Then, on PostgreSQL, `ANALYZE`, as autovacuum
//! would. Not on SQLite, which the service never analyzes: with `sqlite_stat1` present, SQLite
//! reckons each state holds an even share of the runs and reads the whole table for the reaper's
//! query (RUNNING runs whose heartbeat is old), where without it the state index is used.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chap_scheduler::db::entities::{
    artifact, flow_run, flow_run_state, log, run_checkpoint, task_run,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, IntoActiveModel, ModelTrait, QueryFilter,
};
use uuid::Uuid;

use crate::support::{unfinished_runs, Api};

/// Real runs the history is copied from.
const TEMPLATES: usize = 20;
/// Runs copied per round of inserts.
const CHUNK: usize = 100;
/// Rows per insert statement (within SQLite's limit of bound values for every table here).
const ROWS_PER_INSERT: usize = 1000;
/// How far back the history goes.
const DAYS: i64 = 80;

/// The history's size from `CHAP_BENCH_PREDICTION_HISTORY` (none when unset).
pub fn wanted() -> Result<usize> {
    match std::env::var("CHAP_BENCH_PREDICTION_HISTORY") {
        Ok(n) => n
            .trim()
            .parse()
            .context("CHAP_BENCH_PREDICTION_HISTORY: a number of finished runs, e.g. 100000"),
        Err(_) => Ok(0),
    }
}

/// What [`seed`] wrote.
pub struct Seeded {
    /// Finished runs in the history.
    pub runs: usize,
    /// Rows written for the copies, in every run table (the real runs' own not counted).
    pub rows: usize,
    /// How long it took.
    pub took: Duration,
}

/// Gives `db` a history of `runs` finished runs of `deployment`: real ones triggered through `api`,
/// then [`copy`] (its copies from `after` days old on).
pub async fn seed(
    api: &Api,
    deployment: &str,
    db: &DatabaseConnection,
    runs: usize,
    after: i64,
) -> Result<Seeded> {
    let t0 = Instant::now();
    for _ in 0..TEMPLATES.min(runs) {
        api.trigger(deployment).await?;
    }
    while unfinished_runs(db).await? > 0 {
        if t0.elapsed() > Duration::from_secs(120) {
            anyhow::bail!("the history's first runs did not finish within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut seeded = copy(db, runs, after).await?;
    seeded.took = t0.elapsed();
    Ok(seeded)
}

/// Copies the finished runs `db` holds, with all they wrote, until it holds `runs`, the copies
/// spread over [`DAYS`] from `after` days back (see the module's comment).
pub async fn copy(db: &DatabaseConnection, runs: usize, after: i64) -> Result<Seeded> {
    let t0 = Instant::now();
    let templates = Templates::load(db).await?;
    anyhow::ensure!(!templates.runs.is_empty(), "no run to copy into a history");
    let mut rows = 0;
    let mut k = templates.runs.len();
    while k < runs {
        let mut copies = Copies::default();
        for at in k..(k + CHUNK).min(runs) {
            let back = chrono::Duration::days(after)
                + chrono::Duration::seconds(DAYS * 86_400 * at as i64 / runs as i64);
            templates.copy(at % templates.runs.len(), back, &mut copies);
        }
        k += CHUNK;
        rows += copies.insert(db).await?;
    }
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("ANALYZE").await?;
    }
    Ok(Seeded {
        runs,
        rows,
        took: t0.elapsed(),
    })
}

/// The real runs with what each wrote, by run id.
struct Templates {
    runs: Vec<flow_run::Model>,
    states: HashMap<Uuid, Vec<flow_run_state::Model>>,
    steps: HashMap<Uuid, Vec<task_run::Model>>,
    logs: HashMap<Uuid, Vec<log::Model>>,
    artifacts: HashMap<Uuid, Vec<artifact::Model>>,
    checkpoints: HashMap<Uuid, Vec<run_checkpoint::Model>>,
}

/// The rows of `E` that belong to the runs `ids` (their run's id in `column`), grouped by run.
async fn of_runs<E: EntityTrait>(
    db: &DatabaseConnection,
    column: E::Column,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<E::Model>>> {
    let mut out: HashMap<Uuid, Vec<E::Model>> = HashMap::new();
    for row in E::find()
        .filter(column.is_in(ids.iter().copied()))
        .all(db)
        .await?
    {
        let sea_orm::Value::Uuid(Some(run)) = row.get(column) else {
            anyhow::bail!("a row without its run's id");
        };
        out.entry(run).or_default().push(row);
    }
    Ok(out)
}

impl Templates {
    async fn load(db: &DatabaseConnection) -> Result<Templates> {
        let runs = flow_run::Entity::find().all(db).await?;
        let ids: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
        Ok(Templates {
            states: of_runs::<flow_run_state::Entity>(db, flow_run_state::Column::FlowRunId, &ids)
                .await?,
            steps: of_runs::<task_run::Entity>(db, task_run::Column::FlowRunId, &ids).await?,
            logs: of_runs::<log::Entity>(db, log::Column::FlowRunId, &ids).await?,
            artifacts: of_runs::<artifact::Entity>(db, artifact::Column::FlowRunId, &ids).await?,
            checkpoints: of_runs::<run_checkpoint::Entity>(
                db,
                run_checkpoint::Column::FlowRunId,
                &ids,
            )
            .await?,
            runs,
        })
    }

    /// Adds to `copies` a copy of the `at`th run, `back` earlier, under new ids.
    fn copy(&self, at: usize, back: chrono::Duration, copies: &mut Copies) {
        let shift = |t: DateTime<Utc>| t - back;
        let template = &self.runs[at];
        let run = Uuid::new_v4();
        let mut row = template.clone();
        row.id = run;
        row.idempotency_key = None;
        row.created_at = shift(row.created_at);
        row.state_at = shift(row.state_at);
        row.expected_start_at = shift(row.expected_start_at);
        for t in [
            &mut row.started_at,
            &mut row.ended_at,
            &mut row.heartbeat_at,
            &mut row.next_attempt_at,
            &mut row.enqueued_at,
        ] {
            *t = t.map(shift);
        }
        copies.runs.push(row.into_active_model().reset_all());
        for mut state in of(&self.states, template.id) {
            state.at = shift(state.at);
            state.id = time_ordered(state.at);
            state.flow_run_id = run;
            copies.states.push(state.into_active_model().reset_all());
        }
        let mut step_ids = HashMap::new();
        for mut step in of(&self.steps, template.id) {
            let id = Uuid::new_v4();
            step_ids.insert(step.id, id);
            step.id = id;
            step.flow_run_id = run;
            step.started_at = shift(step.started_at);
            step.ended_at = step.ended_at.map(shift);
            copies.steps.push(step.into_active_model().reset_all());
        }
        for mut line in of(&self.logs, template.id) {
            line.flow_run_id = run;
            line.task_run_id = line.task_run_id.and_then(|t| step_ids.get(&t).copied());
            line.at = shift(line.at);
            let mut line = line.into_active_model().reset_all();
            line.id = NotSet;
            copies.logs.push(line);
        }
        for mut artifact in of(&self.artifacts, template.id) {
            artifact.id = Uuid::new_v4();
            artifact.flow_run_id = run;
            artifact.created_at = shift(artifact.created_at);
            copies
                .artifacts
                .push(artifact.into_active_model().reset_all());
        }
        for mut checkpoint in of(&self.checkpoints, template.id) {
            checkpoint.flow_run_id = run;
            checkpoint.written_at = shift(checkpoint.written_at);
            copies
                .checkpoints
                .push(checkpoint.into_active_model().reset_all());
        }
    }
}

/// The rows of the run `id`.
fn of<M: Clone>(rows: &HashMap<Uuid, Vec<M>>, id: Uuid) -> Vec<M> {
    rows.get(&id).cloned().unwrap_or_default()
}

/// A version 7 id of the instant `at`, as the service gives its state history entries.
fn time_ordered(at: DateTime<Utc>) -> Uuid {
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.timestamp() as u64,
        at.timestamp_subsec_nanos(),
    ))
}

/// Rows to write, by table.
#[derive(Default)]
struct Copies {
    runs: Vec<flow_run::ActiveModel>,
    states: Vec<flow_run_state::ActiveModel>,
    steps: Vec<task_run::ActiveModel>,
    logs: Vec<log::ActiveModel>,
    artifacts: Vec<artifact::ActiveModel>,
    checkpoints: Vec<run_checkpoint::ActiveModel>,
}

impl Copies {
    /// Writes them, the runs first; returns how many rows.
    async fn insert(self, db: &DatabaseConnection) -> Result<usize> {
        Ok(insert_all(db, self.runs).await?
            + insert_all(db, self.states).await?
            + insert_all(db, self.steps).await?
            + insert_all(db, self.logs).await?
            + insert_all(db, self.artifacts).await?
            + insert_all(db, self.checkpoints).await?)
    }
}

/// Inserts `rows` in statements of [`ROWS_PER_INSERT`].
async fn insert_all<A>(db: &DatabaseConnection, rows: Vec<A>) -> Result<usize>
where
    A: ActiveModelTrait + Send,
{
    let n = rows.len();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<A> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        A::Entity::insert_many(batch)
            .exec_without_returning(db)
            .await
            .context("inserting the history")?;
    }
    Ok(n)
}
