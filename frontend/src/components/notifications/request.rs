//! What the rule form sends: the inputs as typed, checked as the server checks them (a name, a
//! channel, e-mail recipients for an SMTP channel only, at least one event), the request they make,
//! and the server's refusals at the form's fields.

use std::collections::{BTreeMap, BTreeSet};

use chap_scheduler_api::{NotificationEvent, NotificationRuleRequest, NotificationRuleView};
use uuid::Uuid;

use super::Lookups;
use crate::api::ApiError;
use crate::components::admin::sentence;

/// The server takes at most this many recipients.
const MAX_RECIPIENTS: usize = 50;
/// … and names up to this many characters.
const MAX_NAME_CHARS: usize = 100;

/// The events a new rule starts with: every problem, not the good news.
const DEFAULT_EVENTS: [NotificationEvent; 4] = [
    NotificationEvent::RunFailed,
    NotificationEvent::RunPartial,
    NotificationEvent::ScheduleLate,
    NotificationEvent::SchedulePaused,
];

/// The form as typed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RuleInputs {
    pub name: String,
    /// The chosen channel's id (empty: none chosen).
    pub channel: String,
    /// Addresses, one per line or separated by commas.
    pub recipients: String,
    pub events: BTreeSet<NotificationEvent>,
    /// A deployment id, or empty for every deployment.
    pub deployment: String,
    /// A schedule id, or empty for any run.
    pub schedule: String,
    pub active: bool,
}

/// The addresses of `text`: split at line breaks, commas and semicolons, blanks dropped.
pub(super) fn parse_recipients(text: &str) -> Vec<String> {
    text.split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Roughly an e-mail address (`name@host`, no blanks); the server has the last word.
pub(super) fn looks_like_address(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The request the inputs make, or field → message. `lookups` says the channel's type (an SMTP
/// channel needs recipients; a webhook takes none) and a schedule's deployment.
pub(super) fn rule_request(
    inputs: &RuleInputs,
    lookups: &Lookups,
) -> Result<NotificationRuleRequest, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let name = inputs.name.trim().to_owned();
    if name.is_empty() {
        errors.insert("name".to_owned(), "Required.".to_owned());
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.insert(
            "name".to_owned(),
            format!("At most {MAX_NAME_CHARS} characters."),
        );
    }
    let channel = lookups
        .channels
        .iter()
        .find(|c| c.id.to_string() == inputs.channel);
    if channel.is_none() {
        errors.insert("channel".to_owned(), "Choose a channel.".to_owned());
    }
    let mut recipients = Vec::new();
    if channel.is_some_and(|c| c.kind == "smtp") {
        recipients = parse_recipients(&inputs.recipients);
        if recipients.is_empty() {
            errors.insert(
                "recipients".to_owned(),
                "An SMTP channel needs at least one e-mail address.".to_owned(),
            );
        } else if recipients.len() > MAX_RECIPIENTS {
            errors.insert(
                "recipients".to_owned(),
                format!(
                    "At most {MAX_RECIPIENTS} addresses (this has {}).",
                    recipients.len()
                ),
            );
        } else if let Some(bad) = recipients.iter().find(|a| !looks_like_address(a)) {
            errors.insert(
                "recipients".to_owned(),
                format!("{bad} is not an e-mail address."),
            );
        }
    }
    if inputs.events.is_empty() {
        errors.insert("events".to_owned(), "Choose at least one event.".to_owned());
    }
    let schedule = inputs.schedule.parse::<Uuid>().ok();
    // A schedule belongs to one deployment: the rule names both.
    let deployment = schedule
        .and_then(|id| lookups.schedules.iter().find(|s| s.id == id))
        .map(|s| s.deployment_id)
        .or_else(|| inputs.deployment.parse::<Uuid>().ok());
    let Some(channel) = channel.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    Ok(NotificationRuleRequest {
        name,
        channel: channel.id,
        recipients,
        events: inputs.events.iter().copied().collect(),
        deployment_id: deployment,
        schedule_id: schedule,
        active: Some(inputs.active),
    })
}

/// A field's message as a sentence; one that starts with the value it quotes (`` `x` is not …``)
/// keeps the value as written.
pub(super) fn field_sentence(message: &str) -> String {
    if message.starts_with('`') {
        let text = message.trim().replace('`', "");
        if text.ends_with('.') {
            text
        } else {
            format!("{text}.")
        }
    } else {
        sentence(message)
    }
}

/// The server's refusal at the form's fields: `recipients[2]` lands at the recipients, naming the
/// address; a 409 (the name is taken) at the name.
pub(super) fn refusal_at_fields(error: &ApiError) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match error {
        ApiError::Status { status: 409, .. } => {
            out.insert("name".to_owned(), sentence(&error.to_string()));
        }
        ApiError::Status { fields, .. } => {
            for (field, message) in fields {
                let at = if field.starts_with("recipients") {
                    "recipients"
                } else {
                    field.as_str()
                };
                out.entry(at.to_owned())
                    .or_insert_with(|| field_sentence(message));
            }
        }
        _ => {}
    }
    out
}

/// The inputs a form starts with: the rule's, or a new rule's defaults.
pub(super) fn start_inputs(
    existing: Option<&NotificationRuleView>,
    lookups: &Lookups,
) -> RuleInputs {
    let id = |id: Option<Uuid>| id.map(|i| i.to_string()).unwrap_or_default();
    match existing {
        Some(rule) => RuleInputs {
            name: rule.name.clone(),
            channel: rule.channel.to_string(),
            recipients: rule.recipients.join("\n"),
            events: rule.events.iter().copied().collect(),
            deployment: id(rule.deployment_id),
            schedule: id(rule.schedule_id),
            active: rule.active,
        },
        None => RuleInputs {
            name: String::new(),
            // The only channel there is, preselected.
            channel: match lookups.channels.as_slice() {
                [only] => only.id.to_string(),
                _ => String::new(),
            },
            recipients: String::new(),
            events: DEFAULT_EVENTS.into_iter().collect(),
            deployment: String::new(),
            schedule: String::new(),
            active: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Channel, ScheduleChoice};
    use super::*;

    fn lookups() -> Lookups {
        Lookups {
            channels: vec![
                Channel {
                    id: Uuid::from_u128(1),
                    name: "ops hook".into(),
                    kind: "webhook".into(),
                },
                Channel {
                    id: Uuid::from_u128(2),
                    name: "mail".into(),
                    kind: "smtp".into(),
                },
            ],
            deployments: vec![(Uuid::from_u128(5), "Weekly".into())],
            schedules: vec![ScheduleChoice {
                id: Uuid::from_u128(6),
                deployment_id: Uuid::from_u128(5),
                label: "Weekly — Cron 0 6 * * 1 (UTC)".into(),
            }],
        }
    }

    fn inputs(channel: u128) -> RuleInputs {
        RuleInputs {
            name: " ops ".into(),
            channel: Uuid::from_u128(channel).to_string(),
            ..start_inputs(None, &Lookups::default())
        }
    }

    #[test]
    fn recipients_are_split_at_lines_commas_and_semicolons() {
        assert_eq!(
            parse_recipients("a@x.org, b@x.org\n\n c@x.org;d@x.org ,"),
            ["a@x.org", "b@x.org", "c@x.org", "d@x.org"]
        );
        assert!(looks_like_address("a.b+c@x.org"));
        assert!(!looks_like_address("nobody"));
        assert!(!looks_like_address("a@b@c"));
        assert!(!looks_like_address("@x.org"));
    }

    #[test]
    fn a_new_rule_starts_on_the_problem_events_and_its_only_channel() {
        let start = start_inputs(None, &Lookups::default());
        assert_eq!(start.events, DEFAULT_EVENTS.into_iter().collect());
        assert!(start.active);
        assert_eq!(start.channel, "");
        let mut one = lookups();
        one.channels.truncate(1);
        assert_eq!(
            start_inputs(None, &one).channel,
            Uuid::from_u128(1).to_string()
        );
    }

    #[test]
    fn a_webhook_rule_sends_no_recipients_and_an_smtp_rule_needs_them() {
        let mut webhook = inputs(1);
        webhook.recipients = "left over from smtp@x.org".into();
        let request = rule_request(&webhook, &lookups()).expect("valid");
        assert_eq!(request.name, "ops");
        assert!(request.recipients.is_empty());
        assert_eq!(request.deployment_id, None);
        assert_eq!(request.active, Some(true));

        let mut smtp = inputs(2);
        assert_eq!(
            rule_request(&smtp, &lookups()).unwrap_err()["recipients"],
            "An SMTP channel needs at least one e-mail address."
        );
        smtp.recipients = "a@x.org, nobody".into();
        assert_eq!(
            rule_request(&smtp, &lookups()).unwrap_err()["recipients"],
            "nobody is not an e-mail address."
        );
        smtp.recipients = "a@x.org\nb@x.org".into();
        assert_eq!(
            rule_request(&smtp, &lookups()).expect("valid").recipients,
            ["a@x.org", "b@x.org"]
        );
    }

    #[test]
    fn a_rule_needs_a_name_a_channel_and_an_event_and_a_schedule_brings_its_deployment() {
        let mut empty = inputs(9);
        empty.name = String::new();
        empty.events.clear();
        let errors = rule_request(&empty, &lookups()).unwrap_err();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["channel", "events", "name"]
        );

        let mut scoped = inputs(1);
        scoped.schedule = Uuid::from_u128(6).to_string();
        let request = rule_request(&scoped, &lookups()).expect("valid");
        assert_eq!(request.schedule_id, Some(Uuid::from_u128(6)));
        assert_eq!(request.deployment_id, Some(Uuid::from_u128(5)));
    }

    #[test]
    fn the_servers_refusals_land_at_their_fields() {
        let refused = ApiError::Status {
            status: 422,
            code: "validation_failed".into(),
            message: "invalid".into(),
            fields: vec![(
                "recipients[1]".into(),
                "`x` is not an e-mail address".into(),
            )],
        };
        assert_eq!(
            refusal_at_fields(&refused)["recipients"],
            "x is not an e-mail address."
        );
        let taken = ApiError::Status {
            status: 409,
            code: "conflict".into(),
            message: "a notification rule named `ops` already exists".into(),
            fields: Vec::new(),
        };
        assert_eq!(
            refusal_at_fields(&taken)["name"],
            "A notification rule named ops already exists."
        );
        assert!(refusal_at_fields(&ApiError::Network).is_empty());
    }
}
