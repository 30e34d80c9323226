//! A deployment's schedules, on its page: each with its next fire time in its own timezone, an
//! active switch, edit and delete (with confirmation); and the schedule form — cron or interval,
//! timezone picker, pinned parameters, missed-run policy — with the next fire times previewed live
//! while the expression is typed.

use std::collections::BTreeMap;
use std::time::Duration;

use chap_scheduler_api::{
    BlockView, DeploymentView, MissedPolicy, PreviewRequest, PreviewResponse, ScheduleRequest,
    ScheduleView,
};
use chrono::DateTime;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::clock::format_time;
use crate::components::deployment_settings::FlowResource;
use crate::components::form::{ConfirmButton, FormActions};
use crate::components::parameters::{check_as_typed, server_field_errors, Blocks, ParameterField};
use crate::components::shell::use_can_operate;
use crate::components::LoadingNotice;
use crate::schema_form::{self, FieldSpec};
use crate::tz;

/// Fire times the preview shows.
const PREVIEW_COUNT: u32 = 5;
/// Typing pauses this long before the preview is asked for.
const PREVIEW_DELAY: Duration = Duration::from_millis(300);

/// Interval units, largest first.
const UNITS: [(&str, u64); 4] = [
    ("days", 86_400),
    ("hours", 3_600),
    ("minutes", 60),
    ("seconds", 1),
];

/// What the panel's form is doing.
#[derive(Debug, Clone, PartialEq)]
enum Editing {
    None,
    New,
    Schedule(ScheduleView),
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
    match (&s.cron, s.interval_seconds) {
        (Some(cron), _) => format!("Cron {cron}"),
        (None, Some(seconds)) => describe_interval(seconds),
        (None, None) => "No timing".to_owned(),
    }
}

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
                    Editing::Schedule(s) => Some(s),
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

/// One schedule: timing, timezone, next and last slot, policy, pinned parameters; the active
/// switch, Edit and Delete.
#[component]
fn ScheduleCard(
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
    let next = match schedule.next_fire_at {
        Some(at) => format!(
            "{} ({} UTC)",
            tz::format_in(at, &schedule.timezone),
            format_time(at)
        ),
        None if !active => "none while inactive".to_owned(),
        None => "none (no further slot)".to_owned(),
    };
    let last = schedule.last_fire_at.map_or_else(
        || "never".to_owned(),
        |at| tz::format_in(at, &schedule.timezone),
    );
    let parameters = schedule.parameters.clone();
    let pinned = move || {
        let list = blocks.get().and_then(Result::ok).unwrap_or_default();
        pinned_text(&parameters, &list)
    };
    let for_edit = StoredValue::new(schedule.clone());

    view! {
        <li class="card schedule" data-schedule-id=id.to_string()>
            <h3>
                <span class="schedule-timing">{title.clone()}</span>
                " "
                {if active {
                    view! { <span class="state-badge state-completed">"Active"</span> }.into_any()
                } else {
                    view! { <span class="state-badge state-paused">"Inactive"</span> }.into_any()
                }}
            </h3>
            <dl class="facts">
                <dt>"Timezone"</dt>
                <dd>{schedule.timezone.clone()}</dd>
                <dt>"Next run"</dt>
                <dd data-testid="next-fire">{next}</dd>
                <dt>"Last run"</dt>
                <dd>{last}</dd>
                <dt>"Missed runs"</dt>
                <dd>{policy_text(schedule.missed_policy, schedule.max_missed)}</dd>
                <dt>"Skipped slots"</dt>
                <dd>{schedule.skipped_count}</dd>
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
                        on:click=move |_| editing.set(Editing::Schedule(for_edit.get_value()))
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
        </li>
    }
}

/// Cron or interval.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Timing {
    Cron,
    Interval,
}

/// What the live preview shows.
#[derive(Debug, Clone, PartialEq)]
enum Preview {
    /// Nothing to preview yet (or the input is incomplete).
    Idle,
    Loading,
    Ready(PreviewResponse),
    /// The server refused the expression; the message is at its field.
    Invalid,
    Failed(String),
}

/// `interval_seconds` as the largest unit that divides it: ("2", 3600) for two hours.
fn split_interval(seconds: u64) -> (String, u64) {
    UNITS
        .iter()
        .find(|(_, unit)| seconds.is_multiple_of(*unit))
        .map_or((seconds.to_string(), 1), |(_, unit)| {
            ((seconds / unit).to_string(), *unit)
        })
}

/// What the timing fields say, checked.
#[derive(Debug, Clone, PartialEq)]
struct TimingValue {
    cron: Option<String>,
    interval_seconds: Option<u64>,
    timezone: String,
}

/// The timing fields of the form as they are typed.
#[derive(Debug, Clone, Copy)]
struct TimingInputs {
    timing: RwSignal<Timing>,
    cron: RwSignal<String>,
    every: RwSignal<String>,
    unit: RwSignal<u64>,
    timezone: RwSignal<String>,
}

impl TimingInputs {
    /// The timing, or field → message for what is missing or malformed.
    fn read(&self) -> Result<TimingValue, BTreeMap<String, String>> {
        let mut errors = BTreeMap::new();
        let timezone = self.timezone.get().trim().to_owned();
        if timezone.is_empty() {
            errors.insert("timezone".to_owned(), "Required.".to_owned());
        } else if !tz::is_known(&timezone) {
            errors.insert(
                "timezone".to_owned(),
                "Not a timezone this browser knows; choose one from the list, e.g. Africa/Nairobi."
                    .to_owned(),
            );
        }
        let (cron, interval) = match self.timing.get() {
            Timing::Cron => {
                let cron = self.cron.get().trim().to_owned();
                if cron.is_empty() {
                    errors.insert("cron".to_owned(), "Required.".to_owned());
                }
                (Some(cron), None)
            }
            Timing::Interval => match self
                .every
                .get()
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .and_then(|n| n.checked_mul(self.unit.get()))
            {
                Some(seconds) => (None, Some(seconds)),
                None => {
                    errors.insert(
                        "interval_seconds".to_owned(),
                        "Enter a whole number above 0.".to_owned(),
                    );
                    (None, None)
                }
            },
        };
        if errors.is_empty() {
            Ok(TimingValue {
                cron,
                interval_seconds: interval,
                timezone,
            })
        } else {
            Err(errors)
        }
    }
}

/// Add or edit a schedule.
#[component]
fn ScheduleForm(
    deployment: DeploymentView,
    existing: Option<ScheduleView>,
    flow: FlowResource,
    blocks: Blocks,
    on_done: impl Fn(bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let deployment = StoredValue::new(deployment);
    let existing = StoredValue::new(existing);
    move || {
        flow.get().map(|result| match result {
            Err(e) => view! {
                <p class="form-error" role="alert">
                    {format!("Cannot load the schedule form: {e}")}
                </p>
            }
            .into_any(),
            Ok(flow) => {
                let specs = schema_form::fields(&flow.parameter_schema);
                let inherited = deployment.with_value(|d| {
                    schema_form::initial_values(&flow.parameter_schema, &d.parameters)
                });
                let pinned = existing.with_value(|e| {
                    schema_form::values_of(
                        &flow.parameter_schema,
                        &e.as_ref()
                            .map(|s| s.parameters.clone())
                            .unwrap_or(Value::Null),
                    )
                });
                view! {
                    <ScheduleFormFields
                        deployment_id=deployment.with_value(|d| d.id)
                        existing=existing.get_value()
                        specs
                        inherited
                        pinned
                        blocks
                        on_done
                    />
                }
                .into_any()
            }
        })
    }
}

#[component]
fn ScheduleFormFields(
    deployment_id: Uuid,
    existing: Option<ScheduleView>,
    specs: Vec<FieldSpec>,
    inherited: BTreeMap<String, String>,
    pinned: BTreeMap<String, String>,
    blocks: Blocks,
    on_done: impl Fn(bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let editing_id = existing.as_ref().map(|s| s.id);
    let (every0, unit0) = existing
        .as_ref()
        .and_then(|s| s.interval_seconds)
        .map_or(("1".to_owned(), 3_600), split_interval);
    let inputs = TimingInputs {
        timing: RwSignal::new(
            if existing
                .as_ref()
                .is_some_and(|s| s.interval_seconds.is_some())
            {
                Timing::Interval
            } else {
                Timing::Cron
            },
        ),
        cron: RwSignal::new(
            existing
                .as_ref()
                .and_then(|s| s.cron.clone())
                .unwrap_or_else(|| "0 6 * * 1".to_owned()),
        ),
        every: RwSignal::new(every0),
        unit: RwSignal::new(unit0),
        timezone: RwSignal::new(
            existing
                .as_ref()
                .map_or_else(tz::browser_timezone, |s| s.timezone.clone()),
        ),
    };
    let policy = RwSignal::new(
        existing
            .as_ref()
            .map_or(MissedPolicy::Skip, |s| s.missed_policy),
    );
    let max_missed = RwSignal::new(existing.as_ref().map_or(100, |s| s.max_missed).to_string());
    let active = RwSignal::new(existing.as_ref().is_none_or(|s| s.active));
    let values = RwSignal::new(pinned);
    let errors = RwSignal::new(BTreeMap::<String, String>::new());
    let form_error = RwSignal::new(None::<String>);
    let submitting = RwSignal::new(false);
    let preview = RwSignal::new(Preview::Idle);
    let submitted = RwSignal::new(false);
    let specs = StoredValue::new(specs);
    let inherited = StoredValue::new(inherited);
    let zones = StoredValue::new(tz::timezones());
    check_as_typed(specs, values, errors, submitted, move |s, v| {
        inherited.with_value(|i| schema_form::validate(s, &schema_form::merged(i, v)))
    });

    // The live preview: asked for PREVIEW_DELAY after the last change; older answers are dropped.
    let generation = StoredValue::new(0u64);
    let timer = StoredValue::new(None::<TimeoutHandle>);
    Effect::new(move |_| {
        let read = inputs.read();
        generation.update_value(|g| *g += 1);
        let asked_in = generation.get_value();
        if let Some(handle) = timer.get_value() {
            handle.clear();
        }
        errors.update(|e| {
            for field in ["cron", "interval_seconds", "timezone"] {
                e.remove(field);
            }
        });
        let TimingValue {
            cron,
            interval_seconds,
            timezone,
        } = match read {
            Ok(timing) => timing,
            Err(found) => {
                // Said at the field at once; there is nothing to preview until it is mended.
                errors.update(|e| e.extend(found));
                preview.set(Preview::Idle);
                return;
            }
        };
        preview.set(Preview::Loading);
        let request = PreviewRequest {
            cron,
            interval_seconds,
            anchor_at: None,
            timezone: Some(timezone),
            count: Some(PREVIEW_COUNT),
        };
        let handle = set_timeout_with_handle(
            move || {
                spawn_local(async move {
                    let result = api::preview_schedule(&request).await;
                    if generation.try_get_value() != Some(asked_in) {
                        return;
                    }
                    match result {
                        Ok(p) => {
                            preview.set(Preview::Ready(p));
                        }
                        Err(e) => {
                            let at_fields: Vec<(String, String)> =
                                ["cron", "interval_seconds", "timezone"]
                                    .into_iter()
                                    .filter_map(|f| e.field_error(f).map(|m| (f.to_owned(), m)))
                                    .collect();
                            if at_fields.is_empty() {
                                preview.set(Preview::Failed(e.to_string()));
                            } else {
                                errors.update(|errs| errs.extend(at_fields));
                                preview.set(Preview::Invalid);
                            }
                        }
                    }
                });
            },
            PREVIEW_DELAY,
        )
        .ok();
        timer.set_value(handle);
    });
    on_cleanup(move || {
        if let Some(handle) = timer.try_get_value().flatten() {
            handle.clear();
        }
    });

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if submitting.get_untracked() {
            return;
        }
        form_error.set(None);
        submitted.set(true);
        let current = values.get_untracked();
        let mut found = inherited.with_value(|i| {
            specs.with_value(|s| schema_form::validate(s, &schema_form::merged(i, &current)))
        });
        let timing = inputs.read();
        if let Err(e) = &timing {
            found.extend(e.clone());
        }
        let all = policy.get_untracked() == MissedPolicy::All;
        let max = max_missed.get_untracked().trim().parse::<u32>().ok();
        if all && !max.is_some_and(|m| (1..=1000).contains(&m)) {
            found.insert(
                "max_missed".to_owned(),
                "Enter a whole number from 1 to 1000.".to_owned(),
            );
        }
        let Ok(TimingValue {
            cron,
            interval_seconds,
            timezone,
        }) = timing
        else {
            errors.set(found);
            form_error.set(Some("Correct the highlighted fields.".to_owned()));
            return;
        };
        if !found.is_empty() {
            errors.set(found);
            form_error.set(Some("Correct the highlighted fields.".to_owned()));
            return;
        }
        errors.set(BTreeMap::new());
        let request = ScheduleRequest {
            cron,
            interval_seconds,
            anchor_at: None,
            timezone: Some(timezone),
            parameters: Some(inherited.with_value(|i| {
                specs.with_value(|s| schema_form::pinned_parameters(s, &current, i))
            })),
            active: Some(active.get_untracked()),
            missed_policy: Some(policy.get_untracked()),
            max_missed: if all { max } else { None },
        };
        submitting.set(true);
        spawn_local(async move {
            let result = match editing_id {
                Some(id) => api::update_schedule(id, &request).await,
                None => api::create_schedule(deployment_id, &request).await,
            };
            match result {
                Ok(_) => on_done(true),
                Err(e) => {
                    let mut at_fields = BTreeMap::new();
                    for field in [
                        "cron",
                        "interval_seconds",
                        "timezone",
                        "max_missed",
                        "missed_policy",
                    ] {
                        if let Some(m) = e.field_error(field) {
                            at_fields.insert(field.to_owned(), m);
                        }
                    }
                    at_fields.extend(specs.with_value(|s| server_field_errors(&e, s)));
                    errors.try_set(at_fields);
                    form_error.try_set(Some(e.to_string()));
                }
            }
            submitting.try_set(false);
        });
    };

    let error_of = move |field: &'static str| move || errors.with(|e| e.get(field).cloned());
    let invalid = move |field: &'static str| {
        move || {
            if errors.with(|e| e.contains_key(field)) {
                "true"
            } else {
                "false"
            }
        }
    };
    let parameter_fields = specs.with_value(|s| {
        s.iter()
            .cloned()
            .map(|spec| {
                view! {
                    <ParameterField spec values errors blocks id_prefix="schedule-param" inherited />
                }
            })
            .collect_view()
    });
    let heading = if editing_id.is_some() {
        "Edit schedule"
    } else {
        "Add a schedule"
    };

    view! {
        <form class="schedule-form" on:submit=submit novalidate aria-labelledby="schedule-form-heading">
            <h3 id="schedule-form-heading">{heading}</h3>
            <fieldset class="field">
                <legend>"Repeats"</legend>
                <label class="checkbox">
                    <input
                        type="radio"
                        name="schedule-timing"
                        value="cron"
                        checked=move || inputs.timing.get() == Timing::Cron
                        on:change=move |_| inputs.timing.set(Timing::Cron)
                    />
                    " On a cron schedule"
                </label>
                <label class="checkbox">
                    <input
                        type="radio"
                        name="schedule-timing"
                        value="interval"
                        checked=move || inputs.timing.get() == Timing::Interval
                        on:change=move |_| inputs.timing.set(Timing::Interval)
                    />
                    " At a fixed interval"
                </label>
            </fieldset>
            <div class="field" data-field="cron" hidden=move || inputs.timing.get() != Timing::Cron>
                <label for="schedule-cron">"Cron expression"</label>
                <input
                    id="schedule-cron"
                    type="text"
                    spellcheck="false"
                    autocomplete="off"
                    aria-describedby="schedule-cron-help schedule-cron-error"
                    aria-invalid=invalid("cron")
                    prop:value=move || inputs.cron.get()
                    on:input=move |ev| inputs.cron.set(event_target_value(&ev))
                />
                <p class="help muted small" id="schedule-cron-help">
                    "Minute, hour, day of month, month, weekday — e.g. "
                    <code>"30 6 * * 1-5"</code>
                    " is 06:30 on weekdays. Six fields put seconds first."
                </p>
                <p class="field-error" id="schedule-cron-error">
                    {error_of("cron")}
                </p>
            </div>
            <div
                class="field"
                data-field="interval_seconds"
                hidden=move || inputs.timing.get() != Timing::Interval
            >
                <label for="schedule-every">"Every"</label>
                <div class="inline-inputs">
                    <input
                        id="schedule-every"
                        type="number"
                        inputmode="numeric"
                        min="1"
                        step="1"
                        aria-describedby="schedule-every-help schedule-every-error"
                        aria-invalid=invalid("interval_seconds")
                        prop:value=move || inputs.every.get()
                        on:input=move |ev| inputs.every.set(event_target_value(&ev))
                    />
                    <label for="schedule-unit" class="visually-hidden">
                        "Unit"
                    </label>
                    <select
                        id="schedule-unit"
                        on:change=move |ev| {
                            if let Ok(unit) = event_target_value(&ev).parse() {
                                inputs.unit.set(unit);
                            }
                        }
                    >
                        {UNITS
                            .iter()
                            .rev()
                            .map(|(name, unit)| {
                                let unit = *unit;
                                view! {
                                    <option
                                        value=unit.to_string()
                                        selected=move || inputs.unit.get() == unit
                                    >
                                        {*name}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <p class="help muted small" id="schedule-every-help">
                    "Counted from when the schedule is saved. For a time of day, use a cron expression."
                </p>
                <p class="field-error" id="schedule-every-error">
                    {error_of("interval_seconds")}
                </p>
            </div>
            <div class="field" data-field="timezone">
                <label for="schedule-timezone">"Timezone"</label>
                <input
                    id="schedule-timezone"
                    type="text"
                    list="schedule-timezones"
                    autocomplete="off"
                    spellcheck="false"
                    aria-describedby="schedule-timezone-help schedule-timezone-error"
                    aria-invalid=invalid("timezone")
                    prop:value=move || inputs.timezone.get()
                    on:input=move |ev| inputs.timezone.set(event_target_value(&ev))
                />
                <datalist id="schedule-timezones">
                    {zones
                        .get_value()
                        .into_iter()
                        .map(|z| view! { <option value=z></option> })
                        .collect_view()}
                </datalist>
                <p class="help muted small" id="schedule-timezone-help">
                    "The expression is read in this zone's local time, daylight saving included. Type to search, e.g. Africa/Freetown."
                </p>
                <p class="field-error" id="schedule-timezone-error">
                    {error_of("timezone")}
                </p>
            </div>
            <SchedulePreview preview timezone=inputs.timezone />
            <fieldset class="field">
                <legend>"Pinned parameters"</legend>
                <p class="help muted small">
                    "Left empty, a parameter takes the deployment's default at each run."
                </p>
                {parameter_fields}
            </fieldset>
            <div class="field" data-field="missed_policy">
                <label for="schedule-policy">"Missed runs"</label>
                <select
                    id="schedule-policy"
                    aria-describedby="schedule-policy-help"
                    on:change=move |ev| {
                        policy
                            .set(
                                match event_target_value(&ev).as_str() {
                                    "latest" => MissedPolicy::Latest,
                                    "all" => MissedPolicy::All,
                                    _ => MissedPolicy::Skip,
                                },
                            )
                    }
                >
                    {[MissedPolicy::Skip, MissedPolicy::Latest, MissedPolicy::All]
                        .into_iter()
                        .map(|p| {
                            let label = match p {
                                MissedPolicy::Skip => "Skip them",
                                MissedPolicy::Latest => "Run the most recent once",
                                MissedPolicy::All => "Run every one",
                            };
                            view! {
                                <option value=p.as_str() selected=move || policy.get() == p>
                                    {label}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
                <p class="help muted small" id="schedule-policy-help">
                    "What to do with slots that passed while the service was down."
                </p>
            </div>
            <div
                class="field"
                data-field="max_missed"
                hidden=move || policy.get() != MissedPolicy::All
            >
                <label for="schedule-max-missed">"At most"</label>
                <input
                    id="schedule-max-missed"
                    type="number"
                    inputmode="numeric"
                    min="1"
                    max="1000"
                    step="1"
                    aria-describedby="schedule-max-missed-error"
                    aria-invalid=invalid("max_missed")
                    prop:value=move || max_missed.get()
                    on:input=move |ev| max_missed.set(event_target_value(&ev))
                />
                <p class="field-error" id="schedule-max-missed-error">
                    {error_of("max_missed")}
                </p>
            </div>
            <label class="checkbox">
                <input type="checkbox" id="schedule-active-new" bind:checked=active />
                " Active"
            </label>
            <FormActions
                error=form_error
                busy=submitting
                submit="Save schedule"
                busy_label="Saving…"
                on_cancel=Callback::new(move |()| on_done(false))
            />
        </form>
    }
}

/// The next fire times of what is typed, in the chosen zone and in UTC.
#[component]
fn SchedulePreview(preview: RwSignal<Preview>, timezone: RwSignal<String>) -> impl IntoView {
    view! {
        <div class="preview" aria-live="polite" data-testid="schedule-preview">
            <h4>"Next runs"</h4>
            {move || match preview.get() {
                Preview::Idle | Preview::Invalid => {
                    view! {
                        <p class="muted small">"Complete the timing above to see when it runs."</p>
                    }
                        .into_any()
                }
                Preview::Loading => view! { <p class="muted small">"Working it out…"</p> }.into_any(),
                Preview::Failed(m) => view! { <p class="form-error">{m}</p> }.into_any(),
                Preview::Ready(p) => {
                    let zone = timezone.get_untracked();
                    view! {
                        <ol class="fire-times">
                            {p
                                .fire_times
                                .iter()
                                .zip(p.local_times.iter())
                                .map(|(utc, local)| {
                                    let shown = DateTime::parse_from_rfc3339(local)
                                        .map(|l| l.format("%a %Y-%m-%d %H:%M (%:z)").to_string())
                                        .unwrap_or_else(|_| local.clone());
                                    view! {
                                        <li>
                                            <time datetime=utc.to_rfc3339()>{shown}</time>
                                            <span class="muted small">
                                                {format!(" {} UTC", format_time(*utc))}
                                            </span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ol>
                        <p class="muted small">{format!("Local times in {zone}.")}</p>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::{describe_interval, split_interval};

    #[test]
    fn intervals_read_in_their_largest_whole_unit() {
        assert_eq!(describe_interval(90), "Every 90\u{a0}s");
        assert_eq!(describe_interval(900), "Every 15\u{a0}min");
        assert_eq!(describe_interval(7_200), "Every 2\u{a0}h");
        assert_eq!(describe_interval(86_400), "Every 1\u{a0}day");
        assert_eq!(describe_interval(604_800), "Every 7\u{a0}days");
        assert_eq!(split_interval(7_200), ("2".to_owned(), 3_600));
        assert_eq!(split_interval(90), ("90".to_owned(), 1));
    }
}
