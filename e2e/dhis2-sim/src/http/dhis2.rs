//! DHIS2's `system/info` and `organisationUnits` endpoints.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::{query_pairs, split_fields};
use crate::world::World;

/// `GET /api/system/info`.
pub(crate) fn system_info(req: &HttpRequest, world: &World) -> HttpResponse {
    let system = &world.scenario.dhis2;
    let info = req.connection_info();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f");
    // DHIS2 writes its local wall time without an offset: the scenario's "today" with the time of day.
    let server_date = format!(
        "{}{}",
        world.today().format("%Y-%m-%d"),
        chrono::Utc::now().format("T%H:%M:%S%.3f")
    );
    HttpResponse::Ok().json(json!({
        "contextPath": format!("{}://{}", info.scheme(), info.host()),
        "userAgent": req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
        "calendar": system.calendar,
        "dateFormat": "yyyy-mm-dd",
        "serverDate": server_date,
        "serverTimeZoneId": system.server_time_zone_id,
        "serverTimeZoneDisplayName": "Coordinated Universal Time",
        "lastAnalyticsTableSuccess": now.to_string(),
        "version": system.version,
        "revision": system.revision,
        "buildTime": system.build_time,
        "jasperReportsVersion": "6.20.6",
        "environmentVariable": "DHIS2_HOME",
        "readOnlyMode": "off",
        "nodeId": "dhis2-sim",
        "systemId": "2a2cc7f6-5d84-4b4c-8d33-5ee6e1e1b1ab",
        "systemName": system.system_name,
        "instanceBaseUrl": format!("{}://{}", info.scheme(), info.host()),
        "emailConfigured": false,
        "redisEnabled": false,
        "isMetadataVersionEnabled": true,
        "metadataSyncEnabled": false,
    }))
}

/// `GET /api/organisationUnits?filter=id:in:[…]&fields=…&paging=false`.
pub(crate) fn organisation_units(req: &HttpRequest, world: &World) -> HttpResponse {
    let pairs = query_pairs(req);
    let mut fields: Vec<Field> = Vec::new();
    let mut paging = true;
    let mut page: usize = 1;
    let mut page_size: usize = 50;
    let mut filters: Vec<Filter> = Vec::new();
    for (key, value) in &pairs {
        match key.as_str() {
            "fields" => fields.extend(parse_fields(value)),
            "paging" => paging = !value.eq_ignore_ascii_case("false"),
            "page" => page = value.parse().unwrap_or(1).max(1),
            "pageSize" => page_size = value.parse().unwrap_or(50).max(1),
            "filter" => filters.push(Filter::parse(value)),
            _ => {}
        }
    }
    if fields.is_empty() {
        fields = vec![Field::Id, Field::DisplayName];
    }
    let matching: Vec<usize> = (0..world.scenario.org_units.len())
        .filter(|&i| filters.iter().all(|f| f.matches(world, i)))
        .collect();
    let total = matching.len();
    let shown: Vec<Value> = if paging {
        matching
            .iter()
            .skip((page - 1) * page_size)
            .take(page_size)
            .map(|&i| render(world, i, &fields))
            .collect()
    } else {
        matching
            .iter()
            .map(|&i| render(world, i, &fields))
            .collect()
    };
    let mut body = Map::new();
    if paging {
        body.insert(
            "pager".into(),
            json!({
                "page": page,
                "total": total,
                "pageSize": page_size,
                "pageCount": total.div_ceil(page_size).max(1),
            }),
        );
    }
    body.insert("organisationUnits".into(), Value::Array(shown));
    HttpResponse::Ok().json(Value::Object(body))
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Id,
    Name,
    DisplayName,
    Code,
    Level,
    Geometry,
    Path,
    /// `parent` or `parent[id,…]`: only the parent's id and name are known.
    Parent(Vec<String>),
}

/// Parses `id,geometry,parent[id],level`.
fn parse_fields(spec: &str) -> Vec<Field> {
    let all = || {
        vec![
            Field::Id,
            Field::Name,
            Field::DisplayName,
            Field::Code,
            Field::Level,
            Field::Path,
            Field::Geometry,
            Field::Parent(vec!["id".into()]),
        ]
    };
    split_fields(spec)
        .into_iter()
        .flat_map(|part| match part {
            "*" | ":all" | ":owner" => all(),
            "id" => vec![Field::Id],
            "name" => vec![Field::Name],
            "displayName" => vec![Field::DisplayName],
            "code" => vec![Field::Code],
            "level" => vec![Field::Level],
            "geometry" => vec![Field::Geometry],
            "path" => vec![Field::Path],
            "parent" => vec![Field::Parent(vec!["id".into()])],
            other => match other
                .strip_prefix("parent[")
                .and_then(|p| p.strip_suffix(']'))
            {
                Some(inner) => vec![Field::Parent(
                    inner.split(',').map(|s| s.trim().to_string()).collect(),
                )],
                None => Vec::new(),
            },
        })
        .collect()
}

/// One org unit with the requested fields; absent values are omitted, as DHIS2 does.
fn render(world: &World, index: usize, fields: &[Field]) -> Value {
    let unit = world.org_unit(index);
    let mut out = Map::new();
    for field in fields {
        match field {
            Field::Id => {
                out.insert("id".into(), json!(unit.id));
            }
            Field::Name => {
                out.insert("name".into(), json!(unit.name));
            }
            Field::DisplayName => {
                out.insert("displayName".into(), json!(unit.name));
            }
            Field::Code => {
                if let Some(code) = &unit.code {
                    out.insert("code".into(), json!(code));
                }
            }
            Field::Level => {
                out.insert("level".into(), json!(unit.level));
            }
            Field::Geometry => {
                if let Some(geometry) = world.geometry(index) {
                    out.insert("geometry".into(), geometry);
                }
            }
            Field::Path => {
                let path = match &unit.parent {
                    Some(parent) => format!("/{parent}/{}", unit.id),
                    None => format!("/{}", unit.id),
                };
                out.insert("path".into(), json!(path));
            }
            Field::Parent(sub) => {
                if let Some(parent) = &unit.parent {
                    let mut p = Map::new();
                    for key in sub {
                        match key.as_str() {
                            "id" => {
                                p.insert("id".into(), json!(parent));
                            }
                            "name" | "displayName" => {
                                let name = world
                                    .org_unit_index(parent)
                                    .map_or(parent.as_str(), |i| world.org_unit(i).name.as_str());
                                p.insert(key.clone(), json!(name));
                            }
                            _ => {}
                        }
                    }
                    out.insert("parent".into(), Value::Object(p));
                }
            }
        }
    }
    Value::Object(out)
}

/// The `filter=` forms the flow and a few tools use; unknown filters match nothing, as an
/// unknown property would make DHIS2 answer an error rather than everything.
#[derive(Debug)]
enum Filter {
    IdIn(std::collections::HashSet<String>),
    IdEq(String),
    LevelEq(u32),
    ParentIdEq(String),
    Unknown,
}

impl Filter {
    fn parse(spec: &str) -> Filter {
        let mut parts = spec.splitn(3, ':');
        let (property, operator, value) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        match (property, operator) {
            (Some("id"), Some("in")) => Filter::IdIn(
                value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            (Some("id"), Some("eq")) => Filter::IdEq(value.to_string()),
            (Some("level"), Some("eq")) => value.parse().map_or(Filter::Unknown, Filter::LevelEq),
            (Some("parent.id"), Some("eq")) => Filter::ParentIdEq(value.to_string()),
            _ => Filter::Unknown,
        }
    }

    fn matches(&self, world: &World, index: usize) -> bool {
        let unit = world.org_unit(index);
        match self {
            Filter::IdIn(ids) => ids.contains(&unit.id),
            Filter::IdEq(id) => *id == unit.id,
            Filter::LevelEq(level) => unit.level == *level,
            Filter::ParentIdEq(parent) => unit.parent.as_deref() == Some(parent.as_str()),
            Filter::Unknown => false,
        }
    }
}
