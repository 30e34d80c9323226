//! From prediction entries to DHIS2 data values (issue 11 §1.2–1.3): the targets' data elements are
//! checked (present, default category combo, a value type that can hold the value), each cell's
//! value is encoded for its element's value type, and values DHIS2 would refuse or would turn into
//! a deletion are left out and counted.
//!
//! Decisions where the issue is silent:
//! - A quantile fits NUMBER, the INTEGER types, PERCENTAGE and UNIT_INTERVAL; the indicator fits
//!   those and BOOLEAN and TRUE_ONLY. Anything else (TEXT, DATE, …) refuses the element.
//! - Numbers are sent in Rust's shortest round-trip form without an exponent (`"12"`, `"0.25"`);
//!   integer types get the value rounded half away from zero first.
//! - A value out of PERCENTAGE's 0–100 or UNIT_INTERVAL's 0–1 range is left out like a negative
//!   into INTEGER_ZERO_OR_POSITIVE: DHIS2 would refuse it.
//! - Periods go to DHIS2 in its canonical form (`2026W5`, `202607`) when chap's text parses as a
//!   period, else as chap wrote them (DHIS2 then names the bad period in a conflict).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::super::model::PredictionEntry;
use super::super::periods::PeriodId;
use super::targets::{same_quantile, Target, TargetKind};

/// The name DHIS2 gives the default category combo.
pub const DEFAULT_CATEGORY_COMBO: &str = "default";

/// A data element's `id` and `name` reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IdName {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
}

/// One element of `GET /api/dataElements?fields=id,name,valueType,categoryCombo[id,name],zeroIsSignificant`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataElement {
    /// Id.
    pub id: String,
    /// Name (messages name the element by it).
    #[serde(default)]
    pub name: Option<String>,
    /// `NUMBER`, `INTEGER_ZERO_OR_POSITIVE`, `BOOLEAN`, …
    #[serde(default)]
    pub value_type: Option<String>,
    /// The element's category combo (only `default` can hold a forecast).
    #[serde(default)]
    pub category_combo: Option<IdName>,
    /// Whether DHIS2 stores zeros for this element.
    #[serde(default)]
    pub zero_is_significant: bool,
}

impl DataElement {
    /// `'Name' (id)`, or the id alone.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("'{name}' ({})", self.id),
            None => format!("'{}'", self.id),
        }
    }

    /// The name, or the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// `GET /api/dataElements` with `paging=false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataElementList {
    /// The elements DHIS2 has of those asked for.
    #[serde(default)]
    pub data_elements: Vec<DataElement>,
}

/// One value of `POST /api/dataValueSets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataValue {
    /// Data element id.
    pub data_element: String,
    /// DHIS2 period id.
    pub period: String,
    /// Org unit id.
    pub org_unit: String,
    /// The value as text.
    pub value: String,
}

/// Why a cell's value is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeftOut {
    /// A zero into an element without `zeroIsSignificant` (DHIS2 would delete the stored value).
    ZeroNotSignificant,
    /// Zero or less into INTEGER_POSITIVE.
    NotPositive,
    /// A negative value into INTEGER_ZERO_OR_POSITIVE.
    Negative,
    /// Zero or more into INTEGER_NEGATIVE.
    NotNegative,
    /// Outside PERCENTAGE's or UNIT_INTERVAL's range.
    OutOfRange,
    /// chap gave no value (NaN) for the cell.
    NoValue,
    /// chap gave no seasonal threshold for the cell (indicator only).
    NoThreshold,
    /// A `false` indicator into TRUE_ONLY (only `true` is stored).
    FalseIntoTrueOnly,
}

impl LeftOut {
    /// What the report says.
    pub fn describe(self) -> &'static str {
        match self {
            LeftOut::ZeroNotSignificant => "zeros into elements where zero is not significant",
            LeftOut::NotPositive => "zero or negative into INTEGER_POSITIVE",
            LeftOut::Negative => "negative into INTEGER_ZERO_OR_POSITIVE",
            LeftOut::NotNegative => "zero or positive into INTEGER_NEGATIVE",
            LeftOut::OutOfRange => "out of the value type's range",
            LeftOut::NoValue => "no value from chap",
            LeftOut::NoThreshold => "no seasonal threshold from chap",
            LeftOut::FalseIntoTrueOnly => "false into TRUE_ONLY (not stored)",
        }
    }
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A cell's value before it is encoded for its element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellValue {
    /// A forecast quantile.
    Number(f64),
    /// The outbreak indicator.
    Flag(bool),
}

fn is_integer_type(value_type: &str) -> bool {
    value_type.starts_with("INTEGER")
}

fn holds_number(value_type: &str) -> bool {
    is_integer_type(value_type) || matches!(value_type, "NUMBER" | "PERCENTAGE" | "UNIT_INTERVAL")
}

/// Why an element cannot receive the target's values, with the element's name.
pub fn refuse_element(target: &Target, element: Option<&DataElement>) -> Option<String> {
    let Some(element) = element else {
        return Some(format!(
            "data element '{}' (target {}) does not exist in DHIS2 or is not readable by this account",
            target.data_element_id, target.key
        ));
    };
    let combo = element
        .category_combo
        .as_ref()
        .and_then(|c| c.name.as_deref())
        .unwrap_or(DEFAULT_CATEGORY_COMBO);
    if combo != DEFAULT_CATEGORY_COMBO {
        return Some(format!(
            "data element {} (target {}) has the category combo '{combo}'; a forecast can only go into \
             an element with the default category combo",
            element.label(),
            target.key
        ));
    }
    let value_type = element.value_type.as_deref().unwrap_or("NUMBER");
    let fits = match target.kind {
        TargetKind::Quantile(_) => holds_number(value_type),
        TargetKind::OutbreakIndicator => {
            holds_number(value_type) || matches!(value_type, "BOOLEAN" | "TRUE_ONLY")
        }
    };
    (!fits).then(|| {
        let allowed = match target.kind {
            TargetKind::Quantile(_) => "NUMBER, INTEGER*, PERCENTAGE or UNIT_INTERVAL",
            TargetKind::OutbreakIndicator => {
                "BOOLEAN, TRUE_ONLY, NUMBER, INTEGER*, PERCENTAGE or UNIT_INTERVAL"
            }
        };
        format!(
            "data element {} (target {}) has the value type {value_type}, which cannot hold the \
             value; use {allowed}",
            element.label(),
            target.key
        )
    })
}

/// A number as DHIS2 should receive it: no exponent, no trailing `.0`.
pub fn number_text(value: f64) -> String {
    if value == value.trunc() && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The value encoded for the element's value type, or why it is left out.
pub fn encode(value: CellValue, element: &DataElement) -> Result<String, LeftOut> {
    let value_type = element.value_type.as_deref().unwrap_or("NUMBER");
    let number = match (value, value_type) {
        (CellValue::Flag(flag), "BOOLEAN") => return Ok(flag.to_string()),
        (CellValue::Flag(true), "TRUE_ONLY") => return Ok("true".into()),
        (CellValue::Flag(false), "TRUE_ONLY") => return Err(LeftOut::FalseIntoTrueOnly),
        (CellValue::Flag(flag), _) => f64::from(u8::from(flag)),
        (CellValue::Number(n), _) if !n.is_finite() => return Err(LeftOut::NoValue),
        (CellValue::Number(n), t) if is_integer_type(t) => n.round(),
        (CellValue::Number(n), _) => n,
    };
    match value_type {
        "INTEGER_POSITIVE" if number <= 0.0 => return Err(LeftOut::NotPositive),
        "INTEGER_ZERO_OR_POSITIVE" if number < 0.0 => return Err(LeftOut::Negative),
        "INTEGER_NEGATIVE" if number >= 0.0 => return Err(LeftOut::NotNegative),
        "PERCENTAGE" if !(0.0..=100.0).contains(&number) => return Err(LeftOut::OutOfRange),
        "UNIT_INTERVAL" if !(0.0..=1.0).contains(&number) => return Err(LeftOut::OutOfRange),
        _ => {}
    }
    if number == 0.0 && !element.zero_is_significant {
        return Err(LeftOut::ZeroNotSignificant);
    }
    Ok(number_text(number))
}

/// The period as DHIS2 writes it.
pub fn dhis2_period(raw: &str) -> String {
    PeriodId::parse(raw.trim())
        .map(|p| p.canonical())
        .unwrap_or_else(|_| raw.to_string())
}

/// chap's seasonal thresholds by (DHIS2 period, org unit); `None` where chap sent null.
pub type Thresholds = HashMap<(String, String), Option<f64>>;

/// The values of a setup, what was left out, and per target how many values it gives.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Values to send, target by target.
    pub values: Vec<DataValue>,
    /// Cells left out, by reason.
    pub left_out: BTreeMap<LeftOut, usize>,
    /// Targets whose quantile chap did not return.
    pub missing_quantiles: Vec<String>,
}

/// Builds the values of every target. `elements` holds the checked element of each target;
/// `indicator` is the quantile the indicator compares and the thresholds (`None`: no indicator).
pub fn plan_values(
    targets: &[(&Target, &DataElement)],
    entries: &[PredictionEntry],
    indicator: Option<(f64, &Thresholds)>,
) -> Plan {
    let mut plan = Plan::default();
    for (target, element) in targets {
        let (quantile, thresholds) = match (target.kind, indicator) {
            (TargetKind::Quantile(q), _) => (q, None),
            (TargetKind::OutbreakIndicator, Some((q, t))) => (q, Some(t)),
            (TargetKind::OutbreakIndicator, None) => continue,
        };
        let mut found = false;
        for entry in entries
            .iter()
            .filter(|e| same_quantile(e.quantile, quantile))
        {
            found = true;
            let period = dhis2_period(&entry.period);
            let cell = match (entry.value, thresholds) {
                (None, _) => Err(LeftOut::NoValue),
                (Some(v), None) => Ok(CellValue::Number(v)),
                (Some(v), Some(thresholds)) => {
                    match thresholds.get(&(period.clone(), entry.org_unit.clone())) {
                        Some(Some(threshold)) => Ok(CellValue::Flag(v >= *threshold)),
                        _ => Err(LeftOut::NoThreshold),
                    }
                }
            };
            match cell.and_then(|c| encode(c, element)) {
                Ok(value) => plan.values.push(DataValue {
                    data_element: element.id.clone(),
                    period,
                    org_unit: entry.org_unit.clone(),
                    value,
                }),
                Err(why) => *plan.left_out.entry(why).or_default() += 1,
            }
        }
        if !found {
            plan.missing_quantiles.push(format!(
                "target {} -> {}: chap returned no values for quantile {quantile}",
                target.key,
                element.display_name()
            ));
        }
    }
    plan
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
