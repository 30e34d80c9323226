//! Add or edit a schedule: its source (own timing, or chap's prediction setups; set at creation),
//! the timing fields, pinned parameters, missed-run policy, deadline and automatic pause, and the
//! active switch.

use std::collections::BTreeMap;

use chap_scheduler_api::{
    DeploymentView, MissedPolicy, ScheduleRequest, ScheduleSource, ScheduleView,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use uuid::Uuid;

use super::deadline::{
    pause_after_to_send, ready_by_input, ready_by_to_send, DeadlineFields, DEADLINE_FIELDS,
};
use super::timing::{
    live_preview, split_interval, Timing, TimingFields, TimingInputs, TimingValue, TIMING_FIELDS,
};
use crate::api;
use crate::components::deployment_settings::FlowResource;
use crate::components::form::FormActions;
use crate::components::parameters::{check_as_typed, server_field_errors, Blocks, ParameterField};
use crate::schema_form::{self, FieldSpec};
use crate::tz;

/// The flow parameter whose starting value depends on the source.
const ONLY_NEW_DATA: &str = "only_new_data";

/// Parameters a `chap` schedule sets itself (each of its runs is one setup): never pinned by it.
const SET_PER_SETUP: [&str; 2] = ["prediction_setup_id", "prediction_setup_ids"];

/// The typed values a schedule of this source may pin.
fn pinnable(source: ScheduleSource, values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    values
        .iter()
        .filter(|(name, _)| {
            source == ScheduleSource::Own || !SET_PER_SETUP.contains(&name.as_str())
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The `only_new_data` a new schedule of this source pins: `true` for one that follows chap (a
/// setup whose data has not moved on is skipped, as chap's own scheduler would not rerun it),
/// nothing (the deployment's default, normally `false`) for one with its own timing.
fn only_new_data_default(source: ScheduleSource) -> &'static str {
    match source {
        ScheduleSource::Own => "",
        ScheduleSource::Chap => "true",
    }
}

/// The `only_new_data` value after switching a new schedule's source, when it still holds the old
/// source's default (a value the user chose is kept: `None`).
fn only_new_data_after_switch(
    current: &str,
    from: ScheduleSource,
    to: ScheduleSource,
) -> Option<&'static str> {
    (from != to && current.trim() == only_new_data_default(from)).then(|| only_new_data_default(to))
}

/// Add or edit a schedule.
#[component]
pub(super) fn ScheduleForm(
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

/// The timing inputs, started from the schedule being edited or from sensible defaults.
fn timing_inputs(existing: Option<&ScheduleView>) -> TimingInputs {
    let (every0, unit0) = existing
        .and_then(|s| s.interval_seconds)
        .map_or(("1".to_owned(), 3_600), split_interval);
    TimingInputs {
        source: RwSignal::new(existing.map_or(ScheduleSource::Own, |s| s.source)),
        timing: RwSignal::new(if existing.is_some_and(|s| s.interval_seconds.is_some()) {
            Timing::Interval
        } else {
            Timing::Cron
        }),
        cron: RwSignal::new(
            existing
                .and_then(|s| s.cron.clone())
                .unwrap_or_else(|| "0 6 * * 1".to_owned()),
        ),
        every: RwSignal::new(every0),
        unit: RwSignal::new(unit0),
        fallback: RwSignal::new(
            existing
                .and_then(|s| s.fallback_cron.clone())
                .unwrap_or_default(),
        ),
        timezone: RwSignal::new(existing.map_or_else(tz::browser_timezone, |s| s.timezone.clone())),
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
    let inputs = timing_inputs(existing.as_ref());
    let policy = RwSignal::new(
        existing
            .as_ref()
            .map_or(MissedPolicy::Skip, |s| s.missed_policy),
    );
    let max_missed = RwSignal::new(existing.as_ref().map_or(100, |s| s.max_missed).to_string());
    let active = RwSignal::new(existing.as_ref().is_none_or(|s| s.active));
    let ready_by = RwSignal::new(ready_by_input(
        existing.as_ref().and_then(|s| s.ready_by_minutes),
    ));
    let pause_after = RwSignal::new(
        existing
            .as_ref()
            .and_then(|s| s.pause_after_failures)
            .filter(|n| *n > 0)
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    let values = RwSignal::new(pinned);
    let errors = RwSignal::new(BTreeMap::<String, String>::new());
    let form_error = RwSignal::new(None::<String>);
    let submitting = RwSignal::new(false);
    let submitted = RwSignal::new(false);
    let specs = StoredValue::new(specs);
    let inherited = StoredValue::new(inherited);
    check_as_typed(specs, values, errors, submitted, move |s, v| {
        inherited.with_value(|i| schema_form::validate(s, &schema_form::merged(i, v)))
    });
    let preview = live_preview(inputs, errors);
    let has_only_new_data = specs.with_value(|s| s.iter().any(|f| f.name == ONLY_NEW_DATA));
    let choose_source = move |to: ScheduleSource| {
        let from = inputs.source.get_untracked();
        if has_only_new_data {
            values.update(|v| {
                let current = v.get(ONLY_NEW_DATA).cloned().unwrap_or_default();
                if let Some(new) = only_new_data_after_switch(&current, from, to) {
                    v.insert(ONLY_NEW_DATA.to_owned(), new.to_owned());
                }
            });
        }
        inputs.source.set(to);
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if submitting.get_untracked() {
            return;
        }
        form_error.set(None);
        submitted.set(true);
        let source = inputs.source.get_untracked();
        let current = pinnable(source, &values.get_untracked());
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
        let editing = editing_id.is_some();
        let ready_by_minutes = match ready_by_to_send(&ready_by.get_untracked(), editing) {
            Ok(minutes) => minutes,
            Err(e) => {
                found.insert("ready_by_minutes".to_owned(), e);
                None
            }
        };
        let pause_after_failures = match pause_after_to_send(&pause_after.get_untracked(), editing)
        {
            Ok(count) => count,
            Err(e) => {
                found.insert("pause_after_failures".to_owned(), e);
                None
            }
        };
        let Ok(TimingValue {
            cron,
            interval_seconds,
            fallback_cron,
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
            // The source is chosen once; an edit never sends it.
            source: editing_id.is_none().then_some(source),
            // An edit sends the fallback even when empty (that removes it); a new schedule only a
            // fallback it has.
            fallback_cron: fallback_cron.filter(|f| editing_id.is_some() || !f.is_empty()),
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
            ready_by_minutes,
            pause_after_failures,
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
                    for field in TIMING_FIELDS
                        .into_iter()
                        .chain(["source", "max_missed", "missed_policy"])
                        .chain(DEADLINE_FIELDS)
                    {
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

    let error_of = move |field: &'static str| crate::components::form::error_of(errors, field);
    let invalid = move |field: &'static str| crate::components::form::invalid_of(errors, field);
    let parameter_fields = specs.with_value(|s| {
        s.iter()
            .cloned()
            .map(|spec| {
                let per_setup = SET_PER_SETUP.contains(&spec.name.as_str());
                view! {
                    <div
                        class="parameter"
                        hidden=move || per_setup && inputs.source.get() == ScheduleSource::Chap
                    >
                        <ParameterField spec values errors blocks id_prefix="schedule-param" inherited />
                    </div>
                }
            })
            .collect_view()
    });
    let heading = if editing_id.is_some() {
        "Edit schedule"
    } else {
        "Add a schedule"
    };
    let locked = editing_id.is_some();

    view! {
        <form class="schedule-form" on:submit=submit novalidate aria-labelledby="schedule-form-heading">
            <h3 id="schedule-form-heading">{heading}</h3>
            <fieldset class="field" data-field="source" aria-describedby="schedule-source-help schedule-source-error">
                <legend>"Timing from"</legend>
                <label class="checkbox">
                    <input
                        type="radio"
                        name="schedule-source"
                        value="own"
                        disabled=locked
                        checked=move || inputs.source.get() == ScheduleSource::Own
                        on:change=move |_| choose_source(ScheduleSource::Own)
                    />
                    " Its own timing (cron or interval)"
                </label>
                <label class="checkbox">
                    <input
                        type="radio"
                        name="schedule-source"
                        value="chap"
                        disabled=locked
                        checked=move || inputs.source.get() == ScheduleSource::Chap
                        on:change=move |_| choose_source(ScheduleSource::Chap)
                    />
                    " Follow chap's prediction setups"
                </label>
                <p class="help muted small" id="schedule-source-help">
                    {if locked {
                        "Chosen when the schedule was created; it cannot be changed. Delete the schedule and add another to change it."
                    } else {
                        "Following chap, each setup enabled in chap runs on its own at the cron set for it in chap's modeling app."
                    }}
                </p>
                <p class="field-error" id="schedule-source-error">
                    {error_of("source")}
                </p>
            </fieldset>
            <TimingFields inputs errors preview />
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
            <DeadlineFields ready_by pause_after errors />
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

#[cfg(test)]
mod tests {
    use chap_scheduler_api::ScheduleSource::{Chap, Own};

    use std::collections::BTreeMap;

    use super::{only_new_data_after_switch, pinnable};

    #[test]
    fn a_chap_schedule_pins_no_setup_ids_since_each_of_its_runs_is_one_setup() {
        let typed = BTreeMap::from([
            ("credentials".to_owned(), "b1".to_owned()),
            ("prediction_setup_id".to_owned(), "3".to_owned()),
            ("prediction_setup_ids".to_owned(), "1, 2".to_owned()),
        ]);
        assert_eq!(pinnable(Own, &typed), typed);
        assert_eq!(
            pinnable(Chap, &typed).into_keys().collect::<Vec<_>>(),
            ["credentials"]
        );
    }

    #[test]
    fn only_new_data_starts_true_for_chap_schedules_and_a_chosen_value_is_kept() {
        // Untouched: the new source's default.
        assert_eq!(only_new_data_after_switch("", Own, Chap), Some("true"));
        assert_eq!(only_new_data_after_switch("true", Chap, Own), Some(""));
        // Chosen by the user: kept whichever way the source goes.
        assert_eq!(only_new_data_after_switch("false", Own, Chap), None);
        assert_eq!(only_new_data_after_switch("false", Chap, Own), None);
        assert_eq!(only_new_data_after_switch("true", Own, Chap), None);
        assert_eq!(only_new_data_after_switch("", Chap, Own), None);
        // No switch, no change.
        assert_eq!(only_new_data_after_switch("", Own, Own), None);
    }
}
