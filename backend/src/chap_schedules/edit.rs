//! Switching a setup's schedule from our UI: `PATCH …/v1/crud/prediction-setups/{id}` in chap with
//! `{"scheduleEnabled", "scheduleCronExpression"}` through DHIS2's route, checked first as chap
//! checks it (exactly 5 cron fields, never enabled without a cron), then a synchronisation.

use chap_scheduler_api::{ChapSetupUpdate, ChapSetupsView};
use serde_json::{json, Value};
use uuid::Uuid;

use super::cron::chap_timing;
use super::sync::{chap_schedule, sync_schedule};
use super::{store, ChapSchedules};
use crate::db::audit::{self, Actor};
use crate::error::{AppError, AppResult};
use crate::flows::dhis2_chap_prediction::client::{ApiError, ErrorBody};

/// chap's words from a refusal body: `{"detail": "…"}` or FastAPI's `{"detail": [{"msg", "loc"}]}`.
pub fn refusal_text(body: &ErrorBody) -> String {
    let detail = match body {
        ErrorBody::Json(v) => v.get("detail"),
        ErrorBody::Text(t) => return t.trim().to_string(),
    };
    match detail {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.get("msg").and_then(Value::as_str) {
                Some(msg) => msg.to_string(),
                None => item.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
        None => body.to_string(),
    }
}

/// The new (enabled, cron) of a setup, refused as chap would refuse it.
fn desired(
    req: &ChapSetupUpdate,
    current: (bool, Option<String>),
    timezone: &str,
) -> AppResult<(bool, Option<String>)> {
    if req.enabled.is_none() && req.cron.is_none() {
        return Err(AppError::field("enabled", "give enabled, cron or both"));
    }
    let cron = match req.cron.as_deref().map(str::trim) {
        None => current.1,
        Some("") => None,
        Some(expr) => {
            chap_timing(expr, timezone, false).map_err(|m| AppError::field("cron", m))?;
            Some(expr.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    };
    let enabled = req.enabled.unwrap_or(current.0);
    if enabled && cron.is_none() {
        return Err(AppError::field(
            "cron",
            "chap refuses a schedule enabled without a cron expression: give one (5 fields)",
        ));
    }
    Ok((enabled, cron))
}

/// `PATCH /schedules/{id}/setups/{setup_id}`: writes the setup's schedule to chap, synchronises,
/// records who changed what, and answers with the schedule's setups.
pub async fn update_setup(
    app: &ChapSchedules,
    schedule_id: Uuid,
    setup_id: i64,
    req: ChapSetupUpdate,
    actor: &Actor,
) -> AppResult<ChapSetupsView> {
    let db = app.engine.db();
    let s = chap_schedule(app, schedule_id).await?;
    let row = store::row(db, s.id, setup_id).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "the schedule {schedule_id} follows no prediction setup {setup_id} (synchronise it \
             to read chap's setups again)"
        ))
    })?;
    let before = (row.enabled, row.cron.clone());
    let (enabled, cron) = desired(&req, before.clone(), &s.timezone)?;
    let chap = super::client::open(app, &s)
        .await
        .map_err(|e| AppError::Unavailable(format!("chap cannot be reached: {e}")))?;
    if let Err(e) = chap
        .chap
        .set_setup_schedule(setup_id, enabled, cron.as_deref())
        .await
    {
        let field = if req.cron.is_some() {
            "cron"
        } else {
            "enabled"
        };
        return Err(match &e {
            ApiError::Status {
                status: 400 | 409 | 422,
                body,
                ..
            } => AppError::field(field, format!("chap refused it: {}", refusal_text(body))),
            ApiError::Status { status: 404, .. } => {
                AppError::NotFound(format!("chap has no prediction setup {setup_id} any more"))
            }
            _ => AppError::Unavailable(format!(
                "chap did not take the change: {}",
                chap.error_text(&e)
            )),
        });
    }
    audit::record(
        db,
        actor,
        "schedule.setup_updated",
        Some(format!("schedule:{}", s.id)),
        json!({
            "setup_id": setup_id,
            "setup": row.name,
            "before": { "enabled": before.0, "cron": before.1 },
            "after": { "enabled": enabled, "cron": cron },
        }),
    )
    .await?;
    let _ = sync_schedule(app, &s).await;
    Ok(store::setups_view(db, &s).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(enabled: Option<bool>, cron: Option<&str>) -> ChapSetupUpdate {
        ChapSetupUpdate {
            enabled,
            cron: cron.map(str::to_string),
        }
    }

    #[test]
    fn changes_are_checked_as_chap_checks_them() {
        let current = (false, Some("0 6 * * 1".to_string()));
        let ok = desired(&update(Some(true), None), current.clone(), "UTC").unwrap();
        assert_eq!(ok, (true, Some("0 6 * * 1".into())));
        let ok = desired(&update(None, Some(" 0  7 * * * ")), current.clone(), "UTC").unwrap();
        assert_eq!(ok, (false, Some("0 7 * * *".into())));
        let six = desired(&update(None, Some("0 0 7 * * *")), current.clone(), "UTC").unwrap_err();
        assert!(
            six.to_string()
                .starts_with("cron: chap's cron expressions have exactly 5"),
            "{six}"
        );
        let bad = desired(&update(None, Some("0 25 * * *")), current.clone(), "UTC").unwrap_err();
        assert!(bad.to_string().starts_with("cron:"), "{bad}");
        let no_cron = desired(&update(Some(true), Some("")), current.clone(), "UTC").unwrap_err();
        assert!(no_cron.to_string().contains("without a cron"), "{no_cron}");
        let cleared = desired(&update(Some(false), Some("")), current.clone(), "UTC").unwrap();
        assert_eq!(cleared, (false, None));
        assert!(desired(&update(None, None), current, "UTC").is_err());
    }

    #[test]
    fn chaps_refusal_is_read_as_a_string_or_a_list() {
        let s = ErrorBody::Json(json!({"detail": "Schedule cannot be enabled without a cron"}));
        assert_eq!(
            refusal_text(&s),
            "Schedule cannot be enabled without a cron"
        );
        let list = ErrorBody::Json(json!({"detail": [
            {"loc": ["body", "scheduleCronExpression"], "msg": "Value error, expected 5 fields", "type": "value_error"},
            {"msg": "second"}
        ]}));
        assert_eq!(
            refusal_text(&list),
            "Value error, expected 5 fields; second"
        );
        assert_eq!(refusal_text(&ErrorBody::Text(" nope \n".into())), "nope");
    }
}
