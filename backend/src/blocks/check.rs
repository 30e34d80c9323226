//! `POST /blocks/{id}/test`: reach DHIS2 and chap (through DHIS2's route) with a block's credentials,
//! using the prediction flow's own clients, and report versions, the account DHIS2 says we are and
//! whether it may import data values, or why it failed.

use std::time::Duration;

use chap_scheduler_api::{AccountCheck, BlockTestResult, ServiceCheck};
use secrecy::{ExposeSecret, SecretString};

use crate::flows::dhis2_chap_prediction::chap::RunClients;
use crate::flows::dhis2_chap_prediction::client::{ApiError, Credentials, HttpSettings};
use crate::flows::dhis2_chap_prediction::flow::credentials_of;
use crate::orchestrator::context::REDACTED;
use crate::orchestrator::BlockData;

/// The DHIS2 credentials of a `dhis2-credentials` block. Errors never contain a secret.
pub fn credentials(block: &BlockData) -> anyhow::Result<Credentials> {
    credentials_of(block).map_err(anyhow::Error::msg)
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

/// Calls DHIS2's and chap's system info and DHIS2's `/api/me` at once; never fails, the result says
/// what went wrong.
pub async fn test_connection(credentials: &Credentials) -> BlockTestResult {
    // The clients already scrub echoed secrets; this is the second line of defence.
    let secret = credentials.secret().clone();
    let scrub = move |e: ApiError| scrub(&secret, e.to_string());
    let clients = match RunClients::new(credentials, settings()) {
        Ok(clients) => clients,
        Err(e) => {
            let error = scrub(e);
            return BlockTestResult {
                dhis2: failed(error.clone()),
                chap: failed(error.clone()),
                account: AccountCheck {
                    error: Some(error),
                    ..AccountCheck::default()
                },
            };
        }
    };
    let (dhis2, chap, me) = tokio::join!(
        clients.dhis2.system_info(),
        clients.chap.system_info(),
        clients.dhis2.me()
    );
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
        account: match me {
            Ok(me) => {
                let can_import = me.can_import_data_values();
                AccountCheck {
                    ok: true,
                    warning: (!can_import).then(|| {
                        format!(
                            "the account {} has neither F_DATAVALUE_ADD nor ALL: runs with \
                             import_to_dhis2 will be refused by DHIS2",
                            me.username.as_deref().unwrap_or("(unnamed)")
                        )
                    }),
                    username: me.username,
                    can_import_data_values: Some(can_import),
                    error: None,
                }
            }
            Err(e) => AccountCheck {
                error: Some(scrub(e)),
                ..AccountCheck::default()
            },
        },
    }
}

/// Replaces a secret echoed in an error text.
pub fn scrub(secret: &SecretString, text: String) -> String {
    let secret = secret.expose_secret();
    if secret.chars().count() >= 3 {
        text.replace(secret, REDACTED)
    } else {
        text
    }
}
