//! DHIS2 analytics: the request shape (§3.2 calls 2 and 3), reading rows by header name (decision 4),
//! the chunk planner and merge, and the freshness probe (§4.3).
//!
//! Decisions where the reference is ambiguous:
//! - The row estimate of a request is dx × periods × org units (one aggregated value per combination);
//!   a relative window counts as its number of periods. Data elements are never split.
//! - The planner tries every even split of the periods and packs org units greedily under both
//!   budgets, keeping the plan with the fewest calls; a relative window is never split.
//! - Merging concatenates chunk rows in plan order; it equals the unchunked answer as a multiset of
//!   rows (DHIS2 guarantees no row order either).
//! - When headers are present but lack `dx`, `pe`, `ou` or `value`, the response is refused.
//! - A probe row whose period does not parse fails the probe (a clear error beats a wrong end).

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::model::{AnalyticsResponse, CovariateSource};
use super::periods::{PeriodId, RelativeWindow};

/// DHIS2 analytics path.
pub const ANALYTICS_PATH: &str = "/api/analytics";

/// Budgets a single analytics call must stay under (decision 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Most rows one call may return (DHIS2's analytics cap is about 50,000).
    pub max_rows: usize,
    /// Longest URL one call may use, in bytes.
    pub max_url_len: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_rows: 50_000,
            max_url_len: 8 * 1024,
        }
    }
}

/// The period dimension of an analytics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodDimension {
    /// Explicit DHIS2 period ids.
    Ids(Vec<String>),
    /// A relative window such as `LAST_12_MONTHS`.
    Relative(RelativeWindow),
}

/// One analytics query: `dimension=dx:…`, `dimension=pe:…`, `dimension=ou:…`, in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsRequest {
    /// Data element ids.
    pub dx: Vec<String>,
    /// Periods.
    pub pe: PeriodDimension,
    /// Org unit ids.
    pub ou: Vec<String>,
}

impl AnalyticsRequest {
    /// The input-data request (call 3): explicit periods, sent as DHIS2 canonical ids.
    pub fn input(sources: &[CovariateSource], periods: &[PeriodId], org_units: &[String]) -> Self {
        AnalyticsRequest {
            dx: sources.iter().map(|s| s.data_element_id.clone()).collect(),
            pe: PeriodDimension::Ids(periods.iter().map(PeriodId::canonical).collect()),
            ou: org_units.to_vec(),
        }
    }

    /// The freshness probe (call 2) over a relative window.
    pub fn probe(
        sources: &[CovariateSource],
        window: RelativeWindow,
        org_units: &[String],
    ) -> Self {
        AnalyticsRequest {
            dx: sources.iter().map(|s| s.data_element_id.clone()).collect(),
            pe: PeriodDimension::Relative(window),
            ou: org_units.to_vec(),
        }
    }

    fn period_count(&self) -> usize {
        match &self.pe {
            PeriodDimension::Ids(ids) => ids.len(),
            PeriodDimension::Relative(w) => w.periods,
        }
    }

    /// Upper bound of the rows this request can return.
    pub fn estimated_rows(&self) -> usize {
        self.dx.len() * self.period_count() * self.ou.len()
    }

    /// The query pairs, in the reference's order.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let pe = match &self.pe {
            PeriodDimension::Ids(ids) => ids.join(";"),
            PeriodDimension::Relative(w) => w.name.to_string(),
        };
        vec![
            ("dimension", format!("dx:{}", self.dx.join(";"))),
            ("dimension", format!("pe:{pe}")),
            ("dimension", format!("ou:{}", self.ou.join(";"))),
        ]
    }

    /// The full URL of this request against DHIS2 at `base`.
    pub fn url(&self, base: &Url) -> Url {
        let mut url = join_path(base, ANALYTICS_PATH);
        url.query_pairs_mut()
            .extend_pairs(self.query().iter().map(|(k, v)| (*k, v.as_str())));
        url
    }
}

/// `base` with `path` appended to its own path (DHIS2 may live under a context path).
pub fn join_path(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url.set_query(None);
    url
}

/// Why a request could not be planned or a response not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalyticsError {
    /// Even one period × one org unit breaks a budget.
    #[error("cannot split the analytics request to fit the limits: {0}")]
    CannotChunk(String),
    /// Headers present but a needed column is missing.
    #[error("analytics response has no '{column}' column (columns: [{columns}])")]
    MissingColumn {
        /// The missing column.
        column: &'static str,
        /// The columns present.
        columns: String,
    },
    /// A probe row carried a period id that does not parse.
    #[error("analytics row for '{dx}' has an unreadable period: {message}")]
    BadPeriod {
        /// Data element of the row.
        dx: String,
        /// Parse error.
        message: String,
    },
}

fn encoded_len(s: &str) -> usize {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .map(str::len)
        .sum()
}

/// Splits `req` into calls that each stay under `limits`; a request that fits is returned whole.
pub fn plan_chunks(
    base: &Url,
    req: &AnalyticsRequest,
    limits: &ChunkLimits,
) -> Result<Vec<AnalyticsRequest>, AnalyticsError> {
    let fits = |r: &AnalyticsRequest| {
        r.estimated_rows() <= limits.max_rows && r.url(base).as_str().len() <= limits.max_url_len
    };
    if fits(req) || req.dx.is_empty() || req.ou.is_empty() || req.period_count() == 0 {
        return Ok(vec![req.clone()]);
    }
    let mut best: Option<Vec<AnalyticsRequest>> = None;
    let candidates: Vec<Vec<PeriodDimension>> = match &req.pe {
        PeriodDimension::Relative(_) => vec![vec![req.pe.clone()]],
        PeriodDimension::Ids(ids) => {
            let mut sizes: Vec<usize> = (1..=ids.len()).map(|k| ids.len().div_ceil(k)).collect();
            sizes.dedup();
            sizes
                .into_iter()
                .map(|size| {
                    ids.chunks(size)
                        .map(|c| PeriodDimension::Ids(c.to_vec()))
                        .collect()
                })
                .collect()
        }
    };
    for pe_chunks in candidates {
        if let Some(plan) = pack_org_units(base, req, &pe_chunks, limits) {
            if best.as_ref().is_none_or(|b| plan.len() < b.len()) {
                best = Some(plan);
            }
        }
    }
    best.ok_or_else(|| {
        AnalyticsError::CannotChunk(format!(
            "{} data elements with one period and one org unit exceed {} rows or {} URL bytes",
            req.dx.len(),
            limits.max_rows,
            limits.max_url_len
        ))
    })
}

/// Packs org units greedily for the given period chunks; `None` when one org unit alone cannot fit.
fn pack_org_units(
    base: &Url,
    req: &AnalyticsRequest,
    pe_chunks: &[PeriodDimension],
    limits: &ChunkLimits,
) -> Option<Vec<AnalyticsRequest>> {
    let probe = |pe: &PeriodDimension, ou: Vec<String>| AnalyticsRequest {
        dx: req.dx.clone(),
        pe: pe.clone(),
        ou,
    };
    // The longest period chunk bounds both budgets for every chunk of this plan.
    let widest = pe_chunks
        .iter()
        .max_by_key(|pe| probe(pe, Vec::new()).url(base).as_str().len())?;
    let rows_per_ou = probe(widest, vec![String::new()]).estimated_rows().max(1);
    let max_ou = limits.max_rows / rows_per_ou;
    let base_len = probe(widest, Vec::new()).url(base).as_str().len();
    if max_ou == 0 {
        return None;
    }
    let sep = encoded_len(";");
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut len = base_len;
    for ou in &req.ou {
        let add = encoded_len(ou) + if current.is_empty() { 0 } else { sep };
        if !current.is_empty() && (current.len() >= max_ou || len + add > limits.max_url_len) {
            groups.push(std::mem::take(&mut current));
            len = base_len;
        }
        let add = encoded_len(ou) + if current.is_empty() { 0 } else { sep };
        if len + add > limits.max_url_len {
            return None;
        }
        len += add;
        current.push(ou.clone());
    }
    if !current.is_empty() {
        groups.push(current);
    }
    Some(
        pe_chunks
            .iter()
            .flat_map(|pe| groups.iter().map(move |g| probe(pe, g.clone())))
            .collect(),
    )
}

/// One analytics row, read by column name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnalyticsRow {
    /// Data element id.
    pub dx: String,
    /// Period id, verbatim.
    pub pe: String,
    /// Org unit id.
    pub ou: String,
    /// The value cell (`None` when null).
    pub value: Option<String>,
}

/// Rows of one or more analytics calls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnalyticsTable {
    /// Column names as DHIS2 sent them (for the log line).
    pub columns: Vec<String>,
    /// Readable rows.
    pub rows: Vec<AnalyticsRow>,
    /// Rows too short to hold every needed column (dropped).
    pub short_rows: usize,
}

impl AnalyticsTable {
    /// Reads rows by header name; positional (dx, pe, ou, value) only when headers are absent.
    pub fn from_response(resp: &AnalyticsResponse) -> Result<AnalyticsTable, AnalyticsError> {
        let columns: Vec<String> = resp.headers.iter().map(|h| h.name.clone()).collect();
        let index = |name: &'static str, fallback: usize| {
            if columns.is_empty() {
                return Ok(fallback);
            }
            columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| AnalyticsError::MissingColumn {
                    column: name,
                    columns: columns.join(", "),
                })
        };
        let (dx, pe, ou, value) = (
            index("dx", 0)?,
            index("pe", 1)?,
            index("ou", 2)?,
            index("value", 3)?,
        );
        let needed = dx.max(pe).max(ou).max(value) + 1;
        let mut table = AnalyticsTable {
            columns,
            ..AnalyticsTable::default()
        };
        for row in &resp.rows {
            if row.len() < needed {
                table.short_rows += 1;
                continue;
            }
            table.rows.push(AnalyticsRow {
                dx: cell_text(&row[dx]).unwrap_or_default(),
                pe: cell_text(&row[pe]).unwrap_or_default(),
                ou: cell_text(&row[ou]).unwrap_or_default(),
                value: cell_text(&row[value]),
            });
        }
        Ok(table)
    }

    /// Concatenates chunk results in plan order (sized once: no regrowth copies at 300k rows).
    pub fn merge(chunks: impl IntoIterator<Item = AnalyticsTable>) -> AnalyticsTable {
        let chunks: Vec<AnalyticsTable> = chunks.into_iter().collect();
        let mut merged = AnalyticsTable {
            rows: Vec::with_capacity(chunks.iter().map(|c| c.rows.len()).sum()),
            ..AnalyticsTable::default()
        };
        for chunk in chunks {
            if merged.columns.is_empty() {
                merged.columns = chunk.columns;
            }
            merged.rows.extend(chunk.rows);
            merged.short_rows += chunk.short_rows;
        }
        merged
    }

    /// Rows received, including short ones (the report's "Analytics rows fetched").
    pub fn row_count(&self) -> usize {
        self.rows.len() + self.short_rows
    }
}

fn cell_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The latest period per data element in probe rows, by period order (not text).
pub fn latest_periods(
    table: &AnalyticsTable,
) -> Result<BTreeMap<String, PeriodId>, AnalyticsError> {
    let mut latest: BTreeMap<String, PeriodId> = BTreeMap::new();
    for row in &table.rows {
        let period = PeriodId::parse(&row.pe).map_err(|e| AnalyticsError::BadPeriod {
            dx: row.dx.clone(),
            message: e.to_string(),
        })?;
        match latest.get(&row.dx) {
            Some(seen) if *seen >= period => {}
            _ => {
                latest.insert(row.dx.clone(), period);
            }
        }
    }
    Ok(latest)
}

/// The earliest of the latest periods over `expected` data elements; `None` if any is missing.
pub fn safe_end_period(
    latest: &BTreeMap<String, PeriodId>,
    expected: &[String],
) -> Option<PeriodId> {
    if expected.is_empty() {
        return None;
    }
    expected
        .iter()
        .map(|dx| latest.get(dx).cloned())
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .min()
}

/// Why the probe could not choose an end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Some covariates have no data in the window.
    #[error(
        "DHIS2 returned no data within {window} for covariate(s): {covariates}. Import the missing data, or \
         trigger the flow with an explicit end_date to override."
    )]
    NoData {
        /// The relative window probed.
        window: String,
        /// Sorted covariate names, comma-separated.
        covariates: String,
    },
    /// The setup has no covariate sources to probe.
    #[error("the setup has no covariate sources; nothing to probe")]
    NoSources,
}

/// The probed end (§4.3): the minimum of the per-element latest periods over every covariate source.
pub fn probed_end(
    sources: &[CovariateSource],
    latest: &BTreeMap<String, PeriodId>,
    window: RelativeWindow,
) -> Result<PeriodId, ProbeError> {
    if sources.is_empty() {
        return Err(ProbeError::NoSources);
    }
    let mut missing: Vec<&str> = sources
        .iter()
        .filter(|s| !latest.contains_key(&s.data_element_id))
        .map(|s| s.covariate.as_str())
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        return Err(ProbeError::NoData {
            window: window.name.to_string(),
            covariates: missing.join(", "),
        });
    }
    let expected: Vec<String> = sources.iter().map(|s| s.data_element_id.clone()).collect();
    safe_end_period(latest, &expected).ok_or(ProbeError::NoSources)
}

/// The operator log line for probe results: "latest period per covariate: {…}".
pub fn describe_latest(sources: &[CovariateSource], latest: &BTreeMap<String, PeriodId>) -> String {
    let parts: Vec<String> = sources
        .iter()
        .map(|s| {
            let p = latest
                .get(&s.data_element_id)
                .map_or_else(|| "(no data)".to_string(), ToString::to_string);
            format!("{}: {p}", s.covariate)
        })
        .collect();
    format!("latest period per covariate: {{{}}}", parts.join(", "))
}

#[cfg(test)]
#[path = "analytics_tests.rs"]
mod tests;
