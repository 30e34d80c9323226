//! The timing part of the schedule form: cron or interval (own schedules) or an optional fallback
//! cron (schedules that follow chap), the timezone, and the next fire times previewed live while
//! the expression is typed.

use std::collections::BTreeMap;
use std::time::Duration;

use chap_scheduler_api::{PreviewRequest, PreviewResponse, ScheduleSource};
use chrono::DateTime;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::time::{Precision, Time};
use crate::tz;

/// Fire times the preview shows.
const PREVIEW_COUNT: u32 = 5;
/// Typing pauses this long before the preview is asked for.
const PREVIEW_DELAY: Duration = Duration::from_millis(300);

/// Interval units, largest first.
pub(super) const UNITS: [(&str, u64); 4] = [
    ("days", 86_400),
    ("hours", 3_600),
    ("minutes", 60),
    ("seconds", 1),
];

/// The fields this part of the form owns (their messages are replaced as they are typed).
pub(super) const TIMING_FIELDS: [&str; 4] =
    ["cron", "interval_seconds", "fallback_cron", "timezone"];

/// Cron or interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Timing {
    Cron,
    Interval,
}

/// What the live preview shows.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Preview {
    /// Nothing to preview yet (or the input is incomplete).
    Idle,
    Loading,
    Ready(PreviewResponse),
    /// The server refused the expression; the message is at its field.
    Invalid,
    Failed(String),
}

/// `interval_seconds` as the largest unit that divides it: ("2", 3600) for two hours.
pub(super) fn split_interval(seconds: u64) -> (String, u64) {
    UNITS
        .iter()
        .find(|(_, unit)| seconds.is_multiple_of(*unit))
        .map_or((seconds.to_string(), 1), |(_, unit)| {
            ((seconds / unit).to_string(), *unit)
        })
}

/// What the timing fields say, checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TimingValue {
    pub cron: Option<String>,
    pub interval_seconds: Option<u64>,
    /// `chap` schedules: the fallback cron as typed, trimmed (empty: none).
    pub fallback_cron: Option<String>,
    pub timezone: String,
}

impl TimingValue {
    /// What the preview asks for: the own timing, or a `chap` schedule's fallback cron (nothing to
    /// preview without one: each setup's own cron is in chap).
    pub(super) fn preview_request(&self) -> Option<PreviewRequest> {
        let fallback = self.fallback_cron.clone().filter(|f| !f.is_empty());
        if self.cron.is_none() && self.interval_seconds.is_none() && fallback.is_none() {
            return None;
        }
        Some(PreviewRequest {
            cron: self.cron.clone().or(fallback),
            interval_seconds: self.interval_seconds,
            anchor_at: None,
            timezone: Some(self.timezone.clone()),
            count: Some(PREVIEW_COUNT),
        })
    }
}

/// The timing fields of the form as they are typed.
#[derive(Debug, Clone, Copy)]
pub(super) struct TimingInputs {
    pub source: RwSignal<ScheduleSource>,
    pub timing: RwSignal<Timing>,
    pub cron: RwSignal<String>,
    pub every: RwSignal<String>,
    pub unit: RwSignal<u64>,
    pub fallback: RwSignal<String>,
    pub timezone: RwSignal<String>,
}

/// The timing, or field → message for what is missing or malformed. `known_zone` says whether the
/// browser knows a timezone (a parameter, so the rule is tested without a browser).
pub(super) fn read_timing(
    source: ScheduleSource,
    timing: Timing,
    cron: &str,
    (every, unit): (&str, u64),
    fallback: &str,
    timezone: &str,
    known_zone: impl Fn(&str) -> bool,
) -> Result<TimingValue, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let timezone = timezone.trim().to_owned();
    if timezone.is_empty() {
        errors.insert("timezone".to_owned(), "Required.".to_owned());
    } else if !known_zone(&timezone) {
        errors.insert(
            "timezone".to_owned(),
            "Not a timezone this browser knows; choose one from the list, e.g. Africa/Nairobi."
                .to_owned(),
        );
    }
    let (cron, interval, fallback) = match (source, timing) {
        // The setups' crons are chap's; the fallback is optional and checked by the server.
        (ScheduleSource::Chap, _) => (None, None, Some(fallback.trim().to_owned())),
        (ScheduleSource::Own, Timing::Cron) => {
            let cron = cron.trim().to_owned();
            if cron.is_empty() {
                errors.insert("cron".to_owned(), "Required.".to_owned());
            }
            (Some(cron), None, None)
        }
        (ScheduleSource::Own, Timing::Interval) => match every
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .and_then(|n| n.checked_mul(unit))
        {
            Some(seconds) => (None, Some(seconds), None),
            None => {
                errors.insert(
                    "interval_seconds".to_owned(),
                    "Enter a whole number above 0.".to_owned(),
                );
                (None, None, None)
            }
        },
    };
    if errors.is_empty() {
        Ok(TimingValue {
            cron,
            interval_seconds: interval,
            fallback_cron: fallback,
            timezone,
        })
    } else {
        Err(errors)
    }
}

impl TimingInputs {
    /// The timing, or field → message for what is missing or malformed.
    pub(super) fn read(&self) -> Result<TimingValue, BTreeMap<String, String>> {
        read_timing(
            self.source.get(),
            self.timing.get(),
            &self.cron.get(),
            (&self.every.get(), self.unit.get()),
            &self.fallback.get(),
            &self.timezone.get(),
            tz::is_known,
        )
    }
}

/// Keeps `preview` up to date with the timing fields: asked for [`PREVIEW_DELAY`] after the last
/// change, older answers dropped; the server's objections land at their fields in `errors`.
pub(super) fn live_preview(
    inputs: TimingInputs,
    errors: RwSignal<BTreeMap<String, String>>,
) -> RwSignal<Preview> {
    let preview = RwSignal::new(Preview::Idle);
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
            for field in TIMING_FIELDS {
                e.remove(field);
            }
        });
        let request = match read {
            Ok(timing) => timing.preview_request(),
            Err(found) => {
                // Said at the field at once; there is nothing to preview until it is mended.
                errors.update(|e| e.extend(found));
                None
            }
        };
        let Some(request) = request else {
            preview.set(Preview::Idle);
            return;
        };
        // The preview checks the fallback cron as a cron: its objection belongs to that field.
        let cron_field = match inputs.source.get_untracked() {
            ScheduleSource::Own => "cron",
            ScheduleSource::Chap => "fallback_cron",
        };
        preview.set(Preview::Loading);
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
                            let at_fields: Vec<(String, String)> = [
                                ("cron", cron_field),
                                ("interval_seconds", "interval_seconds"),
                                ("timezone", "timezone"),
                            ]
                            .into_iter()
                            .filter_map(|(from, to)| {
                                e.field_error(from).map(|m| (to.to_owned(), m))
                            })
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
    preview
}

/// The timing fields: cron or interval for an own schedule, the fallback cron for one that follows
/// chap; then the timezone and the preview.
#[component]
pub(super) fn TimingFields(
    inputs: TimingInputs,
    errors: RwSignal<BTreeMap<String, String>>,
    preview: RwSignal<Preview>,
) -> impl IntoView {
    let zones = StoredValue::new(tz::timezones());
    let error_of = move |field: &'static str| crate::components::form::error_of(errors, field);
    let invalid = move |field: &'static str| crate::components::form::invalid_of(errors, field);
    let own = move || inputs.source.get() == ScheduleSource::Own;

    view! {
        <fieldset class="field" hidden=move || !own()>
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
        <div class="field" data-field="cron" hidden=move || !own() || inputs.timing.get() != Timing::Cron>
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
            hidden=move || !own() || inputs.timing.get() != Timing::Interval
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
                                <option value=unit.to_string() selected=move || inputs.unit.get() == unit>
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
        <div class="field" data-field="fallback_cron" hidden=own>
            <label for="schedule-fallback-cron">
                "Fallback cron (for setups enabled without a cron)"
                <span class="required">" (optional)"</span>
            </label>
            <input
                id="schedule-fallback-cron"
                type="text"
                spellcheck="false"
                autocomplete="off"
                placeholder="e.g. 0 6 * * 1"
                aria-describedby="schedule-fallback-cron-help schedule-fallback-cron-error"
                aria-invalid=invalid("fallback_cron")
                prop:value=move || inputs.fallback.get()
                on:input=move |ev| inputs.fallback.set(event_target_value(&ev))
            />
            <p class="help muted small" id="schedule-fallback-cron-help">
                "Each prediction setup enabled in chap fires at its own cron. One enabled without a cron fires at this one (5 fields); left empty, such setups are listed but not run."
            </p>
            <p class="field-error" id="schedule-fallback-cron-error">
                {error_of("fallback_cron")}
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
                {move || match inputs.source.get() {
                    ScheduleSource::Own => "The expression is read in this zone's local time, daylight saving included. Type to search, e.g. Africa/Freetown.",
                    ScheduleSource::Chap => "chap stores no timezone: the setups' crons are read in this zone's local time, daylight saving included. Type to search, e.g. Africa/Freetown.",
                }}
            </p>
            <p class="field-error" id="schedule-timezone-error">
                {error_of("timezone")}
            </p>
        </div>
        <SchedulePreview preview inputs />
    }
}

/// The next fire times of what is typed, in the chosen zone and on the viewer's clock.
#[component]
fn SchedulePreview(preview: RwSignal<Preview>, inputs: TimingInputs) -> impl IntoView {
    let chap = move || inputs.source.get() == ScheduleSource::Chap;
    view! {
        <div class="preview" aria-live="polite" data-testid="schedule-preview">
            <h4>
                {move || if chap() { "Next runs of the fallback cron" } else { "Next runs" }}
            </h4>
            {move || match preview.get() {
                Preview::Idle if chap() => {
                    view! {
                        <p class="muted small">
                            "Each setup's next runs are listed with the schedule once it is saved."
                        </p>
                    }
                        .into_any()
                }
                Preview::Idle | Preview::Invalid => {
                    view! {
                        <p class="muted small">"Complete the timing above to see when it runs."</p>
                    }
                        .into_any()
                }
                Preview::Loading => view! { <p class="muted small">"Working it out…"</p> }.into_any(),
                Preview::Failed(m) => view! { <p class="form-error">{m}</p> }.into_any(),
                Preview::Ready(p) => {
                    let zone = inputs.timezone.get_untracked();
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
                                                " "
                                                <Time at=*utc precision=Precision::Second zone=true />
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
    use chap_scheduler_api::ScheduleSource;

    use super::{read_timing, split_interval, Timing};

    fn known(zone: &str) -> bool {
        zone == "UTC" || zone == "Africa/Nairobi"
    }

    #[test]
    fn intervals_split_into_their_largest_whole_unit() {
        assert_eq!(split_interval(7_200), ("2".to_owned(), 3_600));
        assert_eq!(split_interval(90), ("90".to_owned(), 1));
    }

    #[test]
    fn an_own_schedule_needs_its_cron_or_interval() {
        let own = |timing, cron, every| {
            read_timing(
                ScheduleSource::Own,
                timing,
                cron,
                (every, 60),
                "",
                "UTC",
                known,
            )
        };
        let cron = own(Timing::Cron, " 30 6 * * 1-5 ", "").expect("a cron");
        assert_eq!(cron.cron.as_deref(), Some("30 6 * * 1-5"));
        assert_eq!(cron.fallback_cron, None);
        let missing = own(Timing::Cron, "  ", "").expect_err("no cron");
        assert_eq!(missing.get("cron").map(String::as_str), Some("Required."));
        let every = own(Timing::Interval, "", "15").expect("an interval");
        assert_eq!(every.interval_seconds, Some(900));
        assert!(own(Timing::Interval, "", "0").is_err());
    }

    #[test]
    fn a_chap_schedule_has_no_timing_of_its_own_and_previews_only_its_fallback() {
        let chap = |fallback, zone| {
            read_timing(
                ScheduleSource::Chap,
                Timing::Cron,
                "ignored",
                ("x", 1),
                fallback,
                zone,
                known,
            )
        };
        let none = chap("  ", "Africa/Nairobi").expect("no fallback is fine");
        assert_eq!((none.cron.clone(), none.interval_seconds), (None, None));
        assert_eq!(none.fallback_cron.as_deref(), Some(""));
        assert_eq!(none.preview_request(), None);
        let with = chap(" 0 6 * * 1 ", "UTC").expect("a fallback");
        let request = with.preview_request().expect("previewed");
        assert_eq!(request.cron.as_deref(), Some("0 6 * * 1"));
        assert_eq!(request.timezone.as_deref(), Some("UTC"));
        let zone = chap("", "Mars/Base").expect_err("unknown zone");
        assert!(zone["timezone"].starts_with("Not a timezone"));
    }
}
