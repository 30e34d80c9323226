//! One rule: its channel, recipients, events, scope and whether it is active; for admins Edit, Send
//! test (with what the receiver answered) and Delete; for everyone who sees it, its deliveries.

use chap_scheduler_api::{NotificationRuleView, NotificationTestResult};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::deliveries::RuleDeliveries;
use super::{channel_text, event_title, Editing};
use crate::api::{self, ApiError};
use crate::components::form::ConfirmButton;

/// The events as the card lists them: `Run failed, Schedule late`.
fn events_text(rule: &NotificationRuleView) -> String {
    rule.events
        .iter()
        .map(|e| event_title(*e))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A rule and what can be done with it.
#[component]
pub(super) fn RuleCard(
    rule: NotificationRuleView,
    /// Which deployment or schedule it is about, in words.
    scope: String,
    is_admin: bool,
    editing: RwSignal<Editing>,
    /// Heard with a message for the page after the rule was deleted.
    on_change: Callback<String>,
) -> impl IntoView {
    let id = rule.id;
    let name = StoredValue::new(rule.name.clone());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let testing = RwSignal::new(false);
    let tested = RwSignal::new(None::<Result<NotificationTestResult, ApiError>>);
    let showing = RwSignal::new(false);

    let send_test = move |_| {
        testing.set(true);
        tested.set(None);
        spawn_local(async move {
            let result = api::test_notification_rule(id).await;
            tested.try_set(Some(result));
            testing.try_set(false);
        });
    };
    let delete = move |()| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::delete_notification_rule(id).await {
                Ok(()) => on_change.run(format!("Rule {} deleted.", name.get_value())),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                    busy.try_set(false);
                }
            }
        });
    };
    let recipients = (!rule.recipients.is_empty()).then(|| {
        let list = rule.recipients.join(", ");
        view! {
            <dt>"Recipients"</dt>
            <dd>{list}</dd>
        }
    });
    let badge = if rule.active {
        view! { <span class="state-badge state-completed">"Active"</span> }.into_any()
    } else {
        view! { <span class="state-badge state-paused">"Inactive"</span> }.into_any()
    };
    let for_edit = StoredValue::new(rule.clone());
    let deliveries_id = format!("rule-deliveries-{id}");

    view! {
        <li class="card rule" data-rule-id=id.to_string()>
            <h2>{rule.name.clone()} " " {badge}</h2>
            <dl class="facts">
                <dt>"Channel"</dt>
                <dd data-testid="rule-channel">{channel_text(&rule)}</dd>
                {recipients}
                <dt>"Events"</dt>
                <dd data-testid="rule-events">{events_text(&rule)}</dd>
                <dt>"Scope"</dt>
                <dd data-testid="rule-scope">{scope}</dd>
            </dl>
            <div class="actions">
                {is_admin
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="button secondary"
                                on:click=move |_| {
                                    editing.set(Editing::Rule(Box::new(for_edit.get_value())))
                                }
                            >
                                "Edit"
                                <span class="visually-hidden">{format!(" {}", name.get_value())}</span>
                            </button>
                            <button
                                type="button"
                                class="button secondary"
                                on:click=send_test
                                disabled=testing
                            >
                                {move || if testing.get() { "Sending…" } else { "Send test" }}
                            </button>
                        }
                    })}
                <button
                    type="button"
                    class="button secondary"
                    aria-expanded=move || if showing.get() { "true" } else { "false" }
                    aria-controls=deliveries_id.clone()
                    on:click=move |_| showing.update(|s| *s = !*s)
                >
                    {move || if showing.get() { "Hide deliveries" } else { "Deliveries" }}
                </button>
                {is_admin
                    .then(|| {
                        view! {
                            <ConfirmButton
                                label="Delete…"
                                what=name.get_value()
                                question="Delete this rule? It sends nothing more."
                                confirm_label="Delete rule"
                                busy
                                on_confirm=Callback::new(delete)
                            />
                        }
                    })}
            </div>
            {move || error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            <div role="status" data-testid="rule-test-result">
                {move || {
                    tested
                        .get()
                        .map(|r| match r {
                            Ok(r) if r.ok => view! {
                                <p class="check-ok">"Test sent: " {r.detail}</p>
                            }
                            .into_any(),
                            Ok(r) => view! {
                                <p class="check-failed">"Test not delivered: " {r.detail}</p>
                            }
                            .into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        })
                }}
            </div>
            <div id=deliveries_id>
                <Show when=move || showing.get()>
                    <RuleDeliveries rule_id=id />
                </Show>
            </div>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use chap_scheduler_api::NotificationEvent;

    use super::super::tests::rule;
    use super::events_text;

    #[test]
    fn the_card_lists_the_events_by_their_titles() {
        let mut r = rule();
        r.events = vec![
            NotificationEvent::RunFailed,
            NotificationEvent::ScheduleLate,
        ];
        assert_eq!(events_text(&r), "Run failed, Schedule late");
    }
}
