//! Notifications: `/api/v1/notification-rules` (admins manage, operators read), a rule's "Send test"
//! and deliveries, and `GET /api/v1/runs/{id}/deliveries` for the run page.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chap_scheduler_api::{
    DeliveryView, ErrorBody, LateSlotView, NotificationEvent, NotificationRuleRequest,
    NotificationRuleView, NotificationTestResult, RunState,
};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::extract::{Admin, Operator};
use super::input::{JsonBody, QueryParams};
use super::AppState;
use crate::auth::Principal;
use crate::db::audit;
use crate::db::entities::flow_run;
use crate::db::users::now;
use crate::error::{AppError, AppResult};
use crate::notify::{deliveries, rules};

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_rules)
        .service(create_rule)
        .service(get_rule)
        .service(replace_rule)
        .service(delete_rule)
        .service(test_rule)
        .service(rule_deliveries)
        .service(run_deliveries)
        .service(late_slots);
}

/// How far back.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LateQuery {
    /// Days, 1–30 (default 7).
    #[param(minimum = 1, maximum = 30)]
    days: Option<u32>,
}

/// Slots that had no COMPLETED run by their schedule's deadline (`ready_by_minutes`), the latest
/// first (at most 200): for the dashboard.
#[utoipa::path(
    tag = "schedules",
    params(LateQuery),
    responses(
        (status = 200, body = Vec<LateSlotView>),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[get("/late-slots")]
async fn late_slots(
    _principal: Principal,
    state: web::Data<AppState>,
    query: QueryParams<LateQuery>,
) -> AppResult<web::Json<Vec<LateSlotView>>> {
    let days = query.days.unwrap_or(7);
    if !(1..=30).contains(&days) {
        return Err(AppError::field("days", "must be between 1 and 30"));
    }
    let since = now() - chrono::Duration::days(i64::from(days));
    Ok(web::Json(
        crate::notify::deadlines::late_since(state.engine.db(), since).await?,
    ))
}

async fn rule_view(
    state: &AppState,
    rule: &crate::db::entities::notification_rule::Model,
) -> NotificationRuleView {
    rules::view(&state.blocks, rule).await
}

/// Every notification rule (operator).
#[utoipa::path(
    tag = "notifications",
    responses(
        (status = 200, body = Vec<NotificationRuleView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
#[get("/notification-rules")]
async fn list_rules(
    _operator: Operator,
    state: web::Data<AppState>,
) -> AppResult<web::Json<Vec<NotificationRuleView>>> {
    let mut views = Vec::new();
    for rule in rules::list(state.engine.db()).await? {
        views.push(rule_view(&state, &rule).await);
    }
    Ok(web::Json(views))
}

/// Create a rule (admin): which events go through which channel block (`webhook` or `smtp`), for
/// every deployment or one deployment or schedule.
#[utoipa::path(
    tag = "notifications",
    request_body = NotificationRuleRequest,
    responses(
        (status = 201, body = NotificationRuleView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "A rule with that name exists", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/notification-rules")]
async fn create_rule(
    admin: Admin,
    state: web::Data<AppState>,
    body: JsonBody<NotificationRuleRequest>,
) -> AppResult<HttpResponse> {
    let rule = rules::create(state.engine.db(), &state.blocks, body.into_inner()).await?;
    audit::record(
        state.engine.db(),
        &admin.actor(),
        "notification_rule.created",
        Some(format!("notification_rule:{}", rule.id)),
        json!({ "name": rule.name, "channel": rule.channel_id, "events": rule.events }),
    )
    .await?;
    Ok(HttpResponse::Created().json(rule_view(&state, &rule).await))
}

/// One rule (operator).
#[utoipa::path(
    tag = "notifications",
    params(("id" = Uuid, Path, description = "Rule id")),
    responses(
        (status = 200, body = NotificationRuleView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/notification-rules/{id}")]
async fn get_rule(
    _operator: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<NotificationRuleView>> {
    let rule = rules::get(state.engine.db(), *id).await?;
    Ok(web::Json(rule_view(&state, &rule).await))
}

/// Replace a rule (admin); its deliveries stay.
#[utoipa::path(
    tag = "notifications",
    params(("id" = Uuid, Path, description = "Rule id")),
    request_body = NotificationRuleRequest,
    responses(
        (status = 200, body = NotificationRuleView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A rule with that name exists", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[put("/notification-rules/{id}")]
async fn replace_rule(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<NotificationRuleRequest>,
) -> AppResult<web::Json<NotificationRuleView>> {
    let rule = rules::replace(state.engine.db(), &state.blocks, *id, body.into_inner()).await?;
    audit::record(
        state.engine.db(),
        &admin.actor(),
        "notification_rule.updated",
        Some(format!("notification_rule:{}", rule.id)),
        json!({ "name": rule.name, "channel": rule.channel_id, "events": rule.events, "active": rule.active }),
    )
    .await?;
    Ok(web::Json(rule_view(&state, &rule).await))
}

/// Delete a rule and its deliveries (admin).
#[utoipa::path(
    tag = "notifications",
    params(("id" = Uuid, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[delete("/notification-rules/{id}")]
async fn delete_rule(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let rule = rules::delete(state.engine.db(), *id).await?;
    audit::record(
        state.engine.db(),
        &admin.actor(),
        "notification_rule.deleted",
        Some(format!("notification_rule:{}", rule.id)),
        json!({ "name": rule.name }),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A sample run for "Send test".
fn sample_run() -> flow_run::Model {
    let at = now();
    flow_run::Model {
        id: Uuid::nil(),
        deployment_id: None,
        deployment_name: "sample deployment (test notification)".into(),
        flow_name: "dhis2-chap-prediction".into(),
        parameters: json!({}),
        state: RunState::Failed,
        state_message: Some("a sample event sent by Send test; no run failed".into()),
        state_at: at,
        expected_start_at: at,
        started_at: Some(at),
        ended_at: Some(at),
        attempt: 1,
        max_attempts: 1,
        triggered_by: "test".into(),
        schedule_id: None,
        idempotency_key: None,
        worker_id: None,
        heartbeat_at: None,
        next_attempt_at: None,
        enqueued_at: None,
        retry_of: None,
        summary: Some(json!({
            "succeeded": 1, "failed": 1, "skipped": 0,
            "setups": [
                { "name": "sample setup A", "status": "succeeded", "step_failed": null, "error": null },
                { "name": "sample setup B", "status": "failed", "step_failed": "Run prediction in chap",
                  "error": "ChapHttpError: sample error" }
            ]
        })),
        created_at: at,
    }
}

/// Send a sample `run.failed` event through the rule's channel now (admin), and show the result.
#[utoipa::path(
    tag = "notifications",
    params(("id" = Uuid, Path, description = "Rule id")),
    responses(
        (status = 200, body = NotificationTestResult),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[post("/notification-rules/{id}/test")]
async fn test_rule(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<NotificationTestResult>> {
    let rule = rules::get(state.engine.db(), *id).await?;
    let run = sample_run();
    let report = "# Sample run report\n\nThis is what a run report looks like in a notification."
        .to_string();
    let notifier = state.notifier();
    let message = notifier.run_message(NotificationEvent::RunFailed, now(), &run, Some(report));
    let result = notifier.dispatch(&rule, &message, Uuid::now_v7()).await;
    let (ok, detail) = match result {
        Ok(answer) => (true, answer),
        Err(e) => (false, e.message),
    };
    audit::record(
        state.engine.db(),
        &admin.actor(),
        "notification_rule.tested",
        Some(format!("notification_rule:{}", rule.id)),
        json!({ "ok": ok }),
    )
    .await?;
    Ok(web::Json(NotificationTestResult { ok, detail }))
}

/// A rule's latest 100 deliveries, newest first (operator).
#[utoipa::path(
    tag = "notifications",
    params(("id" = Uuid, Path, description = "Rule id")),
    responses(
        (status = 200, body = Vec<DeliveryView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/notification-rules/{id}/deliveries")]
async fn rule_deliveries(
    _operator: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Vec<DeliveryView>>> {
    let rule = rules::get(state.engine.db(), *id).await?;
    Ok(web::Json(
        deliveries::for_rule(state.engine.db(), rule.id, 100).await?,
    ))
}

/// The notifications a run caused: rule, event, status, attempts, last error.
#[utoipa::path(
    tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    responses(
        (status = 200, body = Vec<DeliveryView>),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/runs/{id}/deliveries")]
async fn run_deliveries(
    _principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Vec<DeliveryView>>> {
    let db = state.engine.db();
    let run = crate::orchestrator::store::get(db, *id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no run with id {id}")))?;
    Ok(web::Json(deliveries::for_run(db, run.id).await?))
}
