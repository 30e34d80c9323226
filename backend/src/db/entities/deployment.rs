//! `deployments`: a flow with parameter defaults, concurrency, retries and a timeout.

use chap_scheduler_api::CollisionStrategy;
use sea_orm::entity::prelude::*;

/// A deployment row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    pub flow_name: String,
    pub description: String,
    pub tags: Json,
    pub parameters: Json,
    pub paused: bool,
    pub concurrency_limit: Option<i32>,
    pub collision_strategy: CollisionStrategy,
    pub retries: i32,
    pub retry_delay_seconds: f64,
    pub retry_backoff: f64,
    pub timeout_seconds: Option<f64>,
    pub is_default: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
