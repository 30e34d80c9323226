//! The prediction setups a `chap` schedule follows, as last read from chap: the last sync (its error
//! in plain sight), the Sync button (operators), and one row per setup (see [`super::setup_row`]).
//! Reloaded every [`REFRESH`] so fire times and last runs keep up without a page reload.

use std::time::Duration;

use chap_scheduler_api::{ChapSetupView, ChapSetupsView, ChapSync, SetupScheduleStatus};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::setup_row::SetupRow;
use crate::api;
use crate::clock::{format_with_zone, Zone};
use crate::components::shell::use_can_operate;
use crate::components::time::use_zone;
use crate::components::LoadingNotice;

/// How often the setups are read again from our server (it syncs with chap on its own).
const REFRESH: Duration = Duration::from_secs(30);

/// The soonest next fire time of the setups (none when no setup fires).
pub(super) fn soonest_fire(view: &ChapSetupsView) -> Option<DateTime<Utc>> {
    view.setups
        .iter()
        .filter_map(|s| s.next_fire_times.first().copied())
        .min()
}

/// The slot of the latest run any setup had (a `chap` schedule's own `last_fire_at` stays empty:
/// its runs are the setups').
pub(super) fn latest_run_slot(view: &ChapSetupsView) -> Option<DateTime<Utc>> {
    view.setups
        .iter()
        .filter_map(|s| s.last_run.as_ref().and_then(|r| r.scheduled_for))
        .max()
}

/// The slots skipped across the setups.
pub(super) fn skipped_total(view: &ChapSetupsView) -> u64 {
    view.setups.iter().map(|s| s.skipped_count).sum()
}

/// Whether a setup fires, in words: `fires`, `disabled in chap`, `enabled, no cron`, `invalid cron: …`.
pub(super) fn status_text(setup: &ChapSetupView) -> String {
    match setup.status {
        SetupScheduleStatus::Scheduled if setup.cron.is_none() => {
            "fires (at the fallback cron)".to_owned()
        }
        SetupScheduleStatus::Scheduled => "fires".to_owned(),
        SetupScheduleStatus::Disabled => "disabled in chap".to_owned(),
        SetupScheduleStatus::NoCron => "enabled, no cron".to_owned(),
        SetupScheduleStatus::InvalidCron => match &setup.problem {
            Some(problem) => format!("invalid cron: {problem}"),
            None => "invalid cron".to_owned(),
        },
    }
}

/// The last sync as a line, and its error as a sentence when the last attempt failed.
pub(super) fn sync_lines(sync: &ChapSync, zone: Zone) -> (String, Option<String>) {
    let line = match (sync.synced_at, &sync.error) {
        (Some(at), None) => format!("Synced with chap {}.", format_with_zone(at, zone)),
        (Some(at), Some(_)) => format!(
            "The setups below are as chap listed them at the last successful sync, {}.",
            format_with_zone(at, zone)
        ),
        (None, Some(_)) => "No sync with chap has succeeded yet.".to_owned(),
        (None, None) => "Not synced with chap yet.".to_owned(),
    };
    let error = sync.error.as_ref().map(|e| match sync.attempted_at {
        Some(at) => format!(
            "The last sync with chap failed ({}): {e}",
            format_with_zone(at, zone)
        ),
        None => format!("The last sync with chap failed: {e}"),
    });
    (line, error)
}

/// The setups of a `chap` schedule. `setups` holds the last view read (the card's next run follows
/// it); a failed reload keeps it and says why.
#[component]
pub(super) fn ChapSetups(
    schedule_id: Uuid,
    timezone: String,
    setups: RwSignal<Option<ChapSetupsView>>,
) -> impl IntoView {
    let can_operate = use_can_operate();
    let load_error = RwSignal::new(None::<String>);
    let syncing = RwSignal::new(false);
    let sync_error = RwSignal::new(None::<String>);
    let load = move || {
        spawn_local(async move {
            match api::list_schedule_setups(schedule_id).await {
                Ok(view) => {
                    setups.try_set(Some(view));
                    load_error.try_set(None);
                }
                Err(e) => {
                    load_error.try_set(Some(format!("Cannot read the setups: {e}")));
                }
            }
        });
    };
    load();
    if let Ok(handle) = set_interval_with_handle(load, REFRESH) {
        on_cleanup(move || handle.clear());
    }
    let sync = move |_| {
        syncing.set(true);
        sync_error.set(None);
        spawn_local(async move {
            match api::sync_schedule(schedule_id).await {
                Ok(view) => {
                    setups.try_set(Some(view));
                    load_error.try_set(None);
                }
                Err(e) => {
                    sync_error.try_set(Some(e.to_string()));
                }
            }
            syncing.try_set(false);
        });
    };
    let zone = use_zone();
    let lines = move || {
        let zone = zone.get();
        setups.with(|v| v.as_ref().map(|v| sync_lines(&v.sync, zone)))
    };
    let ids = move || {
        setups.with(|v| {
            v.as_ref()
                .map(|v| v.setups.iter().map(|s| s.id).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    // Whether any setups are listed: the table is built once and its rows, keyed by setup id,
    // follow the reloads (a cron being typed survives them).
    let listed = Memo::new(move |_| setups.with(|v| v.as_ref().map(|v| v.setups.is_empty())));
    let timezone = StoredValue::new(timezone);
    let heading_id = format!("setups-heading-{schedule_id}");
    let labelled_by = heading_id.clone();

    view! {
        <section class="chap-setups" aria-labelledby=labelled_by data-testid="chap-setups">
            <h4 id=heading_id>"Prediction setups in chap"</h4>
            <p class="muted small" data-testid="sync-state">
                {move || lines().map(|(line, _)| line)}
            </p>
            {move || {
                lines()
                    .and_then(|(_, error)| error)
                    .map(|e| {
                        view! {
                            <p class="form-error sync-error" role="alert" data-testid="sync-error">
                                {e}
                            </p>
                        }
                    })
            }}
            <Show when=move || can_operate.get()>
                <div class="actions">
                    <button
                        type="button"
                        class="button secondary"
                        disabled=syncing
                        on:click=sync
                    >
                        {move || if syncing.get() { "Syncing…" } else { "Sync with chap" }}
                    </button>
                </div>
                {move || sync_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            </Show>
            {move || load_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            {move || match listed.get() {
                None if load_error.with(Option::is_none) => Some(view! { <LoadingNotice /> }.into_any()),
                None => None,
                Some(true) => Some(
                    view! { <p class="empty">"chap lists no prediction setups."</p> }.into_any(),
                ),
                Some(false) => Some(
                    view! {
                        <div class="table-scroll setups-scroll">
                            <table class="runs-table setups-table">
                                <caption class="visually-hidden">
                                    "Prediction setups this schedule follows"
                                </caption>
                                <thead>
                                    <tr>
                                        <th scope="col">"Setup"</th>
                                        <th scope="col">"Enabled"</th>
                                        <th scope="col">"Cron"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">"Next runs"</th>
                                        <th scope="col">"Skipped"</th>
                                        <th scope="col">"Last run"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    <For each=ids key=|id| *id let:setup_id>
                                        <SetupRow
                                            schedule_id
                                            setup_id
                                            setups
                                            timezone=timezone.get_value()
                                        />
                                    </For>
                                </tbody>
                            </table>
                        </div>
                    }
                        .into_any(),
                ),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use chap_scheduler_api::{
        ChapSetupView, ChapSetupsView, ChapSync, RunState, SetupLastRun, SetupScheduleStatus,
    };
    use uuid::Uuid;

    use super::{latest_run_slot, skipped_total, soonest_fire, status_text, sync_lines};
    use crate::clock::Zone;

    fn setup(status: SetupScheduleStatus, cron: Option<&str>, next: &[&str]) -> ChapSetupView {
        ChapSetupView {
            id: 1,
            name: "Malaria monthly".to_owned(),
            enabled: status != SetupScheduleStatus::Disabled,
            cron: cron.map(str::to_owned),
            effective_cron: cron.map(str::to_owned),
            status,
            problem: None,
            next_fire_times: next
                .iter()
                .map(|t| t.parse().expect("an instant"))
                .collect(),
            skipped_count: 0,
            last_run: None,
        }
    }

    #[test]
    fn each_setup_status_reads_as_words() {
        use SetupScheduleStatus::*;
        assert_eq!(
            status_text(&setup(Scheduled, Some("0 6 * * 1"), &[])),
            "fires"
        );
        assert_eq!(
            status_text(&setup(Scheduled, None, &[])),
            "fires (at the fallback cron)"
        );
        assert_eq!(status_text(&setup(Disabled, None, &[])), "disabled in chap");
        assert_eq!(status_text(&setup(NoCron, None, &[])), "enabled, no cron");
        let mut bad = setup(InvalidCron, Some("0 6 * *"), &[]);
        bad.problem = Some("it has 4 fields".to_owned());
        assert_eq!(status_text(&bad), "invalid cron: it has 4 fields");
    }

    #[test]
    fn the_soonest_fire_time_is_the_earliest_first_slot_of_any_setup() {
        let view = ChapSetupsView {
            schedule_id: Uuid::nil(),
            timezone: "UTC".to_owned(),
            sync: ChapSync::default(),
            setups: vec![
                setup(
                    SetupScheduleStatus::Scheduled,
                    Some("x"),
                    &["2026-12-07T06:00:00Z", "2026-12-14T06:00:00Z"],
                ),
                setup(SetupScheduleStatus::Disabled, None, &[]),
                setup(
                    SetupScheduleStatus::Scheduled,
                    Some("y"),
                    &["2026-12-02T06:00:00Z"],
                ),
            ],
        };
        assert_eq!(
            soonest_fire(&view).map(|t| t.to_rfc3339()),
            Some("2026-12-02T06:00:00+00:00".to_owned())
        );
        assert_eq!(
            soonest_fire(&ChapSetupsView {
                setups: vec![],
                ..view
            }),
            None
        );
    }

    #[test]
    fn the_schedules_last_run_and_skipped_slots_are_its_setups() {
        let ran = |at: &str, skipped| ChapSetupView {
            skipped_count: skipped,
            last_run: Some(SetupLastRun {
                id: Uuid::nil(),
                state: RunState::Completed,
                scheduled_for: Some(at.parse().expect("an instant")),
                setup_status: Some("succeeded".to_owned()),
            }),
            ..setup(SetupScheduleStatus::Scheduled, Some("x"), &[])
        };
        let view = ChapSetupsView {
            schedule_id: Uuid::nil(),
            timezone: "UTC".to_owned(),
            sync: ChapSync::default(),
            setups: vec![
                ran("2026-12-01T06:00:00Z", 2),
                setup(SetupScheduleStatus::Disabled, None, &[]),
                ran("2026-12-02T06:00:00Z", 1),
            ],
        };
        assert_eq!(
            latest_run_slot(&view).map(|t| t.to_rfc3339()),
            Some("2026-12-02T06:00:00+00:00".to_owned())
        );
        assert_eq!(skipped_total(&view), 3);
    }

    #[test]
    fn a_failed_sync_is_said_with_when_and_why_and_the_age_of_the_setups_shown() {
        let at = |s: &str| Some(s.parse().expect("an instant"));
        let ok = ChapSync {
            synced_at: at("2026-12-01T10:00:00Z"),
            attempted_at: at("2026-12-01T10:00:00Z"),
            error: None,
        };
        assert_eq!(
            sync_lines(&ok, Zone::Utc),
            (
                "Synced with chap 2026-12-01 10:00\u{a0}UTC.".to_owned(),
                None
            )
        );
        let failed = ChapSync {
            attempted_at: at("2026-12-01T10:05:00Z"),
            error: Some("chap answered 503".to_owned()),
            ..ok
        };
        let (line, error) = sync_lines(&failed, Zone::Utc);
        assert!(
            line.contains("last successful sync, 2026-12-01 10:00"),
            "{line}"
        );
        assert_eq!(
            error.as_deref(),
            Some("The last sync with chap failed (2026-12-01 10:05\u{a0}UTC): chap answered 503")
        );
        let never = ChapSync {
            synced_at: None,
            ..failed
        };
        assert_eq!(
            sync_lines(&never, Zone::Utc).0,
            "No sync with chap has succeeded yet."
        );
        assert_eq!(
            sync_lines(&ChapSync::default(), Zone::Utc).0,
            "Not synced with chap yet."
        );
    }
}
