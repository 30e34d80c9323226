//! The import plan: from what Prefect holds and what exists here, what to create, what exists
//! already and what cannot be mapped (and why). Pure: the caller reads both sides and checks a new
//! schedule the way the API would; idempotent by names and by a schedule's every setting.

use std::collections::HashMap;

use chap_scheduler_api::{ScheduleRequest, ScheduleSource};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::client::{PrefectBlock, Snapshot, MASKED, PREFECT_DEPLOYMENT};
use super::mapping::{self, BlockRefs, Timing};
use crate::blocks::{BlockName, DHIS2_CREDENTIALS};
use crate::db::entities::{deployment, schedule};
use crate::orchestrator::schema;

/// A block here, as the plan compares it.
pub struct OurBlock {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its type's slug.
    pub block_type: String,
    /// Its fields that are not secret.
    pub data: Map<String, Value>,
    /// Its password in clear, when it has one this process can decrypt.
    pub password: Option<SecretString>,
}

/// What exists here.
pub struct Ours {
    /// Every block.
    pub blocks: Vec<OurBlock>,
    /// The default `dhis2-chap-prediction` deployment.
    pub deployment: deployment::Model,
    /// Its schedules.
    pub schedules: Vec<schedule::Model>,
    /// The flow's parameter schema.
    pub parameter_schema: Value,
}

/// A credentials block to create: validated, normalised data with the password in clear.
pub struct NewBlock {
    /// Its name.
    pub name: String,
    data: Map<String, Value>,
}

impl NewBlock {
    /// The data to store (the password in clear: the block store seals it).
    pub fn data(&self) -> Value {
        Value::Object(self.data.clone())
    }
}

/// What becomes of one Prefect block.
pub enum BlockAction {
    /// Created here.
    Create(NewBlock),
    /// A block of that name exists and is left as it is; the fields that differ.
    Exists {
        /// Our block.
        id: Uuid,
        /// Field names whose values differ from Prefect's.
        differs: Vec<String>,
    },
    /// Not imported.
    NotMapped(String),
}

/// One Prefect block in the plan.
pub struct BlockItem {
    /// Its name (in both places).
    pub name: String,
    /// Where it points, for the operator.
    pub summary: String,
    /// What happens.
    pub action: BlockAction,
}

/// What becomes of one parameter default.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultItem {
    /// Set to this value.
    Set(String, Value),
    /// Prefect's is null: removed here.
    Cleared(String),
    /// Already so.
    Unchanged(String),
    /// Not imported, and why.
    NotMapped(String, String),
}

/// The deployment's parameter defaults.
pub struct DefaultsPlan {
    /// One line per Prefect default.
    pub items: Vec<DefaultItem>,
    /// The new defaults, when they change.
    pub new: Option<Value>,
}

/// What becomes of one Prefect schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleAction {
    /// Created here with this request.
    Create(ScheduleRequest),
    /// The same schedule exists here.
    Exists(Uuid),
    /// Not imported, and why.
    NotMapped(String),
}

/// One Prefect schedule in the plan.
pub struct ScheduleItem {
    /// Prefect's id.
    pub prefect_id: Uuid,
    /// How it fires, for the operator.
    pub summary: String,
    /// What happens.
    pub action: ScheduleAction,
    /// Settings without an equivalent here, ignored.
    pub notes: Vec<String>,
}

/// The whole plan.
pub struct Plan {
    /// The Prefect API read.
    pub url: String,
    /// Its version.
    pub version: String,
    /// Our deployment's name.
    pub deployment: String,
    /// One item per Prefect block.
    pub blocks: Vec<BlockItem>,
    /// `None` when Prefect has no prediction deployment.
    pub defaults: Option<DefaultsPlan>,
    /// One item per Prefect schedule.
    pub schedules: Vec<ScheduleItem>,
    /// Everything else worth saying.
    pub notes: Vec<String>,
    /// Block names by our id (placeholders for blocks still to create), to show references.
    pub(super) names: HashMap<String, String>,
}

/// Checks a new schedule as `POST /deployments/{id}/schedules` would, with the deployment's
/// defaults as they will be after the import.
pub type CheckSchedule<'a> = &'a dyn Fn(&Value, &ScheduleRequest) -> Result<(), String>;

fn text_field(block: &PrefectBlock, field: &str) -> Option<String> {
    block
        .fields
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn plan_block(block: &PrefectBlock, ours: &Ours) -> BlockAction {
    let password = block.secrets.get("password");
    let base_url = text_field(block, "base_url").unwrap_or_default();
    let username = text_field(block, "username").unwrap_or_default();
    if let Some(existing) = ours.blocks.iter().find(|b| b.name == block.name) {
        if existing.block_type != DHIS2_CREDENTIALS.slug {
            return BlockAction::NotMapped(format!(
                "a `{}` block named `{}` exists here; rename one of them",
                existing.block_type, block.name
            ));
        }
        let mut differs = Vec::new();
        let normalised = crate::blocks::check_base_url(&base_url).unwrap_or(base_url);
        if existing.data.get("base_url").and_then(Value::as_str) != Some(normalised.as_str()) {
            differs.push("base_url".to_string());
        }
        if existing.data.get("username").and_then(Value::as_str) != Some(username.trim()) {
            differs.push("username".to_string());
        }
        let same_password = match (&existing.password, password) {
            (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
            _ => false,
        };
        if !same_password {
            differs.push("password".to_string());
        }
        return BlockAction::Exists {
            id: existing.id,
            differs,
        };
    }
    if let Err(why) = BlockName::parse(&block.name) {
        return BlockAction::NotMapped(format!("its name {why}"));
    }
    if password.is_some_and(|p| p.expose_secret() == MASKED) {
        return BlockAction::NotMapped(
            "Prefect returned the password masked (`include_secrets` was not honoured)".into(),
        );
    }
    let mut data = Map::new();
    for (field, value) in &block.fields {
        data.insert(field.clone(), value.clone());
    }
    if let Some(p) = password {
        data.insert(
            "password".into(),
            Value::String(p.expose_secret().to_string()),
        );
    }
    match DHIS2_CREDENTIALS.validate(data) {
        Ok(data) => BlockAction::Create(NewBlock {
            name: block.name.trim().to_string(),
            data,
        }),
        Err(errors) => BlockAction::NotMapped(
            errors
                .iter()
                .map(|(field, message)| format!("{field}: {message}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

fn plan_defaults(
    prefect: &Map<String, Value>,
    ours: &Ours,
    refs: &BlockRefs,
) -> (DefaultsPlan, Value) {
    let current = ours
        .deployment
        .parameters
        .as_object()
        .cloned()
        .unwrap_or_default();
    let known = ours.parameter_schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut next = current.clone();
    let mut items = Vec::new();
    for (key, value) in prefect {
        if !known.contains_key(key) {
            items.push(DefaultItem::NotMapped(
                key.clone(),
                format!("not a parameter of the flow `{}` here", PREFECT_DEPLOYMENT),
            ));
            continue;
        }
        let value = match mapping::translate(value, refs) {
            Ok(v) => v,
            Err(why) => {
                items.push(DefaultItem::NotMapped(key.clone(), why));
                continue;
            }
        };
        // An absent default is null for every parameter of the flow.
        if value.is_null() {
            items.push(match next.remove(key) {
                Some(_) => DefaultItem::Cleared(key.clone()),
                None => DefaultItem::Unchanged(key.clone()),
            });
            continue;
        }
        let one = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        let errors = schema::validate(&ours.parameter_schema, &one, true);
        if let Some((field, message)) = errors.into_iter().next() {
            items.push(DefaultItem::NotMapped(
                key.clone(),
                format!("{field}: {message}"),
            ));
            continue;
        }
        items.push(if current.get(key) == Some(&value) {
            DefaultItem::Unchanged(key.clone())
        } else {
            DefaultItem::Set(key.clone(), value.clone())
        });
        next.insert(key.clone(), value);
    }
    let next = Value::Object(next);
    let errors = schema::validate(&ours.parameter_schema, &next, true);
    if let Some((field, message)) = errors.into_iter().next() {
        // Valid one by one, not together: keep ours.
        let why = format!("together they are invalid here ({field}: {message})");
        let items = prefect
            .keys()
            .map(|k| DefaultItem::NotMapped(k.clone(), why.clone()))
            .collect();
        return (
            DefaultsPlan { items, new: None },
            ours.deployment.parameters.clone(),
        );
    }
    let new = (next != ours.deployment.parameters).then(|| next.clone());
    (DefaultsPlan { items, new }, next)
}

/// Whether an existing schedule is the one a Prefect schedule becomes.
fn same_schedule(s: &schedule::Model, timing: &Timing, active: bool, parameters: &Value) -> bool {
    let timing_matches = match timing {
        Timing::Cron { cron, timezone } => {
            s.cron.as_deref() == Some(cron.as_str())
                && s.interval_seconds.is_none()
                && s.timezone == *timezone
        }
        Timing::Interval {
            seconds,
            anchor,
            timezone,
        } => {
            s.cron.is_none()
                && s.interval_seconds == i64::try_from(*seconds).ok()
                && s.anchor_at.timestamp_micros() == anchor.timestamp_micros()
                && s.timezone == *timezone
        }
    };
    s.source == ScheduleSource::Own
        && timing_matches
        && s.active == active
        && s.parameters == *parameters
}

fn request(timing: &Timing, active: bool, parameters: Value) -> ScheduleRequest {
    let mut req = ScheduleRequest {
        active: Some(active),
        parameters: Some(parameters),
        ..ScheduleRequest::default()
    };
    match timing {
        Timing::Cron { cron, timezone } => {
            req.cron = Some(cron.clone());
            req.timezone = Some(timezone.clone());
        }
        Timing::Interval {
            seconds,
            anchor,
            timezone,
        } => {
            req.interval_seconds = Some(*seconds);
            req.anchor_at = Some(*anchor);
            req.timezone = Some(timezone.clone());
        }
    }
    req
}

/// Builds the plan. Blocks still to create get placeholder ids, so references to them are checked
/// like any other (and never match an existing schedule).
pub fn plan(snapshot: &Snapshot, ours: &Ours, check: CheckSchedule<'_>) -> Plan {
    let mut refs = BlockRefs::default();
    let mut names = HashMap::new();
    let mut blocks = Vec::new();
    for block in &snapshot.blocks {
        let action = plan_block(block, ours);
        let target = match &action {
            BlockAction::Create(_) => Ok(Uuid::new_v4()),
            BlockAction::Exists { id, .. } => Ok(*id),
            BlockAction::NotMapped(_) => Err(format!(
                "it refers to the Prefect block `{}`, which is not imported",
                block.name
            )),
        };
        if let Ok(id) = &target {
            names.insert(id.to_string(), block.name.clone());
        }
        refs.insert(block.id, target);
        // What will be stored: the base URL normalised.
        let base_url = match &action {
            BlockAction::Create(new) => new
                .data
                .get("base_url")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        let summary = format!(
            "{} as {}",
            base_url
                .or_else(|| text_field(block, "base_url"))
                .unwrap_or_else(|| "(no base_url)".into()),
            text_field(block, "username").unwrap_or_else(|| "(no username)".into())
        );
        blocks.push(BlockItem {
            name: block.name.clone(),
            summary,
            action,
        });
    }
    let mut notes = Vec::new();
    let mut schedules = Vec::new();
    let defaults = match &snapshot.deployment {
        None => {
            notes.push(format!(
                "Prefect has no deployment `{PREFECT_DEPLOYMENT}` of the flow `{PREFECT_DEPLOYMENT}`: \
                 no parameter defaults or schedules to import"
            ));
            None
        }
        Some(dep) => {
            if dep.paused {
                notes.push(format!(
                    "the Prefect deployment is paused; `{}` here is not: pause it here if it should stay quiet",
                    ours.deployment.name
                ));
            }
            let (defaults, next) = plan_defaults(&dep.parameters, ours, &refs);
            let mut planned = Vec::new();
            for s in &dep.schedules {
                let item = plan_schedule(s, ours, &refs, &next, &planned, check);
                if let ScheduleAction::Create(req) = &item.action {
                    planned.push(req.clone());
                }
                schedules.push(item);
            }
            Some(defaults)
        }
    };
    if !snapshot.other_deployments.is_empty() {
        notes.push(format!(
            "other Prefect deployments are not imported: {}",
            snapshot.other_deployments.join(", ")
        ));
    }
    Plan {
        url: snapshot.url.clone(),
        version: snapshot.version.clone(),
        deployment: ours.deployment.name.clone(),
        blocks,
        defaults,
        schedules,
        notes,
        names,
    }
}

fn plan_schedule(
    s: &super::client::PrefectSchedule,
    ours: &Ours,
    refs: &BlockRefs,
    defaults: &Value,
    planned: &[ScheduleRequest],
    check: CheckSchedule<'_>,
) -> ScheduleItem {
    let mut notes = Vec::new();
    if let Some(n) = s.max_scheduled_runs {
        notes.push(format!(
            "max_scheduled_runs {n} has no equivalent here (runs are created when due)"
        ));
    }
    let item = |summary: String, action| ScheduleItem {
        prefect_id: s.id,
        summary,
        action,
        notes: notes.clone(),
    };
    let timing = match mapping::timing(&s.schedule) {
        Ok(t) => t,
        Err(why) => {
            return item(
                mapping::describe(&s.schedule),
                ScheduleAction::NotMapped(why),
            )
        }
    };
    let summary = timing.to_string();
    let parameters = match mapping::translate_all(&s.parameters, refs) {
        Ok(p) => Value::Object(p),
        Err(failed) => {
            let why = failed
                .iter()
                .map(|(key, why)| format!("parameter `{key}`: {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            return item(summary, ScheduleAction::NotMapped(why));
        }
    };
    if let Some(existing) = ours
        .schedules
        .iter()
        .find(|e| same_schedule(e, &timing, s.active, &parameters))
    {
        return item(summary, ScheduleAction::Exists(existing.id));
    }
    let req = request(&timing, s.active, parameters);
    if planned.contains(&req) {
        return item(
            summary,
            ScheduleAction::NotMapped("the same as a schedule above".into()),
        );
    }
    match check(defaults, &req) {
        Ok(()) => item(summary, ScheduleAction::Create(req)),
        Err(why) => item(summary, ScheduleAction::NotMapped(why)),
    }
}

/// Counts of a plan, for its last line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Blocks to create.
    pub blocks_create: usize,
    /// Blocks that exist.
    pub blocks_exist: usize,
    /// Blocks not imported.
    pub blocks_not_mapped: usize,
    /// Whether the defaults change.
    pub defaults_change: bool,
    /// Schedules to create.
    pub schedules_create: usize,
    /// Schedules that exist.
    pub schedules_exist: usize,
    /// Schedules not imported.
    pub schedules_not_mapped: usize,
}

impl Plan {
    /// How many of each.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for b in &self.blocks {
            match b.action {
                BlockAction::Create(_) => c.blocks_create += 1,
                BlockAction::Exists { .. } => c.blocks_exist += 1,
                BlockAction::NotMapped(_) => c.blocks_not_mapped += 1,
            }
        }
        c.defaults_change = self.defaults.as_ref().is_some_and(|d| d.new.is_some());
        for s in &self.schedules {
            match s.action {
                ScheduleAction::Create(_) => c.schedules_create += 1,
                ScheduleAction::Exists(_) => c.schedules_exist += 1,
                ScheduleAction::NotMapped(_) => c.schedules_not_mapped += 1,
            }
        }
        c
    }

    /// Whether applying changes anything.
    pub fn changes_something(&self) -> bool {
        let c = self.counts();
        c.blocks_create > 0 || c.defaults_change || c.schedules_create > 0
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
