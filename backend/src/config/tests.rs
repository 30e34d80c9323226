//! The configuration's parsing: defaults, bounds and secrets.

use super::*;
use std::collections::HashMap;

fn cfg(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_source(&map)
}

#[test]
fn zero_settings_run_embedded() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.database_kind(), "sqlite");
    assert_eq!(c.queue_kind(), "embedded");
    assert_eq!(c.bind.to_string(), DEFAULT_BIND);
    assert!(c
        .database_url
        .expose_secret()
        .contains("data/chap-scheduler.db"));
}

#[test]
fn every_secret_setting_reads_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let db = file("db", "postgres://chap:from-file@db/chap");
    let key = file("key", "main:qUJ3Yk1sQ2RmR2hqS2xNbk9wUXJTdFV2V3hZejAxMjM=");
    let c = cfg(&[
        ("DATABASE_URL_FILE", &db),
        ("CHAP_SCHEDULER_ENCRYPTION_KEY_FILE", &key),
    ])
    .unwrap();
    assert_eq!(c.database_kind(), "postgres");
    assert!(c.database_url.expose_secret().contains("from-file"));
    assert!(c.encryption_key.is_some());
    let err = cfg(&[
        ("CHAP_SCHEDULER_JWT_SECRET", "x".repeat(40).as_str()),
        ("CHAP_SCHEDULER_JWT_SECRET_FILE", &db),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("CHAP_SCHEDULER_JWT_SECRET and CHAP_SCHEDULER_JWT_SECRET_FILE"),
        "{err}"
    );
}

#[test]
fn describe_masks_every_secret() {
    let c = cfg(&[
        ("DATABASE_URL", "postgres://chap:hunter2hunter2@db/chap"),
        ("REDIS_URL", "redis://:redispass@redis:6379"),
        (
            "CHAP_SCHEDULER_JWT_SECRET",
            "0123456789abcdef0123456789abcdef-secret",
        ),
        ("CHAP_SCHEDULER_ADMIN_PASSWORD", "a-very-long-admin-pass"),
        (
            "CHAP_SCHEDULER_ENCRYPTION_KEY",
            "main:qUJ3Yk1sQ2RmR2hqS2xNbk9wUXJTdFV2V3hZejAxMjM=",
        ),
    ])
    .unwrap();
    let text = format!("{:?}", c.describe());
    for secret in [
        "hunter2hunter2",
        "redispass",
        "-secret",
        "a-very-long-admin-pass",
        "qUJ3Yk1sQ2RmR2hqS2xNbk9wUXJTdFV2V3hZejAxMjM",
    ] {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
    assert!(text.contains("postgres://chap:******@db/chap"));
    assert!(text.contains("key ids main"), "{text}");
}

#[test]
fn prediction_settings_default_to_the_reference_and_can_be_tuned() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.prediction_poll_interval, Duration::from_secs(5));
    assert_eq!(c.prediction_timeout, Duration::from_secs(3600));
    assert_eq!(c.prediction_parallelism, 1);
    assert_eq!(c.upstream_max_response_bytes, 256 << 20);
    let c = cfg(&[
        ("CHAP_SCHEDULER_PREDICTION_POLL_SECONDS", "0.25"),
        ("CHAP_SCHEDULER_PREDICTION_TIMEOUT_SECONDS", "90"),
        ("CHAP_SCHEDULER_PREDICTION_PARALLELISM", "3"),
        ("CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB", "1024"),
    ])
    .unwrap();
    assert_eq!(c.prediction_poll_interval, Duration::from_millis(250));
    assert_eq!(c.prediction_timeout, Duration::from_secs(90));
    assert_eq!(c.prediction_parallelism, 3);
    assert_eq!(c.upstream_max_response_bytes, 1 << 30);
    assert_eq!(c.chap_schedules.max_response_bytes, 1 << 30);
    let described = c.describe();
    assert!(described.contains(&("CHAP_SCHEDULER_PREDICTION_PARALLELISM", "3".into())));
    assert!(described.contains(&("CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB", "1024".into())));
    for (key, value) in [
        ("CHAP_SCHEDULER_PREDICTION_POLL_SECONDS", "-1"),
        ("CHAP_SCHEDULER_PREDICTION_TIMEOUT_SECONDS", "0"),
        ("CHAP_SCHEDULER_PREDICTION_PARALLELISM", "0"),
        ("CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB", "0"),
        ("CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB", "16385"),
        ("CHAP_SCHEDULER_UPSTREAM_MAX_RESPONSE_MIB", "1.5"),
    ] {
        let err = cfg(&[(key, value)]).unwrap_err().to_string();
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn live_log_streams_are_two_hundred_at_most_unless_set_between_one_and_a_hundred_thousand() {
    let key = "CHAP_SCHEDULER_LOG_STREAMS_MAX";
    assert_eq!(cfg(&[]).unwrap().log_streams_max, 200);
    let c = cfg(&[(key, "5")]).unwrap();
    assert_eq!(c.log_streams_max, 5);
    assert!(c.describe().contains(&(key, "5".into())));
    for bad in ["0", "100001", "-1", "1.5", "many"] {
        let err = cfg(&[(key, bad)]).unwrap_err().to_string();
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn a_log_stream_lasts_five_minutes_unless_set_between_one_second_and_a_day() {
    assert_eq!(cfg(&[]).unwrap().log_stream_max, Duration::from_secs(300));
    let c = cfg(&[("CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS", "2")]).unwrap();
    assert_eq!(c.log_stream_max, Duration::from_secs(2));
    assert!(c
        .describe()
        .contains(&("CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS", "2".into())));
    for bad in ["0", "86401", "-1", "1.5", "soon"] {
        let err = cfg(&[("CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS"),
            "{err}"
        );
    }
}

#[test]
fn bad_values_are_rejected_with_the_variable_name() {
    let err = cfg(&[("CHAP_SCHEDULER_BIND", "nonsense")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("CHAP_SCHEDULER_BIND"), "{err}");
    let err = cfg(&[("DATABASE_URL", "mysql://x")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
    let err = cfg(&[("CHAP_SCHEDULER_TRUST_PROXY_HEADERS", "maybe")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("boolean"), "{err}");
    let err = cfg(&[("CHAP_SCHEDULER_ADMIN_PASSWORD", "short")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("ADMIN_PASSWORD"), "{err}");
    let err = cfg(&[("CHAP_SCHEDULER_ENCRYPTION_KEY", "not-a-key")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("CHAP_SCHEDULER_ENCRYPTION_KEY"), "{err}");
    assert!(!err.contains("not-a-key"), "{err}");
}
