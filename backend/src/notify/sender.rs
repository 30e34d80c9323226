//! The background sender: takes due deliveries (a few at a time, each in a task of its own, so a slow
//! or dead receiver delays nothing else, and never a run), sends them through their rule's channel,
//! and retries failures with exponential backoff for 24 hours.

use std::sync::Arc;
use std::time::Duration;

use chap_scheduler_api::{ArtifactKind, NotificationEvent};
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::deliveries::{self, Outcome};
use super::payload::{RunEvent, ScheduleEvent};
use super::{rules, smtp, webhook, Notifier};
use crate::db::entities::{flow_run, notification_delivery, notification_rule};
use crate::db::users::now;
use crate::orchestrator::{deployments, schedules, store};
use crate::telemetry::repeats::{Level, Repeats};

/// Deliveries sent at once.
const PARALLEL: usize = 8;
/// How long a taken delivery is left to its sender before another may take it.
const IN_FLIGHT: chrono::Duration = chrono::Duration::seconds(120);
/// How long a delivery is retried.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// Why an attempt failed, and whether another could succeed.
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

impl SendError {
    fn retry(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: false,
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// When the next attempt is due after `attempts` failed ones (`base × 2^(attempts-1)`, at most an
/// hour), or `None` when the delivery has been retried for 24 hours.
pub fn next_attempt(
    base: Duration,
    attempts: i32,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let factor = 2f64.powi((attempts - 1).clamp(0, 30));
    let delay = (base.as_secs_f64() * factor).min(3600.0);
    let next = now + chrono::Duration::milliseconds((delay * 1000.0) as i64);
    (next <= created_at + GIVE_UP_AFTER).then_some(next)
}

impl Notifier {
    /// The sender loop of `serve`. Runs forever.
    pub async fn run(self) {
        let slots = Arc::new(Semaphore::new(PARALLEL));
        let mut tasks = JoinSet::new();
        let mut failures = Repeats::new("taking notification deliveries failed", Level::Error);
        loop {
            failures.record(&self.pass(&slots, &mut tasks).await);
            while tasks.try_join_next().is_some() {}
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn pass(&self, slots: &Arc<Semaphore>, tasks: &mut JoinSet<()>) -> anyhow::Result<()> {
        let free = slots.available_permits();
        if free == 0 {
            return Ok(());
        }
        let now = now();
        for d in deliveries::due(&self.db, now, free as u64).await? {
            if !deliveries::claim(&self.db, &d, now + IN_FLIGHT).await? {
                continue;
            }
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return Ok(());
            };
            let this = self.clone();
            tasks.spawn(async move {
                this.deliver(d).await;
                drop(permit);
            });
        }
        Ok(())
    }

    /// One attempt of a delivery, and its outcome recorded.
    async fn deliver(&self, d: notification_delivery::Model) {
        let attempts = d.attempts + 1;
        let result = self.send(&d).await;
        let now = now();
        let outcome = match result {
            Ok(answer) => {
                tracing::info!(delivery = %d.id, event = d.event.as_str(), %answer, "notification sent");
                Outcome::Sent
            }
            Err(e) if e.permanent => Outcome::Failed(e.message),
            Err(e) => match next_attempt(self.settings.retry_base, attempts, d.created_at, now) {
                Some(next) => Outcome::Retry(next, e.message),
                None => Outcome::Failed(format!("gave up after 24 hours: {}", e.message)),
            },
        };
        crate::observe::delivery(
            d.event.as_str(),
            match &outcome {
                Outcome::Sent => "sent",
                Outcome::Retry(..) => "retrying",
                Outcome::Failed(_) => "failed",
            },
        );
        if let Outcome::Retry(_, message) | Outcome::Failed(message) = &outcome {
            tracing::warn!(delivery = %d.id, attempts, error = %message, "a notification was not delivered");
        }
        if let Err(e) = deliveries::record(&self.db, d.id, attempts, outcome, now).await {
            tracing::error!(delivery = %d.id, error = %e, "recording a notification attempt failed");
        }
    }

    async fn send(&self, d: &notification_delivery::Model) -> Result<String, SendError> {
        let rule = rules::get(&self.db, d.rule_id)
            .await
            .map_err(|e| SendError::permanent(e.to_string()))?;
        let message = match d.run_id {
            Some(id) => {
                let run = store::get(&self.db, id)
                    .await
                    .map_err(|e| SendError::retry(format!("reading the run failed: {e}")))?
                    .ok_or_else(|| {
                        SendError::permanent(format!("the run {id} no longer exists"))
                    })?;
                let report = self.report(run.id).await;
                self.run_message(d.event, d.occurred_at, &run, report)
            }
            None => self.schedule_message(d).await?,
        };
        self.dispatch(&rule, &message, d.id).await
    }

    async fn schedule_message(
        &self,
        d: &notification_delivery::Model,
    ) -> Result<Message, SendError> {
        let id = d
            .schedule_id
            .ok_or_else(|| SendError::permanent("the event names no run and no schedule"))?;
        let s = schedules::get(&self.db, id)
            .await
            .map_err(|_| SendError::permanent(format!("the schedule {id} no longer exists")))?;
        let deployment = deployments::get(&self.db, s.deployment_id)
            .await
            .map(|dep| dep.name)
            .unwrap_or_else(|_| "(deleted deployment)".into());
        let detail = d.detail.clone().unwrap_or(serde_json::Value::Null);
        let event = ScheduleEvent {
            event: d.event,
            occurred_at: d.occurred_at,
            schedule_id: s.id,
            deployment: &deployment,
            deployment_id: s.deployment_id,
            slot: d.slot,
            detail: &detail,
            public_url: self.settings.public_url.as_deref(),
        };
        Ok(Message {
            event: d.event,
            json: event.json(),
            text: event.text(),
            headline: event.headline(),
            report: None,
        })
    }

    /// The run's markdown report, for e-mails.
    async fn report(&self, run_id: Uuid) -> Option<String> {
        store::list_artifacts(&self.db, run_id, "")
            .await
            .ok()?
            .into_iter()
            .find(|a| a.kind == ArtifactKind::Markdown)
            .map(|a| a.content)
    }

    /// What is said about a run.
    pub fn run_message(
        &self,
        event: NotificationEvent,
        occurred_at: DateTime<Utc>,
        run: &flow_run::Model,
        report: Option<String>,
    ) -> Message {
        let event = RunEvent {
            event,
            occurred_at,
            run,
            schedule: run.schedule_id.map(|s| s.to_string()),
            public_url: self.settings.public_url.as_deref(),
        };
        Message {
            event: event.event,
            json: event.json(),
            text: event.text(),
            headline: event.headline(),
            report,
        }
    }

    /// Sends a message through the rule's channel (also the rule's "Send test").
    pub async fn dispatch(
        &self,
        rule: &notification_rule::Model,
        message: &Message,
        delivery: Uuid,
    ) -> Result<String, SendError> {
        let channel = match self.blocks.open(rule.channel_id).await {
            Ok(Some(Ok(block))) => block,
            Ok(Some(Err(e))) => return Err(SendError::retry(e.to_string())),
            Ok(None) => {
                return Err(SendError::permanent(
                    "the rule's channel block no longer exists",
                ))
            }
            Err(e) => return Err(SendError::retry(format!("reading the channel failed: {e}"))),
        };
        let field = |name: &str| {
            channel
                .data
                .get(name)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
        };
        match channel.block_type.as_str() {
            "webhook" => {
                let url =
                    field("url").ok_or_else(|| SendError::permanent("the webhook has no URL"))?;
                webhook::post(
                    &self.client,
                    webhook::Post {
                        url,
                        format: field("format").unwrap_or("json"),
                        signing_secret: field("signing_secret"),
                        event: &message.json,
                        event_name: message.event.as_str(),
                        text: &message.text,
                        delivery,
                    },
                )
                .await
                .map_err(SendError::retry)
            }
            "smtp" => {
                let recipients = rules::recipients_of(rule);
                let subject = format!("[chap-scheduler] {}", message.headline);
                let report = message.report.clone().unwrap_or_default();
                let mail = smtp::Mail {
                    to: &recipients,
                    subject: &subject,
                    text: format!("{}\n\n{report}", message.text),
                    html: format!(
                        "<p>{}</p>\n{}",
                        html_escape(&message.text).replace('\n', "<br>"),
                        // The report's links to the UI, absolute when its address is known.
                        chap_scheduler_api::markdown::render_with_base(
                            &report,
                            self.settings.public_url.as_deref().unwrap_or_default(),
                        )
                    ),
                };
                smtp::send(&channel, mail).await.map_err(SendError::retry)
            }
            other => Err(SendError::permanent(format!(
                "the rule's channel is a {other} block, not a webhook or smtp block"
            ))),
        }
    }
}

/// What a delivery says, in every form a channel needs.
pub struct Message {
    pub event: NotificationEvent,
    /// The JSON payload (webhooks in `json` format).
    pub json: serde_json::Value,
    /// A short text (Slack, Teams, the e-mail's first lines).
    pub text: String,
    /// The e-mail subject after `[chap-scheduler] `.
    pub headline: String,
    /// The run report (markdown), for e-mails.
    pub report: Option<String>,
}

/// Escapes text for HTML.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_and_stop_after_a_day() {
        let created = now();
        let base = Duration::from_secs(30);
        let after = |attempts, at| {
            next_attempt(base, attempts, created, at).map(|n| (n - at).num_seconds())
        };
        assert_eq!(after(1, created), Some(30));
        assert_eq!(after(2, created), Some(60));
        assert_eq!(after(5, created), Some(480));
        assert_eq!(after(20, created), Some(3600), "at most an hour apart");
        let late = created + chrono::Duration::hours(23) + chrono::Duration::minutes(59);
        assert_eq!(after(3, late), None, "past 24 hours: given up");
    }

    #[test]
    fn text_in_the_e_mail_is_escaped() {
        assert_eq!(html_escape("<b>&\"</b>"), "&lt;b&gt;&amp;&quot;&lt;/b&gt;");
    }
}
