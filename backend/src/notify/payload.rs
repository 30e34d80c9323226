//! What a delivery says: the event as JSON (webhooks in `json` format), a one-line text (Slack,
//! Teams, the e-mail subject) and, for e-mail, the run report. Never a secret: run texts were redacted
//! when the run wrote them, and no parameter is included.

use chap_scheduler_api::NotificationEvent;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::db::entities::flow_run;

/// The event about a run.
pub struct RunEvent<'a> {
    pub event: NotificationEvent,
    pub occurred_at: DateTime<Utc>,
    pub run: &'a flow_run::Model,
    /// The schedule's id, when a schedule created the run.
    pub schedule: Option<String>,
    /// `CHAP_SCHEDULER_PUBLIC_URL`, without a trailing slash.
    pub public_url: Option<&'a str>,
}

impl RunEvent<'_> {
    /// The run's page, when the public URL is known.
    pub fn url(&self) -> Option<String> {
        self.public_url
            .map(|base| format!("{base}/runs/{}", self.run.id))
    }

    fn count(&self, key: &str) -> u64 {
        self.run
            .summary
            .as_ref()
            .and_then(|s| s.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    /// The JSON payload.
    pub fn json(&self) -> Value {
        let setups: Vec<Value> = self
            .run
            .summary
            .as_ref()
            .and_then(|s| s.get("setups"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|s| {
                        json!({
                            "name": s.get("name"),
                            "status": s.get("status"),
                            "step_failed": s.get("step_failed"),
                            "error": s.get("error"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut run = json!({
            "id": self.run.id,
            "state": self.run.state,
            "state_message": self.run.state_message,
            "deployment": self.run.deployment_name,
            "schedule": self.schedule,
            "started_at": self.run.started_at,
            "ended_at": self.run.ended_at,
            "attempt": self.run.attempt,
        });
        if let Some(url) = self.url() {
            run["url"] = json!(url);
        }
        json!({
            "event": self.event,
            "occurred_at": self.occurred_at,
            "run": run,
            "summary": {
                "succeeded": self.count("succeeded"),
                "failed": self.count("failed"),
                "skipped": self.count("skipped"),
                "setups": setups,
            },
        })
    }

    /// `<deployment>: <state> (<n> succeeded, <n> failed)`: the e-mail subject after its prefix.
    pub fn headline(&self) -> String {
        format!(
            "{}: {} ({} succeeded, {} failed)",
            self.run.deployment_name,
            self.run.state.as_str(),
            self.count("succeeded"),
            self.count("failed")
        )
    }

    /// A short text for chat: the headline, the reason and the link.
    pub fn text(&self) -> String {
        let mut text = format!(
            "chap-scheduler {}: {}",
            self.event.as_str(),
            self.headline()
        );
        if let Some(message) = self.run.state_message.as_deref().filter(|m| !m.is_empty()) {
            let short: String = message.chars().take(300).collect();
            text.push_str(&format!(" — {short}"));
        }
        match self.url() {
            Some(url) => text.push_str(&format!("\n{url}")),
            None => text.push_str(&format!("\nrun {}", self.run.id)),
        }
        text
    }
}

/// The event about a schedule (`schedule.late`, `schedule.paused`).
pub struct ScheduleEvent<'a> {
    pub event: NotificationEvent,
    pub occurred_at: DateTime<Utc>,
    pub schedule_id: uuid::Uuid,
    pub deployment: &'a str,
    pub deployment_id: uuid::Uuid,
    /// The slot (`schedule.late`).
    pub slot: Option<DateTime<Utc>>,
    /// The event's own details, as stored with the delivery.
    pub detail: &'a Value,
    pub public_url: Option<&'a str>,
}

impl ScheduleEvent<'_> {
    fn setup_name(&self) -> Option<&str> {
        self.detail.get("setup_name").and_then(Value::as_str)
    }

    /// The JSON payload.
    pub fn json(&self) -> Value {
        let mut schedule = json!({
            "id": self.schedule_id,
            "deployment": self.deployment,
        });
        if let Some(slot) = self.slot {
            schedule["slot"] = json!(slot);
        }
        for key in [
            "setup_id",
            "setup_name",
            "deadline",
            "ready_by_minutes",
            "reason",
            "failures",
        ] {
            if let Some(v) = self.detail.get(key) {
                schedule[key] = v.clone();
            }
        }
        let run =
            self.detail
                .get("run_id")
                .and_then(Value::as_str)
                .map(|id| match self.public_url {
                    Some(base) => json!({ "id": id, "url": format!("{base}/runs/{id}") }),
                    None => json!({ "id": id }),
                });
        json!({
            "event": self.event,
            "occurred_at": self.occurred_at,
            "schedule": schedule,
            "run": run,
        })
    }

    /// The e-mail subject after its prefix.
    pub fn headline(&self) -> String {
        match self.event {
            NotificationEvent::SchedulePaused => format!("{}: schedule paused", self.deployment),
            _ => {
                let slot = self.slot.map(|s| s.to_rfc3339()).unwrap_or_default();
                match self.setup_name() {
                    Some(setup) => format!("{}: LATE ({setup}, slot {slot})", self.deployment),
                    None => format!("{}: LATE (slot {slot})", self.deployment),
                }
            }
        }
    }

    /// A short text for chat and the e-mail body.
    pub fn text(&self) -> String {
        let what = match self.event {
            NotificationEvent::SchedulePaused => self
                .detail
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("paused")
                .to_string(),
            _ => {
                let minutes = self
                    .detail
                    .get("ready_by_minutes")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                format!("no COMPLETED run {minutes} min after the slot")
            }
        };
        let link = self
            .public_url
            .map(|base| format!("\n{base}/deployments/{}", self.deployment_id))
            .unwrap_or_default();
        format!(
            "chap-scheduler {}: {} — {what}{link}",
            self.event.as_str(),
            self.headline()
        )
    }
}
