//! `GET /api/analytics?dimension=dx:…&dimension=pe:…&dimension=ou:…`: DHIS2's aggregate analytics,
//! with rows only where data exists, columns in the order the dimensions were given, and the body
//! generated while it is sent (a national-scale answer never sits in memory).

use std::convert::Infallible;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::{query_pairs, web_message};
use crate::periods::{self, Period};
use crate::world::{period_name, Coverage, World};

/// Rows per streamed chunk.
const ROWS_PER_CHUNK: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dim {
    Dx,
    Pe,
    Ou,
}

impl Dim {
    fn name(self) -> &'static str {
        match self {
            Dim::Dx => "dx",
            Dim::Pe => "pe",
            Dim::Ou => "ou",
        }
    }

    fn header(self) -> Value {
        let column = match self {
            Dim::Dx => "Data",
            Dim::Pe => "Period",
            Dim::Ou => "Organisation unit",
        };
        json!({"name": self.name(), "column": column, "valueType": "TEXT",
               "type": "java.lang.String", "hidden": false, "meta": true})
    }
}

/// A validated query: items per dimension (indexes into the world), in the request's order.
struct Query {
    order: Vec<Dim>,
    dx: Vec<usize>,
    pe: Vec<Period>,
    ou: Vec<usize>,
    skip_meta: bool,
}

fn conflict(message: &str, code: &str) -> HttpResponse {
    HttpResponse::Conflict().json(web_message(StatusCode::CONFLICT, message, Some(code)))
}

/// A DHIS2 `IllegalQueryException`: message and error code, answered as 409.
struct Illegal(String, &'static str);

fn parse(req: &HttpRequest, world: &World) -> Result<Query, Illegal> {
    let today = world.today();
    let mut query = Query {
        order: Vec::new(),
        dx: Vec::new(),
        pe: Vec::new(),
        ou: Vec::new(),
        skip_meta: false,
    };
    for (key, value) in query_pairs(req) {
        match key.as_str() {
            "skipMeta" => query.skip_meta = value.eq_ignore_ascii_case("true"),
            "dimension" => {
                let (name, items) = value.split_once(':').unwrap_or((value.as_str(), ""));
                let dim = match name {
                    "dx" => Dim::Dx,
                    "pe" => Dim::Pe,
                    "ou" => Dim::Ou,
                    other => {
                        return Err(Illegal(
                            format!(
                                "Dimension identifier does not reference any dimension: `{other}`"
                            ),
                            "E7125",
                        ))
                    }
                };
                if query.order.contains(&dim) {
                    return Err(Illegal(
                        format!("Dimensions cannot be specified more than once: `{name}`"),
                        "E7111",
                    ));
                }
                query.order.push(dim);
                let items = items.split(';').map(str::trim).filter(|s| !s.is_empty());
                match dim {
                    Dim::Dx => query.dx = dedup(items.filter_map(|id| world.element_index(id))),
                    Dim::Ou => query.ou = dedup(items.filter_map(|id| world.org_unit_index(id))),
                    Dim::Pe => {
                        // Unknown relative periods and unparseable ids are dropped, as DHIS2 does.
                        let expanded = items.flat_map(|item| {
                            periods::relative(item, today)
                                .unwrap_or_else(|| Period::parse(item).into_iter().collect())
                        });
                        query.pe = dedup(expanded);
                    }
                }
                let empty = match dim {
                    Dim::Dx => query.dx.is_empty(),
                    Dim::Pe => query.pe.is_empty(),
                    Dim::Ou => query.ou.is_empty(),
                };
                if empty {
                    return Err(Illegal(
                        format!("Dimension is present in query without any valid dimension options: `{name}`"),
                        "E7124",
                    ));
                }
            }
            _ => {}
        }
    }
    if !query.order.contains(&Dim::Dx) {
        return Err(Illegal(
            "At least one data dimension item or data element group set dimension item must be specified".into(),
            "E7102",
        ));
    }
    if !query.order.contains(&Dim::Pe) {
        return Err(Illegal(
            "At least one period as dimension or filter, or start and dates, must be specified"
                .into(),
            "E7104",
        ));
    }
    if !query.order.contains(&Dim::Ou) {
        // DHIS2 would aggregate over the user's root; the simulator has no hierarchy totals.
        return Err(Illegal(
            "Dimension is present in query without any valid dimension options: `ou`".into(),
            "E7124",
        ));
    }
    Ok(query)
}

fn dedup<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The handler.
pub(crate) fn handle(req: &HttpRequest, world: &Arc<World>) -> HttpResponse {
    let query = match parse(req, world) {
        Ok(query) => query,
        Err(Illegal(message, code)) => return conflict(&message, code),
    };
    let cells = Cells::new(world.clone(), &query);
    let height = cells.count();
    if let Some(max) = world.scenario.analytics_max_rows {
        if height as u64 > max {
            return conflict(
                &format!("Query result set exceeded max limit: `{max}`"),
                "E7128",
            );
        }
    }
    let mut headers: Vec<Value> = query.order.iter().map(|d| d.header()).collect();
    headers.push(
        json!({"name": "value", "column": "Value", "valueType": "NUMBER",
                        "type": "java.lang.Double", "hidden": false, "meta": false}),
    );
    let width = headers.len();
    let mut head = Map::new();
    head.insert("headers".into(), Value::Array(headers));
    head.insert(
        "metaData".into(),
        if query.skip_meta {
            json!({})
        } else {
            metadata(world, &query)
        },
    );
    head.insert("width".into(), json!(width));
    head.insert("headerWidth".into(), json!(width));
    head.insert("height".into(), json!(height));
    let mut prefix = Value::Object(head).to_string();
    prefix.pop(); // reopen the object to append "rows"
    prefix.push_str(",\"rows\":[");
    let body = Body {
        prefix: Some(prefix),
        cells,
        first_row: true,
        done: false,
    };
    HttpResponse::Ok()
        .content_type("application/json;charset=UTF-8")
        .streaming(futures_util::stream::iter(body))
}

fn metadata(world: &World, query: &Query) -> Value {
    let mut items = Map::new();
    for &dx in &query.dx {
        let element = world.element(dx);
        items.insert(element.id.clone(), json!({"name": element.name}));
    }
    for &pe in &query.pe {
        items.insert(pe.to_string(), json!({"name": period_name(pe)}));
    }
    for &ou in &query.ou {
        let unit = world.org_unit(ou);
        items.insert(unit.id.clone(), json!({"name": unit.name}));
    }
    for dim in [Dim::Dx, Dim::Pe, Dim::Ou] {
        items.insert(
            dim.name().into(),
            json!({"name": match dim { Dim::Dx => "Data", Dim::Pe => "Period", Dim::Ou => "Organisation unit" }}),
        );
    }
    let ids = |dim: Dim| -> Vec<String> {
        match dim {
            Dim::Dx => query
                .dx
                .iter()
                .map(|&i| world.element(i).id.clone())
                .collect(),
            Dim::Pe => query.pe.iter().map(Period::to_string).collect(),
            Dim::Ou => query
                .ou
                .iter()
                .map(|&i| world.org_unit(i).id.clone())
                .collect(),
        }
    };
    json!({
        "items": items,
        "dimensions": {"dx": ids(Dim::Dx), "pe": ids(Dim::Pe), "ou": ids(Dim::Ou), "co": []},
    })
}

/// Walks the query's cells in dimension order, yielding those with data.
struct Cells {
    world: Arc<World>,
    order: [Dim; 3],
    dx: Vec<usize>,
    pe: Vec<Period>,
    ou: Vec<usize>,
    /// JSON-escaped ids, ready to write.
    dx_json: Vec<String>,
    pe_json: Vec<String>,
    ou_json: Vec<String>,
    /// The data window of each queried element.
    coverage: Vec<Coverage>,
    /// `period_ok[dx][pe]`: the period lies inside the element's data window.
    period_ok: Vec<Vec<bool>>,
    /// Position in the three nested loops (indexes per `order`).
    cursor: [usize; 3],
    exhausted: bool,
}

impl Cells {
    fn new(world: Arc<World>, query: &Query) -> Cells {
        let today = world.today();
        let coverage: Vec<Coverage> = query
            .dx
            .iter()
            .map(|&dx| world.coverage(dx, today))
            .collect();
        let period_ok = coverage
            .iter()
            .map(|c| query.pe.iter().map(|&p| c.period_has_data(p)).collect())
            .collect();
        let quote = |s: &str| Value::String(s.to_string()).to_string();
        let order = [query.order[0], query.order[1], query.order[2]];
        let exhausted = query.dx.is_empty() || query.pe.is_empty() || query.ou.is_empty();
        Cells {
            dx_json: query
                .dx
                .iter()
                .map(|&i| quote(&world.element(i).id))
                .collect(),
            pe_json: query.pe.iter().map(|p| quote(&p.to_string())).collect(),
            ou_json: query
                .ou
                .iter()
                .map(|&i| quote(&world.org_unit(i).id))
                .collect(),
            world,
            order,
            dx: query.dx.clone(),
            pe: query.pe.clone(),
            ou: query.ou.clone(),
            coverage,
            period_ok,
            cursor: [0; 3],
            exhausted,
        }
    }

    fn len(&self, dim: Dim) -> usize {
        match dim {
            Dim::Dx => self.dx.len(),
            Dim::Pe => self.pe.len(),
            Dim::Ou => self.ou.len(),
        }
    }

    /// (dx, pe, ou) indexes at the cursor.
    fn at(&self) -> (usize, usize, usize) {
        let mut idx = [0usize; 3];
        for (k, dim) in self.order.iter().enumerate() {
            idx[*dim as usize] = self.cursor[k];
        }
        (idx[0], idx[1], idx[2])
    }

    fn advance(&mut self) {
        for k in (0..3).rev() {
            self.cursor[k] += 1;
            if self.cursor[k] < self.len(self.order[k]) {
                return;
            }
            self.cursor[k] = 0;
        }
        self.exhausted = true;
    }

    /// The number of rows, without generating values.
    fn count(&self) -> usize {
        let mut total = 0;
        for (d, coverage) in self.coverage.iter().enumerate() {
            for (p, &pe) in self.pe.iter().enumerate() {
                if self.period_ok[d][p] {
                    total += self
                        .ou
                        .iter()
                        .filter(|&&ou| coverage.cell_has_data(&self.world.org_unit(ou).id, pe))
                        .count();
                }
            }
        }
        total
    }

    /// Appends up to `limit` rows to `out`; false when no cells remain.
    fn write_rows(&mut self, out: &mut String, first_row: &mut bool, limit: usize) -> bool {
        let mut written = 0;
        while !self.exhausted && written < limit {
            let (d, p, o) = self.at();
            self.advance();
            if !self.period_ok[d][p] {
                continue;
            }
            let unit = &self.world.org_unit(self.ou[o]).id;
            let period = self.pe[p];
            let coverage = &self.coverage[d];
            if !coverage.cell_has_data(unit, period) {
                continue;
            }
            let value = self
                .world
                .value(self.world.element(coverage.element), period, unit);
            if !*first_row {
                out.push(',');
            }
            *first_row = false;
            out.push('[');
            for dim in self.order {
                out.push_str(match dim {
                    Dim::Dx => &self.dx_json[d],
                    Dim::Pe => &self.pe_json[p],
                    Dim::Ou => &self.ou_json[o],
                });
                out.push(',');
            }
            out.push('"');
            out.push_str(&value);
            out.push_str("\"]");
            written += 1;
        }
        !self.exhausted
    }
}

/// The response body as an iterator of chunks.
struct Body {
    prefix: Option<String>,
    cells: Cells,
    first_row: bool,
    done: bool,
}

impl Iterator for Body {
    type Item = Result<Bytes, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut chunk = self.prefix.take().unwrap_or_default();
        let more = self
            .cells
            .write_rows(&mut chunk, &mut self.first_row, ROWS_PER_CHUNK);
        if !more {
            chunk.push_str("]}");
            self.done = true;
        }
        Some(Ok(Bytes::from(chunk)))
    }
}
