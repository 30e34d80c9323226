//! Timezones through the browser's `Intl`: the zones it knows (for the timezone picker), the
//! user's own zone (the default), and instants shown as wall-clock time in a given zone.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use js_sys::Intl::DateTimeFormat;
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

fn intl(name: &str) -> Option<JsValue> {
    let intl = Reflect::get(&js_sys::global(), &"Intl".into()).ok()?;
    Reflect::get(&intl, &name.into())
        .ok()
        .filter(|v| !v.is_undefined())
}

thread_local! {
    // Building an `Intl.DateTimeFormat` is slow; a page shows many times in few zones.
    static FORMATTERS: RefCell<HashMap<(String, bool), Option<DateTimeFormat>>> =
        RefCell::new(HashMap::new());
}

/// [`build_formatter`], made once per zone.
fn formatter(timezone: &str, with_zone_name: bool) -> Option<DateTimeFormat> {
    let key = (timezone.to_owned(), with_zone_name);
    if let Some(cached) = FORMATTERS.with(|f| f.borrow().get(&key).cloned()) {
        return cached;
    }
    let made = build_formatter(timezone, with_zone_name);
    FORMATTERS.with(|f| f.borrow_mut().insert(key, made.clone()));
    made
}

/// `new Intl.DateTimeFormat("en-GB", { timeZone, … })`, or `None` for a zone the browser does not
/// know (the constructor throws a `RangeError`).
fn build_formatter(timezone: &str, with_zone_name: bool) -> Option<DateTimeFormat> {
    let constructor: Function = intl("DateTimeFormat")?.dyn_into().ok()?;
    let options = Object::new();
    let mut pairs = vec![
        ("timeZone", timezone),
        ("year", "numeric"),
        ("month", "2-digit"),
        ("day", "2-digit"),
        ("hour", "2-digit"),
        ("minute", "2-digit"),
        ("hourCycle", "h23"),
        ("weekday", "short"),
    ];
    if with_zone_name {
        pairs.push(("timeZoneName", "short"));
    }
    for (key, value) in pairs {
        Reflect::set(&options, &key.into(), &value.into()).ok()?;
    }
    let args = Array::of2(&"en-GB".into(), &options);
    Reflect::construct(&constructor, &args)
        .ok()
        .map(JsCast::unchecked_into)
}

/// Whether the browser knows this IANA zone (`UTC` included).
pub fn is_known(timezone: &str) -> bool {
    !timezone.trim().is_empty() && formatter(timezone, false).is_some()
}

/// The user's own zone, e.g. `Europe/Oslo` (`UTC` if the browser does not say).
pub fn browser_timezone() -> String {
    thread_local! {
        static ZONE: String = read_browser_timezone();
    }
    ZONE.with(String::clone)
}

fn read_browser_timezone() -> String {
    intl("DateTimeFormat")
        .and_then(|c| c.dyn_into::<Function>().ok())
        .and_then(|c| Reflect::construct(&c, &Array::new()).ok())
        .map(JsCast::unchecked_into::<DateTimeFormat>)
        .and_then(|f| Reflect::get(&f.resolved_options(), &"timeZone".into()).ok())
        .and_then(|z| z.as_string())
        .unwrap_or_else(|| "UTC".to_owned())
}

/// Every zone the browser knows, `UTC` first.
pub fn timezones() -> Vec<String> {
    let mut zones = vec!["UTC".to_owned()];
    let listed = intl("supportedValuesOf")
        .and_then(|f| f.dyn_into::<Function>().ok())
        .and_then(|f| f.call1(&JsValue::NULL, &"timeZone".into()).ok())
        .and_then(|a| a.dyn_into::<Array>().ok());
    if let Some(listed) = listed {
        zones.extend(
            listed
                .iter()
                .filter_map(|z| z.as_string())
                .filter(|z| z != "UTC"),
        );
    }
    zones
}

/// `Mon 2026-03-30 06:30 CEST`: the instant as wall-clock time in `timezone` (UTC if the browser
/// does not know the zone).
pub fn format_in(at: DateTime<Utc>, timezone: &str) -> String {
    let Some(part) = parts(at, timezone) else {
        return at.format("%a %Y-%m-%d %H:%M UTC").to_string();
    };
    let get = |k: &str| part.get(k).map(String::as_str).unwrap_or("");
    format!(
        "{} {}-{}-{} {}:{} {}",
        get("weekday"),
        get("year"),
        get("month"),
        get("day"),
        get("hour"),
        get("minute"),
        get("timeZoneName"),
    )
}

/// The short name of `timezone` at `at`, as the browser says it in English (`CET`, `CEST`,
/// `GMT+5:45`); `UTC` if it does not know the zone.
pub fn short_name(at: DateTime<Utc>, timezone: &str) -> String {
    parts(at, timezone)
        .and_then(|mut p| p.remove("timeZoneName"))
        .unwrap_or_else(|| "UTC".to_owned())
}

/// The parts of `at` formatted in `timezone`, by kind (`year`, `hour`, `timeZoneName`, …).
fn parts(at: DateTime<Utc>, timezone: &str) -> Option<HashMap<String, String>> {
    let format = formatter(timezone, true)?;
    let date = js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64));
    let mut part = HashMap::new();
    for p in format.format_to_parts(&date).iter() {
        let kind = Reflect::get(&p, &"type".into())
            .ok()
            .and_then(|v| v.as_string());
        let value = Reflect::get(&p, &"value".into())
            .ok()
            .and_then(|v| v.as_string());
        if let (Some(kind), Some(value)) = (kind, value) {
            part.insert(kind, value);
        }
    }
    Some(part)
}
