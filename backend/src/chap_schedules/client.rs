//! The chap a `chap` schedule follows: the `credentials` block named by its parameters (pinned over
//! the deployment's defaults, as its runs get them), reached with the prediction flow's own client.

use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;

use super::ChapSchedules;
use crate::db::entities::schedule;
use crate::flows::dhis2_chap_prediction::chap::{ChapClient, RunClients};
use crate::flows::dhis2_chap_prediction::client::{ApiError, HttpSettings};
use crate::flows::dhis2_chap_prediction::flow::credentials_of;
use crate::orchestrator::engine::merge_parameters;

/// A chap client for one schedule, and the secret to scrub from its error texts.
pub struct ScheduleChap {
    /// chap through DHIS2's route.
    pub chap: ChapClient,
    secret: SecretString,
}

impl ScheduleChap {
    /// An error's text without the block's secret.
    pub fn error_text(&self, e: &ApiError) -> String {
        crate::blocks::scrub(&self.secret, e.to_string())
    }
}

/// The block id in a schedule's effective parameters.
pub fn credentials_id(dep_parameters: &Value, pinned: &Value) -> Result<Uuid, String> {
    let merged = merge_parameters(dep_parameters, Some(pinned));
    match merged.get("credentials") {
        Some(Value::String(raw)) => Uuid::parse_str(raw.trim())
            .map_err(|_| format!("the parameter `credentials` is not a block id: `{raw}`")),
        _ => Err(
            "a schedule with source `chap` needs the parameter `credentials` (the block of the \
             DHIS2 whose chap it follows)"
                .into(),
        ),
    }
}

/// Opens the schedule's credentials block and builds the client. Errors never contain a secret.
pub async fn open(app: &ChapSchedules, s: &schedule::Model) -> Result<ScheduleChap, String> {
    let db = app.engine.db();
    let dep = crate::orchestrator::deployments::get(db, s.deployment_id)
        .await
        .map_err(|e| format!("reading the deployment failed: {e}"))?;
    let id = credentials_id(&dep.parameters, &s.parameters)?;
    let block = match app.blocks.open(id).await {
        Ok(Some(Ok(block))) => block,
        Ok(Some(Err(e))) => return Err(e.to_string()),
        Ok(None) => return Err(format!("there is no credentials block with id {id}")),
        Err(e) => return Err(format!("reading the credentials block failed: {e}")),
    };
    let credentials = credentials_of(&block)?;
    let settings = HttpSettings {
        dhis2_timeout: app.settings.chap_timeout,
        chap_timeout: app.settings.chap_timeout,
        max_attempts: 2,
        max_response_bytes: app.settings.max_response_bytes,
        ..HttpSettings::default()
    };
    let secret = credentials.secret().clone();
    let clients = RunClients::new(&credentials, settings)
        .map_err(|e| crate::blocks::scrub(&secret, e.to_string()))?;
    Ok(ScheduleChap {
        chap: clients.chap,
        secret,
    })
}
