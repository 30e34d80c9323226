//! Flow states: values a flow keeps across runs (the prediction flow: the last input period of each
//! setup's last successful prediction). Written only while the writing run's lease holds, read by any
//! run of the flow.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::db::entities::flow_state;
use crate::db::users::now;

/// Longest key stored (the column's width).
pub const STATE_KEY_MAX: usize = 500;

/// A stored flow state and the run that wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowState {
    /// The value.
    pub value: Value,
    /// The run that wrote it.
    pub run_id: Option<Uuid>,
}

/// A flow state to store, as the log writer gathered it.
pub(super) struct NewFlowState<'a> {
    pub run_id: Uuid,
    pub flow: &'a str,
    pub key: &'a str,
    pub value: &'a Value,
}

/// Stores each value under its (`flow`, `key`) for its run, a later one of the same flow and key
/// replacing an earlier, inside the log writer's transaction, which has checked the writing attempts'
/// leases (see [`super::LogSink`]): one statement for them all.
pub(super) async fn put_flow_states_in(
    txn: &impl ConnectionTrait,
    states: &[NewFlowState<'_>],
) -> Result<(), DbErr> {
    // Keyed by the key as stored (cut to the column's width).
    let last = super::last_per_key(states, |s| {
        (
            s.flow,
            s.key.chars().take(STATE_KEY_MAX).collect::<String>(),
        )
    });
    if last.is_empty() {
        return Ok(());
    }
    // One statement may not touch a row twice (PostgreSQL): hence one row per flow and key.
    flow_state::Entity::insert_many(last.into_iter().map(|((_, key), s)| {
        flow_state::ActiveModel {
            flow_name: Set(s.flow.to_string()),
            key: Set(key),
            value: Set(s.value.clone()),
            run_id: Set(Some(s.run_id)),
            written_at: Set(now()),
        }
    }))
    .on_conflict(
        OnConflict::columns([flow_state::Column::FlowName, flow_state::Column::Key])
            .update_columns([
                flow_state::Column::Value,
                flow_state::Column::RunId,
                flow_state::Column::WrittenAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// The state stored under (`flow`, `key`).
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "flow_state_read",
    skip_all
)]
pub async fn flow_state(
    db: &DatabaseConnection,
    flow: &str,
    key: &str,
) -> Result<Option<FlowState>, DbErr> {
    let key: String = key.chars().take(STATE_KEY_MAX).collect();
    Ok(flow_state::Entity::find()
        .filter(flow_state::Column::FlowName.eq(flow))
        .filter(flow_state::Column::Key.eq(key))
        .one(db)
        .await?
        .map(|s| FlowState {
            value: s.value,
            run_id: s.run_id,
        }))
}
