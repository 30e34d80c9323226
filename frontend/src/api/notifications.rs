//! Notifications: rules (admins manage, operators read), their "Send test" and deliveries, a run's
//! deliveries, the late slots of the dashboard, and `/info` (whether notifications can link to runs).

use chap_scheduler_api::{
    DeliveryView, LateSlotView, NotificationRuleRequest, NotificationRuleView,
    NotificationTestResult, ServiceInfo,
};
use uuid::Uuid;

use super::transport::{authed, authed_empty, encode};
use super::{path, ApiError};

/// `GET /notification-rules` (operator): every rule, by name.
pub async fn list_notification_rules() -> Result<Vec<NotificationRuleView>, ApiError> {
    authed("GET", "/notification-rules", None).await
}

/// `POST /notification-rules` (admin): 409 when the name is taken, 422 at the field.
pub async fn create_notification_rule(
    request: &NotificationRuleRequest,
) -> Result<NotificationRuleView, ApiError> {
    let body = encode(request)?;
    authed("POST", "/notification-rules", Some(&body)).await
}

/// `PUT /notification-rules/{id}` (admin): replaces the rule; its deliveries stay.
pub async fn replace_notification_rule(
    id: Uuid,
    request: &NotificationRuleRequest,
) -> Result<NotificationRuleView, ApiError> {
    let body = encode(request)?;
    authed("PUT", &format!("/notification-rules/{id}"), Some(&body)).await
}

/// `DELETE /notification-rules/{id}` (admin).
pub async fn delete_notification_rule(id: Uuid) -> Result<(), ApiError> {
    authed_empty("DELETE", &format!("/notification-rules/{id}"), None).await
}

/// `POST /notification-rules/{id}/test` (admin): a sample `run.failed` event sent now.
pub async fn test_notification_rule(id: Uuid) -> Result<NotificationTestResult, ApiError> {
    authed("POST", &format!("/notification-rules/{id}/test"), None).await
}

/// `GET /notification-rules/{id}/deliveries` (operator): the newest 100.
pub async fn rule_deliveries(id: Uuid) -> Result<Vec<DeliveryView>, ApiError> {
    authed("GET", &format!("/notification-rules/{id}/deliveries"), None).await
}

/// `GET /runs/{id}/deliveries`: what was sent about a run.
pub async fn run_deliveries(id: Uuid) -> Result<Vec<DeliveryView>, ApiError> {
    authed("GET", &format!("/runs/{id}/deliveries"), None).await
}

/// `GET /late-slots?days=`: slots without a COMPLETED run by their deadline, the latest first.
pub async fn late_slots(days: u32) -> Result<Vec<LateSlotView>, ApiError> {
    authed("GET", &format!("/late-slots?days={days}"), None).await
}

/// `GET /info`: version, backends, and the public URL notifications link runs to.
pub async fn service_info() -> Result<ServiceInfo, ApiError> {
    authed("GET", path::INFO, None).await
}
