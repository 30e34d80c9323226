use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A kind of block, defined in code. The UI renders its form from `schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockTypeView {
    /// Stable identifier, e.g. `dhis2-credentials`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// JSON Schema of `data`. Secret fields carry `"writeOnly": true` and `"format": "password"`.
    pub schema: Value,
    /// Fields that are encrypted at rest and never returned; a block shows `<field>_set` instead.
    pub secret_fields: Vec<String>,
}

/// A block as the API shows it: its secret fields are replaced by `<field>_set` booleans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockView {
    /// Id (what a deployment's `credentials` parameter holds).
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Its type's slug.
    pub block_type: String,
    /// The non-secret fields, plus `<secret field>_set: true|false`, e.g.
    /// `{"base_url": "https://dhis.example.org", "username": "admin", "password_set": true}`.
    pub data: Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/blocks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateBlockRequest {
    /// Unique name: 1 to 100 characters on one line.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// A block type's slug, e.g. `dhis2-credentials`.
    pub block_type: String,
    /// The fields, as the type's schema describes them (secret fields in clear; they are encrypted
    /// before they are stored).
    pub data: Value,
}

/// Body of `PATCH /api/v1/blocks/{id}`: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateBlockRequest {
    /// New unique name (1 to 100 characters on one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    /// Fields to change; fields left out keep their value. A secret field left out, `null` or `""`
    /// keeps the stored secret; a new value replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// The outcome of reaching one service with a block's credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceCheck {
    /// Whether the service answered its system-info call successfully.
    pub ok: bool,
    /// The version it reports, when reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it failed, when it did (never contains the password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer of `POST /api/v1/blocks/{id}/test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockTestResult {
    /// DHIS2's `GET /api/system/info`.
    pub dhis2: ServiceCheck,
    /// chap-core's `GET /system/info` through DHIS2's route proxy.
    pub chap: ServiceCheck,
    /// Who DHIS2 says the credentials belong to (`GET /api/me`), and whether that account may
    /// import data values.
    #[serde(default)]
    pub account: AccountCheck,
}

/// The DHIS2 account behind a block's credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountCheck {
    /// Whether DHIS2 answered `GET /api/me`.
    pub ok: bool,
    /// The account's username as DHIS2 reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether the account holds `F_DATAVALUE_ADD` or `ALL`, so forecasts can be imported
    /// (`import_to_dhis2`); absent when DHIS2 did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_import_data_values: Option<bool>,
    /// What the operator should know, e.g. that imports will be refused (not a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Why `GET /api/me` failed, when it did (never contains a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
