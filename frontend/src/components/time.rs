//! Times as the viewer reads them: on their browser's clock, or in UTC when they ask for it in the
//! header ("Show times in UTC", kept in this browser's local storage), each with the other on hover.

use chrono::{DateTime, SecondsFormat, Utc};
use leptos::prelude::*;

use crate::clock::{format_clock, format_minute, format_time, format_utc, Zone};

/// Where the choice is kept (not a secret; per browser, like a display setting).
const STORAGE_KEY: &str = "chap-scheduler.show-utc";

/// Makes the viewer's clock, read from local storage, available to every component.
pub fn provide_zone() {
    let zone = if stored_show_utc() {
        Zone::Utc
    } else {
        Zone::Local
    };
    provide_context(RwSignal::new(zone));
}

/// The viewer's clock (see [`provide_zone`]).
pub fn use_zone() -> RwSignal<Zone> {
    expect_context::<RwSignal<Zone>>()
}

fn storage() -> Option<web_sys::Storage> {
    // Storage can be refused (privacy settings): the choice then lasts until the page reloads.
    web_sys::window()?.local_storage().ok().flatten()
}

fn stored_show_utc() -> bool {
    storage()
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
        .is_some_and(|v| v == "true")
}

fn store_show_utc(on: bool) {
    if let Some(storage) = storage() {
        let _ = if on {
            storage.set_item(STORAGE_KEY, "true")
        } else {
            storage.remove_item(STORAGE_KEY)
        };
    }
}

/// How much of an instant to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// `2026-12-02 14:03`.
    #[default]
    Minute,
    /// `2026-12-02 14:03:09`.
    Second,
    /// `14:03:09` (a log line).
    Clock,
}

/// An instant on the viewer's clock, e.g. `2026-12-02 14:03` (with the zone's name when `zone`),
/// in a `<time>` whose `datetime` is the instant and whose tooltip is the UTC time (or, when the
/// viewer reads UTC, their own clock's).
#[component]
pub fn Time(
    at: DateTime<Utc>,
    #[prop(optional)] precision: Precision,
    /// Add the zone's name (`UTC`, `CET`, `GMT+5:45`): where a time stands alone.
    #[prop(optional)]
    zone: bool,
) -> impl IntoView {
    let clock = use_zone();
    let text = move || {
        let shown = clock.get();
        let mut text = match precision {
            Precision::Minute => format_minute(at, shown),
            Precision::Second => format_time(at, shown),
            Precision::Clock => format_clock(at, shown),
        };
        if zone {
            text.push('\u{a0}');
            text.push_str(&shown.name_at(at));
        }
        // A narrow cell breaks the date from the time, never inside either (`2026-12-` / `07`).
        match text.split_once(' ') {
            Some((date, time)) => view! {
                <span class="nowrap">{date.to_owned()}</span>
                " "
                <span class="nowrap">{time.to_owned()}</span>
            }
            .into_any(),
            None => text.into_any(),
        }
    };
    let title = move || match clock.get() {
        Zone::Local => format_utc(at),
        Zone::Utc => format!(
            "{} {} (your time)",
            format_time(at, Zone::Local),
            Zone::Local.name_at(at)
        ),
    };
    view! {
        <time datetime=at.to_rfc3339_opts(SecondsFormat::Secs, true) title=title>
            {text}
        </time>
    }
}

/// A time, or `none` when there is none.
#[component]
pub fn TimeOr(
    at: Option<DateTime<Utc>>,
    none: &'static str,
    #[prop(optional)] precision: Precision,
) -> impl IntoView {
    match at {
        Some(at) => view! { <Time at precision /> }.into_any(),
        None => none.into_any(),
    }
}

/// The name of the viewer's clock now (`UTC`, `GMT+5:45`), for column headings and field labels.
pub fn zone_name(zone: Zone) -> String {
    zone.name_at(crate::clock::now())
}

/// "Show times in UTC": switches every time in the app between the browser's clock and UTC.
#[component]
pub fn UtcToggle() -> impl IntoView {
    let zone = use_zone();
    let on_change = move |ev| {
        let on = event_target_checked(&ev);
        store_show_utc(on);
        zone.set(if on { Zone::Utc } else { Zone::Local });
    };
    view! {
        <label class="checkbox utc-toggle">
            <input
                type="checkbox"
                id="show-utc"
                prop:checked=move || zone.get() == Zone::Utc
                on:change=on_change
            />
            " Show times in UTC"
        </label>
    }
}
