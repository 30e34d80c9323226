//! Artifacts (the run report): written by the attempt that holds the run, read by the API.

use chap_scheduler_api::{ArtifactKind, ArtifactView};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::lease::{holds, Lease};
use crate::db::entities::artifact;
use crate::db::users::now;
use crate::db::RelaxedWrites;

/// Stores an artifact while `lease` holds the run, replacing an earlier one of the same key; false
/// (nothing written) when the lease is gone. A relaxed write: the attempt's end follows it.
#[tracing::instrument(
    target = "chap_scheduler::cost",
    level = "debug",
    name = "artifact",
    skip_all
)]
pub async fn put_artifact(
    db: &RelaxedWrites,
    lease: &Lease,
    key: &str,
    kind: ArtifactKind,
    content: String,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    if !holds(&txn, lease).await? {
        return Ok(false);
    }
    artifact::Entity::delete_many()
        .filter(artifact::Column::FlowRunId.eq(lease.run_id))
        .filter(artifact::Column::Key.eq(key))
        .exec(&txn)
        .await?;
    artifact::Entity::insert(artifact::ActiveModel {
        id: Set(Uuid::new_v4()),
        flow_run_id: Set(lease.run_id),
        key: Set(key.into()),
        kind: Set(kind),
        content: Set(content),
        created_at: Set(now()),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(true)
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
