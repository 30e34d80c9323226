//! Instants and days as the UI shows and reads them: on the viewer's clock, which is their browser's
//! zone or UTC by their choice (wall-clock time in a schedule's own zone is `tz`'s business).

use chrono::{DateTime, Days, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, Utc};

/// The clock the viewer reads times on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The browser's zone.
    #[default]
    Local,
    /// UTC ("Show times in UTC").
    Utc,
}

impl Zone {
    /// The offset from UTC of this clock at `at`.
    pub fn offset_at(self, at: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Utc => Utc.fix(),
            Zone::Local => browser_offset_at(at),
        }
    }

    /// `UTC`, or the browser zone's short name at `at` (`CET`, `GMT+5:45`).
    pub fn name_at(self, at: DateTime<Utc>) -> String {
        match self {
            Zone::Utc => "UTC".to_owned(),
            Zone::Local => crate::tz::short_name(at, &crate::tz::browser_timezone()),
        }
    }
}

/// The browser's offset at `at` (from `Date.getTimezoneOffset`, which is minutes *behind* UTC).
fn browser_offset_at(at: DateTime<Utc>) -> FixedOffset {
    let date = js_sys::Date::new(&(at.timestamp_millis() as f64).into());
    let minutes_ahead = -(date.get_timezone_offset() as i32);
    FixedOffset::east_opt(minutes_ahead * 60).unwrap_or_else(|| Utc.fix())
}

/// Now, from the browser's clock (chrono's clock is not built for wasm here).
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

/// Today's date on the viewer's clock.
pub fn today(zone: Zone) -> NaiveDate {
    let now = now();
    wall_clock(now, zone.offset_at(now)).date()
}

fn wall_clock(at: DateTime<Utc>, offset: FixedOffset) -> NaiveDateTime {
    at.with_timezone(&offset).naive_local()
}

/// `2026-11-26 14:03:09`, to the second.
pub fn format_time(at: DateTime<Utc>, zone: Zone) -> String {
    wall_clock(at, zone.offset_at(at))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `2026-11-26 14:03`; a narrow table cell breaks it only between the date and the time.
pub fn format_minute(at: DateTime<Utc>, zone: Zone) -> String {
    wall_clock(at, zone.offset_at(at))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// `14:03:09`: the time of day alone (a log line).
pub fn format_clock(at: DateTime<Utc>, zone: Zone) -> String {
    wall_clock(at, zone.offset_at(at))
        .format("%H:%M:%S")
        .to_string()
}

/// `2026-11-26 14:03 CET`: a time inside a sentence, where no tooltip can say the zone.
pub fn format_with_zone(at: DateTime<Utc>, zone: Zone) -> String {
    format!("{}\u{a0}{}", format_minute(at, zone), zone.name_at(at))
}

/// `2026-11-26 08:18:09 UTC`: the tooltip of a time shown on the viewer's clock.
pub fn format_utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
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

/// The first instant of a day on the viewer's clock.
pub fn start_of(day: NaiveDate, zone: Zone) -> DateTime<Utc> {
    midnight(day, |at| zone.offset_at(at))
}

/// The first instant after a day on the viewer's clock (the exclusive end of a range that
/// includes it).
pub fn end_of(day: NaiveDate, zone: Zone) -> Option<DateTime<Utc>> {
    day.checked_add_days(Days::new(1))
        .map(|next| start_of(next, zone))
}

/// The instant a day starts in a zone whose offset at an instant is `offset_at`.
fn midnight(day: NaiveDate, offset_at: impl Fn(DateTime<Utc>) -> FixedOffset) -> DateTime<Utc> {
    let naive = day.and_time(NaiveTime::MIN);
    // The offset at midnight UTC is a first guess; the offset at that guess settles it, unless a
    // change of offset falls between the two (then midnight did not exist, and the day starts
    // when the change ends: the later of the two).
    let guess = naive.and_utc() - offset_at(naive.and_utc());
    let settled = naive.and_utc() - offset_at(guess);
    if wall_clock(settled, offset_at(settled)) == naive {
        settled
    } else {
        guess.max(settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(hours: i32, minutes: i32) -> FixedOffset {
        FixedOffset::east_opt(hours * 3600 + minutes * 60).unwrap()
    }

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
        assert_eq!(
            start_of(day, Zone::Utc).to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            end_of(day, Zone::Utc).unwrap().to_rfc3339(),
            "2026-12-02T00:00:00+00:00"
        );
        assert_eq!(
            format_time(start_of(day, Zone::Utc), Zone::Utc),
            "2026-12-01 00:00:00"
        );
    }

    #[test]
    fn a_local_day_starts_at_its_own_midnight() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        // Kathmandu, +05:45: 1 December starts at 18:15 UTC on 30 November.
        let start = midnight(day, |_| offset(5, 45));
        assert_eq!(start.to_rfc3339(), "2026-11-30T18:15:00+00:00");
        // Honolulu, -10:00.
        let start = midnight(day, |_| offset(-10, 0));
        assert_eq!(start.to_rfc3339(), "2026-12-01T10:00:00+00:00");
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_when_the_clock_jumps() {
        // A zone that moves from -04:00 to -03:00 at 04:00 UTC (local midnight becomes 01:00).
        let jump = DateTime::parse_from_rfc3339("2026-09-06T04:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let zone = |at: DateTime<Utc>| {
            if at < jump {
                offset(-4, 0)
            } else {
                offset(-3, 0)
            }
        };
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(midnight(day, zone), jump);
        // The day before and after start at their own midnight.
        let before = NaiveDate::from_ymd_opt(2026, 9, 5).unwrap();
        assert_eq!(
            midnight(before, zone).to_rfc3339(),
            "2026-09-05T04:00:00+00:00"
        );
        let after = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
        assert_eq!(
            midnight(after, zone).to_rfc3339(),
            "2026-09-07T03:00:00+00:00"
        );
    }

    #[test]
    fn times_show_on_the_chosen_clock() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T08:18:09Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            wall_clock(at, offset(5, 45)).to_string(),
            "2026-12-02 14:03:09"
        );
        assert_eq!(format_minute(at, Zone::Utc), "2026-12-02 08:18");
        assert_eq!(format_clock(at, Zone::Utc), "08:18:09");
        assert_eq!(format_utc(at), "2026-12-02 08:18:09 UTC");
        assert_eq!(format_with_zone(at, Zone::Utc), "2026-12-02 08:18\u{a0}UTC");
    }
}
