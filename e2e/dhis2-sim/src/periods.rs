//! DHIS2 ISO period ids as DHIS2 itself reads and writes them: weekly ids are accepted padded or
//! unpadded (`2024W01`, `2024W1`) and always written unpadded, the way DHIS2 returns them.

use std::fmt;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The period types the simulator generates data for (chap's `periodType` spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PeriodType {
    Week,
    #[default]
    Month,
    Quarter,
    Year,
}

impl PeriodType {
    /// The period of this type that contains `date`.
    pub fn covering(self, date: NaiveDate) -> Period {
        match self {
            PeriodType::Week => {
                let iso = date.iso_week();
                Period::Week {
                    year: iso.year(),
                    week: iso.week(),
                }
            }
            PeriodType::Month => Period::Month {
                year: date.year(),
                month: date.month(),
            },
            PeriodType::Quarter => Period::Quarter {
                year: date.year(),
                quarter: (date.month() - 1) / 3 + 1,
            },
            PeriodType::Year => Period::Year(date.year()),
        }
    }
}

/// One DHIS2 period. Ordered by its date range, never by its id string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Week { year: i32, week: u32 },
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
    Year(i32),
}

impl Period {
    /// Parses `YYYYMM`, `YYYYWn`/`YYYYWnn`, `YYYYQn` and `YYYY`.
    pub fn parse(id: &str) -> Option<Period> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let year: i32 = id.get(..4).filter(|y| digits(y))?.parse().ok()?;
        let rest = &id[4..];
        let period = if rest.is_empty() {
            Period::Year(year)
        } else if let Some(week) = rest.strip_prefix('W') {
            if !digits(week) || week.len() > 2 {
                return None;
            }
            let week: u32 = week.parse().ok()?;
            NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?;
            Period::Week { year, week }
        } else if let Some(quarter) = rest.strip_prefix('Q') {
            let quarter: u32 = quarter.parse().ok().filter(|q| (1..=4).contains(q))?;
            Period::Quarter { year, quarter }
        } else if rest.len() == 2 && digits(rest) {
            let month: u32 = rest.parse().ok().filter(|m| (1..=12).contains(m))?;
            Period::Month { year, month }
        } else {
            return None;
        };
        Some(period)
    }

    /// The type of this period.
    pub fn period_type(self) -> PeriodType {
        match self {
            Period::Week { .. } => PeriodType::Week,
            Period::Month { .. } => PeriodType::Month,
            Period::Quarter { .. } => PeriodType::Quarter,
            Period::Year(_) => PeriodType::Year,
        }
    }

    /// First day of the period.
    pub fn start(self) -> NaiveDate {
        let ymd = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN);
        match self {
            Period::Week { year, week } => {
                NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).unwrap_or(NaiveDate::MIN)
            }
            Period::Month { year, month } => ymd(year, month),
            Period::Quarter { year, quarter } => ymd(year, (quarter - 1) * 3 + 1),
            Period::Year(year) => ymd(year, 1),
        }
    }

    /// Last day of the period (inclusive).
    pub fn end(self) -> NaiveDate {
        self.next().start() - Duration::days(1)
    }

    /// The period right after this one, of the same type.
    pub fn next(self) -> Period {
        match self {
            Period::Week { .. } => PeriodType::Week.covering(self.start() + Duration::days(7)),
            Period::Month { year, month: 12 } => Period::Month {
                year: year + 1,
                month: 1,
            },
            Period::Month { year, month } => Period::Month {
                year,
                month: month + 1,
            },
            Period::Quarter { year, quarter: 4 } => Period::Quarter {
                year: year + 1,
                quarter: 1,
            },
            Period::Quarter { year, quarter } => Period::Quarter {
                year,
                quarter: quarter + 1,
            },
            Period::Year(year) => Period::Year(year + 1),
        }
    }

    /// The period right before this one, of the same type.
    pub fn prev(self) -> Period {
        self.period_type()
            .covering(self.start() - Duration::days(1))
    }

    /// The period `n` steps before this one (`n = 0` is this period).
    pub fn back(self, n: u32) -> Period {
        (0..n).fold(self, |p, _| p.prev())
    }

    /// The id with weeks zero-padded (`2024W01`), a form DHIS2 accepts but never returns.
    pub fn padded_id(self) -> String {
        match self {
            Period::Week { year, week } => format!("{year}W{week:02}"),
            other => other.to_string(),
        }
    }
}

/// DHIS2's canonical id: `202401`, `2024W1`, `2024Q1`, `2024`.
impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Week { year, week } => write!(f, "{year}W{week}"),
            Period::Month { year, month } => write!(f, "{year}{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year}Q{quarter}"),
            Period::Year(year) => write!(f, "{year}"),
        }
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.start(), self.end()).cmp(&(other.start(), other.end()))
    }
}

/// Resolves a DHIS2 relative period (`LAST_12_MONTHS`, `LAST_52_WEEKS`, …) against `today`, oldest
/// first. Like DHIS2, the `LAST_*` windows exclude the period in progress. `None` for names DHIS2
/// does not know (there is no `LAST_24_MONTHS`).
pub fn relative(name: &str, today: NaiveDate) -> Option<Vec<Period>> {
    let last = |pt: PeriodType, n: u32| -> Vec<Period> {
        let current = pt.covering(today);
        (1..=n).rev().map(|k| current.back(k)).collect()
    };
    let whole_year = |pt: PeriodType, year: i32| -> Vec<Period> {
        let first = pt.covering(NaiveDate::from_ymd_opt(year, 1, 4).unwrap_or(today));
        std::iter::successors(Some(first), |p| Some(p.next()))
            .take_while(|p| match p {
                Period::Week { year: y, .. } => *y == year,
                _ => p.start().year() == year,
            })
            .collect()
    };
    let current = |pt: PeriodType| vec![pt.covering(today)];
    let periods = match name {
        "THIS_WEEK" => current(PeriodType::Week),
        "LAST_WEEK" => last(PeriodType::Week, 1),
        "LAST_4_WEEKS" => last(PeriodType::Week, 4),
        "LAST_12_WEEKS" => last(PeriodType::Week, 12),
        "LAST_52_WEEKS" => last(PeriodType::Week, 52),
        "WEEKS_THIS_YEAR" => whole_year(PeriodType::Week, today.iso_week().year()),
        "THIS_MONTH" => current(PeriodType::Month),
        "LAST_MONTH" => last(PeriodType::Month, 1),
        "LAST_3_MONTHS" => last(PeriodType::Month, 3),
        "LAST_6_MONTHS" => last(PeriodType::Month, 6),
        "LAST_12_MONTHS" => last(PeriodType::Month, 12),
        "MONTHS_THIS_YEAR" => whole_year(PeriodType::Month, today.year()),
        "MONTHS_LAST_YEAR" => whole_year(PeriodType::Month, today.year() - 1),
        "THIS_QUARTER" => current(PeriodType::Quarter),
        "LAST_QUARTER" => last(PeriodType::Quarter, 1),
        "LAST_4_QUARTERS" => last(PeriodType::Quarter, 4),
        "THIS_YEAR" => current(PeriodType::Year),
        "LAST_YEAR" => last(PeriodType::Year, 1),
        "LAST_5_YEARS" => last(PeriodType::Year, 5),
        "LAST_10_YEARS" => last(PeriodType::Year, 10),
        _ => return None,
    };
    Some(periods)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weekly_ids_parse_padded_or_not_and_print_unpadded() {
        assert_eq!(Period::parse("2024W01"), Period::parse("2024W1"));
        assert_eq!(Period::parse("2024W1").unwrap().to_string(), "2024W1");
        assert_eq!(Period::parse("2024W1").unwrap().padded_id(), "2024W01");
        assert!(Period::parse("2026W53").is_some());
        assert!(Period::parse("2025W53").is_none());
        assert!(Period::parse("202413").is_none());
        assert!(Period::parse("2024W001").is_none());
    }

    #[test]
    fn next_week_crosses_a_53_week_year() {
        let w52 = Period::parse("2026W52").unwrap();
        assert_eq!(w52.next().to_string(), "2026W53");
        assert_eq!(w52.next().next().to_string(), "2027W1");
        assert_eq!(
            Period::parse("2024W52").unwrap().next().to_string(),
            "2025W1"
        );
    }

    #[test]
    fn periods_compare_by_date_not_by_string() {
        assert!(Period::parse("2024W10").unwrap() > Period::parse("2024W9").unwrap());
        assert!(Period::parse("202701").unwrap() > Period::parse("202612").unwrap());
    }

    #[test]
    fn relative_windows_exclude_the_period_in_progress() {
        let months = relative("LAST_12_MONTHS", date("2026-05-07")).unwrap();
        assert_eq!(months.len(), 12);
        assert_eq!(months[0].to_string(), "202505");
        assert_eq!(months[11].to_string(), "202604");
        let weeks = relative("LAST_52_WEEKS", date("2026-05-07")).unwrap();
        assert_eq!(weeks.len(), 52);
        assert_eq!(weeks[51].to_string(), "2026W18");
        let years = relative("LAST_5_YEARS", date("2026-05-07")).unwrap();
        assert_eq!(years[0].to_string(), "2021");
        assert_eq!(years[4].to_string(), "2025");
        assert!(relative("LAST_24_MONTHS", date("2026-05-07")).is_none());
    }

    #[test]
    fn weeks_this_year_has_53_weeks_in_a_long_year() {
        assert_eq!(
            relative("WEEKS_THIS_YEAR", date("2026-06-01"))
                .unwrap()
                .len(),
            53
        );
        assert_eq!(
            relative("WEEKS_THIS_YEAR", date("2025-06-01"))
                .unwrap()
                .len(),
            52
        );
    }
}
