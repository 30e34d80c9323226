//! Applying a plan through the owners (block store, deployments, schedules), each write audited
//! as the API audits it, with the actor `import-prefect`.

use anyhow::Context;
use chap_scheduler_api::{CreateBlockRequest, UpdateDeploymentRequest};
use serde_json::json;

use super::plan::{BlockAction, Plan, ScheduleAction};
use super::{Here, Snapshot};
use crate::blocks::DHIS2_CREDENTIALS;
use crate::db::audit::{self, Actor};
use crate::orchestrator::{deployments, schedules};

/// Who the audit log says did it.
pub const ACTOR: &str = "import-prefect";

fn actor() -> Actor {
    Actor {
        id: None,
        name: Some(ACTOR.into()),
        ip: None,
    }
}

/// What an import changed.
#[derive(Debug, Default)]
pub struct Done {
    blocks: usize,
    defaults: Option<String>,
    schedules: usize,
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "imported: {} block(s) created", self.blocks)?;
        if let Some(deployment) = &self.defaults {
            write!(f, ", the parameter defaults of `{deployment}` updated")?;
        }
        write!(f, ", {} schedule(s) created", self.schedules)
    }
}

/// Creates the blocks, then plans again (the new blocks' ids are known now) and applies the
/// defaults and the schedules of that plan.
pub(super) async fn apply(here: &Here, snapshot: &Snapshot, plan: &Plan) -> anyhow::Result<Done> {
    let db = here.engine.db();
    let from = json!(snapshot.url);
    let mut done = Done::default();
    for item in &plan.blocks {
        let BlockAction::Create(new) = &item.action else {
            continue;
        };
        let block = here
            .blocks
            .create(CreateBlockRequest {
                name: new.name.clone(),
                block_type: DHIS2_CREDENTIALS.slug.into(),
                data: new.data(),
            })
            .await
            .with_context(|| format!("creating the block `{}`", new.name))?;
        audit::record(
            db,
            &actor(),
            "block.created",
            Some(format!("block:{}", block.id)),
            json!({ "name": block.name, "block_type": block.block_type, "imported_from": from }),
        )
        .await?;
        done.blocks += 1;
    }
    let plan = here.plan(snapshot).await?;
    let mut dep = here.deployment().await?;
    if let Some(new) = plan.defaults.as_ref().and_then(|d| d.new.clone()) {
        let change = UpdateDeploymentRequest {
            parameters: Some(new),
            ..UpdateDeploymentRequest::default()
        };
        let mut detail = serde_json::to_value(&change)?;
        detail["imported_from"] = from.clone();
        dep = deployments::update(db, here.engine.registry(), dep.id, change)
            .await
            .with_context(|| format!("setting the parameter defaults of `{}`", dep.name))?;
        audit::record(
            db,
            &actor(),
            "deployment.updated",
            Some(format!("deployment:{}", dep.id)),
            detail,
        )
        .await?;
        done.defaults = Some(dep.name.clone());
    }
    for item in &plan.schedules {
        let ScheduleAction::Create(req) = &item.action else {
            continue;
        };
        let s = schedules::create(&here.engine, &dep, req.clone())
            .await
            .with_context(|| format!("creating the schedule {}", item.summary))?;
        audit::record(
            db,
            &actor(),
            "schedule.created",
            Some(format!("schedule:{}", s.id)),
            json!({
                "deployment": dep.name, "source": s.source, "cron": s.cron,
                "interval_seconds": s.interval_seconds, "fallback_cron": s.fallback_cron,
                "timezone": s.timezone, "imported_from": from,
                "prefect_schedule": item.prefect_id,
            }),
        )
        .await?;
        done.schedules += 1;
    }
    Ok(done)
}
