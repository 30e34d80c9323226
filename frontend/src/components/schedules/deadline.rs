//! A schedule's deadline and automatic pause: the form's "Ready by" and "Pause after" fields, what
//! they send (empty is off; on edit an emptied field sends 0, which removes the setting), and how
//! the card words them with the failure count and why a schedule was paused.

use std::collections::BTreeMap;

use leptos::prelude::*;

/// The server's largest deadline: a week, in minutes.
pub(super) const MAX_READY_BY_MINUTES: f64 = 10_080.0;
/// The server's largest failure count before pausing.
pub(super) const MAX_PAUSE_AFTER: u32 = 100;

/// The fields this part of the form owns, by their API names.
pub(super) const DEADLINE_FIELDS: [&str; 2] = ["ready_by_minutes", "pause_after_failures"];

/// What "Ready by" sends: nothing for a new schedule left empty, 0 (remove) for an edit left
/// empty, else the minutes (fractions allowed; the server rounds to seconds).
pub(super) fn ready_by_to_send(text: &str, editing: bool) -> Result<Option<f64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(editing.then_some(0.0));
    }
    match text.replace(',', ".").parse::<f64>() {
        Ok(m) if m.is_finite() && (0.0..=MAX_READY_BY_MINUTES).contains(&m) => Ok(Some(m)),
        _ => Err(
            "Enter minutes from 0 to 10080 (a week), e.g. 90 or 0.5, or leave it empty.".to_owned(),
        ),
    }
}

/// What "Pause after" sends: nothing for a new schedule left empty, 0 (off) for an edit left
/// empty, else a whole number up to 100.
pub(super) fn pause_after_to_send(text: &str, editing: bool) -> Result<Option<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(editing.then_some(0));
    }
    match text.parse::<u32>() {
        Ok(n) if n <= MAX_PAUSE_AFTER => Ok(Some(n)),
        _ => Err("Enter a whole number from 1 to 100, or leave it empty.".to_owned()),
    }
}

/// A stored deadline as the form shows it: `90`, `0.5`; empty when there is none.
pub(super) fn ready_by_input(minutes: Option<f64>) -> String {
    minutes
        .filter(|m| *m > 0.0)
        .map(|m| m.to_string())
        .unwrap_or_default()
}

/// `30 s`, `45 min`, `1.5 min`, `2 h`, `2 h 30 min`.
fn minutes_text(minutes: f64) -> String {
    let seconds = (minutes * 60.0).round() as u64;
    if seconds < 60 {
        return format!("{seconds}\u{a0}s");
    }
    if !seconds.is_multiple_of(60) {
        let m = (minutes * 100.0).round() / 100.0;
        return format!("{m}\u{a0}min");
    }
    let whole = seconds / 60;
    match (whole / 60, whole % 60) {
        (0, m) => format!("{m}\u{a0}min"),
        (h, 0) => format!("{h}\u{a0}h"),
        (h, m) => format!("{h}\u{a0}h {m}\u{a0}min"),
    }
}

/// The card's "Ready by": `45 min after each slot`, or `no deadline`.
pub(super) fn ready_by_text(minutes: Option<f64>) -> String {
    match minutes.filter(|m| *m > 0.0) {
        Some(m) => format!("{} after each slot", minutes_text(m)),
        None => "no deadline".to_owned(),
    }
}

/// `1 failed run`, `3 failed runs`.
fn failed_runs(n: u32) -> String {
    if n == 1 {
        "1 failed run".to_owned()
    } else {
        format!("{n} failed runs")
    }
}

/// The card's "Pause after": the setting and how many runs failed in a row so far.
pub(super) fn pause_text(pause_after: Option<u32>, failures: u32) -> String {
    match (pause_after.filter(|n| *n > 0), failures) {
        (Some(n), 0) => format!("{} in a row (none so far)", failed_runs(n)),
        (Some(n), f) => format!("{} in a row ({f} so far)", failed_runs(n)),
        (None, 0) => "off".to_owned(),
        (None, f) => format!("off ({} in a row so far)", failed_runs(f)),
    }
}

/// The form's "Ready by" and "Pause after" inputs.
#[component]
pub(super) fn DeadlineFields(
    ready_by: RwSignal<String>,
    pause_after: RwSignal<String>,
    errors: RwSignal<BTreeMap<String, String>>,
) -> impl IntoView {
    let error_of = move |field: &'static str| crate::components::form::error_of(errors, field);
    let invalid = move |field: &'static str| crate::components::form::invalid_of(errors, field);
    view! {
        <fieldset class="field" data-testid="deadline-fields">
            <legend>"Deadline and automatic pause"</legend>
            <div class="field" data-field="ready_by_minutes">
                <label for="schedule-ready-by">"Ready by (minutes after each slot)"</label>
                <input
                    id="schedule-ready-by"
                    type="number"
                    inputmode="decimal"
                    min="0"
                    max="10080"
                    step="any"
                    aria-describedby="schedule-ready-by-help schedule-ready-by-error"
                    aria-invalid=invalid("ready_by_minutes")
                    prop:value=move || ready_by.get()
                    on:input=move |ev| ready_by.set(event_target_value(&ev))
                />
                <p class="help muted small" id="schedule-ready-by-help">
                    "A slot without a completed run this long after it is late: it is listed on the dashboard and notified as schedule.late. Empty: no deadline."
                </p>
                <p class="field-error" id="schedule-ready-by-error">
                    {error_of("ready_by_minutes")}
                </p>
            </div>
            <div class="field" data-field="pause_after_failures">
                <label for="schedule-pause-after">"Pause after N failed runs in a row"</label>
                <input
                    id="schedule-pause-after"
                    type="number"
                    inputmode="numeric"
                    min="1"
                    max="100"
                    step="1"
                    aria-describedby="schedule-pause-after-help schedule-pause-after-error"
                    aria-invalid=invalid("pause_after_failures")
                    prop:value=move || pause_after.get()
                    on:input=move |ev| pause_after.set(event_target_value(&ev))
                />
                <p class="help muted small" id="schedule-pause-after-help">
                    "The schedule switches itself off after this many failed runs in a row (notified as schedule.paused); switch it on again to resume. Empty: never."
                </p>
                <p class="field-error" id="schedule-pause-after-error">
                    {error_of("pause_after_failures")}
                </p>
            </div>
        </fieldset>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_field_is_off_and_on_edit_sends_zero_to_remove_the_setting() {
        assert_eq!(ready_by_to_send("", false), Ok(None));
        assert_eq!(ready_by_to_send("  ", true), Ok(Some(0.0)));
        assert_eq!(pause_after_to_send("", false), Ok(None));
        assert_eq!(pause_after_to_send("", true), Ok(Some(0)));
    }

    #[test]
    fn the_deadline_takes_fractions_up_to_a_week_and_the_pause_whole_numbers_up_to_100() {
        assert_eq!(ready_by_to_send("0.5", false), Ok(Some(0.5)));
        assert_eq!(ready_by_to_send("1,5", false), Ok(Some(1.5)));
        assert_eq!(ready_by_to_send("10080", false), Ok(Some(10_080.0)));
        assert!(ready_by_to_send("10081", false).is_err());
        assert!(ready_by_to_send("-1", true).is_err());
        assert!(ready_by_to_send("soon", true).is_err());
        assert_eq!(pause_after_to_send("3", false), Ok(Some(3)));
        assert!(pause_after_to_send("101", false).is_err());
        assert!(pause_after_to_send("2.5", false).is_err());
        assert!(pause_after_to_send("-1", false).is_err());
    }

    #[test]
    fn the_card_words_the_deadline_and_the_failures_so_far() {
        assert_eq!(ready_by_text(None), "no deadline");
        assert_eq!(ready_by_text(Some(0.5)), "30\u{a0}s after each slot");
        assert_eq!(ready_by_text(Some(45.0)), "45\u{a0}min after each slot");
        assert_eq!(ready_by_text(Some(1.5)), "1.5\u{a0}min after each slot");
        assert_eq!(
            ready_by_text(Some(150.0)),
            "2\u{a0}h 30\u{a0}min after each slot"
        );
        assert_eq!(ready_by_text(Some(120.0)), "2\u{a0}h after each slot");
        assert_eq!(pause_text(None, 0), "off");
        assert_eq!(pause_text(None, 2), "off (2 failed runs in a row so far)");
        assert_eq!(
            pause_text(Some(3), 0),
            "3 failed runs in a row (none so far)"
        );
        assert_eq!(pause_text(Some(1), 1), "1 failed run in a row (1 so far)");
        assert_eq!(ready_by_input(Some(0.05)), "0.05");
        assert_eq!(ready_by_input(Some(90.0)), "90");
        assert_eq!(ready_by_input(None), "");
    }
}
