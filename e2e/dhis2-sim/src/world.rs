//! The scenario, indexed for answering requests: which cells have data, what their values are,
//! and each org unit's geometry. Values are a pure function of the seed and the cell's ids, so
//! chunked and unchunked queries see the same numbers.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::periods::Period;
use crate::scenario::{DataElement, DataSet, OrgUnit, Scenario};

/// An immutable snapshot of the simulated data.
#[derive(Debug)]
pub(crate) struct World {
    pub scenario: Scenario,
    org_units: HashMap<String, usize>,
    elements: HashMap<String, usize>,
    /// Data element id → indexes of the data sets containing it.
    element_data_sets: HashMap<String, Vec<usize>>,
    /// Per data set, the org units it is assigned to (`None`: every org unit).
    data_set_org_units: Vec<Option<HashSet<String>>>,
    /// Roots of the user's data-capture hierarchy (`None`: everything).
    user_roots: Option<HashSet<String>>,
}

/// One data element's data window, resolved against a date.
#[derive(Debug, Clone)]
pub(crate) struct Coverage {
    /// Index of the element in the scenario.
    pub element: usize,
    first: Option<NaiveDate>,
    last: NaiveDate,
    missing_org_units: HashSet<String>,
    missing_periods: HashSet<Period>,
    missing_cells: HashMap<String, HashSet<Period>>,
}

impl Coverage {
    /// Whether the period lies inside the element's data window (in some org unit).
    pub fn period_has_data(&self, period: Period) -> bool {
        period.end() <= self.last
            && self.first.is_none_or(|first| period.start() >= first)
            && !self.missing_periods.contains(&period)
    }

    /// Whether the cell has a value; `period_has_data` must already hold.
    pub fn cell_has_data(&self, org_unit: &str, period: Period) -> bool {
        !self.missing_org_units.contains(org_unit)
            && self
                .missing_cells
                .get(org_unit)
                .is_none_or(|periods| !periods.contains(&period))
    }
}

impl World {
    pub fn new(scenario: Scenario) -> World {
        let org_units = scenario
            .org_units
            .iter()
            .enumerate()
            .map(|(i, ou)| (ou.id.clone(), i))
            .collect();
        let elements = scenario
            .data_elements
            .iter()
            .enumerate()
            .map(|(i, de)| (de.id.clone(), i))
            .collect();
        let mut element_data_sets: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, set) in scenario.data_sets.iter().enumerate() {
            for element in &set.data_elements {
                element_data_sets
                    .entry(element.clone())
                    .or_default()
                    .push(i);
            }
        }
        let data_set_org_units = scenario
            .data_sets
            .iter()
            .map(|set| (!set.org_units.is_empty()).then(|| set.org_units.iter().cloned().collect()))
            .collect();
        let user_roots = scenario
            .dhis2
            .user_org_units
            .as_ref()
            .map(|roots| roots.iter().cloned().collect());
        World {
            scenario,
            org_units,
            elements,
            element_data_sets,
            data_set_org_units,
            user_roots,
        }
    }

    /// The data sets containing an element, as indexes into the scenario's `data_sets`.
    pub fn data_sets_of(&self, element_id: &str) -> &[usize] {
        self.element_data_sets
            .get(element_id)
            .map_or(&[], Vec::as_slice)
    }

    pub fn data_set(&self, index: usize) -> &DataSet {
        &self.scenario.data_sets[index]
    }

    pub fn data_set_index(&self, id: &str) -> Option<usize> {
        self.scenario.data_sets.iter().position(|set| set.id == id)
    }

    /// Whether a data set is assigned to an org unit.
    pub fn data_set_assigned(&self, index: usize, org_unit: &str) -> bool {
        self.data_set_org_units[index]
            .as_ref()
            .is_none_or(|units| units.contains(org_unit))
    }

    /// The org unit and its ancestors through `parent`, nearest first (stops at unknown parents).
    pub fn lineage<'a>(&'a self, org_unit: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        // Bounded, so a parent cycle in a hand-written scenario cannot loop forever.
        std::iter::successors(Some(org_unit), move |id| {
            let index = self.org_unit_index(id)?;
            self.org_unit(index).parent.as_deref()
        })
        .take(64)
    }

    /// Whether the user may capture data for the org unit (it or an ancestor is a user root).
    pub fn in_user_hierarchy(&self, org_unit: &str) -> bool {
        match &self.user_roots {
            None => true,
            Some(roots) => self.lineage(org_unit).any(|id| roots.contains(id)),
        }
    }

    /// The simulated date.
    pub fn today(&self) -> NaiveDate {
        self.scenario
            .today
            .unwrap_or_else(|| chrono::Local::now().date_naive())
    }

    pub fn org_unit_index(&self, id: &str) -> Option<usize> {
        self.org_units.get(id).copied()
    }

    pub fn org_unit(&self, index: usize) -> &OrgUnit {
        &self.scenario.org_units[index]
    }

    pub fn element_index(&self, id: &str) -> Option<usize> {
        self.elements.get(id).copied()
    }

    pub fn element(&self, index: usize) -> &DataElement {
        &self.scenario.data_elements[index]
    }

    /// The data window of an element as of `today`.
    pub fn coverage(&self, index: usize, today: NaiveDate) -> Coverage {
        let element = self.element(index);
        let last = element
            .last_period
            .as_deref()
            .and_then(Period::parse)
            .unwrap_or_else(|| element.period_type.covering(today).back(element.lag));
        let mut missing_cells: HashMap<String, HashSet<Period>> = HashMap::new();
        for cell in &element.missing_cells {
            if let Some(period) = Period::parse(&cell.period) {
                missing_cells
                    .entry(cell.org_unit.clone())
                    .or_default()
                    .insert(period);
            }
        }
        Coverage {
            element: index,
            first: element
                .first_period
                .as_deref()
                .and_then(Period::parse)
                .map(Period::start),
            last: last.end(),
            missing_org_units: element.missing_org_units.iter().cloned().collect(),
            missing_periods: element
                .missing_periods
                .iter()
                .filter_map(|p| Period::parse(p))
                .collect(),
            missing_cells,
        }
    }

    /// The analytics value of a cell, as DHIS2 prints it (a string).
    pub fn value(&self, element: &DataElement, period: Period, org_unit: &str) -> String {
        let unit = hash(
            self.scenario.seed,
            &[&element.id, org_unit, &period.to_string()],
        );
        let fraction = (unit >> 11) as f64 / (1u64 << 53) as f64;
        let value = element.min + fraction * (element.max - element.min);
        format_value(value, element.decimals)
    }

    /// The org unit's geometry: the scenario's, or a square of 0.05° laid out on a grid.
    pub fn geometry(&self, index: usize) -> Option<Value> {
        let unit = self.org_unit(index);
        if unit.without_geometry {
            return None;
        }
        if let Some(geometry) = &unit.geometry {
            return Some(geometry.clone());
        }
        let (col, row) = ((index % 40) as f64, (index / 40) as f64);
        let (x, y, d) = (-13.2 + col * 0.05, 7.0 + row * 0.05, 0.05);
        let round = |v: f64| (v * 1e4).round() / 1e4;
        Some(json!({
            "type": "Polygon",
            "coordinates": [[
                [round(x), round(y)],
                [round(x + d), round(y)],
                [round(x + d), round(y + d)],
                [round(x), round(y + d)],
                [round(x), round(y)],
            ]],
        }))
    }
}

/// A display name for a period, close to DHIS2's.
pub(crate) fn period_name(period: Period) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    match period {
        Period::Month { year, month } => {
            format!("{} {year}", MONTHS[(month as usize - 1) % 12])
        }
        Period::Week { week, .. } => format!(
            "Week {week} {} - {}",
            period.start().format("%Y-%m-%d"),
            period.end().format("%Y-%m-%d")
        ),
        Period::Quarter { year, quarter } => format!("Quarter {quarter} {year}"),
        Period::Year(year) => year.to_string(),
    }
}

/// Seeded FNV-1a over the parts, finished with a splitmix64 round.
pub(crate) fn hash(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    splitmix(h)
}

pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `12`, `120.5`: no trailing zeros, like DHIS2's analytics values.
pub(crate) fn format_value(value: f64, decimals: u32) -> String {
    let text = format!("{value:.prec$}", prec = decimals as usize);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}
