//! Artifacts (the run report, forecasts): written by the attempt that holds the run, through the log
//! writer; read by the API.

use chap_scheduler_api::{ArtifactKind, ArtifactView};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use crate::db::entities::artifact;
use crate::db::users::now;

/// An artifact to store, as the log writer gathered it.
pub(super) struct NewArtifact<'a> {
    pub run_id: Uuid,
    pub key: &'a str,
    pub kind: ArtifactKind,
    pub content: &'a str,
}

/// Stores artifacts, each replacing an earlier one of its run and key (and a later one in `artifacts`
/// replacing an earlier of the same run and key), inside the log writer's transaction, which has checked
/// the writing attempts' leases (see [`super::LogSink`]): one delete and one insert for them all.
pub(super) async fn put_artifacts_in(
    txn: &impl ConnectionTrait,
    artifacts: &[NewArtifact<'_>],
) -> Result<(), DbErr> {
    let last: Vec<&NewArtifact> = super::last_per_key(artifacts, |a| (a.run_id, a.key))
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    if last.is_empty() {
        return Ok(());
    }
    let same = last.iter().fold(Condition::any(), |any, a| {
        any.add(
            Condition::all()
                .add(artifact::Column::FlowRunId.eq(a.run_id))
                .add(artifact::Column::Key.eq(a.key)),
        )
    });
    artifact::Entity::delete_many()
        .filter(same)
        .exec(txn)
        .await?;
    artifact::Entity::insert_many(last.iter().map(|a| artifact::ActiveModel {
        id: Set(Uuid::new_v4()),
        flow_run_id: Set(a.run_id),
        key: Set(a.key.into()),
        kind: Set(a.kind),
        content: Set(a.content.into()),
        created_at: Set(now()),
    }))
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
