//! Deployments: validation, CRUD, and the default deployment of every registered flow.

use chap_scheduler_api::{
    CollisionStrategy, CreateDeploymentRequest, DeploymentView, UpdateDeploymentRequest,
};
use sea_orm::sea_query::{Expr, UpdateStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QueryTrait, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::flow::{Flow, FlowRegistry};
use super::schema;
use crate::db::entities::deployment;
use crate::db::{is_unique_violation, users::now};
use crate::error::{AppError, AppResult};
use crate::text;

/// The API view of a deployment.
pub fn view(d: &deployment::Model) -> DeploymentView {
    DeploymentView {
        id: d.id,
        name: d.name.clone(),
        flow_name: d.flow_name.clone(),
        description: d.description.clone(),
        tags: serde_json::from_value(d.tags.clone()).unwrap_or_default(),
        parameters: d.parameters.clone(),
        paused: d.paused,
        concurrency_limit: d.concurrency_limit.map(|l| l.max(0) as u32),
        collision_strategy: d.collision_strategy,
        retries: d.retries.max(0) as u32,
        retry_delay_seconds: d.retry_delay_seconds,
        retry_backoff: d.retry_backoff,
        timeout_seconds: d.timeout_seconds,
        is_default: d.is_default,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

fn check_name(name: &str) -> AppResult<String> {
    text::single_line("name", name, 100)
}

/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most tags on a deployment.
pub const MAX_TAGS: usize = 20;
/// Longest tag.
pub const MAX_TAG_CHARS: usize = 50;

fn check_description(description: &str) -> AppResult<String> {
    text::multi_line("description", description, MAX_DESCRIPTION_CHARS)
}

fn check_tags(tags: &[String]) -> AppResult<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(AppError::field("tags", format!("at most {MAX_TAGS} tags")));
    }
    tags.iter()
        .enumerate()
        .map(|(i, tag)| text::single_line(&format!("tags[{i}]"), tag, MAX_TAG_CHARS))
        .collect()
}

fn check_policy(
    retries: u32,
    delay: f64,
    backoff: f64,
    limit: Option<u32>,
    timeout: Option<f64>,
) -> AppResult<()> {
    if retries > 10 {
        return Err(AppError::field("retries", "must be between 0 and 10"));
    }
    if !(0.0..=86_400.0).contains(&delay) {
        return Err(AppError::field(
            "retry_delay_seconds",
            "must be between 0 and 86400",
        ));
    }
    if !(1.0..=10.0).contains(&backoff) {
        return Err(AppError::field("retry_backoff", "must be between 1 and 10"));
    }
    if limit == Some(0) || limit.is_some_and(|l| l > 1000) {
        return Err(AppError::field(
            "concurrency_limit",
            "must be between 1 and 1000, or absent",
        ));
    }
    if timeout.is_some_and(|t| !(t > 0.0 && t <= 7.0 * 86_400.0)) {
        return Err(AppError::field(
            "timeout_seconds",
            "must be more than 0 and at most 604800",
        ));
    }
    Ok(())
}

/// Validates parameter defaults against the flow's schema (incomplete defaults are fine).
fn check_defaults(flow: &dyn Flow, parameters: &Value) -> AppResult<()> {
    if !parameters.is_object() {
        return Err(AppError::field("parameters", "must be a JSON object"));
    }
    let errors = schema::validate(&flow.parameter_schema(), parameters, true);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(field_errors("parameters", errors))
    }
}

/// A 422 with field errors under a prefix.
pub fn field_errors(prefix: &str, errors: schema::FieldErrors) -> AppError {
    let details: serde_json::Map<String, Value> = errors
        .into_iter()
        .map(|(k, v)| (format!("{prefix}.{k}"), Value::String(v)))
        .collect();
    let first = details
        .iter()
        .next()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
        .unwrap_or_default();
    AppError::Validation {
        message: format!("invalid {prefix}: {first}"),
        details: Some(Value::Object(details)),
    }
}

fn conflict_or(e: sea_orm::DbErr, name: &str) -> AppError {
    if is_unique_violation(&e) {
        AppError::Conflict(format!("a deployment named `{name}` already exists"))
    } else {
        e.into()
    }
}

/// Creates a deployment.
pub async fn create(
    db: &DatabaseConnection,
    registry: &FlowRegistry,
    req: CreateDeploymentRequest,
) -> AppResult<deployment::Model> {
    let name = check_name(&req.name)?;
    let flow = registry.get(&req.flow_name).ok_or_else(|| {
        AppError::field("flow_name", format!("no flow named `{}`", req.flow_name))
    })?;
    let parameters = req.parameters.unwrap_or_else(|| flow.default_parameters());
    check_defaults(flow.as_ref(), &parameters)?;
    let delay = req.retry_delay_seconds.unwrap_or(10.0);
    let backoff = req.retry_backoff.unwrap_or(2.0);
    check_policy(
        req.retries,
        delay,
        backoff,
        req.concurrency_limit,
        req.timeout_seconds,
    )?;
    let now = now();
    deployment::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.clone()),
        flow_name: Set(req.flow_name),
        description: Set(check_description(&req.description)?),
        tags: Set(serde_json::json!(check_tags(&req.tags)?)),
        parameters: Set(parameters),
        paused: Set(req.paused),
        concurrency_limit: Set(req.concurrency_limit.map(|l| l as i32)),
        collision_strategy: Set(req.collision_strategy),
        retries: Set(req.retries as i32),
        retry_delay_seconds: Set(delay),
        retry_backoff: Set(backoff),
        timeout_seconds: Set(req.timeout_seconds),
        is_default: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| conflict_or(e, &name))
}

/// All deployments by name.
pub async fn list(db: &DatabaseConnection) -> AppResult<Vec<deployment::Model>> {
    Ok(deployment::Entity::find()
        .order_by_asc(deployment::Column::Name)
        .all(db)
        .await?)
}

/// One deployment, if it exists.
pub async fn find(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<Option<deployment::Model>, sea_orm::DbErr> {
    deployment::Entity::find_by_id(id).one(db).await
}

/// One deployment.
pub async fn get(db: &DatabaseConnection, id: Uuid) -> AppResult<deployment::Model> {
    deployment::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| missing(id))
}

/// The answer for a deployment id that names none (404).
pub fn missing(id: Uuid) -> AppError {
    AppError::NotFound(format!("no deployment with id {id}"))
}

/// Applies a partial update.
pub async fn update(
    db: &DatabaseConnection,
    registry: &FlowRegistry,
    id: Uuid,
    req: UpdateDeploymentRequest,
) -> AppResult<deployment::Model> {
    let current = get(db, id).await?;
    let mut d = current.clone().into_active_model();
    let name = match &req.name {
        Some(n) => check_name(n)?,
        None => current.name.clone(),
    };
    d.name = Set(name.clone());
    if let Some(desc) = req.description {
        d.description = Set(check_description(&desc)?);
    }
    if let Some(tags) = req.tags {
        d.tags = Set(serde_json::json!(check_tags(&tags)?));
    }
    if let Some(params) = req.parameters {
        if let Some(flow) = registry.get(&current.flow_name) {
            check_defaults(flow.as_ref(), &params)?;
        }
        d.parameters = Set(params);
    }
    if let Some(p) = req.paused {
        d.paused = Set(p);
    }
    let limit = req
        .concurrency_limit
        .unwrap_or(current.concurrency_limit.map(|l| l as u32));
    let timeout = req.timeout_seconds.unwrap_or(current.timeout_seconds);
    let retries = req.retries.unwrap_or(current.retries.max(0) as u32);
    let delay = req
        .retry_delay_seconds
        .unwrap_or(current.retry_delay_seconds);
    let backoff = req.retry_backoff.unwrap_or(current.retry_backoff);
    check_policy(retries, delay, backoff, limit, timeout)?;
    d.concurrency_limit = Set(limit.map(|l| l as i32));
    d.timeout_seconds = Set(timeout);
    d.retries = Set(retries as i32);
    d.retry_delay_seconds = Set(delay);
    d.retry_backoff = Set(backoff);
    if let Some(s) = req.collision_strategy {
        d.collision_strategy = Set(s);
    }
    d.updated_at = Set(now());
    d.update(db).await.map_err(|e| conflict_or(e, &name))
}

/// Locks a deployment's row until the end of the transaction: dispatchers and triggers of one
/// deployment count its runs against the limit one at a time (a row lock on PostgreSQL; SQLite has one
/// writer anyway). Every write that puts a run of a deployment with a limit in flight (to PENDING from
/// another state than RUNNING) takes this lock first; a trigger's one-statement slot relies on it.
pub async fn lock(txn: &impl ConnectionTrait, id: Uuid) -> Result<(), sea_orm::DbErr> {
    txn.execute(&lock_statement(id)).await.map(|_| ())
}

/// The update that takes a deployment's lock ([`lock`]): it changes nothing, and on PostgreSQL every
/// time it runs it makes a new version of the row (a new `xmin`), so a reader can tell whether
/// anybody took the lock since it read the row (a trigger's run takes its slot that way in one
/// statement, `store::insert_in_free_slot`).
pub fn lock_statement(id: Uuid) -> UpdateStatement {
    deployment::Entity::update_many()
        .col_expr(
            deployment::Column::UpdatedAt,
            Expr::col(deployment::Column::UpdatedAt),
        )
        .filter(deployment::Column::Id.eq(id))
        .into_query()
}

/// Deletes a deployment and its schedules; refused while it has runs in flight. Finished runs keep
/// their history (their deployment link is cleared).
pub async fn delete(db: &DatabaseConnection, id: Uuid) -> AppResult<deployment::Model> {
    let current = get(db, id).await?;
    let active = super::store::deployment_has_unfinished_runs(db, id).await?;
    if active > 0 {
        return Err(AppError::Conflict(format!(
            "the deployment has {active} run(s) not finished yet; cancel them or wait"
        )));
    }
    deployment::Entity::delete_by_id(id).exec(db).await?;
    Ok(current)
}

/// Creates the default deployment of every registered flow that has none. Idempotent across restarts
/// and replicas: the deployment is named after the flow, and the unique name makes racing inserts fail.
pub async fn ensure_defaults(
    db: &DatabaseConnection,
    registry: &FlowRegistry,
) -> anyhow::Result<()> {
    for flow in registry.all() {
        let exists = deployment::Entity::find()
            .filter(deployment::Column::FlowName.eq(flow.name()))
            .filter(deployment::Column::IsDefault.eq(true))
            .count(db)
            .await?
            > 0;
        if exists {
            continue;
        }
        let now = now();
        let inserted = deployment::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(flow.name().to_string()),
            flow_name: Set(flow.name().to_string()),
            description: Set(flow.description().to_string()),
            tags: Set(serde_json::json!([])),
            parameters: Set(flow.default_parameters()),
            paused: Set(false),
            concurrency_limit: Set(flow.default_concurrency_limit().map(|l| l as i32)),
            collision_strategy: Set(CollisionStrategy::Enqueue),
            retries: Set(0),
            retry_delay_seconds: Set(10.0),
            retry_backoff: Set(2.0),
            timeout_seconds: Set(None),
            is_default: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await;
        match inserted {
            Ok(_) => tracing::info!(flow = flow.name(), "created the default deployment"),
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
