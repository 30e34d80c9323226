//! One schedule in the list: timing, timezone, next and last slot, policy, deadline, automatic pause
//! with the failures so far, pinned parameters; why it was paused, when it paused itself; the
//! active switch, Edit and Delete. A schedule that follows chap also shows its setups.

use chap_scheduler_api::{
    BlockView, ChapSetupsView, MissedPolicy, ScheduleRequest, ScheduleSource, ScheduleView,
};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use uuid::Uuid;

use super::chap::{latest_run_slot, skipped_total, soonest_fire, ChapSetups};
use super::deadline::{pause_text, ready_by_text};
use super::{describe_timing, Editing};
use crate::api;
use crate::components::form::ConfirmButton;
use crate::components::parameters::Blocks;
use crate::components::runs::short_id;
use crate::components::shell::use_can_operate;
use crate::components::time::{Precision, Time};
use crate::paths::app_path;
use crate::tz;

fn policy_text(policy: MissedPolicy, max_missed: u32) -> String {
    match policy {
        MissedPolicy::Skip => "skip (resume with the next slot)".to_owned(),
        MissedPolicy::Latest => "latest (run once for the most recent)".to_owned(),
        MissedPolicy::All => format!("all (run each, at most {max_missed})"),
    }
}

/// The pinned parameters as `name: value` pairs, credentials by block name.
fn pinned_text(parameters: &Value, blocks: &[BlockView]) -> String {
    let Some(map) = parameters.as_object().filter(|m| !m.is_empty()) else {
        return "none (the deployment's defaults)".to_owned();
    };
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => blocks
                    .iter()
                    .find(|b| b.id.to_string() == *s)
                    .map_or_else(|| s.clone(), |b| b.name.clone()),
                other => other.to_string(),
            };
            format!("{k}: {text}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The next slot as the card shows it: in the schedule's zone, and on the viewer's clock.
fn next_view(next: Option<DateTime<Utc>>, active: bool, chap: bool, timezone: &str) -> AnyView {
    match next {
        Some(at) => view! {
            {tz::format_in(at, timezone)}
            " ("
            <Time at precision=Precision::Second zone=true />
            ")"
        }
        .into_any(),
        None if !active => "none while inactive".into_any(),
        None if chap => "none (no setup is scheduled)".into_any(),
        None => "none (no further slot)".into_any(),
    }
}

/// Why a schedule paused itself, and how to resume it: the text before the last failed run's id,
/// the run (when the reason names one), and the text after it.
fn paused_text(reason: &str) -> (String, Option<Uuid>, String) {
    let reason = reason.trim().trim_end_matches('.');
    let mut chars = reason.chars();
    let reason: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "It failed too often".to_owned(),
    };
    let resume = ". Switch it to Active to resume; the count of failed runs starts again.";
    // The server names the last failed run by its id: the card links it.
    let run = reason
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find_map(|word| word.parse::<Uuid>().ok().filter(|_| word.len() == 36));
    match run.and_then(|id| reason.find(&id.to_string()).map(|at| (id, at))) {
        Some((id, at)) => (
            reason[..at].to_owned(),
            Some(id),
            format!("{}{resume}", &reason[at + 36..]),
        ),
        None => (format!("{reason}{resume}"), None, String::new()),
    }
}

/// One schedule: its facts, then (operators) the active switch, Edit and Delete.
#[component]
pub(super) fn ScheduleCard(
    schedule: ScheduleView,
    editing: RwSignal<Editing>,
    blocks: Blocks,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let can_operate = use_can_operate();
    let id = schedule.id;
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let title = describe_timing(&schedule);
    let switch_id = format!("schedule-active-{id}");
    let chap = schedule.source == ScheduleSource::Chap;
    // A `chap` schedule's setups, loaded by its setups table; the card's next run follows them.
    let setups = RwSignal::new(None::<ChapSetupsView>);

    let active = schedule.active;
    let set_active = move |ev| {
        let want = event_target_checked(&ev);
        busy.set(true);
        error.set(None);
        let request = ScheduleRequest {
            active: Some(want),
            ..Default::default()
        };
        spawn_local(async move {
            match api::update_schedule(id, &request).await {
                Ok(_) => on_change(),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
            busy.try_set(false);
        });
    };
    let delete = move |()| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::delete_schedule(id).await {
                Ok(()) => on_change(),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                    busy.try_set(false);
                }
            }
        });
    };
    let timezone = StoredValue::new(schedule.timezone.clone());
    let listed_next = schedule.next_fire_at;
    let next = move || {
        let soonest = setups.with(|s| s.as_ref().map(soonest_fire));
        timezone.with_value(|z| next_view(soonest.unwrap_or(listed_next), active, chap, z))
    };
    // A `chap` schedule's runs are its setups': its last run and skipped slots are theirs.
    let listed_last = schedule.last_fire_at;
    let last = move || {
        let latest = setups.with(|s| s.as_ref().and_then(latest_run_slot));
        latest.or(listed_last).map_or_else(
            || "never".to_owned(),
            |at| timezone.with_value(|z| tz::format_in(at, z)),
        )
    };
    let listed_skipped = schedule.skipped_count;
    let skipped = move || {
        setups.with(|s| {
            s.as_ref()
                .map_or(listed_skipped, |v| listed_skipped + skipped_total(v))
        })
    };
    let parameters = schedule.parameters.clone();
    let pinned = move || {
        let list = blocks.get().and_then(Result::ok).unwrap_or_default();
        pinned_text(&parameters, &list)
    };
    let fallback = schedule.fallback_cron.clone();
    // Only an inactive schedule's reason counts: activating it again clears the reason.
    let paused_reason = schedule.paused_reason.clone().filter(|_| !active);
    let for_edit = StoredValue::new(schedule.clone());
    let class = if chap {
        "card schedule chap-schedule"
    } else {
        "card schedule"
    };

    view! {
        <li class=class data-schedule-id=id.to_string() data-source=schedule.source.as_str()>
            <h3>
                <span class="schedule-timing">{title.clone()}</span>
                " "
                {match (active, paused_reason.is_some()) {
                    (true, _) => {
                        view! { <span class="state-badge state-completed">"Active"</span> }.into_any()
                    }
                    (false, true) => {
                        view! { <span class="state-badge state-failed">"Paused"</span> }.into_any()
                    }
                    (false, false) => {
                        view! { <span class="state-badge state-paused">"Inactive"</span> }.into_any()
                    }
                }}
            </h3>
            {paused_reason
                .map(|reason| {
                    view! {
                        <p class="sync-error" role="note" data-testid="paused-reason">
                            <strong>"Paused automatically. "</strong>
                            {
                                let (before, run, after) = paused_text(&reason);
                                view! {
                                    {before}
                                    {run
                                        .map(|id| {
                                            view! { <a href=app_path(&format!("/runs/{id}"))>{short_id(id)}</a> }
                                        })}
                                    {after}
                                }
                            }
                        </p>
                    }
                })}
            <dl class="facts">
                <dt>"Timezone"</dt>
                <dd>{schedule.timezone.clone()}</dd>
                {chap
                    .then(|| {
                        view! {
                            <dt>"Fallback cron"</dt>
                            <dd data-testid="fallback-cron">
                                {match fallback {
                                    Some(cron) => view! { <code>{cron}</code> }.into_any(),
                                    None => {
                                        "none (setups enabled without a cron are not run)".into_any()
                                    }
                                }}
                            </dd>
                        }
                    })}
                <dt>"Next run"</dt>
                <dd data-testid="next-fire">{next}</dd>
                <dt>"Last run"</dt>
                <dd data-testid="last-fire">{last}</dd>
                <dt>"Missed runs"</dt>
                <dd>{policy_text(schedule.missed_policy, schedule.max_missed)}</dd>
                <dt>"Skipped slots"</dt>
                <dd>{skipped}</dd>
                <dt>"Ready by"</dt>
                <dd data-testid="ready-by">{ready_by_text(schedule.ready_by_minutes)}</dd>
                <dt>"Pause after"</dt>
                <dd data-testid="pause-after">
                    {pause_text(schedule.pause_after_failures, schedule.consecutive_failures)}
                </dd>
                <dt>"Pinned parameters"</dt>
                <dd>{pinned}</dd>
            </dl>
            <Show when=move || can_operate.get()>
                <div class="actions">
                    <label class="switch">
                        <input
                            type="checkbox"
                            role="switch"
                            id=switch_id.clone()
                            checked=active
                            disabled=busy
                            on:change=set_active
                        />
                        " Active"
                    </label>
                    <button
                        type="button"
                        class="button secondary"
                        aria-label=format!("Edit schedule {title}")
                        on:click=move |_| editing.set(Editing::Schedule(Box::new(for_edit.get_value())))
                    >
                        "Edit"
                    </button>
                    <ConfirmButton
                        label="Delete…"
                        question="Delete this schedule? Runs it already created stay."
                        confirm_label="Delete schedule"
                        busy
                        on_confirm=Callback::new(delete)
                    />
                </div>
                {move || error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            </Show>
            {chap
                .then(|| {
                    view! { <ChapSetups schedule_id=id timezone=timezone.get_value() setups /> }
                })}
        </li>
    }
}

#[cfg(test)]
mod tests {
    use chap_scheduler_api::MissedPolicy;
    use serde_json::json;

    use super::{paused_text, pinned_text, policy_text};

    #[test]
    fn a_paused_schedule_says_why_links_the_last_failed_run_and_how_to_resume() {
        let resume = ". Switch it to Active to resume; the count of failed runs starts again.";
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let (before, run, after) = paused_text(&format!(
            "paused after 3 failed run(s) in a row (the last: run {id})"
        ));
        assert_eq!(
            before,
            "Paused after 3 failed run(s) in a row (the last: run "
        );
        assert_eq!(run.map(|r| r.to_string()).as_deref(), Some(id));
        assert_eq!(after, format!("){resume}"));
        assert_eq!(
            paused_text("too many failures"),
            (format!("Too many failures{resume}"), None, String::new())
        );
    }

    #[test]
    fn policies_and_pinned_parameters_read_as_words() {
        assert_eq!(
            policy_text(MissedPolicy::All, 7),
            "all (run each, at most 7)"
        );
        assert_eq!(
            pinned_text(&json!({}), &[]),
            "none (the deployment's defaults)"
        );
        assert_eq!(
            pinned_text(&json!({"only_new_data": true, "credentials": "x"}), &[]),
            "credentials: x, only_new_data: true"
        );
    }
}
