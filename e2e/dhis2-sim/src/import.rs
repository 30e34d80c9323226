//! DHIS2's aggregate import (`POST /api/dataValueSets`) as a pure function of the metadata, the
//! stored values and the request: every value is checked in DHIS2's order, a failing value becomes
//! a conflict and is skipped, the others are written (or, in a dry run, only counted).

use std::collections::{BTreeMap, HashMap};

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::data_values::{CellKey, DataValue, DataValueStore, DEFAULT_OPTION_COMBO};
use crate::periods::Period;
use crate::scenario::ValueType;
use crate::world::World;

/// DHIS2's `importStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportStrategy {
    #[default]
    CreateAndUpdate,
    Create,
    Update,
    Delete,
}

impl ImportStrategy {
    /// Parses DHIS2's names, with the legacy aliases it still accepts (`NEW_AND_UPDATES`, …).
    pub fn parse(text: &str) -> Option<ImportStrategy> {
        Some(match text.to_ascii_uppercase().as_str() {
            "CREATE_AND_UPDATE" | "NEW_AND_UPDATES" => ImportStrategy::CreateAndUpdate,
            "CREATE" | "NEW" => ImportStrategy::Create,
            "UPDATE" | "UPDATES" => ImportStrategy::Update,
            "DELETE" | "DELETES" => ImportStrategy::Delete,
            _ => return None,
        })
    }

    /// DHIS2's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStrategy::CreateAndUpdate => "CREATE_AND_UPDATE",
            ImportStrategy::Create => "CREATE",
            ImportStrategy::Update => "UPDATE",
            ImportStrategy::Delete => "DELETE",
        }
    }
}

/// `importCount` of an import summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ImportCount {
    pub imported: usize,
    pub updated: usize,
    /// Values not written: rejected ones (also in the conflicts) and no-ops such as a zero that
    /// is not significant with nothing to delete.
    pub ignored: usize,
    pub deleted: usize,
}

/// One conflict of an import summary: every value failing the same way, by index.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportConflict {
    /// The id the conflict is about (data element, org unit or period).
    pub object: String,
    /// The ids named in the message (`dataElement`, `orgUnit`, `period`).
    pub objects: BTreeMap<String, String>,
    /// The message.
    pub value: String,
    /// `E7610`, `E7641`, …
    pub error_code: String,
    /// The offending property of the value (`dataElement`, `orgUnit`, `period`, `value`).
    pub property: String,
    /// 0-based positions in the request's `dataValues`.
    pub indexes: Vec<usize>,
}

/// One `POST /api/dataValueSets` that reached the importer (not one answered by a fault).
#[derive(Debug, Clone, Serialize)]
pub struct ImportRecord {
    pub dry_run: bool,
    pub import_strategy: ImportStrategy,
    /// Number of values in the body (0 when the body was not valid JSON).
    pub values: usize,
    /// The HTTP status answered.
    pub status: u16,
    pub import_count: ImportCount,
    pub conflicts: Vec<ImportConflict>,
    pub rejected_indexes: Vec<usize>,
    pub at: DateTime<Utc>,
    #[serde(skip)]
    pub(crate) body: Option<Bytes>,
}

impl ImportRecord {
    /// The JSON body (`Value::Null` when bodies are not recorded or it was not JSON).
    pub fn body(&self) -> Value {
        self.body
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null)
    }
}

/// One value of the request, with the text of its value (numbers written as text).
#[derive(Debug, Clone, Default)]
pub(crate) struct IncomingValue {
    pub data_element: Option<String>,
    pub period: Option<String>,
    pub org_unit: Option<String>,
    pub value: Option<String>,
    pub category_option_combo: Option<String>,
    pub attribute_option_combo: Option<String>,
    pub comment: Option<String>,
}

/// What the importer did.
#[derive(Debug, Default)]
pub(crate) struct ImportOutcome {
    pub count: ImportCount,
    pub conflicts: Vec<ImportConflict>,
    pub rejected: Vec<usize>,
}

/// A failed check: error code, object, objects named, property and message.
struct Refusal {
    code: &'static str,
    object: String,
    objects: Vec<(&'static str, String)>,
    property: &'static str,
    message: String,
}

/// What a value that passed every check asks for.
enum Write {
    Store(String),
    /// A blank value, or a zero that is not significant: delete the cell if it has a value.
    Clear,
}

/// Runs the import against `store` (untouched when `dry_run`).
pub(crate) fn import(
    world: &World,
    store: &mut DataValueStore,
    values: &[IncomingValue],
    strategy: ImportStrategy,
    dry_run: bool,
) -> ImportOutcome {
    let today = world.today();
    // The latest open period of each data set, computed once for the whole request.
    let latest_open: Vec<Period> = world
        .scenario
        .data_sets
        .iter()
        .map(|set| {
            let current = set.period_type.covering(today);
            (0..set.open_future_periods).fold(current, |p, _| p.next())
        })
        .collect();
    let username = world.scenario.username.as_str();
    let mut outcome = ImportOutcome::default();
    let mut conflicts = Conflicts::default();
    let mut cells = Cells {
        store,
        dry_run: dry_run.then(HashMap::new),
    };
    let now = Utc::now();
    for (index, incoming) in values.iter().enumerate() {
        let (key, write) = match check(world, &latest_open, incoming, strategy) {
            Ok(checked) => checked,
            Err(refusal) => {
                outcome.count.ignored += 1;
                outcome.rejected.push(index);
                conflicts.add(index, refusal);
                continue;
            }
        };
        let exists = cells.exists(&key);
        let write = if strategy == ImportStrategy::Delete {
            Write::Clear
        } else {
            write
        };
        match (write, exists) {
            (Write::Clear, true) if strategy != ImportStrategy::Create => {
                cells.apply(key, None);
                outcome.count.deleted += 1;
            }
            (Write::Clear, _) => outcome.count.ignored += 1,
            (Write::Store(_), true) if strategy == ImportStrategy::Create => {
                outcome.count.ignored += 1;
            }
            (Write::Store(_), false) if strategy == ImportStrategy::Update => {
                outcome.count.ignored += 1;
            }
            (Write::Store(text), exists) => {
                if exists {
                    outcome.count.updated += 1;
                } else {
                    outcome.count.imported += 1;
                }
                let value = DataValue {
                    data_element: key.0.clone(),
                    period: key.1.clone(),
                    org_unit: key.2.clone(),
                    category_option_combo: incoming
                        .category_option_combo
                        .clone()
                        .unwrap_or_else(|| DEFAULT_OPTION_COMBO.into()),
                    attribute_option_combo: incoming
                        .attribute_option_combo
                        .clone()
                        .unwrap_or_else(|| DEFAULT_OPTION_COMBO.into()),
                    value: text,
                    comment: incoming.comment.clone(),
                    stored_by: username.to_string(),
                    created: now,
                    last_updated: now,
                };
                cells.apply(key, Some(value));
            }
        }
    }
    outcome.conflicts = conflicts.list;
    outcome
}

/// The conflicts so far: values failing with the same code, object and message share one.
#[derive(Default)]
struct Conflicts {
    list: Vec<ImportConflict>,
    by_group: HashMap<(&'static str, String, String), usize>,
}

impl Conflicts {
    fn add(&mut self, index: usize, refusal: Refusal) {
        let group = (
            refusal.code,
            refusal.object.clone(),
            refusal.message.clone(),
        );
        if let Some(&at) = self.by_group.get(&group) {
            self.list[at].indexes.push(index);
            return;
        }
        self.by_group.insert(group, self.list.len());
        self.list.push(ImportConflict {
            object: refusal.object,
            objects: refusal
                .objects
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            value: refusal.message,
            error_code: refusal.code.into(),
            property: refusal.property.into(),
            indexes: vec![index],
        });
    }
}

/// The store as this request sees it: written through, or in a dry run read through an overlay
/// of the request's own changes (`None`: deleted) that is then dropped.
struct Cells<'a> {
    store: &'a mut DataValueStore,
    dry_run: Option<HashMap<CellKey, Option<DataValue>>>,
}

impl Cells<'_> {
    fn exists(&self, key: &CellKey) -> bool {
        match self.dry_run.as_ref().and_then(|overlay| overlay.get(key)) {
            Some(change) => change.is_some(),
            None => self.store.get(key).is_some(),
        }
    }

    fn apply(&mut self, key: CellKey, change: Option<DataValue>) {
        match (&mut self.dry_run, change) {
            (Some(overlay), change) => {
                overlay.insert(key, change);
            }
            (None, Some(value)) => self.store.upsert(key, value),
            (None, None) => {
                self.store.remove(&key);
            }
        }
    }
}

/// DHIS2's checks, in its order; the first that fails refuses the value.
fn check(
    world: &World,
    latest_open: &[Period],
    incoming: &IncomingValue,
    strategy: ImportStrategy,
) -> Result<(CellKey, Write), Refusal> {
    let de = incoming.data_element.as_deref().unwrap_or_default();
    let ou = incoming.org_unit.as_deref().unwrap_or_default();
    let pe = incoming.period.as_deref().unwrap_or_default();
    // Indicators are computed, never captured: DHIS2 knows no data element by that id.
    let element = world
        .element_index(de)
        .map(|i| world.element(i))
        .filter(|e| e.kind != "indicator");
    let Some(element) = element else {
        return Err(Refusal {
            code: "E7610",
            object: de.into(),
            objects: vec![("dataElement", de.into())],
            property: "dataElement",
            message: format!("Data element not found or not accessible: `{de}`"),
        });
    };
    if world.org_unit_index(ou).is_none() {
        return Err(Refusal {
            code: "E7612",
            object: ou.into(),
            objects: vec![("orgUnit", ou.into())],
            property: "orgUnit",
            message: format!("Organisation unit not found or not accessible: `{ou}`"),
        });
    }
    let Some(period) = Period::parse(pe) else {
        return Err(Refusal {
            code: "E7611",
            object: pe.into(),
            objects: vec![("period", pe.into())],
            property: "period",
            message: format!("Period not valid: `{pe}`"),
        });
    };
    if !world.in_user_hierarchy(ou) {
        let user = &world.scenario.username;
        return Err(Refusal {
            code: "E7617",
            object: ou.into(),
            objects: vec![("orgUnit", ou.into())],
            property: "orgUnit",
            message: format!(
                "Organisation unit: `{ou}` not in hierarchy of current user: `{user}`"
            ),
        });
    }
    let data_sets = world.data_sets_of(de);
    if data_sets.is_empty() {
        return Err(Refusal {
            code: "E7633",
            object: de.into(),
            objects: vec![("dataElement", de.into())],
            property: "dataElement",
            message: format!("Data element: `{de}` is not part of any data set"),
        });
    }
    // The most permissive data set assigned to the org unit decides how far ahead data is open.
    let latest_open = data_sets
        .iter()
        .filter(|&&set| world.data_set_assigned(set, ou))
        .map(|&set| latest_open[set])
        .max_by_key(|p| p.end());
    let Some(latest_open) = latest_open else {
        return Err(Refusal {
            code: "E7636",
            object: de.into(),
            objects: vec![("dataElement", de.into()), ("orgUnit", ou.into())],
            property: "orgUnit",
            message: format!(
                "Data element: `{de}` is not assigned to organisation unit: `{ou}` through any data set"
            ),
        });
    };
    if period.start() > latest_open.end() {
        return Err(Refusal {
            code: "E7641",
            object: pe.into(),
            objects: vec![("dataElement", de.into()), ("period", pe.into())],
            property: "period",
            message: format!(
                "Period: `{pe}` is after latest open future period: `{latest_open}` for data element: `{de}`"
            ),
        });
    }
    let key: CellKey = (de.to_string(), period.to_string(), ou.to_string());
    let text = incoming.value.as_deref().unwrap_or_default();
    if strategy == ImportStrategy::Delete || text.is_empty() {
        return Ok((key, Write::Clear));
    }
    if let Err(reason) = fits(element.value_type, text) {
        return Err(Refusal {
            code: "E7619",
            object: de.into(),
            objects: vec![("dataElement", de.into())],
            property: "value",
            message: format!("Value must match data element's `{de}` type constraints: {reason}"),
        });
    }
    let zero = element.value_type.is_numeric() && number(text).is_some_and(|n| n == 0.0);
    if zero && !element.zero_is_significant {
        return Ok((key, Write::Clear));
    }
    Ok((key, Write::Store(text.to_string())))
}

/// Whether `text` is a valid value of the type, with DHIS2's reason when not.
fn fits(value_type: ValueType, text: &str) -> Result<(), &'static str> {
    let ok = match value_type {
        ValueType::Text => true,
        ValueType::Number => number(text).is_some(),
        ValueType::Integer => integer(text).is_some(),
        ValueType::IntegerPositive => integer(text).is_some_and(|n| n > 0),
        ValueType::IntegerZeroOrPositive => integer(text).is_some_and(|n| n >= 0),
        ValueType::IntegerNegative => integer(text).is_some_and(|n| n < 0),
        ValueType::Percentage => number(text).is_some_and(|n| (0.0..=100.0).contains(&n)),
        ValueType::UnitInterval => number(text).is_some_and(|n| (0.0..=1.0).contains(&n)),
        ValueType::Boolean => text == "true" || text == "false",
        ValueType::TrueOnly => text == "true",
    };
    if ok {
        return Ok(());
    }
    Err(match value_type {
        ValueType::Text | ValueType::Number => "Value must be a number",
        ValueType::Integer => "Value must be an integer",
        ValueType::IntegerPositive => "Value must be a positive integer",
        ValueType::IntegerZeroOrPositive => "Value must be zero or a positive integer",
        ValueType::IntegerNegative => "Value must be a negative integer",
        ValueType::Percentage => "Value must be a number between 0 and 100",
        ValueType::UnitInterval => "Value must be a number between 0 and 1",
        ValueType::Boolean => "Value must be true or false",
        ValueType::TrueOnly => "Value must be true",
    })
}

/// A number as DHIS2 reads one: `-?(0|[1-9][0-9]*)(\.[0-9]+)?(E-?[0-9]+)?` (no `+`, no leading
/// zeros, no bare `.5` or `5.`).
fn number(text: &str) -> Option<f64> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let body = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match body.split_once('E') {
        Some((m, e)) => (m, Some(e.strip_prefix('-').unwrap_or(e))),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let valid = digits(whole)
        && (whole == "0" || !whole.starts_with('0'))
        && fraction.is_none_or(digits)
        && exponent.is_none_or(digits);
    if !valid {
        return None;
    }
    text.parse().ok()
}

/// An integer as DHIS2 reads one: `0` or `-?[1-9][0-9]*` (`12.0`, `-0` and `007` are not).
fn integer(text: &str) -> Option<i64> {
    let body = text.strip_prefix('-').unwrap_or(text);
    let valid = text == "0"
        || (!body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) && !body.starts_with('0'));
    if !valid {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numbers_and_integers_follow_dhis2s_patterns() {
        for ok in ["0", "-0", "12", "-3.25", "0.5", "1E5", "2.5E-3"] {
            assert!(number(ok).is_some(), "{ok}");
        }
        for bad in [
            "", "+1", "01", ".5", "5.", "1e5", "abc", "1,5", "NaN", "inf",
        ] {
            assert!(number(bad).is_none(), "{bad}");
        }
        for ok in ["0", "7", "-12"] {
            assert!(integer(ok).is_some(), "{ok}");
        }
        for bad in ["12.0", "-0", "007", "", "-", "1E2"] {
            assert!(integer(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn value_types_refuse_with_dhis2s_reasons() {
        assert_eq!(
            fits(ValueType::IntegerPositive, "0"),
            Err("Value must be a positive integer")
        );
        assert!(fits(ValueType::IntegerZeroOrPositive, "0").is_ok());
        assert!(fits(ValueType::IntegerNegative, "-1").is_ok());
        assert!(fits(ValueType::Percentage, "100").is_ok());
        assert!(fits(ValueType::Percentage, "100.5").is_err());
        assert!(fits(ValueType::UnitInterval, "0.25").is_ok());
        assert!(fits(ValueType::UnitInterval, "1.5").is_err());
        assert!(fits(ValueType::Boolean, "false").is_ok());
        assert!(fits(ValueType::Boolean, "1").is_err());
        assert!(fits(ValueType::TrueOnly, "false").is_err());
        assert!(fits(ValueType::Text, "anything").is_ok());
    }
}
