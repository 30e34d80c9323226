//! End-mode resolution (reference §4.3) and the input window (§4.4): which period a setup's input
//! ends at, where that choice came from, and every period from the setup's start to it.

use std::fmt;

use chrono::NaiveDate;

use super::periods::{enumerate, PeriodError, PeriodId, PeriodType, RelativeWindow};

/// How the run's end is chosen (the validated `end_mode` with its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSpec {
    /// Probe DHIS2 for the latest period where every covariate has data.
    Calculated,
    /// The period covering this date.
    Fixed(NaiveDate),
    /// This many periods before the one covering today.
    Offset(u32),
}

/// Where a setup's end period came from (named in messages and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSource {
    /// `end_mode = fixed`.
    Fixed,
    /// `end_mode = offset`.
    Offset,
    /// `end_mode = calculated`.
    Probed,
}

impl fmt::Display for EndSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndSource::Fixed => "fixed end period (from end_date)",
            EndSource::Offset => "offset end period (from end_period_offset)",
            EndSource::Probed => "probed end period",
        })
    }
}

/// A setup's inclusive end period and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedEnd {
    /// The last input period.
    pub period: PeriodId,
    /// Which mode chose it.
    pub source: EndSource,
}

impl ResolvedEnd {
    /// The operator log line for this choice, e.g. "Using fixed end period 202604 (date=2026-04-30)".
    pub fn log_line(&self, spec: &EndSpec) -> String {
        match (self.source, spec) {
            (EndSource::Fixed, EndSpec::Fixed(date)) => {
                format!("Using fixed end period {} (date={date})", self.period)
            }
            (EndSource::Offset, EndSpec::Offset(n)) => {
                format!("Using offset end period {} (offset={n})", self.period)
            }
            _ => format!(
                "Using probed end period {} (min latest across covariates)",
                self.period
            ),
        }
    }
}

/// What end-mode resolution needs next for one setup (§4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndResolution {
    /// `fixed` and `offset` resolve without calling DHIS2.
    Resolved(ResolvedEnd),
    /// `calculated`: probe DHIS2 over this window, then take [`super::analytics::probed_end`].
    NeedsProbe(RelativeWindow),
}

/// Resolves a setup's end from the run's end mode; `today` is the worker's local date.
pub fn resolve_end(period_type: PeriodType, spec: &EndSpec, today: NaiveDate) -> EndResolution {
    match *spec {
        EndSpec::Calculated => EndResolution::NeedsProbe(period_type.relative_window()),
        EndSpec::Fixed(date) => EndResolution::Resolved(ResolvedEnd {
            period: period_type.covering(date),
            source: EndSource::Fixed,
        }),
        EndSpec::Offset(n) => EndResolution::Resolved(ResolvedEnd {
            period: period_type.at_offset(today, n),
            source: EndSource::Offset,
        }),
    }
}

/// Period at a signed offset, refusing negatives with the reference's message.
pub fn period_at_offset(
    period_type: PeriodType,
    today: NaiveDate,
    offset: i64,
) -> Result<PeriodId, PeriodError> {
    let n = u32::try_from(offset).map_err(|_| PeriodError::NegativeOffset(offset))?;
    Ok(period_type.at_offset(today, n))
}

/// The input window (§4.4): every period from the setup's start to the resolved end, at most 120.
pub fn input_window(start: &PeriodId, end: &ResolvedEnd) -> Result<Vec<PeriodId>, PeriodError> {
    if *start > end.period {
        return Err(PeriodError::StartAfterResolvedEnd {
            start: start.to_string(),
            end_source: end.source,
            end: end.period.to_string(),
        });
    }
    enumerate(start, &end.period)
}
