//! One prediction setup of a `chap` schedule as a table row: id and name, its switch and cron
//! (editable by operators, written to chap), status, next fire times, skipped slots and last run.
//! chap's refusal (or ours) is shown at the field it concerns.

use chap_scheduler_api::{ChapSetupUpdate, ChapSetupView, ChapSetupsView, SetupLastRun};
use chrono::{DateTime, Utc};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::chap::status_text;
use crate::api::{self, ApiError};
use crate::clock::format_utc;
use crate::components::runs::{short_id, RunStateBadge};
use crate::components::shell::use_can_operate;
use crate::components::time::Time;
use crate::paths::app_path;
use crate::tz;

/// A cron typed for a setup, as chap takes it: exactly 5 fields, blanks collapsed; an empty one
/// (removing the cron) is `""`. Anything subtler is left to the server, which checks it as a cron.
pub(super) fn check_setup_cron(typed: &str) -> Result<String, String> {
    let fields: Vec<&str> = typed.split_whitespace().collect();
    match fields.len() {
        0 | 5 => Ok(fields.join(" ")),
        n => Err(format!(
            "chap takes exactly 5 fields (minute hour day-of-month month day-of-week); this has {n}."
        )),
    }
}

/// Which action a refusal belongs to when the server names no field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    Switch,
    Cron,
}

/// (message at the switch, message at the cron) for a refused change.
fn refusal_messages(error: &ApiError, change: Change) -> (Option<String>, Option<String>) {
    let enabled = error.field_error("enabled");
    let cron = error.field_error("cron");
    if enabled.is_none() && cron.is_none() {
        return match change {
            Change::Switch => (Some(error.to_string()), None),
            Change::Cron => (None, Some(error.to_string())),
        };
    }
    (enabled, cron)
}

/// `Mon 2026-12-07 06:00 EAT` as (`Mon 2026-12-07`, `06:00 EAT`): a narrow cell breaks it only there.
fn split_date_time(shown: &str) -> (String, String) {
    let mut parts = shown.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(day), Some(date), Some(time)) => (format!("{day} {date}"), time.to_owned()),
        _ => (shown.to_owned(), String::new()),
    }
}

/// `Mon 2026-12-07 06:00 EAT` with the UTC instant as its `datetime` and tooltip.
fn fire_time(at: DateTime<Utc>, timezone: &str) -> impl IntoView {
    let (date, time) = split_date_time(&tz::format_in(at, timezone));
    view! {
        <time datetime=at.to_rfc3339() title=format_utc(at)>
            <span class="nowrap">{date}</span>
            " "
            <span class="nowrap">{time}</span>
        </time>
    }
}

fn last_run_view(run: Option<SetupLastRun>) -> AnyView {
    let Some(run) = run else {
        return view! { <span class="muted">"none yet"</span> }.into_any();
    };
    let outcome = run.setup_status.map(|s| format!(" setup {s}"));
    let slot = run
        .scheduled_for
        .map(|at| view! { "for " <Time at zone=true /> });
    view! {
        <a href=app_path(&format!("/runs/{}", run.id)) class="run-id">
            {short_id(run.id)}
        </a>
        " "
        <RunStateBadge state=run.state />
        <span class="small" data-testid="setup-outcome">{outcome}</span>
        <span class="small muted">{slot}</span>
    }
    .into_any()
}

/// One setup's row. It reads its setup from `setups` by id, so a reload keeps a cron being typed.
#[component]
pub(super) fn SetupRow(
    schedule_id: Uuid,
    setup_id: i64,
    setups: RwSignal<Option<ChapSetupsView>>,
    timezone: String,
) -> impl IntoView {
    let can_operate = use_can_operate();
    let setup: Memo<Option<ChapSetupView>> = Memo::new(move |_| {
        setups.with(|v| {
            v.as_ref()
                .and_then(|v| v.setups.iter().find(|s| s.id == setup_id).cloned())
        })
    });
    let read = move |f: fn(&ChapSetupView) -> String| {
        move || setup.with(|s| s.as_ref().map(f).unwrap_or_default())
    };
    let name = setup.with_untracked(|s| s.as_ref().map(|s| s.name.clone()).unwrap_or_default());
    let server_cron = Memo::new(move |_| setup.with(|s| s.as_ref().and_then(|s| s.cron.clone())));
    let enabled = Memo::new(move |_| setup.with(|s| s.as_ref().is_some_and(|s| s.enabled)));
    let draft = RwSignal::new(server_cron.get_untracked().unwrap_or_default());
    // A cron changed in chap (or saved here) replaces what the field shows.
    Effect::new(move |_| draft.set(server_cron.get().unwrap_or_default()));
    let busy = RwSignal::new(false);
    let switch_error = RwSignal::new(None::<String>);
    let cron_error = RwSignal::new(None::<String>);
    let switch_ref = NodeRef::<leptos::html::Input>::new();

    let send = move |update: ChapSetupUpdate, change: Change| {
        busy.set(true);
        switch_error.set(None);
        cron_error.set(None);
        spawn_local(async move {
            match api::update_schedule_setup(schedule_id, setup_id, &update).await {
                Ok(view) => {
                    setups.try_set(Some(view));
                }
                Err(e) => {
                    let (at_switch, at_cron) = refusal_messages(&e, change);
                    switch_error.try_set(at_switch);
                    cron_error.try_set(at_cron);
                    // The switch shows what chap has, not what was refused.
                    if let (Some(input), Some(was)) =
                        (switch_ref.get_untracked(), enabled.try_get_untracked())
                    {
                        input.set_checked(was);
                    }
                }
            }
            busy.try_set(false);
        });
    };
    let toggle = move |ev| {
        let update = ChapSetupUpdate {
            enabled: Some(event_target_checked(&ev)),
            cron: None,
        };
        send(update, Change::Switch);
    };
    let save_cron = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        match check_setup_cron(&draft.get_untracked()) {
            Err(m) => cron_error.set(Some(m)),
            Ok(cron) if Some(&cron) == server_cron.get_untracked().as_ref() => cron_error.set(None),
            Ok(cron) if cron.is_empty() && server_cron.with_untracked(Option::is_none) => {
                cron_error.set(None)
            }
            Ok(cron) => send(
                ChapSetupUpdate {
                    enabled: None,
                    cron: Some(cron),
                },
                Change::Cron,
            ),
        }
    };

    let cron_id = format!("setup-cron-{schedule_id}-{setup_id}");
    let cron_error_id = format!("{cron_id}-error");
    let switch_error_id = format!("setup-enabled-{schedule_id}-{setup_id}-error");
    let timezone = StoredValue::new(timezone);
    let effective = move || {
        setup.with(|s| {
            s.as_ref()
                .filter(|s| s.cron.is_none())
                .and_then(|s| s.effective_cron.clone())
                .map(|c| format!("fallback: {c}"))
        })
    };
    let next_times = move || {
        let times = setup.with(|s| {
            s.as_ref()
                .map(|s| s.next_fire_times.clone())
                .unwrap_or_default()
        });
        let zone = timezone.get_value();
        let Some((first, rest)) = times.split_first() else {
            return view! { <span class="muted">"—"</span> }.into_any();
        };
        let more = (!rest.is_empty()).then(|| {
            let items = rest
                .iter()
                .map(|at| view! { <li>{fire_time(*at, &zone)}</li> })
                .collect_view();
            view! {
                <details class="more-times">
                    <summary>{format!("{} more", rest.len())}</summary>
                    <ol class="fire-times">{items}</ol>
                </details>
            }
        });
        view! {
            <span data-testid="next-setup-fire">{fire_time(*first, &zone)}</span>
            {more}
        }
        .into_any()
    };

    view! {
        <tr data-setup-id=setup_id.to_string()>
            <th scope="row" data-label="Setup">
                <span class="muted">{format!("#{setup_id} ")}</span>
                {move || setup.with(|s| s.as_ref().map(|s| s.name.clone()))}
            </th>
            <td data-label="Enabled">
                {
                    let name = name.clone();
                    let switch_error_id = switch_error_id.clone();
                    move || {
                        if can_operate.get() {
                            view! {
                                <label class="switch">
                                    <input
                                        type="checkbox"
                                        role="switch"
                                        node_ref=switch_ref
                                        aria-describedby=switch_error_id.clone()
                                        prop:checked=move || enabled.get()
                                        disabled=busy
                                        on:change=toggle
                                    />
                                    <span class="visually-hidden">
                                        {format!("Enabled (setup {name})")}
                                    </span>
                                </label>
                            }
                                .into_any()
                        } else {
                            view! { <span>{move || if enabled.get() { "yes" } else { "no" }}</span> }.into_any()
                        }
                    }
                }
                <p class="field-error" id=switch_error_id aria-live="polite">
                    {move || switch_error.get()}
                </p>
            </td>
            <td data-label="Cron">
                {
                    let name = name.clone();
                    let cron_id = cron_id.clone();
                    let cron_error_id = cron_error_id.clone();
                    move || {
                        if can_operate.get() {
                            view! {
                                <form class="setup-cron" novalidate on:submit=save_cron>
                                    <label for=cron_id.clone() class="visually-hidden">
                                        {format!("Cron of setup {name}")}
                                    </label>
                                    <input
                                        id=cron_id.clone()
                                        type="text"
                                        spellcheck="false"
                                        autocomplete="off"
                                        placeholder="none"
                                        aria-describedby=cron_error_id.clone()
                                        aria-invalid=move || if cron_error.with(Option::is_some) { "true" } else { "false" }
                                        prop:value=move || draft.get()
                                        on:input=move |ev| draft.set(event_target_value(&ev))
                                    />
                                    <button type="submit" class="button secondary" disabled=busy>
                                        "Save"
                                        <span class="visually-hidden">{format!(" cron of setup {name}")}</span>
                                    </button>
                                </form>
                            }
                                .into_any()
                        } else {
                            view! {
                                <code>{move || server_cron.get().unwrap_or_else(|| "none".to_owned())}</code>
                            }
                                .into_any()
                        }
                    }
                }
                <p class="small muted">{effective}</p>
                <p class="field-error" id=cron_error_id aria-live="polite">
                    {move || cron_error.get()}
                </p>
            </td>
            <td data-label="Status" data-testid="setup-status">
                {read(status_text)}
            </td>
            <td data-label="Next runs">{next_times}</td>
            <td data-label="Skipped">{read(|s| s.skipped_count.to_string())}</td>
            <td data-label="Last run">{move || last_run_view(setup.with(|s| s.as_ref().and_then(|s| s.last_run.clone())))}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use crate::api::ApiError;

    use super::{check_setup_cron, refusal_messages, split_date_time, Change};

    #[test]
    fn a_fire_time_breaks_between_its_date_and_its_time() {
        assert_eq!(
            split_date_time("Mon 2026-12-07 06:00 GMT+3"),
            ("Mon 2026-12-07".to_owned(), "06:00 GMT+3".to_owned())
        );
        assert_eq!(split_date_time("odd"), ("odd".to_owned(), String::new()));
    }

    #[test]
    fn a_setup_cron_needs_exactly_five_fields_or_none() {
        assert_eq!(
            check_setup_cron("  0  6 * * 1 "),
            Ok("0 6 * * 1".to_owned())
        );
        assert_eq!(check_setup_cron("   "), Ok(String::new()));
        let six = check_setup_cron("*/5 * * * * *").expect_err("six fields");
        assert!(
            six.contains("exactly 5 fields") && six.ends_with("this has 6."),
            "{six}"
        );
        assert!(check_setup_cron("0 6 * *").is_err());
        // The range of each field is the server's to judge.
        assert_eq!(check_setup_cron("61 * * * *"), Ok("61 * * * *".to_owned()));
    }

    #[test]
    fn a_refusal_lands_at_the_field_it_names_or_at_the_change_made() {
        let refused = |fields: &[(&str, &str)]| ApiError::Status {
            status: 422,
            code: "validation_failed".to_owned(),
            message: "Invalid input.".to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        // Switching on a setup without a cron: chap's answer concerns the cron.
        let no_cron = refused(&[("cron", "chap refused it: no cron")]);
        assert_eq!(
            refusal_messages(&no_cron, Change::Switch),
            (None, Some("chap refused it: no cron".to_owned()))
        );
        let unreachable = ApiError::Status {
            status: 503,
            code: "unavailable".to_owned(),
            message: "chap cannot be reached".to_owned(),
            fields: Vec::new(),
        };
        assert_eq!(
            refusal_messages(&unreachable, Change::Switch),
            (Some("chap cannot be reached".to_owned()), None)
        );
        assert_eq!(
            refusal_messages(&unreachable, Change::Cron),
            (None, Some("chap cannot be reached".to_owned()))
        );
    }
}
