//! The plan as the command prints it: one line per item, the action first, never a secret.

use chap_scheduler_api::ScheduleRequest;
use serde_json::Value;

use super::client::{PREFECT_BLOCK_TYPE, PREFECT_DEPLOYMENT};
use super::plan::{BlockAction, DefaultItem, Plan, ScheduleAction};
use crate::blocks::DHIS2_CREDENTIALS;

impl Plan {
    /// A value for people: our block ids shown as the block's name.
    fn show(&self, value: &Value) -> String {
        match value.as_str().and_then(|s| self.names.get(s)) {
            Some(name) => format!("block `{name}`"),
            None => value.to_string(),
        }
    }

    fn show_parameters(&self, parameters: &Value) -> String {
        let shown: Vec<String> = parameters
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}: {}", self.show(v)))
            .collect();
        shown.join(", ")
    }

    /// The plan as printed: one line per item, `create`, `exists`, `set`, `unchanged`, `cleared`
    /// or `not mapped` first. Never a secret.
    pub fn render(&self) -> String {
        let mut out = format!("Prefect {} at {}\n", self.version, self.url);
        out.push_str(&format!(
            "\nblocks (Prefect `{PREFECT_BLOCK_TYPE}` → `{}`):\n",
            DHIS2_CREDENTIALS.slug
        ));
        if self.blocks.is_empty() {
            out.push_str("  (none in Prefect)\n");
        }
        for b in &self.blocks {
            let line = match &b.action {
                BlockAction::Create(_) => format!("create      {}: {}", b.name, b.summary),
                BlockAction::Exists { differs, .. } if differs.is_empty() => {
                    format!("exists      {}: the same here", b.name)
                }
                BlockAction::Exists { differs, .. } => format!(
                    "exists      {}: left as it is (differs from Prefect's: {})",
                    b.name,
                    differs.join(", ")
                ),
                BlockAction::NotMapped(why) => format!("not mapped  {}: {why}", b.name),
            };
            out.push_str(&format!("  {line}\n"));
        }
        if let Some(defaults) = &self.defaults {
            out.push_str(&format!("\nparameter defaults of `{}`:\n", self.deployment));
            if defaults.items.is_empty() {
                out.push_str("  (none in Prefect)\n");
            }
            for item in &defaults.items {
                let line = match item {
                    DefaultItem::Set(k, v) => format!("set         {k}: {}", self.show(v)),
                    DefaultItem::Cleared(k) => format!("cleared     {k} (null in Prefect)"),
                    DefaultItem::Unchanged(k) => format!("unchanged   {k}"),
                    DefaultItem::NotMapped(k, why) => format!("not mapped  {k}: {why}"),
                };
                out.push_str(&format!("  {line}\n"));
            }
            out.push_str(&format!(
                "\nschedules (Prefect deployment `{PREFECT_DEPLOYMENT}` → `{}`):\n",
                self.deployment
            ));
            if self.schedules.is_empty() {
                out.push_str("  (none in Prefect)\n");
            }
        }
        for s in &self.schedules {
            let detail = |req: &ScheduleRequest| {
                let mut d = format!(
                    "{}, {}",
                    s.summary,
                    if req.active == Some(false) {
                        "inactive"
                    } else {
                        "active"
                    }
                );
                let params = req
                    .parameters
                    .as_ref()
                    .map(|p| self.show_parameters(p))
                    .unwrap_or_default();
                if !params.is_empty() {
                    d.push_str(&format!(", parameters {{{params}}}"));
                }
                d
            };
            let line = match &s.action {
                ScheduleAction::Create(req) => format!("create      {}", detail(req)),
                ScheduleAction::Exists(id) => format!("exists      {} (schedule {id})", s.summary),
                ScheduleAction::NotMapped(why) => format!("not mapped  {}: {why}", s.summary),
            };
            out.push_str(&format!("  {line}\n"));
            for note in &s.notes {
                out.push_str(&format!("              note: {note}\n"));
            }
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                out.push_str(&format!("note: {note}\n"));
            }
        }
        let c = self.counts();
        out.push_str(&format!(
            "\nplan: blocks {} to create, {} existing, {} not mapped; defaults {}; schedules {} to \
             create, {} existing, {} not mapped\n",
            c.blocks_create,
            c.blocks_exist,
            c.blocks_not_mapped,
            if c.defaults_change {
                "to update"
            } else {
                "unchanged"
            },
            c.schedules_create,
            c.schedules_exist,
            c.schedules_not_mapped
        ));
        out
    }
}
