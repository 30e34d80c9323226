//! Unit tests of the transport the DHIS2 and chap clients share (URLs, backoff, redaction).

use super::*;

fn transport(password: &str) -> Arc<Transport> {
    let creds = Credentials::basic(
        Url::parse("https://alice:inurl@dhis.example.org/dhis/").unwrap(),
        "alice",
        SecretString::from(password.to_string()),
    );
    Transport::new(&creds, HttpSettings::default()).unwrap()
}

#[test]
fn urls_keep_the_context_path_and_drop_credentials() {
    let t = transport("hunter2");
    let url = t.url("/api/routes/chap/run", &["v1", "jobs", "a b/c"]);
    assert_eq!(
        url.as_str(),
        "https://dhis.example.org/dhis/api/routes/chap/run/v1/jobs/a%20b%2Fc"
    );
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_is_capped() {
    let t = transport("hunter2");
    for _ in 0..50 {
        let first = t.backoff(1);
        assert!(
            first >= Duration::from_millis(250) && first < Duration::from_millis(750),
            "{first:?}"
        );
        let third = t.backoff(3);
        assert!(
            third >= Duration::from_secs(1) && third < Duration::from_secs(3),
            "{third:?}"
        );
        assert!(t.backoff(10) <= Duration::from_secs(8));
    }
}

#[test]
fn echoed_secrets_are_scrubbed_from_error_texts() {
    let t = transport("hunter2");
    let encoded = base64::engine::general_purpose::STANDARD.encode("alice:hunter2");
    let text = t.scrub(format!("bad password hunter2 in Basic {encoded}"));
    assert_eq!(text, "bad password [REDACTED] in Basic [REDACTED]");
}

#[test]
fn debug_output_never_shows_the_password() {
    let creds = Credentials::basic(
        Url::parse("https://dhis.example.org").unwrap(),
        "alice",
        SecretString::from("hunter2".to_string()),
    );
    assert!(!format!("{creds:?}").contains("hunter2"));
    let token = Credentials::token(
        Url::parse("https://dhis.example.org").unwrap(),
        SecretString::from("d2pat_secret123".to_string()),
    );
    assert!(!format!("{token:?}").contains("d2pat_secret123"));
    assert!(!format!("{:?}", transport("hunter2")).contains("hunter2"));
}
