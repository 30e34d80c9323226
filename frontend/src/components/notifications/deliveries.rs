//! Deliveries: what a rule sent (on the notifications page) and what was sent about a run (on the
//! run page), each with its status, attempts, last error and when it was sent or is tried again.
//! Both refresh while something is still pending.

use std::time::Duration;

use chap_scheduler_api::{DeliveryStatus, DeliveryView};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::event_title;
use crate::api::{self, ApiError};
use crate::components::runs::short_id;
use crate::components::time::{use_zone, zone_name, Time};
use crate::components::LoadingNotice;
use crate::paths::app_path;

/// A rule's deliveries refresh this often while they are shown.
const RULE_REFRESH: Duration = Duration::from_secs(5);
/// A run's deliveries refresh this often while the run goes on or one is pending.
const RUN_REFRESH: Duration = Duration::from_secs(3);

/// `Sent`, `Pending`, `Failed` and the badge class.
fn status_badge(status: DeliveryStatus) -> (&'static str, &'static str, &'static str) {
    match status {
        DeliveryStatus::Sent => ("Sent", "state-badge state-completed", "sent"),
        DeliveryStatus::Pending => ("Pending", "state-badge state-pending", "pending"),
        DeliveryStatus::Failed => ("Failed", "state-badge state-failed", "failed"),
    }
}

/// When it was sent, or when it is tried again: the words, and the time that follows them.
fn when(d: &DeliveryView) -> (&'static str, Option<DateTime<Utc>>) {
    match (d.status, d.sent_at, d.next_attempt_at) {
        (DeliveryStatus::Sent, at, _) => ("sent", at),
        (DeliveryStatus::Pending, _, None) => ("next attempt soon", None),
        (DeliveryStatus::Pending, _, at) => ("next attempt", at),
        (DeliveryStatus::Failed, _, _) => ("given up", None),
    }
}

/// Whether any delivery may still change.
fn any_pending(list: &[DeliveryView]) -> bool {
    list.iter().any(|d| d.status == DeliveryStatus::Pending)
}

/// Calls `tick` every `every` until the calling component is gone.
fn every(every: Duration, tick: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(tick, every) {
        on_cleanup(move || handle.clear());
    }
}

/// Which table: a rule's (what each delivery was about) or a run's (which rule sent it).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Of {
    Rule,
    Run,
}

/// The deliveries as a table (it scrolls sideways on a narrow screen).
#[component]
fn DeliveryTable(deliveries: Vec<DeliveryView>, of: Of) -> impl IntoView {
    let rows = deliveries
        .into_iter()
        .map(|d| {
            let (label, class, status) = status_badge(d.status);
            let (when, when_at) = when(&d);
            let when_at = when_at.map(|at| view! { " " <Time at zone=true /> });
            let first = match of {
                Of::Rule => view! {
                    <td class="nowrap">
                        <Time at=d.occurred_at />
                    </td>
                }
                .into_any(),
                Of::Run => view! { <th scope="row">{d.rule_name.clone()}</th> }.into_any(),
            };
            let about = (of == Of::Rule).then(|| {
                let what = match (d.run_id, d.slot) {
                    (Some(run), _) => view! {
                        <a href=app_path(&format!("/runs/{run}"))>{format!("run {}", short_id(run))}</a>
                    }
                    .into_any(),
                    (None, Some(slot)) => view! { "slot " <Time at=slot zone=true /> }.into_any(),
                    (None, None) => "—".into_any(),
                };
                view! { <td>{what}</td> }
            });
            view! {
                <tr data-delivery-id=d.id.to_string() data-status=status>
                    {first}
                    <td>
                        {event_title(d.event)} <span class="muted small">{d.event.as_str()}</span>
                    </td>
                    {about}
                    <td>
                        <span class=class>{label}</span>
                    </td>
                    <td>{d.attempts}</td>
                    <td class="delivery-error">{d.last_error.unwrap_or_else(|| "—".to_owned())}</td>
                    <td>{when} {when_at}</td>
                </tr>
            }
        })
        .collect_view();
    let zone = use_zone();
    let first = move || match of {
        Of::Rule => format!("Time ({})", zone_name(zone.get())),
        Of::Run => "Rule".to_owned(),
    };
    let about = of == Of::Rule;
    view! {
        <div class="table-scroll">
            <table class="runs-table deliveries-table" data-testid="deliveries">
                <thead>
                    <tr>
                        <th scope="col">{first}</th>
                        <th scope="col">"Event"</th>
                        {about.then(|| view! { <th scope="col">"About"</th> })}
                        <th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last error"</th>
                        <th scope="col">"Sent / next attempt"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// The newest deliveries of a rule, refreshed while shown.
#[component]
pub(super) fn RuleDeliveries(rule_id: Uuid) -> impl IntoView {
    let deliveries = RwSignal::new(None::<Result<Vec<DeliveryView>, ApiError>>);
    let fetch = move || {
        spawn_local(async move {
            let result = api::rule_deliveries(rule_id).await;
            deliveries.try_set(Some(result));
        });
    };
    fetch();
    every(RULE_REFRESH, fetch);
    view! {
        <div class="rule-deliveries">
            <h3>"Deliveries (newest 100)"</h3>
            {move || match deliveries.get() {
                None => view! { <LoadingNotice /> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty muted" data-testid="deliveries-empty">
                        "Nothing sent yet (a test is not kept here)."
                    </p>
                }
                .into_any(),
                Some(Ok(list)) => view! { <DeliveryTable deliveries=list of=Of::Rule /> }.into_any(),
            }}
        </div>
    }
}

/// The run page's "Notifications": what was sent about the run; nothing while there is none.
#[component]
pub fn RunDeliveries(
    run_id: Uuid,
    /// The run has finished (its deliveries are written as it ends).
    terminal: Signal<bool>,
) -> impl IntoView {
    let deliveries = RwSignal::new(None::<Result<Vec<DeliveryView>, ApiError>>);
    let fetch = move || {
        spawn_local(async move {
            let result = api::run_deliveries(run_id).await;
            deliveries.try_set(Some(result));
        });
    };
    fetch();
    // Read again once the run has finished: its deliveries are written with its last state, and a
    // list read before then would count as settled.
    Effect::new(move |was_terminal: Option<bool>| {
        let now = terminal.get();
        if was_terminal == Some(false) && now {
            fetch();
        }
        now
    });
    every(RUN_REFRESH, move || {
        let settled = deliveries
            .with_untracked(|d| matches!(d, Some(Ok(list)) if !any_pending(list)))
            && terminal.get_untracked();
        if !settled {
            fetch();
        }
    });
    move || {
        let content = match deliveries.get()? {
            Ok(list) if list.is_empty() => return None,
            Ok(list) => view! { <DeliveryTable deliveries=list of=Of::Run /> }.into_any(),
            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
        };
        Some(view! {
            <section class="panel" aria-labelledby="deliveries-heading" data-testid="run-deliveries">
                <h2 id="deliveries-heading">"Notifications"</h2>
                {content}
            </section>
        })
    }
}

#[cfg(test)]
mod tests {
    use chap_scheduler_api::NotificationEvent;
    use chrono::{DateTime, Utc};

    use super::*;

    fn delivery(status: DeliveryStatus) -> DeliveryView {
        let at: DateTime<Utc> = "2026-12-01T06:00:00Z".parse().expect("an instant");
        DeliveryView {
            id: Uuid::from_u128(1),
            rule_id: Uuid::from_u128(2),
            rule_name: "ops".into(),
            event: NotificationEvent::RunFailed,
            run_id: Some(Uuid::from_u128(3)),
            schedule_id: None,
            slot: None,
            status,
            attempts: 1,
            last_error: None,
            occurred_at: at,
            next_attempt_at: None,
            sent_at: None,
        }
    }

    #[test]
    fn a_delivery_says_when_it_was_sent_or_is_tried_again() {
        let at: DateTime<Utc> = "2026-12-01T06:01:00Z".parse().expect("an instant");
        let mut sent = delivery(DeliveryStatus::Sent);
        sent.sent_at = Some(at);
        assert_eq!(when(&sent), ("sent", Some(at)));
        let mut pending = delivery(DeliveryStatus::Pending);
        assert_eq!(when(&pending), ("next attempt soon", None));
        pending.next_attempt_at = Some(at);
        assert_eq!(when(&pending), ("next attempt", Some(at)));
        assert_eq!(when(&delivery(DeliveryStatus::Failed)), ("given up", None));
    }

    #[test]
    fn only_pending_deliveries_keep_the_list_refreshing() {
        assert!(!any_pending(&[
            delivery(DeliveryStatus::Sent),
            delivery(DeliveryStatus::Failed)
        ]));
        assert!(any_pending(&[
            delivery(DeliveryStatus::Sent),
            delivery(DeliveryStatus::Pending)
        ]));
        assert_eq!(status_badge(DeliveryStatus::Failed).0, "Failed");
    }
}
