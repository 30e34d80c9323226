//! Which state changes notify: called inside the transaction that ends a run, so the delivery rows
//! exist exactly when the new state does.

use chap_scheduler_api::NotificationEvent;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{json, Value};

use super::deliveries::{self, Subject};
use crate::db::entities::flow_run;
use crate::db::users::now;
use crate::orchestrator::schedules;
use crate::orchestrator::state::RunState;

/// The event a run's final state is, if any: FAILED, or CRASHED after the last attempt, is
/// `run.failed`; COMPLETED is `run.partial` when a prediction setup failed, else `run.completed`.
pub fn run_event(
    to: RunState,
    attempt: i32,
    max_attempts: i32,
    summary: Option<&Value>,
) -> Option<NotificationEvent> {
    match to {
        RunState::Failed => Some(NotificationEvent::RunFailed),
        RunState::Crashed if attempt >= max_attempts => Some(NotificationEvent::RunFailed),
        RunState::Completed => {
            let failed = summary
                .and_then(|s| s.get("failed"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            Some(if failed > 0 {
                NotificationEvent::RunPartial
            } else {
                NotificationEvent::RunCompleted
            })
        }
        _ => None,
    }
}

/// Writes the deliveries of a run that just moved to `to`, inside the transaction that moved it.
pub async fn run_ended(
    txn: &impl ConnectionTrait,
    run: &flow_run::Model,
    to: RunState,
) -> Result<(), DbErr> {
    if !matches!(
        to,
        RunState::Failed | RunState::Crashed | RunState::Completed
    ) {
        return Ok(());
    }
    let Some(event) = run_event(to, run.attempt, run.max_attempts, run.summary.as_ref()) else {
        return Ok(());
    };
    let at = now();
    deliveries::enqueue(txn, event, &Subject::run(run), None, at).await?;
    let failed = event == NotificationEvent::RunFailed;
    if let Some(paused) = schedules::record_outcome(txn, run, failed).await? {
        let subject = Subject {
            run_id: None,
            deployment_id: Some(paused.deployment_id),
            schedule_id: Some(paused.schedule_id),
            slot: None,
            part: Some(format!("paused:{}", at.to_rfc3339())),
        };
        let detail =
            json!({ "reason": paused.reason, "failures": paused.failures, "run_id": run.id });
        deliveries::enqueue(
            txn,
            NotificationEvent::SchedulePaused,
            &subject,
            Some(detail),
            at,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_are_events_and_a_crash_only_after_the_last_attempt() {
        use NotificationEvent::*;
        assert_eq!(run_event(RunState::Failed, 1, 3, None), Some(RunFailed));
        assert_eq!(run_event(RunState::Crashed, 2, 3, None), None);
        assert_eq!(run_event(RunState::Crashed, 3, 3, None), Some(RunFailed));
        let partial = json!({"succeeded": 1, "failed": 1});
        assert_eq!(
            run_event(RunState::Completed, 1, 1, Some(&partial)),
            Some(RunPartial)
        );
        let clean = json!({"succeeded": 2, "failed": 0});
        assert_eq!(
            run_event(RunState::Completed, 1, 1, Some(&clean)),
            Some(RunCompleted)
        );
        assert_eq!(
            run_event(RunState::Completed, 1, 1, None),
            Some(RunCompleted)
        );
        assert_eq!(run_event(RunState::Cancelled, 1, 1, None), None);
    }
}
