//! The dashboard's "Late slots": slots of schedules with a deadline (`ready_by_minutes`) that had no
//! completed run by it, in the last week, the latest first.

use std::time::Duration;

use chap_scheduler_api::LateSlotView;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::components::time::Time;
use crate::components::LoadingNotice;
use crate::paths::app_path;

/// How far back the panel looks.
const DAYS: u32 = 7;
/// Slots listed at most.
const SHOWN: usize = 10;
const REFRESH: Duration = Duration::from_secs(10);

/// `Weekly forecast — setup Malaria monthly`, or the deployment alone.
fn slot_title(slot: &LateSlotView) -> String {
    let deployment = slot
        .deployment_name
        .clone()
        .unwrap_or_else(|| "a deleted deployment".to_owned());
    match &slot.setup_name {
        Some(setup) => format!("{deployment} — setup {setup}"),
        None => deployment,
    }
}

/// The "Late slots" panel.
#[component]
pub fn LateSlotsPanel() -> impl IntoView {
    let slots = RwSignal::new(None::<Result<Vec<LateSlotView>, ApiError>>);
    let load = move || {
        spawn_local(async move {
            let result = api::late_slots(DAYS).await;
            slots.try_set(Some(result));
        });
    };
    load();
    if let Ok(handle) = set_interval_with_handle(load, REFRESH) {
        on_cleanup(move || handle.clear());
    }
    view! {
        <section class="panel" aria-labelledby="late-slots-heading">
            <h2 id="late-slots-heading">"Late slots"</h2>
            {move || match slots.get() {
                None => view! { <LoadingNotice /> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty" data-testid="no-late-slots">
                        "None in the last 7 days: every slot with a deadline had its run completed in time."
                    </p>
                }
                .into_any(),
                Some(Ok(list)) => {
                    let more = list.len().saturating_sub(SHOWN);
                    view! {
                        <ul class="upcoming late-slots" data-testid="late-slots">
                            {list.into_iter().take(SHOWN).map(late_item).collect_view()}
                        </ul>
                        {(more > 0)
                            .then(|| {
                                view! { <p class="muted small">{format!("and {more} more this week")}</p> }
                            })}
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

fn late_item(slot: LateSlotView) -> impl IntoView {
    let title = slot_title(&slot);
    let name = match slot.deployment_id {
        Some(id) => {
            view! { <a href=app_path(&format!("/deployments/{id}"))>{title}</a> }.into_any()
        }
        None => title.into_any(),
    };
    view! {
        <li data-schedule-id=slot.schedule_id.to_string()>
            <span class="late-marker">"Late"</span>
            " "
            {name}
            <span class="small muted late-times">
                "slot " <Time at=slot.slot zone=true /> " · ready by " <Time at=slot.deadline zone=true />
            </span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_late_slot_names_its_deployment_and_setup() {
        let at: DateTime<Utc> = "2026-12-01T06:00:00Z".parse().expect("an instant");
        let mut slot = LateSlotView {
            schedule_id: Uuid::nil(),
            deployment_id: Some(Uuid::nil()),
            deployment_name: Some("Weekly forecast".into()),
            setup_id: None,
            setup_name: None,
            slot: at,
            deadline: at,
            detected_at: at,
        };
        assert_eq!(slot_title(&slot), "Weekly forecast");
        slot.setup_id = Some(3);
        slot.setup_name = Some("Malaria monthly".into());
        assert_eq!(slot_title(&slot), "Weekly forecast — setup Malaria monthly");
        slot.deployment_name = None;
        assert_eq!(
            slot_title(&slot),
            "a deleted deployment — setup Malaria monthly"
        );
    }
}
