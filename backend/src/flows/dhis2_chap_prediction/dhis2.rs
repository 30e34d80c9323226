//! The typed DHIS2 client (reference §3.2): system info, the current user, analytics (chunked), org
//! units with geometry, data elements, and the data value import.
//!
//! Decision: the org-unit filter is split like analytics so no URL passes the URL budget; an empty
//! org-unit list answers an empty FeatureCollection without calling DHIS2 (§2.4 step d).

use std::fmt;
use std::sync::Arc;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::analytics::{plan_chunks, AnalyticsRequest, AnalyticsTable, ANALYTICS_PATH};
use super::client::{ApiError, Call, ErrorBody, Service, Transport};
use super::import::summary::ImportSummary;
use super::import::values::{DataElement, DataElementList, DataValue};
use super::model::{AnalyticsResponse, Dhis2Me, Dhis2SystemInfo, OrgUnit, OrgUnitList};
use super::request::feature_collection;

/// DHIS2 system info path.
pub const SYSTEM_INFO_PATH: &str = "/api/system/info";
/// DHIS2 data elements path.
pub const DATA_ELEMENTS_PATH: &str = "/api/dataElements";
/// Fields read of the targets' data elements.
pub const DATA_ELEMENT_FIELDS: &str = "id,name,valueType,categoryCombo[id,name],zeroIsSignificant";
/// DHIS2 data value import path.
pub const DATA_VALUE_SETS_PATH: &str = "/api/dataValueSets";
/// DHIS2's current-user path.
pub const ME_PATH: &str = "/api/me";
/// DHIS2 org units path.
pub const ORG_UNITS_PATH: &str = "/api/organisationUnits";
/// Fields requested for org units.
pub const ORG_UNIT_FIELDS: &str = "id,geometry,parent[id],level,displayName,code";

/// DHIS2's own API, over the run's shared HTTP client.
#[derive(Clone)]
pub struct Dhis2Client {
    transport: Arc<Transport>,
}

impl fmt::Debug for Dhis2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dhis2Client")
            .field("transport", &self.transport)
            .finish()
    }
}

impl Dhis2Client {
    pub(crate) fn new(transport: Arc<Transport>) -> Self {
        Dhis2Client { transport }
    }

    fn get(&self, path: &str, query: Vec<(&'static str, String)>) -> Call {
        Call {
            service: Service::Dhis2,
            method: Method::GET,
            path: path.to_string(),
            url: self.transport.url(path, &[]),
            query,
            json: None,
            idempotent: false,
        }
    }

    /// The answer's JSON body decoded into `T` (an empty body as `{}`).
    async fn decoded<T: DeserializeOwned>(&self, call: &Call) -> Result<T, ApiError> {
        self.transport.execute_decoded(call, json!({})).await
    }

    /// `GET /api/system/info`.
    pub async fn system_info(&self) -> Result<Dhis2SystemInfo, ApiError> {
        let call = self.get(SYSTEM_INFO_PATH, Vec::new());
        self.decoded(&call).await
    }

    /// `GET /api/dataElements?filter=id:in:[…]&fields=…&paging=false`: the elements DHIS2 has of those
    /// asked for (absent ones are simply not in the answer).
    pub async fn data_elements(&self, ids: &[String]) -> Result<Vec<DataElement>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let call = self.get(
            DATA_ELEMENTS_PATH,
            vec![
                ("filter", format!("id:in:[{}]", ids.join(","))),
                ("fields", DATA_ELEMENT_FIELDS.to_string()),
                ("paging", "false".to_string()),
            ],
        );
        let list: DataElementList = self.decoded(&call).await?;
        Ok(list.data_elements)
    }

    /// `POST /api/dataValueSets?dryRun=…&importStrategy=CREATE_AND_UPDATE`: DHIS2's import summary,
    /// whether it came with 200 or (2.38+, conflicts) 409. Retried like a GET on 5xx and transport
    /// errors: `CREATE_AND_UPDATE` is idempotent.
    pub async fn import_data_values(
        &self,
        values: &[DataValue],
        dry_run: bool,
    ) -> Result<ImportSummary, ApiError> {
        let body = serde_json::to_vec(&json!({ "dataValues": values })).map_err(|e| {
            ApiError::Invalid {
                service: Service::Dhis2,
                path: DATA_VALUE_SETS_PATH.into(),
                message: format!("cannot serialise the data values: {e}"),
            }
        })?;
        let call = Call {
            method: Method::POST,
            json: Some(body.into()),
            idempotent: true,
            ..self.get(
                DATA_VALUE_SETS_PATH,
                vec![
                    ("dryRun", dry_run.to_string()),
                    ("importStrategy", "CREATE_AND_UPDATE".to_string()),
                ],
            )
        };
        let body = match self.transport.execute(&call).await {
            Ok(bytes) => self.transport.json_body(&call, &bytes, json!({}))?,
            Err(ApiError::Status {
                status: 409,
                body: ErrorBody::Json(body),
                ..
            }) if ImportSummary::from_body(&body).is_some() => body,
            Err(e) => return Err(e),
        };
        ImportSummary::from_body(&body).ok_or_else(|| {
            self.transport
                .decode_error(&call, "the answer holds no import summary".into())
        })
    }

    /// `GET /api/me?fields=username,authorities`.
    pub async fn me(&self) -> Result<Dhis2Me, ApiError> {
        let call = self.get(
            ME_PATH,
            vec![("fields", "username,authorities".to_string())],
        );
        self.decoded(&call).await
    }

    /// One `GET /api/analytics` call, rows read by header name.
    pub async fn analytics(&self, req: &AnalyticsRequest) -> Result<AnalyticsTable, ApiError> {
        let call = Call {
            url: req.url(self.transport.base()),
            ..self.get(ANALYTICS_PATH, Vec::new())
        };
        let response: AnalyticsResponse = self.decoded(&call).await?;
        AnalyticsTable::from_response(&response)
            .map_err(|e| self.transport.decode_error(&call, e.to_string()))
    }

    /// The analytics request split under the row and URL budgets, fetched in turn and merged.
    pub async fn analytics_chunked(
        &self,
        req: &AnalyticsRequest,
    ) -> Result<AnalyticsTable, ApiError> {
        let limits = self.transport.settings.analytics_limits;
        let plan =
            plan_chunks(self.transport.base(), req, &limits).map_err(|e| ApiError::Invalid {
                service: Service::Dhis2,
                path: ANALYTICS_PATH.into(),
                message: e.to_string(),
            })?;
        let mut tables = Vec::with_capacity(plan.len());
        for chunk in &plan {
            tables.push(self.analytics(chunk).await?);
        }
        Ok(AnalyticsTable::merge(tables))
    }

    /// `GET /api/organisationUnits?filter=id:in:[…]&fields=…&paging=false`, split by URL length.
    pub async fn org_units(&self, ids: &[String]) -> Result<Vec<OrgUnit>, ApiError> {
        let mut out = Vec::new();
        for group in self.org_unit_groups(ids) {
            let call = self.get(ORG_UNITS_PATH, org_unit_query(&group));
            let list: OrgUnitList = self.decoded(&call).await?;
            out.extend(list.organisation_units);
        }
        Ok(out)
    }

    fn org_unit_groups(&self, ids: &[String]) -> Vec<Vec<String>> {
        let max = self.transport.settings.analytics_limits.max_url_len;
        let url_len = |group: &[String]| {
            let mut url = self.transport.url(ORG_UNITS_PATH, &[]);
            url.query_pairs_mut()
                .extend_pairs(org_unit_query(group).iter().map(|(k, v)| (*k, v.as_str())));
            url.as_str().len()
        };
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut current: Vec<String> = Vec::new();
        for id in ids {
            current.push(id.clone());
            if current.len() > 1 && url_len(&current) > max {
                current.pop();
                groups.push(std::mem::take(&mut current));
                current.push(id.clone());
            }
        }
        if !current.is_empty() {
            groups.push(current);
        }
        groups
    }

    /// The setup's org units as a GeoJSON FeatureCollection; no call when there are none.
    pub async fn org_unit_features(&self, ids: &[String]) -> Result<Value, ApiError> {
        if ids.is_empty() {
            return Ok(feature_collection(&[]));
        }
        Ok(feature_collection(&self.org_units(ids).await?))
    }
}

fn org_unit_query(ids: &[String]) -> Vec<(&'static str, String)> {
    vec![
        ("filter", format!("id:in:[{}]", ids.join(","))),
        ("fields", ORG_UNIT_FIELDS.to_string()),
        ("paging", "false".to_string()),
    ]
}
