//! chap's cron expressions: exactly 5 fields (minute hour day-of-month month day-of-week), read in the
//! schedule's timezone since chap stores none.

use crate::error::{AppError, AppResult};
use crate::orchestrator::timing::Timing;

/// The timing of a cron read from chap (or a fallback): 5 fields, or 6 (seconds first) when the
/// test-only setting allows it.
pub fn chap_timing(expr: &str, timezone: &str, seconds_allowed: bool) -> Result<Timing, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 && !(seconds_allowed && fields == 6) {
        return Err(format!(
            "chap's cron expressions have exactly 5 fields (minute hour day-of-month month \
             day-of-week); `{}` has {fields}",
            expr.trim()
        ));
    }
    Timing::cron(expr, timezone)
}

/// Checks a schedule's `fallback_cron` (an empty one removes it).
pub fn check_fallback(raw: Option<&str>, timezone: &str, seconds_allowed: bool) -> AppResult<()> {
    match raw.map(str::trim) {
        None | Some("") => Ok(()),
        Some(expr) => chap_timing(expr, timezone, seconds_allowed)
            .map(|_| ())
            .map_err(|m| AppError::field("fallback_cron", m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chap_crons_have_five_fields_unless_tests_allow_seconds() {
        assert!(chap_timing("0 6 * * 1", "UTC", false).is_ok());
        let six = chap_timing("*/2 * * * * *", "UTC", false).unwrap_err();
        assert!(six.contains("exactly 5 fields"), "{six}");
        assert!(chap_timing("*/2 * * * * *", "UTC", true).is_ok());
        assert!(chap_timing("0 6 * *", "UTC", true).is_err());
        let bad = chap_timing("61 * * * *", "UTC", false).unwrap_err();
        assert!(bad.contains("invalid cron"), "{bad}");
        assert!(chap_timing("0 6 * * 1", "Mars/Olympus", false).is_err());
    }

    #[test]
    fn an_empty_fallback_is_none_and_a_bad_one_names_the_field() {
        assert!(check_fallback(None, "UTC", false).is_ok());
        assert!(check_fallback(Some("  "), "UTC", false).is_ok());
        let err = check_fallback(Some("every day"), "UTC", false).unwrap_err();
        assert!(err.to_string().starts_with("fallback_cron:"), "{err}");
    }
}
