//! Instants and days as the UI shows and reads them: UTC throughout (wall-clock time in a
//! schedule's own zone is `tz`'s business).

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};

/// Now, from the browser's clock (chrono's clock is not built for wasm here).
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

/// Today's date in UTC.
pub fn today() -> NaiveDate {
    now().date_naive()
}

/// `2026-11-26 14:03:09` (UTC, to the second).
pub fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `2026-11-26 14:03 UTC`; a narrow table cell breaks it only between the date and the time.
pub fn format_utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M\u{a0}UTC").to_string()
}

/// [`format_utc`], or `none` when there is no time.
pub fn format_utc_or(at: Option<DateTime<Utc>>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), format_utc)
}

/// `4.2 s`, `3 min 4 s`, `1 h 2 min`.
pub fn format_duration(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.1}\u{a0}s");
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}\u{a0}h {m}\u{a0}min")
    } else {
        format!("{m}\u{a0}min {s}\u{a0}s")
    }
}

/// A `<input type="date">` value (`2026-12-01`); `Ok(None)` when empty.
pub fn parse_day(value: &str) -> Result<Option<NaiveDate>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| "Enter a date as YYYY-MM-DD.".to_owned())
}

/// The first instant of a UTC day.
pub fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The first instant after a UTC day (the exclusive end of a range that includes it).
pub fn end_of(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.checked_add_days(Days::new(1)).map(start_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(4.24), "4.2\u{a0}s");
        assert_eq!(format_duration(184.0), "3\u{a0}min 4\u{a0}s");
        assert_eq!(format_duration(3720.0), "1\u{a0}h 2\u{a0}min");
    }

    #[test]
    fn days_parse_from_the_date_input_and_bound_whole_utc_days() {
        assert_eq!(parse_day(""), Ok(None));
        let day = parse_day("2026-12-01").ok().flatten().unwrap();
        assert!(parse_day("01/12/2026").is_err());
        assert_eq!(start_of(day).to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(
            end_of(day).unwrap().to_rfc3339(),
            "2026-12-02T00:00:00+00:00"
        );
    }
}
