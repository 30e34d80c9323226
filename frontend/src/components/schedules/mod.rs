//! A deployment's schedules, on its page: each with its next fire time in its own timezone, an
//! active switch, edit and delete (with confirmation); a schedule that follows chap's prediction
//! setups also lists those setups (switch and cron editable by operators) and its last sync.
//!
//! - [`card`]: one schedule as the list shows it.
//! - [`chap`]: the setups of a `chap` schedule, its sync state and the Sync button; [`setup_row`]:
//!   one setup, its switch and cron editable by operators.
//! - [`form`]: the add / edit form (source, pinned parameters, missed-run policy); [`deadline`]:
//!   its deadline and automatic-pause fields, and how the card words them.
//! - [`timing`]: the form's timing fields (cron or interval, timezone, fallback cron) and their live
//!   preview.

use chap_scheduler_api::{DeploymentView, ScheduleSource, ScheduleView};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::components::deployment_settings::FlowResource;
use crate::components::parameters::Blocks;
use crate::components::shell::use_can_operate;
use crate::components::LoadingNotice;

mod card;
mod chap;
mod deadline;
mod form;
mod setup_row;
mod timing;

use card::ScheduleCard;
use form::ScheduleForm;

/// What the panel's form is doing.
#[derive(Debug, Clone, PartialEq)]
enum Editing {
    None,
    New,
    Schedule(Box<ScheduleView>),
}

/// `Every 15 min`, `Every 2 h`, `Every 7 days`, `Every 90 s`.
pub fn describe_interval(seconds: u64) -> String {
    let (count, unit) = match seconds {
        s if s.is_multiple_of(86_400) => (s / 86_400, if s == 86_400 { "day" } else { "days" }),
        s if s.is_multiple_of(3_600) => (s / 3_600, "h"),
        s if s.is_multiple_of(60) => (s / 60, "min"),
        s => (s, "s"),
    };
    format!("Every {count}\u{a0}{unit}")
}

/// How the schedule repeats, in words.
pub fn describe_timing(s: &ScheduleView) -> String {
    if s.source == ScheduleSource::Chap {
        return "Follows chap's setups".to_owned();
    }
    match (&s.cron, s.interval_seconds) {
        (Some(cron), _) => format!("Cron {cron}"),
        (None, Some(seconds)) => describe_interval(seconds),
        (None, None) => "No timing".to_owned(),
    }
}

/// The "Schedules" panel of a deployment's page.
#[component]
pub fn SchedulesPanel(
    deployment: DeploymentView,
    flow: FlowResource,
    blocks: Blocks,
) -> impl IntoView {
    let can_operate = use_can_operate();
    let deployment_id = deployment.id;
    let schedules = RwSignal::new(None::<Result<Vec<ScheduleView>, ApiError>>);
    let editing = RwSignal::new(Editing::None);
    let reload = move || {
        spawn_local(async move {
            let result = api::list_schedules(deployment_id).await;
            schedules.try_set(Some(result));
        });
    };
    reload();
    let deployment = StoredValue::new(deployment);
    let paused = deployment.with_value(|d| d.paused);

    view! {
        <section class="panel" aria-labelledby="schedules-heading" data-testid="schedules">
            <h2 id="schedules-heading">"Schedules"</h2>
            {paused
                .then(|| {
                    view! {
                        <p class="caution">
                            "The deployment is paused: its schedules create no runs until it is resumed (their slots are counted as skipped)."
                        </p>
                    }
                })}
            <Show when=move || can_operate.get() && editing.with(|e| *e == Editing::None)>
                <div class="actions">
                    <button
                        type="button"
                        class="button primary"
                        on:click=move |_| editing.set(Editing::New)
                    >
                        "Add schedule"
                    </button>
                </div>
            </Show>
            {move || {
                let existing = match editing.get() {
                    Editing::None => return None,
                    Editing::New => None,
                    Editing::Schedule(s) => Some(*s),
                };
                Some(
                    view! {
                        <ScheduleForm
                            deployment=deployment.get_value()
                            existing
                            flow
                            blocks
                            on_done=move |saved| {
                                editing.set(Editing::None);
                                if saved {
                                    reload();
                                }
                            }
                        />
                    },
                )
            }}
            {move || match schedules.get() {
                None => view! { <LoadingNotice /> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty" data-testid="schedules-empty">
                        "No schedules: this deployment runs only when someone starts it."
                    </p>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <ul class="card-list schedule-list">
                        {list
                            .into_iter()
                            .map(|schedule| view! { <ScheduleCard schedule editing blocks on_change=reload /> })
                            .collect_view()}
                    </ul>
                }
                .into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chap_scheduler_api::{MissedPolicy, ScheduleSource, ScheduleView, SetupSlot};
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use uuid::Uuid;

    use super::{describe_interval, describe_timing};

    /// An active `own` cron schedule of `deployment_id`, next firing at `next`.
    pub(crate) fn schedule(deployment_id: Uuid, next: Option<&str>) -> ScheduleView {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("an instant");
        ScheduleView {
            id: Uuid::from_u128(7),
            deployment_id,
            source: ScheduleSource::Own,
            fallback_cron: None,
            chap_sync: None,
            setup_slots: Vec::new(),
            cron: Some("0 6 * * 1".to_owned()),
            interval_seconds: None,
            anchor_at: at("2026-12-01T00:00:00Z"),
            timezone: "UTC".to_owned(),
            parameters: json!({}),
            active: true,
            missed_policy: MissedPolicy::Skip,
            max_missed: 100,
            next_fire_at: next.map(at),
            last_fire_at: None,
            skipped_count: 0,
            ready_by_minutes: None,
            pause_after_failures: None,
            consecutive_failures: 0,
            paused_reason: None,
            created_at: at("2026-12-01T00:00:00Z"),
            updated_at: at("2026-12-01T00:00:00Z"),
        }
    }

    /// A `chap` schedule with these (setup id, name, fire_at) slots.
    pub(crate) fn chap_schedule(deployment_id: Uuid, slots: &[(i64, &str, &str)]) -> ScheduleView {
        let setup_slots: Vec<SetupSlot> = slots
            .iter()
            .map(|(id, name, at)| SetupSlot {
                setup_id: *id,
                setup_name: (*name).to_owned(),
                fire_at: at.parse().expect("an instant"),
            })
            .collect();
        ScheduleView {
            source: ScheduleSource::Chap,
            cron: None,
            next_fire_at: setup_slots.iter().map(|s| s.fire_at).min(),
            setup_slots,
            ..schedule(deployment_id, None)
        }
    }

    #[test]
    fn intervals_read_in_their_largest_whole_unit() {
        assert_eq!(describe_interval(90), "Every 90\u{a0}s");
        assert_eq!(describe_interval(900), "Every 15\u{a0}min");
        assert_eq!(describe_interval(7_200), "Every 2\u{a0}h");
        assert_eq!(describe_interval(86_400), "Every 1\u{a0}day");
        assert_eq!(describe_interval(604_800), "Every 7\u{a0}days");
    }

    #[test]
    fn a_chap_schedule_is_described_by_what_it_follows_not_by_a_cron() {
        let own = schedule(Uuid::nil(), None);
        assert_eq!(describe_timing(&own), "Cron 0 6 * * 1");
        let chap = chap_schedule(Uuid::nil(), &[]);
        assert_eq!(describe_timing(&chap), "Follows chap's setups");
    }
}
