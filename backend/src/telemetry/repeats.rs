//! Failures that repeat. `serve`'s loops try again on their own every 0.2 to 1 s, so an outage of
//! the database made each of them log the same error several times a second: a minute of PostgreSQL
//! refusing connections gave 2,650 lines from an idle `serve` (the first, which says what happened,
//! scrolled away; an hour would be 160,000, on a disk that may be the full one). A [`Repeats`] logs
//! the first failure of a series at once, then at most one a minute with how many were held back, and
//! one line when the series ends.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How often a series of the same failure is logged again.
pub const EVERY: Duration = Duration::from_secs(60);

/// How loud a failure is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

/// One kind of failure of one loop (its message).
#[derive(Debug)]
pub struct Repeats {
    what: &'static str,
    level: Level,
    /// When the series began (`None`: the last attempt succeeded).
    since: Option<Instant>,
    /// When a failure of the series was last logged.
    logged_at: Option<Instant>,
    /// Failures since the last one logged.
    held: u64,
    /// Failures in the series.
    total: u64,
}

/// What to do with one failure.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `held` failures since the last one logged were not.
    Log { held: u64 },
    /// Count it only.
    Hold,
}

impl Repeats {
    /// A series logged as `what` at `level`.
    pub const fn new(what: &'static str, level: Level) -> Repeats {
        Repeats {
            what,
            level,
            since: None,
            logged_at: None,
            held: 0,
            total: 0,
        }
    }

    /// Records a failure at `now`: the first of a series and the first after [`EVERY`] are logged.
    pub fn verdict(&mut self, now: Instant) -> Verdict {
        self.since.get_or_insert(now);
        self.total += 1;
        match self.logged_at {
            Some(at) if now.duration_since(at) < EVERY => {
                self.held += 1;
                Verdict::Hold
            }
            _ => {
                self.logged_at = Some(now);
                Verdict::Log {
                    held: std::mem::take(&mut self.held),
                }
            }
        }
    }

    /// Records a success at `now`: the end of a series of failures (how long it lasted, how many
    /// failures), if one was going on.
    pub fn ended(&mut self, now: Instant) -> Option<(Duration, u64)> {
        let since = self.since.take()?;
        let total = std::mem::take(&mut self.total);
        self.held = 0;
        self.logged_at = None;
        Some((now.duration_since(since), total))
    }

    /// A failure: logged with its error unless a line of this series was logged within [`EVERY`].
    pub fn failed(&mut self, error: &dyn Display) {
        let Verdict::Log { held } = self.verdict(Instant::now()) else {
            return;
        };
        let what = self.what;
        match (self.level, held) {
            (Level::Error, 0) => tracing::error!(error = %error, "{what}"),
            (Level::Warn, 0) => tracing::warn!(error = %error, "{what}"),
            (Level::Error, held) => tracing::error!(
                error = %error,
                held_back = held,
                "{what} (still failing: {held} more since the last such line)"
            ),
            (Level::Warn, held) => tracing::warn!(
                error = %error,
                held_back = held,
                "{what} (still failing: {held} more since the last such line)"
            ),
        }
    }

    /// A success: if failures came before it, one line says that it works again.
    pub fn succeeded(&mut self) {
        if let Some((lasted, failures)) = self.ended(Instant::now()) {
            let what = self.what;
            tracing::info!(
                failures,
                lasted_seconds = lasted.as_secs_f64(),
                "{what} {failures} times in {:.1} s; it works again",
                lasted.as_secs_f64()
            );
        }
    }

    /// [`Repeats::failed`] or [`Repeats::succeeded`] by `result`.
    pub fn record<T, E: Display>(&mut self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.succeeded(),
            Err(e) => self.failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_logged_then_one_a_minute_with_the_count_held_back() {
        let mut r = Repeats::new("a loop failed", Level::Error);
        let t0 = Instant::now();
        assert_eq!(r.verdict(t0), Verdict::Log { held: 0 });
        for i in 1..=299 {
            assert_eq!(
                r.verdict(t0 + Duration::from_millis(200 * i)),
                Verdict::Hold
            );
        }
        assert_eq!(r.verdict(t0 + EVERY), Verdict::Log { held: 299 });
        assert_eq!(
            r.verdict(t0 + EVERY + Duration::from_secs(1)),
            Verdict::Hold
        );
        assert_eq!(
            r.ended(t0 + EVERY + Duration::from_secs(2)),
            Some((EVERY + Duration::from_secs(2), 302))
        );
    }

    #[test]
    fn a_success_ends_the_series_and_the_next_failure_is_logged_at_once() {
        let mut r = Repeats::new("a loop failed", Level::Warn);
        let t0 = Instant::now();
        assert_eq!(r.ended(t0), None, "no series, nothing to say");
        assert_eq!(r.verdict(t0), Verdict::Log { held: 0 });
        assert_eq!(r.verdict(t0 + Duration::from_secs(1)), Verdict::Hold);
        assert_eq!(
            r.ended(t0 + Duration::from_secs(2)),
            Some((Duration::from_secs(2), 2))
        );
        assert_eq!(r.ended(t0 + Duration::from_secs(3)), None);
        assert_eq!(
            r.verdict(t0 + Duration::from_secs(4)),
            Verdict::Log { held: 0 },
            "a new series"
        );
    }
}
