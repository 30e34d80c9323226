//! Create or edit a notification rule (admins): name, channel, e-mail recipients (an SMTP channel
//! only), events, which deployment or schedule, active. Checked here as the server checks it; the
//! server's refusals land at their field.

use std::collections::BTreeMap;

use chap_scheduler_api::{NotificationEvent, NotificationRuleView};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::request::{refusal_at_fields, rule_request, start_inputs, RuleInputs};
use super::{channel_kind_label, event_help, event_title, Lookups};
use crate::api;
use crate::components::admin::sentence;
use crate::components::form::FormActions;

/// Create (`existing` none) or replace a rule; `on_done` hears a message for the page when saved.
#[component]
pub(super) fn RuleForm(
    lookups: Lookups,
    existing: Option<NotificationRuleView>,
    on_done: Callback<Option<String>>,
) -> impl IntoView {
    let editing_id = existing.as_ref().map(|r| r.id);
    let start = start_inputs(existing.as_ref(), &lookups);
    let name = RwSignal::new(start.name);
    let channel = RwSignal::new(start.channel);
    let recipients = RwSignal::new(start.recipients);
    let events = RwSignal::new(start.events);
    let deployment = RwSignal::new(start.deployment);
    let schedule = RwSignal::new(start.schedule);
    let active = RwSignal::new(start.active);
    let errors = RwSignal::new(BTreeMap::<String, String>::new());
    let form_error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let lookups = StoredValue::new(lookups);
    let is_smtp = move || {
        let chosen = channel.get();
        lookups.with_value(|l| {
            l.channels
                .iter()
                .any(|c| c.id.to_string() == chosen && c.kind == "smtp")
        })
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        let inputs = RuleInputs {
            name: name.get_untracked(),
            channel: channel.get_untracked(),
            recipients: recipients.get_untracked(),
            events: events.get_untracked(),
            deployment: deployment.get_untracked(),
            schedule: schedule.get_untracked(),
            active: active.get_untracked(),
        };
        let request = match lookups.with_value(|l| rule_request(&inputs, l)) {
            Ok(request) => request,
            Err(found) => {
                errors.set(found);
                form_error.set(Some("Correct the highlighted fields.".to_owned()));
                return;
            }
        };
        errors.set(BTreeMap::new());
        form_error.set(None);
        saving.set(true);
        spawn_local(async move {
            let result = match editing_id {
                Some(id) => api::replace_notification_rule(id, &request).await,
                None => api::create_notification_rule(&request).await,
            };
            saving.try_set(false);
            match result {
                Ok(rule) => {
                    let verb = if editing_id.is_some() {
                        "saved"
                    } else {
                        "created"
                    };
                    on_done.run(Some(format!("Rule {} {verb}.", rule.name)));
                }
                Err(e) => {
                    let at_fields = refusal_at_fields(&e);
                    form_error.try_set(Some(if at_fields.is_empty() {
                        sentence(&e.to_string())
                    } else {
                        "Correct the highlighted fields.".to_owned()
                    }));
                    errors.try_set(at_fields);
                }
            }
        });
    };

    let error_of = move |field: &'static str| crate::components::form::error_of(errors, field);
    let invalid = move |field: &'static str| crate::components::form::invalid_of(errors, field);
    let no_channels = lookups.with_value(|l| l.channels.is_empty());
    let channel_options = lookups.with_value(|l| {
        l.channels
            .iter()
            .map(|c| {
                let id = c.id.to_string();
                let label = format!("{} ({})", c.name, channel_kind_label(&c.kind));
                let value = id.clone();
                view! {
                    <option value=value selected=move || channel.get() == id>
                        {label}
                    </option>
                }
            })
            .collect_view()
    });
    let deployment_options = lookups.with_value(|l| {
        l.deployments
            .iter()
            .map(|(id, label)| {
                let id = id.to_string();
                let value = id.clone();
                view! {
                    <option value=value selected=move || deployment.get() == id>
                        {label.clone()}
                    </option>
                }
            })
            .collect_view()
    });
    // Only the chosen deployment's schedules (every schedule while no deployment is chosen).
    let schedule_options = move || {
        let chosen = deployment.get();
        lookups.with_value(|l| {
            l.schedules
                .iter()
                .filter(|s| chosen.is_empty() || s.deployment_id.to_string() == chosen)
                .map(|s| {
                    let id = s.id.to_string();
                    let value = id.clone();
                    view! {
                        <option value=value selected=move || schedule.get() == id>
                            {s.label.clone()}
                        </option>
                    }
                })
                .collect_view()
        })
    };
    let choose_deployment = move |ev| {
        let chosen = event_target_value(&ev);
        // A schedule of another deployment no longer fits.
        let keep = lookups.with_value(|l| {
            l.schedules.iter().any(|s| {
                s.id.to_string() == schedule.get_untracked()
                    && (chosen.is_empty() || s.deployment_id.to_string() == chosen)
            })
        });
        if !keep {
            schedule.set(String::new());
        }
        deployment.set(chosen);
    };
    let event_choices = NotificationEvent::ALL
        .into_iter()
        .map(|event| {
            let id = format!("rule-event-{}", event.as_str().replace('.', "-"));
            let help_id = format!("{id}-help");
            view! {
                <div class="event-choice">
                    <label class="checkbox">
                        <input
                            type="checkbox"
                            id=id
                            value=event.as_str()
                            aria-describedby=help_id.clone()
                            prop:checked=move || events.with(|e| e.contains(&event))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                events
                                    .update(|e| {
                                        if on {
                                            e.insert(event);
                                        } else {
                                            e.remove(&event);
                                        }
                                    });
                            }
                        />
                        <span>
                            {event_title(event)} " " <code class="small">{event.as_str()}</code>
                        </span>
                    </label>
                    <p class="help muted small" id=help_id>
                        {event_help(event)}
                    </p>
                </div>
            }
        })
        .collect_view();
    let heading = if editing_id.is_some() {
        "Edit rule"
    } else {
        "New rule"
    };

    view! {
        <section class="panel" aria-labelledby="rule-form-heading">
            <h2 id="rule-form-heading">{heading}</h2>
            <form class="admin-form rule-form" on:submit=submit novalidate>
                <div class="field" data-field="name">
                    <label for="rule-name">"Name" <span class="required">" (required)"</span></label>
                    <input
                        id="rule-name"
                        type="text"
                        autocomplete="off"
                        aria-describedby="rule-name-error"
                        aria-invalid=invalid("name")
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <p class="field-error" id="rule-name-error">
                        {error_of("name")}
                    </p>
                </div>
                <div class="field" data-field="channel">
                    <label for="rule-channel">"Channel" <span class="required">" (required)"</span></label>
                    <select
                        id="rule-channel"
                        aria-describedby="rule-channel-help rule-channel-error"
                        aria-invalid=invalid("channel")
                        on:change=move |ev| channel.set(event_target_value(&ev))
                    >
                        <option value="" selected=move || channel.get().is_empty()>
                            "Choose a channel…"
                        </option>
                        {channel_options}
                    </select>
                    <p class="help muted small" id="rule-channel-help">
                        {if no_channels {
                            "There are no channels yet: add a webhook or an SMTP server on the Credentials page first."
                        } else {
                            "A webhook or an SMTP server from the Credentials page."
                        }}
                    </p>
                    <p class="field-error" id="rule-channel-error">
                        {error_of("channel")}
                    </p>
                </div>
                <div class="field" data-field="recipients" hidden=move || !is_smtp()>
                    <label for="rule-recipients">
                        "Recipients" <span class="required">" (required)"</span>
                    </label>
                    <textarea
                        id="rule-recipients"
                        rows="3"
                        spellcheck="false"
                        aria-describedby="rule-recipients-help rule-recipients-error"
                        aria-invalid=invalid("recipients")
                        prop:value=move || recipients.get()
                        on:input=move |ev| recipients.set(event_target_value(&ev))
                    ></textarea>
                    <p class="help muted small" id="rule-recipients-help">
                        "E-mail addresses, one per line or separated by commas (at most 50)."
                    </p>
                    <p class="field-error" id="rule-recipients-error">
                        {error_of("recipients")}
                    </p>
                </div>
                <fieldset class="field" data-field="events" aria-describedby="rule-events-error">
                    <legend>"Events"</legend>
                    {event_choices}
                    <p class="field-error" id="rule-events-error">
                        {error_of("events")}
                    </p>
                </fieldset>
                <div class="field" data-field="deployment_id">
                    <label for="rule-deployment">"Deployment"</label>
                    <select
                        id="rule-deployment"
                        aria-describedby="rule-deployment-error"
                        aria-invalid=invalid("deployment_id")
                        on:change=choose_deployment
                    >
                        <option value="" selected=move || deployment.get().is_empty()>
                            "All deployments"
                        </option>
                        {deployment_options}
                    </select>
                    <p class="field-error" id="rule-deployment-error">
                        {error_of("deployment_id")}
                    </p>
                </div>
                <div class="field" data-field="schedule_id">
                    <label for="rule-schedule">"Schedule"</label>
                    <select
                        id="rule-schedule"
                        aria-describedby="rule-schedule-help rule-schedule-error"
                        aria-invalid=invalid("schedule_id")
                        on:change=move |ev| schedule.set(event_target_value(&ev))
                    >
                        <option value="" selected=move || schedule.get().is_empty()>
                            "Any (also runs started by hand)"
                        </option>
                        {schedule_options}
                    </select>
                    <p class="help muted small" id="rule-schedule-help">
                        "Any: runs of every schedule and runs started by hand, and every schedule's late and paused events. Choose one to hear only about it."
                    </p>
                    <p class="field-error" id="rule-schedule-error">
                        {error_of("schedule_id")}
                    </p>
                </div>
                <label class="checkbox">
                    <input type="checkbox" id="rule-active" bind:checked=active />
                    " Active"
                </label>
                <FormActions
                    error=form_error
                    busy=saving
                    submit="Save rule"
                    busy_label="Saving…"
                    on_cancel=Callback::new(move |()| on_done.run(None))
                />
            </form>
        </section>
    }
}
