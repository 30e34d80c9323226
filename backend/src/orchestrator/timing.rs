//! When schedules fire: cron expressions (5 fields, or 6 with seconds) and fixed intervals, each read
//! in an IANA timezone, and the missed-slot policies.
//!
//! DST rules (the documented behaviour):
//! - cron is evaluated in local wall-clock time. A local time that does not exist (spring forward) fires
//!   at the first instant after the gap; a local time that occurs twice (fall back) fires once, at its
//!   first occurrence — for every expression, hourly ones included.
//! - an interval that is a whole number of days keeps the anchor's local wall-clock time across DST
//!   (daily at 06:00 stays 06:00), resolved like cron; any other interval is an exact duration.

use std::str::FromStr;

use chap_scheduler_api::MissedPolicy;
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A slot older than this when the scheduler sees it was missed (downtime); newer ones just run.
pub const MISSED_AFTER_SECONDS: i64 = 5;

/// A parsed schedule, ready to compute fire times.
#[derive(Debug, Clone)]
pub struct Timing {
    kind: Kind,
    tz: Tz,
}

#[derive(Debug, Clone)]
enum Kind {
    Cron(Box<Cron>),
    Interval { seconds: i64, anchor: DateTime<Utc> },
}

/// Parses an IANA timezone name.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    Tz::from_str(name.trim()).map_err(|_| {
        format!("`{name}` is not an IANA timezone name (e.g. UTC, Europe/Oslo, Africa/Nairobi)")
    })
}

/// Parses a cron expression of 5 fields (minute hour day month weekday) or 6 (seconds first).
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    if !(fields == 5 || fields == 6) {
        return Err(format!(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with \
             seconds first; `{expr}` has {fields}"
        ));
    }
    let cron = Cron::from_str(expr.trim())
        .map_err(|e| format!("invalid cron expression `{expr}`: {e}"))?;
    // An expression that can never fire (e.g. 30 February) is an error too.
    let probe = Utc::now().with_timezone(&Tz::UTC);
    cron.find_next_occurrence(&probe, false)
        .map_err(|_| format!("the cron expression `{expr}` never fires"))?;
    Ok(cron)
}

impl Timing {
    /// A cron schedule.
    pub fn cron(expr: &str, timezone: &str) -> Result<Timing, String> {
        Ok(Timing {
            kind: Kind::Cron(Box::new(parse_cron(expr)?)),
            tz: parse_timezone(timezone)?,
        })
    }

    /// An interval schedule on the grid `anchor + k × seconds`.
    pub fn interval(seconds: u64, anchor: DateTime<Utc>, timezone: &str) -> Result<Timing, String> {
        if !(1..=31_536_000).contains(&seconds) {
            return Err("interval_seconds must be between 1 and 31536000 (a year)".into());
        }
        Ok(Timing {
            kind: Kind::Interval {
                seconds: seconds as i64,
                anchor,
            },
            tz: parse_timezone(timezone)?,
        })
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron(cron) => {
                let mut from = t.with_timezone(&self.tz);
                for _ in 0..4 {
                    let next = cron.find_next_occurrence(&from, false).ok()?;
                    if self.is_second_occurrence(next.naive_local(), next.with_timezone(&Utc)) {
                        // The wall-clock time repeats (fall back): it already fired at its first occurrence.
                        from = next;
                        continue;
                    }
                    return Some(next.with_timezone(&Utc));
                }
                None
            }
            Kind::Interval { seconds, anchor } if seconds % 86_400 == 0 => {
                let days = seconds / 86_400;
                let local_anchor = anchor.with_timezone(&self.tz).naive_local();
                // Estimate the step count from elapsed time, then walk to the first slot after t.
                let mut k = ((t - *anchor).num_seconds() / seconds).max(0) - 1;
                loop {
                    let candidate = self.resolve(local_anchor + Duration::days(days * k.max(0)))?;
                    if k >= 0 && candidate > t {
                        return Some(candidate);
                    }
                    k += 1;
                }
            }
            Kind::Interval { seconds, anchor } => {
                if t < *anchor {
                    return Some(*anchor);
                }
                let k = (t - *anchor).num_seconds() / seconds + 1;
                Some(*anchor + Duration::seconds(k * seconds))
            }
        }
    }

    /// The next `n` fire times after `t`.
    pub fn preview(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut at = t;
        while out.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }

    /// Every fire time in `[from, to]`, at most `cap + 1` of them (to detect more than `cap`).
    pub fn slots_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cap: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut at = from - Duration::microseconds(1);
        while out.len() <= cap {
            match self.next_after(at) {
                Some(next) if next <= to => {
                    out.push(next);
                    at = next;
                }
                _ => break,
            }
        }
        out
    }

    /// An instant as local time with offset, for people.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz).to_rfc3339()
    }

    fn is_second_occurrence(&self, local: NaiveDateTime, instant: DateTime<Utc>) -> bool {
        matches!(self.tz.from_local_datetime(&local), LocalResult::Ambiguous(first, _) if first.with_timezone(&Utc) != instant)
    }

    /// A local wall-clock time as an instant: the first of a repeated time; after a gap, the
    /// first instant following it.
    fn resolve(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => {
                let mut probe = local;
                for _ in 0..(3 * 60) {
                    probe += Duration::minutes(1);
                    if let Some(t) = self.tz.from_local_datetime(&probe).earliest() {
                        // The gap ends at a whole minute here: the first valid instant is that minute.
                        return Some(t.with_timezone(&Utc));
                    }
                }
                None
            }
        }
    }
}

/// Which due slots become runs, given the policy. Slots are ascending; returns the slots to run and
/// how many are skipped.
pub fn plan(
    slots: &[DateTime<Utc>],
    now: DateTime<Utc>,
    policy: MissedPolicy,
    max_missed: usize,
) -> (Vec<DateTime<Utc>>, u64) {
    let threshold = now - Duration::seconds(MISSED_AFTER_SECONDS);
    let (missed, due): (Vec<_>, Vec<_>) = slots.iter().copied().partition(|s| *s < threshold);
    let mut run = match policy {
        MissedPolicy::Skip => Vec::new(),
        MissedPolicy::Latest => missed.last().copied().into_iter().collect(),
        MissedPolicy::All => missed
            .iter()
            .rev()
            .take(max_missed)
            .rev()
            .copied()
            .collect(),
    };
    let skipped = (missed.len() - run.len()) as u64;
    run.extend(due);
    (run, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn times(v: &[DateTime<Utc>]) -> Vec<String> {
        v.iter()
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect()
    }

    #[test]
    fn hourly_cron_on_oslo_spring_forward_day_fires_every_real_hour_without_the_missing_one() {
        // 2026-03-29 02:00 CET → 03:00 CEST.
        let t = Timing::cron("0 * * * *", "Europe/Oslo").unwrap();
        let got = t.preview(utc("2026-03-28T23:30:00Z"), 4);
        assert_eq!(
            times(&got),
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z",
                "2026-03-29T03:00:00Z"
            ]
        );
        // Local: 01:00 CET, 03:00 CEST, 04:00 CEST, 05:00 CEST — 02:00 does not exist.
        assert_eq!(t.local(got[1]), "2026-03-29T03:00:00+02:00");
    }

    #[test]
    fn daily_cron_in_the_spring_gap_fires_at_the_first_instant_after_it() {
        let t = Timing::cron("30 2 * * *", "Europe/Oslo").unwrap();
        let got = t.preview(utc("2026-03-28T12:00:00Z"), 2);
        // 02:30 does not exist on the 29th: it fires at 03:00 CEST.
        assert_eq!(
            times(&got),
            ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
        );
    }

    #[test]
    fn hourly_cron_on_oslo_fall_back_day_fires_the_repeated_hour_once() {
        // 2026-10-25 03:00 CEST → 02:00 CET: 02:00–02:59 happens twice.
        let t = Timing::cron("0 * * * *", "Europe/Oslo").unwrap();
        let got = t.preview(utc("2026-10-24T22:30:00Z"), 4);
        assert_eq!(
            times(&got),
            [
                "2026-10-24T23:00:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T03:00:00Z"
            ]
        );
        assert_eq!(t.local(got[1]), "2026-10-25T02:00:00+02:00");
        assert_eq!(t.local(got[2]), "2026-10-25T03:00:00+01:00");
    }

    #[test]
    fn daily_cron_in_the_repeated_hour_fires_once_at_the_first_occurrence() {
        let t = Timing::cron("30 2 * * *", "Europe/Oslo").unwrap();
        let got = t.preview(utc("2026-10-24T12:00:00Z"), 2);
        assert_eq!(
            times(&got),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
    }

    #[test]
    fn a_daily_interval_keeps_local_wall_clock_time_across_dst_and_an_hourly_one_is_exact() {
        let daily = Timing::interval(86_400, utc("2026-03-27T05:00:00Z"), "Europe/Oslo").unwrap();
        let got = daily.preview(utc("2026-03-27T06:00:00Z"), 3);
        // 06:00 local every day: 05:00Z in CET, 04:00Z in CEST.
        assert_eq!(
            times(&got),
            [
                "2026-03-28T05:00:00Z",
                "2026-03-29T04:00:00Z",
                "2026-03-30T04:00:00Z"
            ]
        );
        let hourly = Timing::interval(3_600, utc("2026-10-24T22:00:00Z"), "Europe/Oslo").unwrap();
        let got = hourly.preview(utc("2026-10-25T00:00:00Z"), 3);
        assert_eq!(
            times(&got),
            [
                "2026-10-25T01:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T03:00:00Z"
            ]
        );
    }

    #[test]
    fn six_field_cron_has_seconds_and_bad_input_is_explained() {
        let t = Timing::cron("*/15 * * * * *", "UTC").unwrap();
        assert_eq!(
            times(&t.preview(utc("2026-01-01T00:00:01Z"), 2)),
            ["2026-01-01T00:00:15Z", "2026-01-01T00:00:30Z"]
        );
        assert!(Timing::cron("* * *", "UTC")
            .unwrap_err()
            .contains("5 fields"));
        assert!(Timing::cron("61 * * * *", "UTC")
            .unwrap_err()
            .contains("invalid cron"));
        assert!(Timing::cron("0 0 30 2 *", "UTC")
            .unwrap_err()
            .contains("never fires"));
        assert!(Timing::cron("0 * * * *", "Mars/Olympus")
            .unwrap_err()
            .contains("IANA"));
        assert!(Timing::interval(0, Utc::now(), "UTC").is_err());
    }

    #[test]
    fn missed_slot_policies_create_what_they_promise() {
        let now = utc("2026-01-01T12:00:00Z");
        let slots: Vec<_> = (0..10).map(|i| now - Duration::minutes(10 - i)).collect();
        let mut with_due = slots.clone();
        with_due.push(now - Duration::seconds(1));
        assert_eq!(
            plan(&with_due, now, MissedPolicy::Skip, 100),
            (vec![now - Duration::seconds(1)], 10)
        );
        let (run, skipped) = plan(&slots, now, MissedPolicy::Latest, 100);
        assert_eq!((run, skipped), (vec![now - Duration::minutes(1)], 9));
        let (run, skipped) = plan(&slots, now, MissedPolicy::All, 100);
        assert_eq!((run.len(), skipped), (10, 0));
        let (run, skipped) = plan(&slots, now, MissedPolicy::All, 3);
        assert_eq!((run.len(), skipped), (3, 7));
        assert_eq!(
            run[2],
            now - Duration::minutes(1),
            "the most recent ones are kept"
        );
    }
}
