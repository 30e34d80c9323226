//! DHIS2's `GET /api/me` (who the credentials belong to, with their authorities) and
//! `GET /api/dataElements` (value types, category combos, zero significance).

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::{query_pairs, split_fields};
use crate::scenario::DataElement;
use crate::world::World;

/// The user's id (DHIS2's demo admin uid, stable across runs).
const USER_ID: &str = "xE7jOejl9FI";

/// `GET /api/me?fields=username,authorities`: the requested known fields (all without `fields`).
pub(crate) fn me(req: &HttpRequest, world: &World) -> HttpResponse {
    let scenario = &world.scenario;
    let roots: Vec<Value> = scenario
        .dhis2
        .user_org_units
        .iter()
        .flatten()
        .map(|id| json!({"id": id}))
        .collect();
    let all = [
        ("id", json!(USER_ID)),
        ("username", json!(scenario.username)),
        ("name", json!(scenario.username)),
        ("displayName", json!(scenario.username)),
        ("authorities", json!(scenario.dhis2.authorities)),
        ("organisationUnits", Value::Array(roots)),
    ];
    let requested = requested_fields(req);
    let mut out = Map::new();
    for (key, value) in all {
        if requested.as_ref().is_none_or(|fields| fields.contains(key)) {
            out.insert(key.into(), value);
        }
    }
    HttpResponse::Ok().json(Value::Object(out))
}

/// The top-level names in `fields` (nested selections such as `organisationUnits[id]` count as
/// their name); `None` when absent or `*`.
fn requested_fields(req: &HttpRequest) -> Option<HashSet<String>> {
    let mut fields = HashSet::new();
    for (key, value) in query_pairs(req) {
        if key == "fields" {
            for part in split_fields(&value) {
                if matches!(part, "*" | ":all" | ":owner") {
                    return None;
                }
                let name = part.split('[').next().unwrap_or(part);
                fields.insert(name.to_string());
            }
        }
    }
    (!fields.is_empty()).then_some(fields)
}

/// `GET /api/dataElements?filter=id:in:[A,B]&fields=id,name,valueType,categoryCombo[id,name],zeroIsSignificant&paging=false`:
/// the known ids only (unknown ones are simply absent), `id,displayName` without `fields`, with a
/// `pager` unless `paging=false`. Indicators are not data elements.
pub(crate) fn data_elements(req: &HttpRequest, world: &World) -> HttpResponse {
    let mut fields: Vec<String> = Vec::new();
    let mut paging = true;
    let mut page: usize = 1;
    let mut page_size: usize = 50;
    let mut filters: Vec<IdFilter> = Vec::new();
    for (key, value) in query_pairs(req) {
        match key.as_str() {
            "fields" => fields.extend(split_fields(&value).into_iter().map(str::to_string)),
            "paging" => paging = !value.eq_ignore_ascii_case("false"),
            "page" => page = value.parse().unwrap_or(1).max(1),
            "pageSize" => page_size = value.parse().unwrap_or(50).max(1),
            "filter" => filters.push(IdFilter::parse(&value)),
            _ => {}
        }
    }
    if fields.is_empty() {
        fields = vec!["id".into(), "displayName".into()];
    }
    let matching: Vec<&DataElement> = world
        .scenario
        .data_elements
        .iter()
        .filter(|de| de.kind != "indicator")
        .filter(|de| filters.iter().all(|f| f.matches(&de.id)))
        .collect();
    let total = matching.len();
    let skip = if paging { (page - 1) * page_size } else { 0 };
    let take = if paging { page_size } else { usize::MAX };
    let shown: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(take)
        .map(|de| render(de, &fields))
        .collect();
    let mut body = Map::new();
    if paging {
        body.insert(
            "pager".into(),
            json!({"page": page, "total": total, "pageSize": page_size,
                   "pageCount": total.div_ceil(page_size).max(1)}),
        );
    }
    body.insert("dataElements".into(), Value::Array(shown));
    HttpResponse::Ok().json(Value::Object(body))
}

/// One data element with the requested fields; unknown fields are left out.
fn render(element: &DataElement, fields: &[String]) -> Value {
    let mut out = Map::new();
    for field in fields {
        let (name, sub) = match field.split_once('[') {
            Some((name, rest)) => (name, Some(rest.trim_end_matches(']'))),
            None => (field.as_str(), None),
        };
        let value = match name {
            "*" | ":all" | ":owner" => {
                let all = [
                    "id",
                    "name",
                    "displayName",
                    "shortName",
                    "valueType",
                    "domainType",
                    "aggregationType",
                    "zeroIsSignificant",
                    "categoryCombo[id,name]",
                ]
                .map(String::from);
                if let Value::Object(map) = render(element, &all) {
                    out.extend(map);
                }
                continue;
            }
            "id" => json!(element.id),
            "name" | "displayName" | "shortName" | "displayShortName" => json!(element.name),
            "valueType" => json!(element.value_type.as_str()),
            "domainType" => json!("AGGREGATE"),
            "aggregationType" => json!("SUM"),
            "zeroIsSignificant" => json!(element.zero_is_significant),
            "categoryCombo" => {
                let combo = &element.category_combo;
                let mut inner = Map::new();
                for key in sub.map_or(vec!["id"], |s| split_fields(s)) {
                    match key {
                        "id" => inner.insert("id".into(), json!(combo.id)),
                        "name" | "displayName" => inner.insert(key.into(), json!(combo.name)),
                        _ => None,
                    };
                }
                Value::Object(inner)
            }
            _ => continue,
        };
        out.insert(name.to_string(), value);
    }
    Value::Object(out)
}

/// `id:in:[A,B]` and `id:eq:A`; any other filter matches nothing.
enum IdFilter {
    In(HashSet<String>),
    Unknown,
}

impl IdFilter {
    fn parse(spec: &str) -> IdFilter {
        let mut parts = spec.splitn(3, ':');
        let (property, operator, value) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        match (property, operator) {
            (Some("id"), Some("in")) => IdFilter::In(
                value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            (Some("id"), Some("eq")) => IdFilter::In(HashSet::from([value.to_string()])),
            _ => IdFilter::Unknown,
        }
    }

    fn matches(&self, id: &str) -> bool {
        match self {
            IdFilter::In(ids) => ids.contains(id),
            IdFilter::Unknown => false,
        }
    }
}
