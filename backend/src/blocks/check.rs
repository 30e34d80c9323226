//! `POST /blocks/{id}/test`: reach DHIS2 and chap (through DHIS2's route) with a block's credentials,
//! using the prediction flow's own clients, and report versions or why it failed.

use std::time::Duration;

use chap_scheduler_api::{BlockTestResult, ServiceCheck};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::flows::dhis2_chap_prediction::chap::RunClients;
use crate::flows::dhis2_chap_prediction::client::{ApiError, Credentials, HttpSettings};
use crate::flows::dhis2_chap_prediction::params::CREDENTIALS_BLOCK_TYPE;
use crate::orchestrator::context::REDACTED;
use crate::orchestrator::BlockData;

/// The DHIS2 credentials of a `dhis2-credentials` block. Errors never contain the password.
pub fn credentials(block: &BlockData) -> anyhow::Result<Credentials> {
    if block.block_type != CREDENTIALS_BLOCK_TYPE {
        anyhow::bail!(
            "block `{}` is a `{}` block, not `{CREDENTIALS_BLOCK_TYPE}`",
            block.name,
            block.block_type
        );
    }
    let text = |field: &str| {
        block
            .data
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("block `{}` has no `{field}`", block.name))
    };
    let base_url = url::Url::parse(text("base_url")?)
        .map_err(|e| anyhow::anyhow!("block `{}` has an invalid base_url: {e}", block.name))?;
    Ok(Credentials {
        base_url,
        username: text("username")?.to_string(),
        password: SecretString::from(text("password")?.to_string()),
    })
}

/// Short timeouts and no retries: an operator is waiting for the answer.
fn settings() -> HttpSettings {
    HttpSettings {
        dhis2_timeout: Duration::from_secs(10),
        chap_timeout: Duration::from_secs(15),
        max_attempts: 1,
        ..HttpSettings::default()
    }
}

fn failed(error: String) -> ServiceCheck {
    ServiceCheck {
        ok: false,
        version: None,
        error: Some(error),
    }
}

/// Calls DHIS2's and chap's system info at once; never fails, the result says what went wrong.
pub async fn test_connection(credentials: &Credentials) -> BlockTestResult {
    // The clients already scrub echoed secrets; this is the second line of defence.
    let password = credentials.password.clone();
    let scrub = move |e: ApiError| scrub(&password, e.to_string());
    let clients = match RunClients::new(credentials, settings()) {
        Ok(clients) => clients,
        Err(e) => {
            let error = scrub(e);
            return BlockTestResult {
                dhis2: failed(error.clone()),
                chap: failed(error),
            };
        }
    };
    let (dhis2, chap) = tokio::join!(clients.dhis2.system_info(), clients.chap.system_info());
    BlockTestResult {
        dhis2: match dhis2 {
            Ok(info) => ServiceCheck {
                ok: true,
                version: Some(info.version),
                error: None,
            },
            Err(e) => failed(scrub(e)),
        },
        chap: match chap {
            Ok(info) => ServiceCheck {
                ok: true,
                version: Some(info.chap_core_version),
                error: None,
            },
            Err(e) => failed(scrub(e)),
        },
    }
}

fn scrub(password: &SecretString, text: String) -> String {
    let password = password.expose_secret();
    if password.chars().count() >= 3 {
        text.replace(password, REDACTED)
    } else {
        text
    }
}
