//! Artifacts (the run report, forecasts): written by the attempt that holds the run, through the log
//! writer; read by the API.

use chap_scheduler_api::{ArtifactKind, ArtifactView};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use uuid::Uuid;

use crate::db::entities::artifact;
use crate::db::users::now;

/// Stores an artifact of the run `run_id`, replacing an earlier one of the same key, inside the log
/// writer's transaction, which has checked the writing attempt's lease (see [`super::LogSink`]).
pub(super) async fn put_artifact_in(
    txn: &impl ConnectionTrait,
    run_id: Uuid,
    key: &str,
    kind: ArtifactKind,
    content: &str,
) -> Result<(), DbErr> {
    artifact::Entity::delete_many()
        .filter(artifact::Column::FlowRunId.eq(run_id))
        .filter(artifact::Column::Key.eq(key))
        .exec(txn)
        .await?;
    artifact::Entity::insert(artifact::ActiveModel {
        id: Set(Uuid::new_v4()),
        flow_run_id: Set(run_id),
        key: Set(key.into()),
        kind: Set(kind),
        content: Set(content.into()),
        created_at: Set(now()),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// A run's artifacts shown as text (reports, tables), oldest first, with the reports' root-relative
/// links put under `link_base` (the public path); forecasts are read with [`forecast_contents`].
pub async fn list_artifacts(
    db: &DatabaseConnection,
    run_id: Uuid,
    link_base: &str,
) -> Result<Vec<ArtifactView>, DbErr> {
    Ok(artifact::Entity::find()
        .filter(artifact::Column::FlowRunId.eq(run_id))
        .filter(artifact::Column::Kind.ne(ArtifactKind::Forecast))
        .order_by_asc(artifact::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|a| ArtifactView {
            id: a.id,
            key: a.key,
            kind: a.kind,
            html: (a.kind == ArtifactKind::Markdown)
                .then(|| chap_scheduler_api::markdown::render_with_base(&a.content, link_base)),
            content: a.content,
            created_at: a.created_at,
        })
        .collect())
}

/// The contents of a run's forecast artifacts, in the order they were stored.
pub async fn forecast_contents(
    db: &DatabaseConnection,
    run_id: Uuid,
) -> Result<Vec<String>, DbErr> {
    Ok(artifact::Entity::find()
        .filter(artifact::Column::FlowRunId.eq(run_id))
        .filter(artifact::Column::Kind.eq(ArtifactKind::Forecast))
        .order_by_asc(artifact::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|a| a.content)
        .collect())
}
