//! Pure translations of Prefect's JSON into ours: a schedule's timing, and parameter values whose
//! block references (`{"$ref": {"block_document_id": …}}`) become our block ids.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// When a Prefect schedule fires, in our terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Timing {
    /// A cron expression as we read it (5 fields, or 6 with seconds first) in a timezone.
    Cron {
        /// The expression.
        cron: String,
        /// IANA timezone.
        timezone: String,
    },
    /// A fixed interval on the grid `anchor + k × seconds`.
    Interval {
        /// Whole seconds.
        seconds: u64,
        /// The grid's origin.
        anchor: DateTime<Utc>,
        /// IANA timezone.
        timezone: String,
    },
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Timing::Cron { cron, timezone } => write!(f, "cron `{cron}` in {timezone}"),
            Timing::Interval {
                seconds,
                anchor,
                timezone,
            } => write!(
                f,
                "every {seconds} s from {} in {timezone}",
                anchor.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
        }
    }
}

/// croniter's nicknames, which our cron parser does not read.
const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

fn timezone_of(schedule: &Map<String, Value>) -> Result<String, String> {
    match schedule.get("timezone") {
        None | Some(Value::Null) => Ok("UTC".into()),
        Some(Value::String(tz)) if !tz.trim().is_empty() => Ok(tz.trim().to_string()),
        Some(other) => Err(format!("its timezone {other} is not a timezone name")),
    }
}

/// Prefect's cron (croniter) as ours: nicknames spelled out, and croniter's 6th field (seconds,
/// last) moved first, where our 6-field form has it.
fn cron_of(raw: &str, day_or: bool) -> Result<String, String> {
    let raw = raw.trim();
    let expr = NICKNAMES
        .iter()
        .find(|(nick, _)| raw.eq_ignore_ascii_case(nick))
        .map_or(raw.to_string(), |(_, expr)| expr.to_string());
    let mut fields: Vec<&str> = expr.split_whitespace().collect();
    if !day_or {
        // AND of day-of-month and weekday differs from cron's OR only when both are restricted.
        let restricted = |f: Option<&&str>| f.is_some_and(|f| !matches!(*f, "*" | "?"));
        if restricted(fields.get(2)) && restricted(fields.get(4)) {
            return Err(
                "day_or: false fires only when the day of the month AND the weekday \
                        match; cron here joins them with OR, so it cannot be expressed"
                    .into(),
            );
        }
    }
    if fields.len() == 6 {
        fields.rotate_right(1);
    }
    Ok(fields.join(" "))
}

fn anchor_of(raw: Option<&Value>) -> Result<DateTime<Utc>, String> {
    let text = raw.and_then(Value::as_str).ok_or("it has no anchor_date")?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("its anchor_date `{text}` is not an RFC 3339 time: {e}"))
}

/// A Prefect schedule as Prefect states it, on one line (for a schedule that is not mapped).
pub fn describe(schedule: &Value) -> String {
    let text = |key: &str| schedule.get(key).and_then(Value::as_str);
    let tz = text("timezone").unwrap_or("UTC");
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(rrule) = text("rrule") {
        return format!("rrule `{}` in {tz}", one_line(rrule));
    }
    if let Some(cron) = text("cron") {
        let day_or = match schedule.get("day_or").and_then(Value::as_bool) {
            Some(false) => " (day_or: false)",
            _ => "",
        };
        return format!("cron `{}` in {tz}{day_or}", one_line(cron));
    }
    one_line(&schedule.to_string())
}

/// The timing of a Prefect schedule (`CronSchedule`, `IntervalSchedule`), or why it has none here.
pub fn timing(schedule: &Value) -> Result<Timing, String> {
    let Some(s) = schedule.as_object() else {
        return Err("the schedule is not a JSON object".into());
    };
    if s.contains_key("rrule") {
        return Err(
            "an rrule schedule has no equivalent here; add it as a cron or interval schedule by hand"
                .into(),
        );
    }
    if let Some(cron) = s.get("cron") {
        let cron = cron.as_str().ok_or("its cron is not a string")?;
        let day_or = s.get("day_or").and_then(Value::as_bool).unwrap_or(true);
        return Ok(Timing::Cron {
            cron: cron_of(cron, day_or)?,
            timezone: timezone_of(s)?,
        });
    }
    if let Some(interval) = s.get("interval") {
        let secs = interval.as_f64().ok_or("its interval is not a number")?;
        if secs <= 0.0 || secs.fract() != 0.0 || secs > u64::MAX as f64 {
            return Err(format!(
                "its interval of {secs} s is not a whole number of seconds"
            ));
        }
        return Ok(Timing::Interval {
            seconds: secs as u64,
            anchor: anchor_of(s.get("anchor_date"))?,
            timezone: timezone_of(s)?,
        });
    }
    let keys: Vec<&str> = s.keys().map(String::as_str).collect();
    Err(format!(
        "a schedule of an unknown kind (fields {})",
        keys.join(", ")
    ))
}

/// Where each Prefect block document went: our block's id, or why there is none.
#[derive(Debug, Default, Clone)]
pub struct BlockRefs {
    by_prefect_id: HashMap<Uuid, Result<Uuid, String>>,
}

impl BlockRefs {
    /// Records that the Prefect block document `prefect` is our block `ours`, or why it is not.
    pub fn insert(&mut self, prefect: Uuid, ours: Result<Uuid, String>) {
        self.by_prefect_id.insert(prefect, ours);
    }
}

/// Whether a value holds something only Prefect can resolve (a reference or a template).
fn prefect_only(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            map.contains_key("$ref")
                || map.contains_key("__prefect_kind")
                || map.values().any(prefect_only)
        }
        Value::Array(items) => items.iter().any(prefect_only),
        _ => false,
    }
}

/// A parameter value in our terms: a block reference becomes our block's id (a string), anything
/// else Prefect would resolve at run time cannot be translated.
pub fn translate(value: &Value, refs: &BlockRefs) -> Result<Value, String> {
    let reference = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("$ref"));
    if let Some(reference) = reference {
        let id = reference
            .get("block_document_id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| format!("the reference {value} does not name a block document"))?;
        return match refs.by_prefect_id.get(&id) {
            Some(Ok(ours)) => Ok(Value::String(ours.to_string())),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!(
                "it refers to the Prefect block document {id}, which is not a named \
                 chap-dhis2-credentials block"
            )),
        };
    }
    if prefect_only(value) {
        return Err(format!(
            "{value} is a Prefect reference or template, resolved only by Prefect"
        ));
    }
    Ok(value.clone())
}

/// Every parameter translated, or every one that cannot be (key, why).
pub fn translate_all(
    parameters: &Map<String, Value>,
    refs: &BlockRefs,
) -> Result<Map<String, Value>, Vec<(String, String)>> {
    let mut out = Map::new();
    let mut failed = Vec::new();
    for (key, value) in parameters {
        match translate(value, refs) {
            Ok(v) => {
                out.insert(key.clone(), v);
            }
            Err(why) => failed.push((key.clone(), why)),
        }
    }
    if failed.is_empty() {
        Ok(out)
    } else {
        Err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cron(expr: &str, tz: &str) -> Timing {
        Timing::Cron {
            cron: expr.into(),
            timezone: tz.into(),
        }
    }

    #[test]
    fn a_prefect_cron_keeps_its_expression_and_timezone_and_defaults_to_utc() {
        assert_eq!(
            timing(&json!({ "cron": "0 6 * * 1", "timezone": "Africa/Kampala", "day_or": true })),
            Ok(cron("0 6 * * 1", "Africa/Kampala"))
        );
        assert_eq!(
            timing(&json!({ "cron": " 30 2 1 * * ", "timezone": null })),
            Ok(cron("30 2 1 * *", "UTC"))
        );
    }

    #[test]
    fn croniter_nicknames_are_spelled_out_and_its_seconds_field_moves_first() {
        assert_eq!(
            timing(&json!({ "cron": "@daily" })),
            Ok(cron("0 0 * * *", "UTC"))
        );
        assert_eq!(
            timing(&json!({ "cron": "@Weekly", "timezone": "Europe/Oslo" })),
            Ok(cron("0 0 * * 0", "Europe/Oslo"))
        );
        // croniter: minute hour dom month dow second; ours: second minute hour dom month dow.
        assert_eq!(
            timing(&json!({ "cron": "0 6 * * 1 15" })),
            Ok(cron("15 0 6 * * 1", "UTC"))
        );
    }

    #[test]
    fn day_or_false_is_refused_only_when_both_day_fields_are_restricted() {
        let second_friday = json!({ "cron": "0 6 8-14 * 5", "day_or": false, "timezone": null });
        let err = timing(&second_friday).unwrap_err();
        assert!(err.contains("day_or: false"), "{err}");
        assert_eq!(
            describe(&second_friday),
            "cron `0 6 8-14 * 5` in UTC (day_or: false)"
        );
        assert_eq!(
            timing(&json!({ "cron": "0 6 * * 5", "day_or": false })),
            Ok(cron("0 6 * * 5", "UTC"))
        );
        assert_eq!(
            timing(&json!({ "cron": "0 6 1 * *", "day_or": false })),
            Ok(cron("0 6 1 * *", "UTC"))
        );
    }

    #[test]
    fn a_prefect_interval_becomes_whole_seconds_on_its_anchor() {
        assert_eq!(
            timing(&json!({
                "interval": 21600.0, "anchor_date": "2026-01-01T00:30:00Z", "timezone": "Europe/Oslo"
            })),
            Ok(Timing::Interval {
                seconds: 21600,
                anchor: "2026-01-01T00:30:00Z".parse().unwrap(),
                timezone: "Europe/Oslo".into()
            })
        );
        let offset = timing(&json!({ "interval": 60, "anchor_date": "2026-01-01T03:00:00+03:00" }));
        assert_eq!(
            offset,
            Ok(Timing::Interval {
                seconds: 60,
                anchor: "2026-01-01T00:00:00Z".parse().unwrap(),
                timezone: "UTC".into()
            })
        );
        assert!(
            timing(&json!({ "interval": 1.5, "anchor_date": "2026-01-01T00:00:00Z" }))
                .unwrap_err()
                .contains("whole number")
        );
        assert!(timing(&json!({ "interval": 60 }))
            .unwrap_err()
            .contains("anchor_date"));
    }

    #[test]
    fn rrule_and_unknown_schedules_are_not_mapped_and_say_why() {
        let rrule =
            json!({ "rrule": "DTSTART:20200101T000000\nFREQ=WEEKLY;BYDAY=MO", "timezone": "UTC" });
        let err = timing(&rrule).unwrap_err();
        assert!(err.contains("rrule schedule has no equivalent"), "{err}");
        assert_eq!(
            describe(&rrule),
            "rrule `DTSTART:20200101T000000 FREQ=WEEKLY;BYDAY=MO` in UTC",
            "on one line"
        );
        assert!(timing(&json!({ "every": 3 }))
            .unwrap_err()
            .contains("unknown kind"));
    }

    #[test]
    fn a_block_reference_becomes_our_block_id_and_an_unknown_one_is_refused() {
        let (known, ours, broken) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut refs = BlockRefs::default();
        refs.insert(known, Ok(ours));
        refs.insert(broken, Err("the block `x` was not imported".into()));
        let r = |id: Uuid| json!({ "$ref": { "block_document_id": id.to_string() } });
        assert_eq!(translate(&r(known), &refs), Ok(json!(ours.to_string())));
        assert_eq!(
            translate(&r(broken), &refs),
            Err("the block `x` was not imported".into())
        );
        assert!(translate(&r(Uuid::new_v4()), &refs)
            .unwrap_err()
            .contains("not a named chap-dhis2-credentials block"));
        assert!(translate(&json!({ "$ref": "nope" }), &refs).is_err());
        assert!(translate(
            &json!({ "__prefect_kind": "jinja", "template": "{{ x }}" }),
            &refs
        )
        .is_err());
        assert_eq!(translate(&json!("offset"), &refs), Ok(json!("offset")));
        assert_eq!(translate(&json!(null), &refs), Ok(json!(null)));
    }

    #[test]
    fn translating_parameters_names_every_key_that_cannot_be_translated() {
        let refs = BlockRefs::default();
        let params = json!({
            "credentials": { "$ref": { "block_document_id": Uuid::new_v4().to_string() } },
            "end_mode": "offset",
            "end_date": { "__prefect_kind": "json", "value": "\"2024-01-01\"" }
        });
        let failed = translate_all(params.as_object().unwrap(), &refs).unwrap_err();
        let keys: Vec<&str> = failed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["credentials", "end_date"]);
        let ok = translate_all(json!({ "end_mode": "offset" }).as_object().unwrap(), &refs);
        assert_eq!(ok.unwrap()["end_mode"], "offset");
    }
}
