//! `/admin/audit`: the audit log, newest first, filtered by action, actor and days, with
//! "Load more".

use std::collections::HashMap;

use chap_scheduler_api::AuditEventView;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{error_sentence, focus_element, FormField};
use crate::api::{self, AuditFilter};
use crate::clock::{end_of, parse_day, start_of};
use crate::components::form::LoadMore;
use crate::components::time::{use_zone, zone_name, Precision, Time};
use crate::components::{set_document_title, LoadingNotice};

/// Events per page.
const PAGE_SIZE: u32 = 50;

/// The actions the server records, offered as suggestions in the action filter.
const KNOWN_ACTIONS: [&str; 20] = [
    "auth.login",
    "auth.login_failed",
    "auth.logout",
    "auth.password_changed",
    "auth.refresh_reuse_detected",
    "block.created",
    "block.updated",
    "block.deleted",
    "deployment.created",
    "deployment.deleted",
    "run.triggered",
    "run.cancelled",
    "run.retried",
    "schedule.created",
    "schedule.updated",
    "schedule.deleted",
    "token.created",
    "token.revoked",
    "user.created",
    "user.updated",
];

/// Names for `user:<id>` and `token:<id>` targets, from the user and token lists.
type TargetNames = HashMap<String, String>;

/// `user:<id>` → "user bob", when the id is known.
fn target_label(target: &str, names: &TargetNames) -> Option<String> {
    let (kind, _) = target.split_once(':')?;
    names.get(target).map(|name| format!("{kind} {name}"))
}

/// `{"role":{"from":"viewer","to":"operator"}}`, or "—" for no details.
fn compact_details(detail: &serde_json::Value) -> String {
    match detail {
        serde_json::Value::Null => "—".to_owned(),
        serde_json::Value::Object(map) if map.is_empty() => "—".to_owned(),
        other => other.to_string(),
    }
}

/// `/admin/audit` (the route wraps it in the admin check).
#[component]
pub fn AuditLogAdmin() -> impl IntoView {
    set_document_title("Audit log");
    let action = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let from_error = RwSignal::new(None::<String>);
    let to_error = RwSignal::new(None::<String>);
    let action_error = RwSignal::new(None::<String>);
    let actor_error = RwSignal::new(None::<String>);
    let zone = use_zone();
    let applied = RwSignal::new(AuditFilter::default());

    let events = RwSignal::new(Vec::<AuditEventView>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let loading_more = RwSignal::new(false);
    // Bumped on every filter change so that answers for the old filters are ignored.
    let generation = StoredValue::new(0u64);
    // Targets read better as names; ids that are not (or no longer) known stay as they are.
    let names = RwSignal::new(TargetNames::new());
    spawn_local(async move {
        let mut found = TargetNames::new();
        if let Ok(users) = api::list_users().await {
            for user in users {
                found.insert(format!("user:{}", user.id), user.username);
            }
        }
        if let Ok(tokens) = api::list_tokens().await {
            for token in tokens {
                found.insert(format!("token:{}", token.id), format!("“{}”", token.name));
            }
        }
        names.try_set(found);
    });

    Effect::new(move |_| {
        let filter = AuditFilter {
            limit: Some(PAGE_SIZE),
            ..applied.get()
        };
        generation.update_value(|g| *g += 1);
        let asked_in = generation.get_value();
        loaded.set(false);
        error.set(None);
        spawn_local(async move {
            let result = api::list_audit(&filter).await;
            if generation.try_get_value() != Some(asked_in) {
                return;
            }
            match result {
                Ok(page) => {
                    events.set(page.items);
                    next_cursor.set(page.next_cursor);
                }
                Err(e) => {
                    events.set(Vec::new());
                    next_cursor.set(None);
                    error.set(Some(error_sentence(&e)));
                }
            }
            loaded.set(true);
        });
    });

    let load_more = move |()| {
        let Some(cursor) = next_cursor.get_untracked() else {
            return;
        };
        let filter = AuditFilter {
            limit: Some(PAGE_SIZE),
            cursor: Some(cursor),
            ..applied.get_untracked()
        };
        let asked_in = generation.get_value();
        loading_more.set(true);
        spawn_local(async move {
            let result = api::list_audit(&filter).await;
            loading_more.try_set(false);
            if generation.try_get_value() != Some(asked_in) {
                return;
            }
            match result {
                Ok(page) => {
                    events.update(|list| {
                        for event in page.items {
                            if !list.iter().any(|e| e.id == event.id) {
                                list.push(event);
                            }
                        }
                    });
                    next_cursor.set(page.next_cursor);
                }
                Err(e) => error.set(Some(error_sentence(&e))),
            }
        });
    };

    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        let since = parse_day(&from.get_untracked());
        let until = parse_day(&to.get_untracked());
        from_error.set(since.as_ref().err().cloned());
        to_error.set(until.as_ref().err().cloned());
        let (Ok(since), Ok(until)) = (since, until) else {
            focus_element(if from_error.with_untracked(Option::is_some) {
                "audit-from"
            } else {
                "audit-to"
            });
            return;
        };
        if let (Some(since), Some(until)) = (since, until) {
            if until < since {
                to_error.set(Some(
                    "The last day cannot be before the first day.".to_owned(),
                ));
                focus_element("audit-to");
                return;
            }
        }
        let text = |s: RwSignal<String>| {
            Some(s.get_untracked().trim().to_owned()).filter(|t| !t.is_empty())
        };
        applied.set(AuditFilter {
            action: text(action),
            actor: text(actor),
            since: since.map(|d| start_of(d, zone.get_untracked())),
            // "To" includes the whole day: up to the next midnight.
            until: until.and_then(|d| end_of(d, zone.get_untracked())),
            ..Default::default()
        });
    };
    let clear = move |_| {
        for field in [action, actor, from, to] {
            field.set(String::new());
        }
        for field in [from_error, to_error, action_error, actor_error] {
            field.set(None);
        }
        applied.set(AuditFilter::default());
    };
    let filtered = move || applied.with(|f| *f != AuditFilter::default());

    view! {
        <section class="page" aria-labelledby="audit-heading">
            <h1 id="audit-heading">"Audit log"</h1>
            <p>
                {move || {
                    format!(
                        "Who did what, newest first. Times are {}. Without a first day, the last 90 days are shown.",
                        zone_name(zone.get()),
                    )
                }}
            </p>
            <form
                class="filters audit-filters"
                on:submit=apply
                novalidate
                aria-label="Filter the audit log"
            >
                <FormField
                    id="audit-action"
                    label="Action"
                    value=action
                    error=action_error
                    list="audit-actions"
                    help="Exact name, e.g. user.updated."
                />
                <datalist id="audit-actions">
                    {KNOWN_ACTIONS.map(|a| view! { <option value=a></option> }).collect_view()}
                </datalist>
                <FormField
                    id="audit-actor"
                    label="Actor"
                    value=actor
                    error=actor_error
                    help="Username."
                />
                // Days are on the viewer's clock; the help says which.
                {move || {
                    let name = zone_name(zone.get());
                    view! {
                        <FormField
                            id="audit-from"
                            label="From"
                            input_type="date"
                            value=from
                            error=from_error
                            help=format!("First day ({name}).")
                        />
                        <FormField
                            id="audit-to"
                            label="To"
                            input_type="date"
                            value=to
                            error=to_error
                            help=format!("Last day ({name}), included.")
                        />
                    }
                }}
                <div class="actions filter-actions">
                    <button type="submit" class="button primary">
                        "Apply filters"
                    </button>
                    <button type="button" class="button secondary" on:click=clear>
                        "Clear"
                    </button>
                </div>
            </form>
            {move || error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            <Show when=move || loaded.get() fallback=|| view! { <LoadingNotice /> }>
                <Show
                    when=move || events.with(|e| !e.is_empty())
                    fallback=move || {
                        view! {
                            <p class="empty" data-testid="audit-empty">
                                {if filtered() {
                                    "No events match these filters."
                                } else {
                                    "No events in the last 90 days."
                                }}
                            </p>
                        }
                    }
                >
                    <AuditTable events=events.into() names=names.into() />
                </Show>
                <LoadMore
                    more=Signal::derive(move || next_cursor.with(Option::is_some))
                    loading=loading_more
                    on_load=Callback::new(load_more)
                />
            </Show>
        </section>
    }
}

/// The events as a table (scrolls sideways on narrow screens).
#[component]
fn AuditTable(events: Signal<Vec<AuditEventView>>, names: Signal<TargetNames>) -> impl IntoView {
    let zone = use_zone();
    view! {
        <div class="table-scroll">
            <table class="runs-table admin-table" data-testid="audit-table">
                <caption class="visually-hidden">"Audit events, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">{move || format!("Time ({})", zone_name(zone.get()))}</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Target"</th>
                        <th scope="col">"Client address"</th>
                        <th scope="col">"Details"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || events.get() key=|event| event.id let:event>
                        <tr data-action=event.action.clone()>
                            <td class="nowrap">
                                <Time at=event.at precision=Precision::Second />
                            </td>
                            <td>{event.actor.clone().unwrap_or_else(|| "—".to_owned())}</td>
                            <td>
                                <code>{event.action.clone()}</code>
                            </td>
                            <td class="audit-target small">
                                <AuditTarget target=event.target.clone() names />
                            </td>
                            <td>{event.ip.clone().unwrap_or_else(|| "—".to_owned())}</td>
                            <td>
                                <code class="audit-detail">{compact_details(&event.detail)}</code>
                            </td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// "user bob" (the raw target on hover), or the raw target when its name is not known.
#[component]
fn AuditTarget(target: Option<String>, names: Signal<TargetNames>) -> impl IntoView {
    let Some(target) = target else {
        return view! { "—" }.into_any();
    };
    let raw = target.clone();
    let label = move || {
        names
            .with(|n| target_label(&target, n))
            .unwrap_or_else(|| target.clone())
    };
    view! { <span title=raw>{label}</span> }.into_any()
}

#[cfg(test)]
mod tests {
    use super::{compact_details, target_label, TargetNames};
    use serde_json::json;

    #[test]
    fn known_targets_are_named() {
        let names = TargetNames::from([("user:42".to_owned(), "bob".to_owned())]);
        assert_eq!(target_label("user:42", &names).as_deref(), Some("user bob"));
        assert_eq!(target_label("user:43", &names), None);
        assert_eq!(target_label("nonsense", &names), None);
    }

    #[test]
    fn details_are_one_line_of_json_or_a_dash() {
        assert_eq!(compact_details(&json!(null)), "—");
        assert_eq!(compact_details(&json!({})), "—");
        assert_eq!(
            compact_details(&json!({ "role": { "from": "viewer", "to": "operator" } })),
            r#"{"role":{"from":"viewer","to":"operator"}}"#
        );
    }
}
