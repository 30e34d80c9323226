//! Posting to a webhook: the event as JSON (signed when the channel has a signing secret), or a short
//! text for Slack and Teams incoming webhooks. Error texts never contain the URL (it carries a token).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

/// `X-Chap-Scheduler-Signature` of `body` at unix time `t`: `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What to post.
pub struct Post<'a> {
    pub url: &'a str,
    /// `json`, `slack` or `teams`.
    pub format: &'a str,
    pub signing_secret: Option<&'a str>,
    pub event: &'a Value,
    pub event_name: &'a str,
    pub text: &'a str,
    pub delivery: Uuid,
}

/// Posts once; `Ok` with the receiver's status when it answered 2xx, else why not.
pub async fn post(client: &reqwest::Client, p: Post<'_>) -> Result<String, String> {
    let body = match p.format {
        "slack" | "teams" => json!({ "text": p.text }).to_string(),
        _ => p.event.to_string(),
    };
    let mut request = client
        .post(p.url)
        .timeout(Duration::from_secs(15))
        .header("Content-Type", "application/json")
        .header("User-Agent", "chap-scheduler")
        .header("X-Chap-Scheduler-Event", p.event_name)
        .header("X-Chap-Scheduler-Delivery", p.delivery.to_string());
    if let (Some(secret), "json") = (p.signing_secret, p.format) {
        let t = crate::db::clock::now().timestamp();
        request = request.header(
            "X-Chap-Scheduler-Signature",
            signature(secret, t, body.as_bytes()),
        );
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| format!("the webhook could not be reached: {}", e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(format!("HTTP {}", status.as_u16()));
    }
    // The first 300 characters are kept: at most 4 bytes each, the rest is never read.
    let text = crate::http_body::prefix(response, 1200)
        .await
        .unwrap_or_default();
    let short: String = String::from_utf8_lossy(&text).chars().take(300).collect();
    Err(format!(
        "the webhook answered HTTP {}: {short}",
        status.as_u16()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_time_dot_body() {
        // Checked with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret-of-16-chars'
        let sig = signature("secret-of-16-chars", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "t=1700000000,v1=6afe8e0515c786f952e78841359526cea20c88134915def7d76dd52f6b4fe08d"
        );
    }
}
