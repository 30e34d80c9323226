//! DHIS2 period ids and the flow's period arithmetic (reference §4): parsing, ordering by date range,
//! "next period", the today-relative helpers, end-mode resolution and the input window.
//!
//! Decisions where the reference is ambiguous:
//! - Weekly ids parse with one or two week digits (`2024W1`, `2024W01`); ids the flow *generates* use DHIS2's
//!   canonical unpadded form, which is also what queries to DHIS2 carry (decision 1).
//! - Two ids are equal when they cover the same date range (`2024W1 == 2024W01`); `as_str` keeps the
//!   spelling the id was parsed from, so rows go to chap exactly as DHIS2 returned them.
//! - A setup's `startPeriod` must have the setup's period type (a weekly start in a monthly setup is a
//!   per-setup error instead of a walk that can never meet the end).
//! - `periodType` is matched case-insensitively after trimming (`month`, `week`, `year`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::end_period::EndSource;

/// Longest input window the flow will request, in periods; longer ranges are refused, never truncated.
pub const PERIOD_CAP: usize = 120;

/// Why a period id, type or range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The id matches no DHIS2 period shape.
    #[error("Unsupported or unrecognized period id: {0}")]
    Unrecognized(String),
    /// A monthly id with a month outside 1..=12.
    #[error("Invalid month in period id: {0}")]
    InvalidMonth(String),
    /// A shape that is recognised but names no real period (day 31 of April, week 54, Q5, …).
    #[error("Invalid period id: {0}")]
    Invalid(String),
    /// A `YYYYMMDD_YYYYMMDD` range whose end is before its start.
    #[error("Invalid period range {0} (end<start)")]
    InvertedRange(String),
    /// The period that follows a free date range is undefined.
    #[error("cannot step past the date range period {0}")]
    NoNextForRange(String),
    /// A `periodType` other than month, week or year.
    #[error("unsupported period_type: '{0}'")]
    UnsupportedPeriodType(String),
    /// A `periodType` with no DHIS2 relative period to probe freshness over (decision 3).
    #[error(
        "period type '{0}' has no DHIS2 relative period window for the freshness probe \
         (supported: month, week, year); trigger the flow with end_mode 'fixed' or 'offset' instead"
    )]
    NoRelativeWindow(String),
    /// A negative `end_period_offset`.
    #[error("end_period_offset must be >= 0, got {0}")]
    NegativeOffset(i64),
    /// A period of another type than the setup's (e.g. a weekly start in a monthly setup).
    #[error("period '{id}' is not a {expected} period")]
    WrongType {
        /// The offending id.
        id: String,
        /// The setup's period type.
        expected: PeriodType,
    },
    /// Enumeration start after its end.
    #[error("start period '{start}' is after end period '{end}'")]
    StartAfterEnd {
        /// First period.
        start: String,
        /// Last period.
        end: String,
    },
    /// The configured start is after the resolved end (step `validate_period_range`).
    #[error(
        "configured start_period '{start}' is after the {end_source} '{end}'; nothing to fetch. Check the chap \
         prediction-setup definition or trigger with an end_date / end_period_offset at or after start_period."
    )]
    StartAfterResolvedEnd {
        /// The setup's start period.
        start: String,
        /// Where the end came from.
        end_source: EndSource,
        /// The resolved end period.
        end: String,
    },
    /// More than [`PERIOD_CAP`] periods between start and end.
    #[error(
        "period range from '{start}' to '{end}' exceeds the {PERIOD_CAP}-period cap (stopped at '{last}'); \
         refusing to silently truncate the input window. Move the setup's start period later or pick an \
         earlier end."
    )]
    ExceedsCap {
        /// First period.
        start: String,
        /// Requested last period.
        end: String,
        /// The last period produced before giving up.
        last: String,
    },
}

/// The granularity of a prediction setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodType {
    /// Calendar months, `YYYYMM`.
    Month,
    /// ISO-8601 weeks starting Monday, `YYYYWn`.
    Week,
    /// Calendar years, `YYYY`.
    Year,
}

impl fmt::Display for PeriodType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeriodType::Month => "month",
            PeriodType::Week => "week",
            PeriodType::Year => "year",
        })
    }
}

/// A DHIS2 relative period used by the freshness probe, with the number of periods it spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelativeWindow {
    /// DHIS2's name for it, e.g. `LAST_12_MONTHS`.
    pub name: &'static str,
    /// How many periods it covers (for row estimates).
    pub periods: usize,
}

impl fmt::Display for RelativeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PeriodType {
    /// Parses chap's `periodType` (`month`, `week`, `year`; case-insensitive).
    pub fn parse(raw: &str) -> Result<PeriodType, PeriodError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "month" => Ok(PeriodType::Month),
            "week" => Ok(PeriodType::Week),
            "year" => Ok(PeriodType::Year),
            _ => Err(PeriodError::UnsupportedPeriodType(raw.to_string())),
        }
    }

    /// The longest valid DHIS2 relative window (which excludes the current, in-progress period).
    pub fn relative_window(self) -> RelativeWindow {
        match self {
            PeriodType::Month => RelativeWindow {
                name: "LAST_12_MONTHS",
                periods: 12,
            },
            PeriodType::Week => RelativeWindow {
                name: "LAST_52_WEEKS",
                periods: 52,
            },
            PeriodType::Year => RelativeWindow {
                name: "LAST_5_YEARS",
                periods: 5,
            },
        }
    }

    /// Forecast horizon `nPeriods` sent to chap: month 3, week 12, year 1.
    pub fn horizon(self) -> u32 {
        match self {
            PeriodType::Month => 3,
            PeriodType::Week => 12,
            PeriodType::Year => 1,
        }
    }

    /// The period containing `date` (used for `fixed`; it may still be in progress).
    pub fn covering(self, date: NaiveDate) -> PeriodId {
        match self {
            PeriodType::Month => PeriodId::month(date.year(), date.month()),
            PeriodType::Year => PeriodId::year(date.year()),
            PeriodType::Week => {
                let w = date.iso_week();
                PeriodId::week(w.year(), w.week())
            }
        }
    }

    /// The latest period that ended before `today` (today's period is in progress).
    pub fn last_completed(self, today: NaiveDate) -> PeriodId {
        self.at_offset(today, 1)
    }

    /// The period `offset` periods before the one covering `today`; 0 is the covering period.
    pub fn at_offset(self, today: NaiveDate, offset: u32) -> PeriodId {
        match self {
            PeriodType::Month => {
                let index =
                    i64::from(today.year()) * 12 + i64::from(today.month0()) - i64::from(offset);
                let year = index.div_euclid(12) as i32;
                let month = index.rem_euclid(12) as u32 + 1;
                PeriodId::month(year, month)
            }
            PeriodType::Year => PeriodId::year(today.year() - offset as i32),
            PeriodType::Week => {
                let date = today
                    .checked_sub_days(Days::new(7 * u64::from(offset)))
                    .unwrap_or(NaiveDate::MIN);
                self.covering(date)
            }
        }
    }
}

/// Forecast horizon for a raw `periodType`: month 3, week 12, year 1, anything else 3 (reference §2.1).
pub fn forecast_horizon(raw_period_type: &str) -> u32 {
    PeriodType::parse(raw_period_type).map_or(3, PeriodType::horizon)
}

/// The probe window for a raw `periodType`, or a clear per-setup error when DHIS2 has none (decision 3).
pub fn probe_window(raw_period_type: &str) -> Result<RelativeWindow, PeriodError> {
    PeriodType::parse(raw_period_type)
        .map(PeriodType::relative_window)
        .map_err(|_| PeriodError::NoRelativeWindow(raw_period_type.to_string()))
}

/// The parsed shape of a period id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Day(NaiveDate),
    Range(NaiveDate, NaiveDate),
    Week(i32, u32),
    Month(i32, u32),
    Quarter(i32, u32),
    SixMonth(i32, u32),
    Year(i32),
}

/// A DHIS2 period id, parsed once: ordered and compared by its date range, spelled as it was received.
#[derive(Debug, Clone)]
pub struct PeriodId {
    raw: String,
    kind: Kind,
}

impl PeriodId {
    /// Parses a DHIS2 period id: `YYYYMMDD`, `YYYYMMDD_YYYYMMDD`, `YYYYWn`/`YYYYWnn`, `YYYYMM`, `YYYYQn`,
    /// `YYYYSn` or `YYYY`.
    pub fn parse(raw: &str) -> Result<PeriodId, PeriodError> {
        let kind = parse_kind(raw)?;
        Ok(PeriodId {
            raw: raw.to_string(),
            kind,
        })
    }

    fn from_kind(kind: Kind) -> PeriodId {
        let raw = canonical_of(&kind, "");
        PeriodId { raw, kind }
    }

    /// The month `YYYYMM`.
    pub fn month(year: i32, month: u32) -> PeriodId {
        PeriodId::from_kind(Kind::Month(year, month))
    }

    /// The ISO week `week` of ISO week-year `year`, spelled canonically (`2024W1`).
    pub fn week(year: i32, week: u32) -> PeriodId {
        PeriodId::from_kind(Kind::Week(year, week))
    }

    /// The year `YYYY`.
    pub fn year(year: i32) -> PeriodId {
        PeriodId::from_kind(Kind::Year(year))
    }

    /// The id exactly as it was parsed (or, for generated ids, the canonical form).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// DHIS2's canonical id (weeks unpadded: `2024W1`), for queries to DHIS2.
    pub fn canonical(&self) -> String {
        canonical_of(&self.kind, &self.raw)
    }

    /// First day of the period.
    pub fn start(&self) -> NaiveDate {
        self.range().0
    }

    /// Last day of the period (inclusive).
    pub fn end(&self) -> NaiveDate {
        self.range().1
    }

    /// The period type, when the id is a month, week or year.
    pub fn period_type(&self) -> Option<PeriodType> {
        match self.kind {
            Kind::Month(..) => Some(PeriodType::Month),
            Kind::Week(..) => Some(PeriodType::Week),
            Kind::Year(..) => Some(PeriodType::Year),
            _ => None,
        }
    }

    /// Checks that the id is of the setup's period type.
    pub fn expect_type(self, expected: PeriodType) -> Result<PeriodId, PeriodError> {
        if self.period_type() == Some(expected) {
            Ok(self)
        } else {
            Err(PeriodError::WrongType {
                id: self.raw,
                expected,
            })
        }
    }

    fn range(&self) -> (NaiveDate, NaiveDate) {
        // Every constructor validated these, so the fallbacks are unreachable.
        let ymd =
            |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN);
        match self.kind {
            Kind::Day(d) => (d, d),
            Kind::Range(a, b) => (a, b),
            Kind::Week(y, w) => {
                let monday =
                    NaiveDate::from_isoywd_opt(y, w, Weekday::Mon).unwrap_or(NaiveDate::MIN);
                (monday, monday + Days::new(6))
            }
            Kind::Month(y, m) => (ymd(y, m, 1), month_end(y, m)),
            Kind::Quarter(y, q) => (ymd(y, 3 * q - 2, 1), month_end(y, 3 * q)),
            Kind::SixMonth(y, s) => (ymd(y, 6 * s - 5, 1), month_end(y, 6 * s)),
            Kind::Year(y) => (ymd(y, 1, 1), ymd(y, 12, 31)),
        }
    }

    /// The period that follows this one, in the same shape.
    pub fn next(&self) -> Result<PeriodId, PeriodError> {
        let kind = match self.kind {
            Kind::Day(d) => Kind::Day(d + Days::new(1)),
            Kind::Range(..) => return Err(PeriodError::NoNextForRange(self.raw.clone())),
            Kind::Week(..) => {
                let w = (self.start() + Days::new(7)).iso_week();
                Kind::Week(w.year(), w.week())
            }
            Kind::Month(y, 12) => Kind::Month(y + 1, 1),
            Kind::Month(y, m) => Kind::Month(y, m + 1),
            Kind::Quarter(y, 4) => Kind::Quarter(y + 1, 1),
            Kind::Quarter(y, q) => Kind::Quarter(y, q + 1),
            Kind::SixMonth(y, 2) => Kind::SixMonth(y + 1, 1),
            Kind::SixMonth(y, s) => Kind::SixMonth(y, s + 1),
            Kind::Year(y) => Kind::Year(y + 1),
        };
        Ok(PeriodId::from_kind(kind))
    }

    fn key(&self) -> (NaiveDate, NaiveDate) {
        self.range()
    }
}

impl fmt::Display for PeriodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl PartialEq for PeriodId {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for PeriodId {}

impl Hash for PeriodId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for PeriodId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PeriodId {
    /// By (start date, end date): `2024Q4` > `20240615` because it starts later.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::str::FromStr for PeriodId {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeriodId::parse(s)
    }
}

fn month_end(year: i32, month: u32) -> NaiveDate {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or(NaiveDate::MIN)
}

fn iso_weeks_in(year: i32) -> u32 {
    // 28 December always lies in the last ISO week of its year.
    NaiveDate::from_ymd_opt(year, 12, 28).map_or(52, |d| d.iso_week().week())
}

fn canonical_of(kind: &Kind, raw: &str) -> String {
    match *kind {
        Kind::Day(d) => d.format("%Y%m%d").to_string(),
        Kind::Range(..) => raw.to_string(),
        Kind::Week(y, w) => format!("{y:04}W{w}"),
        Kind::Month(y, m) => format!("{y:04}{m:02}"),
        Kind::Quarter(y, q) => format!("{y:04}Q{q}"),
        Kind::SixMonth(y, s) => format!("{y:04}S{s}"),
        Kind::Year(y) => format!("{y:04}"),
    }
}

fn digits(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn parse_day(raw: &str, s: &str) -> Result<NaiveDate, PeriodError> {
    let invalid = || PeriodError::Invalid(raw.to_string());
    let (y, m, d) = (digits(&s[..4]), digits(&s[4..6]), digits(&s[6..8]));
    match (y, m, d) {
        (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(invalid),
        _ => Err(PeriodError::Unrecognized(raw.to_string())),
    }
}

fn parse_kind(raw: &str) -> Result<Kind, PeriodError> {
    let unrecognized = || PeriodError::Unrecognized(raw.to_string());
    let invalid = || PeriodError::Invalid(raw.to_string());
    if !raw.is_ascii() || raw.len() < 4 {
        return Err(unrecognized());
    }
    let year = digits(&raw[..4]).ok_or_else(unrecognized)? as i32;
    let rest = &raw[4..];
    match rest.len() {
        0 => return Ok(Kind::Year(year)),
        2 if digits(rest).is_some() => {
            let month = digits(rest).ok_or_else(unrecognized)?;
            if !(1..=12).contains(&month) {
                return Err(PeriodError::InvalidMonth(raw.to_string()));
            }
            return Ok(Kind::Month(year, month));
        }
        4 if digits(rest).is_some() => return Ok(Kind::Day(parse_day(raw, raw)?)),
        13 if rest.as_bytes()[4] == b'_' => {
            let start = parse_day(raw, &raw[..8])?;
            let end = parse_day(raw, &raw[9..])?;
            if end < start {
                return Err(PeriodError::InvertedRange(raw.to_string()));
            }
            return Ok(Kind::Range(start, end));
        }
        _ => {}
    }
    let (letter, number) = rest.split_at(1);
    match (letter, number.len()) {
        ("W", 1 | 2) => {
            let week = digits(number).ok_or_else(unrecognized)?;
            if week == 0 || week > iso_weeks_in(year) {
                return Err(invalid());
            }
            Ok(Kind::Week(year, week))
        }
        ("Q", 1) => match digits(number) {
            Some(q @ 1..=4) => Ok(Kind::Quarter(year, q)),
            Some(_) => Err(invalid()),
            None => Err(unrecognized()),
        },
        ("S", 1) => match digits(number) {
            Some(s @ 1..=2) => Ok(Kind::SixMonth(year, s)),
            Some(_) => Err(invalid()),
            None => Err(unrecognized()),
        },
        _ => Err(unrecognized()),
    }
}

/// Every period from `start` to `end` inclusive, walking "next"; refuses ranges past [`PERIOD_CAP`].
pub fn enumerate(start: &PeriodId, end: &PeriodId) -> Result<Vec<PeriodId>, PeriodError> {
    if start > end {
        return Err(PeriodError::StartAfterEnd {
            start: start.to_string(),
            end: end.to_string(),
        });
    }
    let mut out = vec![start.clone()];
    let mut current = start.clone();
    while current != *end {
        if out.len() >= PERIOD_CAP || current.start() > end.end() {
            return Err(PeriodError::ExceedsCap {
                start: start.to_string(),
                end: end.to_string(),
                last: current.to_string(),
            });
        }
        current = current.next()?;
        out.push(current.clone());
    }
    Ok(out)
}

/// Sorts period strings by period order (unparseable ones last, by text) and drops duplicates.
pub fn sort_period_strings<I, S>(periods: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut keyed: Vec<(Option<PeriodId>, String)> = periods
        .into_iter()
        .map(|p| (PeriodId::parse(p.as_ref()).ok(), p.as_ref().to_string()))
        .collect();
    keyed.sort_by(|a, b| match (&a.0, &b.0) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.1.cmp(&b.1)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    keyed.dedup_by(|a, b| a.1 == b.1);
    keyed.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
#[path = "periods_tests.rs"]
mod tests;
