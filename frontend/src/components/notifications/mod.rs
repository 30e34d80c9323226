//! `/notifications`: the rules that send events about runs and schedules through a channel (a
//! webhook or SMTP block of the credentials page). Operators read the rules and their deliveries;
//! admins create, edit, test and delete them, and are warned when notifications cannot link to runs.
//!
//! - [`card`]: one rule, its actions and its deliveries; [`form`]: the create / edit form, and
//!   [`request`]: what it sends, checked;
//! - [`deliveries`]: the deliveries table, of a rule here and of a run on the run page.

use chap_scheduler_api::{NotificationEvent, NotificationRuleView, Role};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::components::schedules::describe_timing;
use crate::components::shell::use_current_user;
use crate::components::{set_document_title, LoadingNotice};
use crate::paths::app_path;

mod card;
mod deliveries;
mod form;
mod request;

pub use deliveries::RunDeliveries;

use card::RuleCard;
use form::RuleForm;

/// A block a rule can send through.
#[derive(Debug, Clone, PartialEq)]
struct Channel {
    id: Uuid,
    name: String,
    /// `webhook` or `smtp`.
    kind: String,
}

/// A schedule as the scope picker offers it.
#[derive(Debug, Clone, PartialEq)]
struct ScheduleChoice {
    id: Uuid,
    deployment_id: Uuid,
    /// `Weekly forecast — Cron 0 6 * * 1 (UTC)`.
    label: String,
}

/// What the rules name by id: channels, deployments and schedules.
#[derive(Debug, Clone, Default, PartialEq)]
struct Lookups {
    channels: Vec<Channel>,
    deployments: Vec<(Uuid, String)>,
    schedules: Vec<ScheduleChoice>,
}

/// The block types a rule can send through.
const CHANNEL_KINDS: [&str; 2] = ["webhook", "smtp"];

/// `Webhook`, `SMTP server`.
fn channel_kind_label(kind: &str) -> &str {
    match kind {
        "webhook" => "Webhook",
        "smtp" => "SMTP server",
        other => other,
    }
}

/// A short name of an event.
fn event_title(event: NotificationEvent) -> &'static str {
    match event {
        NotificationEvent::RunFailed => "Run failed",
        NotificationEvent::RunPartial => "Run partly failed",
        NotificationEvent::RunCompleted => "Run completed",
        NotificationEvent::ScheduleLate => "Schedule late",
        NotificationEvent::SchedulePaused => "Schedule paused",
    }
}

/// When an event happens, in a sentence.
fn event_help(event: NotificationEvent) -> &'static str {
    match event {
        NotificationEvent::RunFailed => "A run ended failed, or crashed after its last attempt.",
        NotificationEvent::RunPartial => {
            "A run completed, but at least one of its prediction setups failed."
        }
        NotificationEvent::RunCompleted => "A run completed and nothing in it failed.",
        NotificationEvent::ScheduleLate => {
            "A slot had no completed run by its schedule's \"Ready by\" deadline."
        }
        NotificationEvent::SchedulePaused => {
            "A schedule paused itself after its \"Pause after\" count of failed runs in a row."
        }
    }
}

/// The channel of a rule: `ops hook (Webhook)`, or that it is gone.
fn channel_text(rule: &NotificationRuleView) -> String {
    match (&rule.channel_name, &rule.channel_type) {
        (Some(name), Some(kind)) => format!("{name} ({})", channel_kind_label(kind)),
        (Some(name), None) => name.clone(),
        _ => "deleted: this rule sends nothing until it gets another channel".to_owned(),
    }
}

/// Which runs and slots a rule is about.
fn scope_text(rule: &NotificationRuleView, lookups: &Lookups) -> String {
    let deployment = |id: Uuid| {
        lookups
            .deployments
            .iter()
            .find(|(d, _)| *d == id)
            .map_or_else(|| format!("deployment {id}"), |(_, name)| name.clone())
    };
    match (rule.schedule_id, rule.deployment_id) {
        (Some(id), _) => lookups.schedules.iter().find(|s| s.id == id).map_or_else(
            || format!("Schedule {id}"),
            |s| format!("Schedule {}", s.label),
        ),
        (None, Some(id)) => format!("Deployment {}", deployment(id)),
        (None, None) => "All deployments".to_owned(),
    }
}

/// Channels, deployments and schedules, read together.
async fn load_lookups() -> Result<Lookups, ApiError> {
    let (blocks, deployments, schedules) = futures::join!(
        api::list_blocks(),
        api::list_deployments(),
        api::list_all_schedules()
    );
    let deployments: Vec<(Uuid, String)> =
        deployments?.into_iter().map(|d| (d.id, d.name)).collect();
    let schedules = schedules?
        .into_iter()
        .map(|s| {
            let owner = deployments
                .iter()
                .find(|(id, _)| *id == s.deployment_id)
                .map_or("?", |(_, name)| name.as_str());
            ScheduleChoice {
                id: s.id,
                deployment_id: s.deployment_id,
                label: format!("{owner} — {} ({})", describe_timing(&s), s.timezone),
            }
        })
        .collect();
    let channels = blocks?
        .into_iter()
        .filter(|b| CHANNEL_KINDS.contains(&b.block_type.as_str()))
        .map(|b| Channel {
            id: b.id,
            name: b.name,
            kind: b.block_type,
        })
        .collect();
    Ok(Lookups {
        channels,
        deployments,
        schedules,
    })
}

/// What the form is doing.
#[derive(Debug, Clone, PartialEq)]
enum Editing {
    None,
    New,
    Rule(Box<NotificationRuleView>),
}

/// `/notifications`: operators and admins; viewers learn that it is not for them.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let user = use_current_user();
    let role = Memo::new(move |_| user.with(|u| u.as_ref().map(|u| u.role)));
    move || match role.get() {
        Some(role) if role >= Role::Operator => {
            let is_admin = role >= Role::Admin;
            view! { <Notifications is_admin /> }.into_any()
        }
        _ => {
            set_document_title("Not allowed");
            view! {
                <section class="page" data-testid="notifications-not-allowed">
                    <h1>"Not allowed"</h1>
                    <p>"Notifications are for operators and administrators."</p>
                </section>
            }
            .into_any()
        }
    }
}

/// The rules, and (admins) the form and the public URL warning.
#[component]
fn Notifications(is_admin: bool) -> impl IntoView {
    set_document_title("Notifications");
    let rules = RwSignal::new(None::<Result<Vec<NotificationRuleView>, ApiError>>);
    let lookups = LocalResource::new(load_lookups);
    let editing = RwSignal::new(Editing::None);
    let notice = RwSignal::new(None::<String>);
    let reload = move || {
        spawn_local(async move {
            let result = api::list_notification_rules().await;
            rules.try_set(Some(result));
        });
    };
    reload();
    let on_done = Callback::new(move |message: Option<String>| {
        editing.set(Editing::None);
        if message.is_some() {
            notice.set(message);
            reload();
        }
    });
    let on_change = Callback::new(move |message: String| {
        notice.set(Some(message));
        reload();
    });

    view! {
        <section class="page" aria-labelledby="notifications-heading">
            <h1 id="notifications-heading">"Notifications"</h1>
            <p>
                "Rules send events about runs and schedules through a channel: a webhook or a mail (SMTP) server, set up on the "
                <a href=app_path("/credentials")>"Credentials"</a> " page."
            </p>
            {is_admin.then(|| view! { <PublicUrlWarning /> })}
            <Show when=move || is_admin && editing.with(|e| *e == Editing::None)>
                <div class="actions">
                    <button
                        type="button"
                        class="button primary"
                        on:click=move |_| {
                            notice.set(None);
                            editing.set(Editing::New);
                        }
                    >
                        "New rule"
                    </button>
                </div>
            </Show>
            <p class="notice" role="status" data-testid="notifications-notice">
                {move || notice.get()}
            </p>
        </section>
        {move || {
            let existing = match editing.get() {
                Editing::None => return None,
                Editing::New => None,
                Editing::Rule(rule) => Some(*rule),
            };
            Some(
                lookups
                    .get()
                    .map(|result| match result {
                        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(lookups) => view! { <RuleForm lookups existing on_done /> }.into_any(),
                    }),
            )
        }}
        {move || match rules.get() {
            None => view! { <LoadingNotice /> }.into_any(),
            Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            Some(Ok(list)) if list.is_empty() => view! {
                <p class="empty" data-testid="rules-empty">
                    "No rules yet: nothing is notified."
                </p>
            }
            .into_any(),
            Some(Ok(list)) => {
                let known = lookups.get().and_then(Result::ok).unwrap_or_default();
                view! {
                    <ul class="card-list rule-list" data-testid="rules">
                        {list
                            .into_iter()
                            .map(|rule| {
                                let scope = scope_text(&rule, &known);
                                view! { <RuleCard rule scope is_admin editing on_change /> }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any()
            }
        }}
    }
}

/// Admins: without `CHAP_SCHEDULER_PUBLIC_URL`, notifications cannot link to the run.
#[component]
fn PublicUrlWarning() -> impl IntoView {
    let info = LocalResource::new(api::service_info);
    let missing = move || matches!(info.get(), Some(Ok(i)) if i.public_url.is_none());
    view! {
        <Show when=missing>
            <p class="caution" role="note" data-testid="public-url-warning">
                <strong>"Notifications carry no link to the run: "</strong>
                "set CHAP_SCHEDULER_PUBLIC_URL to the address people open this service at (e.g. https://scheduler.example.org) and restart it."
            </p>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    pub(super) fn rule() -> NotificationRuleView {
        let at: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().expect("an instant");
        NotificationRuleView {
            id: Uuid::from_u128(1),
            name: "ops".into(),
            channel: Uuid::from_u128(2),
            channel_name: Some("ops hook".into()),
            channel_type: Some("webhook".into()),
            recipients: Vec::new(),
            events: vec![NotificationEvent::RunFailed],
            deployment_id: None,
            schedule_id: None,
            active: true,
            created_at: at,
            updated_at: at,
        }
    }

    fn lookups() -> Lookups {
        Lookups {
            channels: Vec::new(),
            deployments: vec![(Uuid::from_u128(5), "Weekly forecast".into())],
            schedules: vec![ScheduleChoice {
                id: Uuid::from_u128(6),
                deployment_id: Uuid::from_u128(5),
                label: "Weekly forecast — Cron 0 6 * * 1 (UTC)".into(),
            }],
        }
    }

    #[test]
    fn a_rule_names_its_channel_and_scope_in_words() {
        let mut r = rule();
        assert_eq!(channel_text(&r), "ops hook (Webhook)");
        assert_eq!(scope_text(&r, &lookups()), "All deployments");
        r.deployment_id = Some(Uuid::from_u128(5));
        assert_eq!(scope_text(&r, &lookups()), "Deployment Weekly forecast");
        r.schedule_id = Some(Uuid::from_u128(6));
        assert_eq!(
            scope_text(&r, &lookups()),
            "Schedule Weekly forecast — Cron 0 6 * * 1 (UTC)"
        );
        r.channel_name = None;
        r.channel_type = None;
        assert!(channel_text(&r).starts_with("deleted"));
    }

    #[test]
    fn every_event_has_a_title_and_an_explanation() {
        for event in NotificationEvent::ALL {
            assert!(!event_title(event).is_empty());
            assert!(event_help(event).ends_with('.'));
        }
    }
}
