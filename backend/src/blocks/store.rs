//! Blocks in the database: CRUD with secret fields sealed before they are stored, views that never
//! show a secret, and decryption for flows (the engine's [`BlockSource`]).

use std::sync::Arc;

use chap_scheduler_api::{BlockView, CreateBlockRequest, UpdateBlockRequest};
use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryOrder, Set,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::types::{self, BlockName, BlockType};
use crate::db::entities::{block, deployment, schedule};
use crate::db::{is_unique_violation, users::now};
use crate::error::{AppError, AppResult};
use crate::orchestrator::schema::FieldErrors;
use crate::orchestrator::{BlockData, BlockSource};
use crate::secrets::{KeyRing, OpenError, Sealed};

/// Stands in for a kept secret while the merged data is validated; never stored.
/// What a kept secret stands as while a block update is validated.
pub(crate) const KEPT: &str = "(kept)";

/// Why a stored block could not be read in clear. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    /// A secret field could not be decrypted.
    #[error("cannot decrypt `{field}` of block `{block}`: {reason}")]
    Decrypt {
        /// Block name.
        block: String,
        /// Field name.
        field: String,
        /// What went wrong.
        reason: OpenError,
    },
    /// The stored type is not one this build knows.
    #[error("block `{block}` has the unknown type `{block_type}`")]
    UnknownType {
        /// Block name.
        block: String,
        /// Stored type.
        block_type: String,
    },
}

/// The blocks repository; holds the key ring. Cheap to clone.
#[derive(Clone)]
pub struct BlockStore {
    db: DatabaseConnection,
    keys: Arc<KeyRing>,
}

impl std::fmt::Debug for BlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockStore")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// What the secret of a field is authenticated with: the block and the field, so a ciphertext copied
/// to another block or field does not decrypt.
fn context(id: Uuid, field: &str) -> Vec<u8> {
    format!("chap-scheduler/block/{id}/{field}").into_bytes()
}

fn field_errors(errors: FieldErrors) -> AppError {
    crate::orchestrator::deployments::field_errors("data", errors)
}

/// The API view: non-secret fields, and `<field>_set` for each secret field. Any sealed value is
/// hidden even under an unknown type.
pub fn view(row: &block::Model) -> BlockView {
    let ty = types::find(&row.block_type);
    let stored = row.data.as_object().cloned().unwrap_or_default();
    let mut data = Map::new();
    for (key, value) in &stored {
        let secret = ty.is_some_and(|t| t.is_secret(key)) || Sealed::from_value(value).is_some();
        if !secret {
            data.insert(key.clone(), value.clone());
        }
    }
    for field in ty.map(|t| t.secret_fields).unwrap_or_default() {
        let set = stored
            .get(*field)
            .is_some_and(|v| Sealed::from_value(v).is_some());
        data.insert(format!("{field}_set"), Value::Bool(set));
    }
    BlockView {
        id: row.id,
        name: row.name.clone(),
        block_type: row.block_type.clone(),
        data: Value::Object(data),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn conflict_on_duplicate(name: &str) -> impl FnOnce(sea_orm::DbErr) -> AppError + '_ {
    move |e| {
        if is_unique_violation(&e) {
            AppError::Conflict(format!("a block named `{name}` already exists"))
        } else {
            e.into()
        }
    }
}

fn parse_name(raw: &str) -> AppResult<BlockName> {
    BlockName::parse(raw).map_err(|m| AppError::field("name", m))
}

fn data_object(value: Value) -> AppResult<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(AppError::field("data", "must be a JSON object")),
    }
}

/// Splits validated clear data into what is stored as is and the secrets to seal.
fn split_secrets(
    ty: &BlockType,
    data: Map<String, Value>,
) -> (Map<String, Value>, Vec<(String, SecretString)>) {
    let mut plain = Map::new();
    let mut secrets = Vec::new();
    for (key, value) in data {
        match value {
            Value::String(s) if ty.is_secret(&key) => secrets.push((key, SecretString::from(s))),
            other => {
                plain.insert(key, other);
            }
        }
    }
    (plain, secrets)
}

impl BlockStore {
    /// A store over `db` sealing and opening with `keys`.
    pub fn new(db: DatabaseConnection, keys: Arc<KeyRing>) -> Self {
        BlockStore { db, keys }
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    async fn row(&self, id: Uuid) -> AppResult<block::Model> {
        block::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no block with id {id}")))
    }

    /// Every block by name.
    pub async fn list(&self) -> AppResult<Vec<BlockView>> {
        let rows = block::Entity::find()
            .order_by_asc(block::Column::Name)
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(view).collect())
    }

    /// One block.
    pub async fn get(&self, id: Uuid) -> AppResult<BlockView> {
        Ok(view(&self.row(id).await?))
    }

    /// Validates, seals the secret fields and stores a new block.
    pub async fn create(&self, req: CreateBlockRequest) -> AppResult<BlockView> {
        let name = parse_name(&req.name);
        let ty = types::find(&req.block_type).ok_or_else(|| {
            let known: Vec<&str> = types::all().iter().map(|t| t.slug).collect();
            AppError::field(
                "block_type",
                format!("unknown block type; known: {}", known.join(", ")),
            )
        });
        let (name, ty) = (name?, ty?);
        let data = ty.validate(data_object(req.data)?).map_err(field_errors)?;
        let id = Uuid::now_v7();
        let (mut stored, secrets) = split_secrets(ty, data);
        for (field, secret) in secrets {
            let sealed = self.keys.seal(&secret, &context(id, &field))?;
            stored.insert(field, sealed.to_value());
        }
        let at = now();
        let row = block::ActiveModel {
            id: Set(id),
            name: Set(name.as_str().to_string()),
            block_type: Set(ty.slug.to_string()),
            data: Set(Value::Object(stored)),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&self.db)
        .await
        .map_err(conflict_on_duplicate(name.as_str()))?;
        Ok(view(&row))
    }

    /// Applies a partial change; returns the block and the names of the fields that changed (a new
    /// secret always counts as a change). A secret left out, `null` or `""` keeps the stored one.
    pub async fn update(
        &self,
        id: Uuid,
        req: UpdateBlockRequest,
    ) -> AppResult<(BlockView, Vec<String>)> {
        let row = self.row(id).await?;
        let ty = types::find(&row.block_type).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "block {id} has the unknown type `{}`",
                row.block_type
            ))
        })?;
        let mut changed = Vec::new();
        let name = match req.name {
            Some(raw) => {
                let name = parse_name(&raw)?;
                if name.as_str() != row.name {
                    changed.push("name".to_string());
                }
                name.as_str().to_string()
            }
            None => row.name.clone(),
        };
        let stored = row.data.as_object().cloned().unwrap_or_default();
        let data = match req.data {
            None => row.data.clone(),
            Some(patch) => {
                let patch = data_object(patch)?;
                // The stored data with secrets replaced by a placeholder, then the patch over it.
                let mut merged: Map<String, Value> = stored
                    .iter()
                    .map(|(k, v)| match ty.is_secret(k) {
                        true => (k.clone(), Value::String(KEPT.into())),
                        false => (k.clone(), v.clone()),
                    })
                    .collect();
                let mut new_secrets = Vec::new();
                for (key, value) in patch {
                    let keep = ty.is_secret(&key)
                        && (value.is_null() || value.as_str().is_some_and(str::is_empty));
                    if keep {
                        continue;
                    }
                    if ty.is_secret(&key) {
                        new_secrets.push(key.clone());
                    }
                    merged.insert(key, value);
                }
                let valid = ty.validate(merged).map_err(field_errors)?;
                let (plain, secrets) = split_secrets(ty, valid);
                let mut next = plain;
                for (key, value) in &next {
                    if stored.get(key) != Some(value) {
                        changed.push(key.clone());
                    }
                }
                for (field, secret) in secrets {
                    let value = if new_secrets.contains(&field) {
                        changed.push(field.clone());
                        self.keys.seal(&secret, &context(id, &field))?.to_value()
                    } else {
                        stored.get(&field).cloned().unwrap_or(Value::Null)
                    };
                    next.insert(field, value);
                }
                Value::Object(next)
            }
        };
        let mut active = row.into_active_model();
        active.name = Set(name.clone());
        active.data = Set(data);
        active.updated_at = Set(now());
        let row = active
            .update(&self.db)
            .await
            .map_err(conflict_on_duplicate(&name))?;
        Ok((view(&row), changed))
    }

    /// Deletes a block unless a deployment, a schedule or an unfinished run names it as its
    /// `credentials`; returns the deleted row.
    pub async fn delete(&self, id: Uuid) -> AppResult<block::Model> {
        let row = self.row(id).await?;
        if let Some(user) = self.first_user(id).await? {
            return Err(AppError::Conflict(format!(
                "the block `{}` is used by {user}; change that first",
                row.name
            )));
        }
        block::Entity::delete_by_id(id).exec(&self.db).await?;
        Ok(row)
    }

    /// Who refers to the block through `parameters.credentials`, if anyone. Deployments, schedules
    /// and unfinished runs are few, so they are scanned rather than queried by JSON path (which
    /// SQLite and PostgreSQL spell differently).
    async fn first_user(&self, id: Uuid) -> AppResult<Option<String>> {
        let refers = |parameters: &Value| {
            parameters
                .get("credentials")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
                == Some(id)
        };
        let deployments = deployment::Entity::find().all(&self.db).await?;
        if let Some(d) = deployments.iter().find(|d| refers(&d.parameters)) {
            return Ok(Some(format!("the deployment `{}`", d.name)));
        }
        let schedules = schedule::Entity::find().all(&self.db).await?;
        if let Some(s) = schedules.iter().find(|s| refers(&s.parameters)) {
            let owner = deployments
                .iter()
                .find(|d| d.id == s.deployment_id)
                .map(|d| d.name.as_str())
                .unwrap_or("?");
            return Ok(Some(format!(
                "a schedule ({}) of the deployment `{owner}`",
                s.id
            )));
        }
        if let Some(run) =
            crate::orchestrator::store::unfinished_run_referring(&self.db, refers).await?
        {
            return Ok(Some(format!("the unfinished run {run}")));
        }
        if let Some(rule) = crate::notify::rules::using_channel(&self.db, id).await? {
            return Ok(Some(format!("the notification rule `{rule}`")));
        }
        Ok(None)
    }

    /// `(block name, key id)` of every stored secret sealed under a key the ring does not hold: what
    /// runs and connection tests of those blocks will fail on. Checked at start to warn early.
    pub async fn missing_keys(&self) -> AppResult<Vec<(String, String)>> {
        let kids = self.keys.kids();
        let rows = block::Entity::find()
            .order_by_asc(block::Column::Name)
            .all(&self.db)
            .await?;
        let mut missing = Vec::new();
        for row in rows {
            let sealed = row.data.as_object().into_iter().flatten();
            for sealed in sealed.filter_map(|(_, v)| Sealed::from_value(v)) {
                if !kids.contains(&sealed.kid.as_str()) {
                    missing.push((row.name.clone(), sealed.kid));
                }
            }
        }
        Ok(missing)
    }

    /// The block with its secrets decrypted, `Ok(None)` when there is none.
    pub async fn open(&self, id: Uuid) -> AppResult<Option<Result<BlockData, UnsealError>>> {
        let row = block::Entity::find_by_id(id).one(&self.db).await?;
        Ok(row.map(|row| self.unseal(row)))
    }

    fn unseal(&self, row: block::Model) -> Result<BlockData, UnsealError> {
        let ty = types::find(&row.block_type).ok_or_else(|| UnsealError::UnknownType {
            block: row.name.clone(),
            block_type: row.block_type.clone(),
        })?;
        let mut data = row.data.as_object().cloned().unwrap_or_default();
        let mut secrets = Vec::new();
        for field in ty.secret_fields {
            let Some(value) = data.get(*field) else {
                continue;
            };
            let failed = |reason| UnsealError::Decrypt {
                block: row.name.clone(),
                field: field.to_string(),
                reason,
            };
            let sealed = Sealed::from_value(value).ok_or_else(|| {
                failed(OpenError::Malformed(
                    "the field does not hold an encrypted value".into(),
                ))
            })?;
            let clear = self
                .keys
                .open(&sealed, &context(row.id, field))
                .map_err(failed)?;
            let clear = clear.expose_secret().to_string();
            data.insert(field.to_string(), Value::String(clear.clone()));
            secrets.push(clear);
        }
        Ok(BlockData {
            id: row.id,
            name: row.name,
            block_type: row.block_type,
            data: Value::Object(data),
            secrets,
        })
    }
}

impl BlockSource for BlockStore {
    fn load(&self, id: Uuid) -> BoxFuture<'_, anyhow::Result<Option<BlockData>>> {
        Box::pin(async move {
            match self.open(id).await {
                Ok(None) => Ok(None),
                Ok(Some(Ok(block))) => Ok(Some(block)),
                Ok(Some(Err(e))) => Err(anyhow::Error::new(e)),
                Err(e) => Err(anyhow::anyhow!("reading block {id}: {e}")),
            }
        })
    }
}
