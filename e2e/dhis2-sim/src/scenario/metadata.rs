//! What the simulated DHIS2 holds as metadata: organisation units, data elements (with their analytics
//! coverage and their import rules) and data sets.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::periods::PeriodType;

/// An organisation unit. Without `geometry` a small square polygon is generated from its position.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgUnit {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default = "default_level")]
    pub level: u32,
    #[serde(default)]
    pub parent: Option<String>,
    /// A GeoJSON geometry object, returned verbatim.
    #[serde(default)]
    pub geometry: Option<Value>,
    /// No geometry at all (DHIS2 then omits the field; the flow drops the unit from its GeoJSON).
    #[serde(default)]
    pub without_geometry: bool,
}

fn default_level() -> u32 {
    2
}

impl OrgUnit {
    /// A level-2 org unit with a generated polygon.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        OrgUnit {
            id: id.into(),
            name: name.into(),
            code: None,
            level: default_level(),
            parent: None,
            geometry: None,
            without_geometry: false,
        }
    }
}

/// A data element (or indicator) with the window in which analytics has data for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DataElement {
    pub id: String,
    pub name: String,
    /// `dataElement` or `indicator`: only changes the name DHIS2 would show; both answer alike.
    pub kind: String,
    /// The period type its data is collected in; `lag` counts periods of this type.
    pub period_type: PeriodType,
    /// The last period with data (`202604`, `2026W17`). Overrides `lag`.
    pub last_period: Option<String>,
    /// Without `last_period`: how many periods behind the current one the data stops
    /// (1 = the last completed period has data).
    pub lag: u32,
    /// The first period with data; `None` means data reaches back indefinitely.
    pub first_period: Option<String>,
    /// Org units with no data at all for this element.
    pub missing_org_units: Vec<String>,
    /// Periods with no data in any org unit.
    pub missing_periods: Vec<String>,
    /// Single cells with no data.
    pub missing_cells: Vec<Cell>,
    /// Generated values lie in `[min, max]` with `decimals` decimals.
    pub min: f64,
    pub max: f64,
    pub decimals: u32,
    /// What values an import accepts (`NUMBER` by default).
    pub value_type: ValueType,
    /// The category combo (`default` unless set).
    pub category_combo: CategoryCombo,
    /// Whether a zero is stored (false: an imported zero deletes or is ignored, as DHIS2 does).
    pub zero_is_significant: bool,
}

impl Default for DataElement {
    fn default() -> Self {
        DataElement {
            id: String::new(),
            name: String::new(),
            kind: "dataElement".into(),
            period_type: PeriodType::Month,
            last_period: None,
            lag: 1,
            first_period: None,
            missing_org_units: Vec::new(),
            missing_periods: Vec::new(),
            missing_cells: Vec::new(),
            min: 0.0,
            max: 100.0,
            decimals: 0,
            value_type: ValueType::Number,
            category_combo: CategoryCombo::default(),
            zero_is_significant: false,
        }
    }
}

impl DataElement {
    /// A monthly element with data up to the last completed month.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        DataElement {
            id: id.into(),
            name: name.into(),
            ..DataElement::default()
        }
    }

    /// Sets the last period with data.
    pub fn last_period(mut self, period: impl Into<String>) -> Self {
        self.last_period = Some(period.into());
        self
    }

    /// Sets the value range.
    pub fn values(mut self, min: f64, max: f64, decimals: u32) -> Self {
        self.min = min;
        self.max = max;
        self.decimals = decimals;
        self
    }

    /// Sets the value type imports are checked against.
    pub fn value_type(mut self, value_type: ValueType) -> Self {
        self.value_type = value_type;
        self
    }

    /// Makes zeros significant (stored like any other value).
    pub fn zero_significant(mut self) -> Self {
        self.zero_is_significant = true;
        self
    }
}

/// One (org unit, period) cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    pub org_unit: String,
    pub period: String,
}

/// DHIS2's value types an aggregate import checks (`valueType` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValueType {
    #[default]
    Number,
    Integer,
    IntegerPositive,
    IntegerZeroOrPositive,
    IntegerNegative,
    Boolean,
    TrueOnly,
    Percentage,
    UnitInterval,
    Text,
}

impl ValueType {
    /// DHIS2's spelling (`INTEGER_ZERO_OR_POSITIVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Number => "NUMBER",
            ValueType::Integer => "INTEGER",
            ValueType::IntegerPositive => "INTEGER_POSITIVE",
            ValueType::IntegerZeroOrPositive => "INTEGER_ZERO_OR_POSITIVE",
            ValueType::IntegerNegative => "INTEGER_NEGATIVE",
            ValueType::Boolean => "BOOLEAN",
            ValueType::TrueOnly => "TRUE_ONLY",
            ValueType::Percentage => "PERCENTAGE",
            ValueType::UnitInterval => "UNIT_INTERVAL",
            ValueType::Text => "TEXT",
        }
    }

    /// Numeric types are the ones where a zero can be insignificant.
    pub fn is_numeric(self) -> bool {
        !matches!(
            self,
            ValueType::Boolean | ValueType::TrueOnly | ValueType::Text
        )
    }
}

/// A data element's category combo (`{"id": "bjDvmb4bfuf", "name": "default"}` unless set).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CategoryCombo {
    pub id: String,
    pub name: String,
}

impl Default for CategoryCombo {
    fn default() -> Self {
        CategoryCombo {
            id: "bjDvmb4bfuf".into(),
            name: "default".into(),
        }
    }
}

/// A data set: which data elements may be captured where, and how far into the future.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSet {
    pub id: String,
    pub name: String,
    /// `month`, `week`, `quarter` or `year`.
    #[serde(default)]
    pub period_type: PeriodType,
    /// Periods after the current one that accept data (0: up to the current period).
    #[serde(default)]
    pub open_future_periods: u32,
    /// Data element ids.
    #[serde(default)]
    pub data_elements: Vec<String>,
    /// Org unit ids the data set is assigned to; empty means every org unit.
    #[serde(default)]
    pub org_units: Vec<String>,
}

impl DataSet {
    /// A monthly data set over every org unit, open `open_future_periods` months ahead.
    pub fn monthly<I: IntoIterator<Item = S>, S: Into<String>>(
        id: impl Into<String>,
        name: impl Into<String>,
        open_future_periods: u32,
        data_elements: I,
    ) -> Self {
        DataSet {
            id: id.into(),
            name: name.into(),
            period_type: PeriodType::Month,
            open_future_periods,
            data_elements: data_elements.into_iter().map(Into::into).collect(),
            org_units: Vec::new(),
        }
    }
}

/// A stored data value the scenario starts with (as if imported before).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedValue {
    pub data_element: String,
    pub period: String,
    pub org_unit: String,
    pub value: String,
}
