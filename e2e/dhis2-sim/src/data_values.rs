//! The aggregate data values DHIS2 stores: written by `POST /api/dataValueSets`, seeded by the
//! scenario or the handle, read by `GET /api/dataValueSets`. A cell is keyed by (data element,
//! period, org unit); weekly ids are stored in DHIS2's canonical form, so `2026W01` and `2026W1`
//! are the same cell.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::periods::Period;
use crate::scenario::SeedValue;

/// DHIS2's default category option combo (and attribute option combo).
pub const DEFAULT_OPTION_COMBO: &str = "HllvX50cXC0";

/// One stored value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataValue {
    pub data_element: String,
    /// Canonical period id (`202607`, `2026W1`).
    pub period: String,
    pub org_unit: String,
    pub category_option_combo: String,
    pub attribute_option_combo: String,
    /// The value text exactly as stored.
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub stored_by: String,
    pub created: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
}

/// (data element, canonical period, org unit).
pub(crate) type CellKey = (String, String, String);

/// The key of a cell; the period is made canonical when it parses.
pub(crate) fn cell_key(data_element: &str, period: &str, org_unit: &str) -> CellKey {
    let period = Period::parse(period).map_or_else(|| period.to_string(), |p| p.to_string());
    (data_element.to_string(), period, org_unit.to_string())
}

/// Every stored value.
#[derive(Debug, Default)]
pub(crate) struct DataValueStore {
    values: HashMap<CellKey, DataValue>,
}

impl DataValueStore {
    /// The store a scenario starts with.
    pub fn seeded(seeds: &[SeedValue], stored_by: &str) -> DataValueStore {
        let mut store = DataValueStore::default();
        for seed in seeds {
            store.set(
                &seed.data_element,
                &seed.period,
                &seed.org_unit,
                &seed.value,
                stored_by,
            );
        }
        store
    }

    pub fn get(&self, key: &CellKey) -> Option<&DataValue> {
        self.values.get(key)
    }

    /// Stores a value with default option combos (keeps `created` when the cell had a value).
    pub fn set(
        &mut self,
        data_element: &str,
        period: &str,
        org_unit: &str,
        value: &str,
        stored_by: &str,
    ) {
        let key = cell_key(data_element, period, org_unit);
        let now = Utc::now();
        self.upsert(
            key,
            DataValue {
                data_element: data_element.to_string(),
                period: String::new(),
                org_unit: org_unit.to_string(),
                category_option_combo: DEFAULT_OPTION_COMBO.into(),
                attribute_option_combo: DEFAULT_OPTION_COMBO.into(),
                value: value.to_string(),
                comment: None,
                stored_by: stored_by.to_string(),
                created: now,
                last_updated: now,
            },
        );
    }

    /// Stores `value` under `key` (its period taken from the key), keeping an earlier `created`.
    pub fn upsert(&mut self, key: CellKey, mut value: DataValue) {
        value.period = key.1.clone();
        if let Some(old) = self.values.get(&key) {
            value.created = old.created;
        }
        self.values.insert(key, value);
    }

    pub fn remove(&mut self, key: &CellKey) -> Option<DataValue> {
        self.values.remove(key)
    }

    pub fn clear(&mut self) {
        self.values.clear();
    }

    /// Every value, ordered by data element, period (by date) and org unit.
    pub fn sorted(&self) -> Vec<DataValue> {
        self.matching(|_| true)
    }

    /// The values that pass `keep`, in [`DataValueStore::sorted`] order.
    pub fn matching(&self, keep: impl Fn(&DataValue) -> bool) -> Vec<DataValue> {
        let mut values: Vec<&DataValue> = self.values.values().filter(|v| keep(v)).collect();
        values.sort_by(|a, b| {
            let period = |v: &DataValue| Period::parse(&v.period);
            (&a.data_element, period(a), &a.period, &a.org_unit).cmp(&(
                &b.data_element,
                period(b),
                &b.period,
                &b.org_unit,
            ))
        });
        values.into_iter().cloned().collect()
    }
}
