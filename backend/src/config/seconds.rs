//! Settings that are a number of seconds (`CHAP_SCHEDULER_*_SECONDS`).

use super::Source;

/// The largest number of seconds a setting takes: about 31 years, far past any useful interval or
/// timeout, and far inside what a `Duration` and a deadline from now can hold.
pub const MAX_SECONDS: f64 = 1e9;

/// The setting `key` as a number of seconds, `default` when unset: a finite number from 0 to
/// [`MAX_SECONDS`], or a clear error naming the setting. (`inf`, `nan` or `1e30` parse as numbers;
/// a `Duration` made from them panics, and `nan` slips through `max` and `clamp` checks.)
pub fn seconds(src: &dyn Source, key: &str, default: f64) -> anyhow::Result<f64> {
    let Some(raw) = src.get(key) else {
        return Ok(default);
    };
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=MAX_SECONDS).contains(&v) => Ok(v),
        _ => anyhow::bail!(
            "{key}={raw:?} is not valid: a number of seconds from 0 to {MAX_SECONDS:.0} is expected"
        ),
    }
}

/// [`seconds`] within `min..=max`, else an error saying so.
pub fn seconds_between(
    src: &dyn Source,
    key: &str,
    default: f64,
    (min, max): (f64, f64),
) -> anyhow::Result<f64> {
    let v = seconds(src, key, default)?;
    if !(min..=max).contains(&v) {
        anyhow::bail!("{key} must be between {min} and {max}");
    }
    Ok(v)
}

/// [`seconds`] for a setting counted in whole seconds: a whole number from 0 to [`MAX_SECONDS`].
pub fn whole_seconds(src: &dyn Source, key: &str, default: u64) -> anyhow::Result<u64> {
    let Some(raw) = src.get(key) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(v) if v as f64 <= MAX_SECONDS => Ok(v),
        _ => anyhow::bail!(
            "{key}={raw:?} is not valid: a whole number of seconds from 0 to {MAX_SECONDS:.0} is expected"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::Config;

    /// Every setting in seconds.
    const SETTINGS: [&str; 19] = [
        "CHAP_SCHEDULER_HEARTBEAT_SECONDS",
        "CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS",
        "CHAP_SCHEDULER_DEAD_CONNECTION_SECONDS",
        "CHAP_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS",
        "CHAP_SCHEDULER_PREDICTION_POLL_SECONDS",
        "CHAP_SCHEDULER_PREDICTION_TIMEOUT_SECONDS",
        "CHAP_SCHEDULER_DHIS2_TIMEOUT_SECONDS",
        "CHAP_SCHEDULER_CHAP_TIMEOUT_SECONDS",
        "CHAP_SCHEDULER_CHAP_SYNC_SECONDS",
        "CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS",
        "CHAP_SCHEDULER_REQUEUE_AFTER_SECONDS",
        "CHAP_SCHEDULER_RETENTION_INTERVAL_SECONDS",
        "CHAP_SCHEDULER_SHUTDOWN_GRACE_SECONDS",
        "CHAP_SCHEDULER_QUEUE_LOST_SECONDS",
        "CHAP_SCHEDULER_SWEEP_AFTER_SECONDS",
        "CHAP_SCHEDULER_LOGIN_WINDOW_SECONDS",
        "CHAP_SCHEDULER_ACCESS_TOKEN_TTL_SECONDS",
        "CHAP_SCHEDULER_REFRESH_TOKEN_TTL_SECONDS",
        "CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS",
    ];

    fn with(key: &str, value: &str) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = [(key.to_string(), value.to_string())].into();
        Config::from_source(&map)
    }

    #[test]
    fn a_setting_outside_its_range_is_refused_with_the_range() {
        for (key, value, message) in [
            (
                "CHAP_SCHEDULER_CHAP_SYNC_SECONDS",
                "0.5",
                "CHAP_SCHEDULER_CHAP_SYNC_SECONDS must be between 1 and 86400",
            ),
            (
                "CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS",
                "601",
                "CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS must be between 0.1 and 600",
            ),
            (
                "CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS",
                "0.001",
                "CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS must be between 0.01 and 3600",
            ),
        ] {
            let err = with(key, value).expect_err(key).to_string();
            assert_eq!(err, message);
        }
        assert!(with("CHAP_SCHEDULER_DEAD_CONNECTION_SECONDS", "3600").is_ok());
    }

    #[test]
    fn a_seconds_setting_that_is_not_a_sane_number_is_refused_by_name() {
        for key in SETTINGS {
            for bad in [
                "inf",
                "-inf",
                "nan",
                "NaN",
                "1e30",
                "1000000001",
                "-1",
                "ten",
            ] {
                // Before: `inf`, `1e30` (and `nan` where clamped) panicked in `Duration::from_secs_f64`;
                // `nan` became 1 s where the check was a `max`.
                let got = std::panic::catch_unwind(|| with(key, bad));
                let err = match got {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(_)) => panic!("{key}={bad} was accepted"),
                    Err(_) => panic!("{key}={bad} panicked"),
                };
                assert!(err.contains(key), "{key}={bad}: {err}");
            }
        }
    }
}
