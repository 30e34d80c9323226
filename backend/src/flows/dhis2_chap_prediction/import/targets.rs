//! A setup's `quantileTargets` (issue 11 §1.1): which DHIS2 data element receives which quantile of
//! the forecast, or the outbreak indicator. chap sends a list `[{"quantile", "dataElementId"}]` or,
//! from some modeling-app versions, an object `{"<key>": "<dataElementId>"}`; a key is numeric (`0.5`,
//! `"0.5"`) or named (`quantile_low` … `quantile_high`, `median`, `outbreak_indicator`).
//!
//! Decisions where the issue is silent:
//! - Named keys are compared case-insensitively; a number must lie strictly between 0 and 1.
//! - A target that cannot be read (unknown name, no data element, a quantile out of range) is left
//!   out and reported as a problem; the setup's other targets are still imported.
//! - Two targets naming the same data element are both kept: DHIS2 then receives both values of a
//!   cell and its conflict says so (we do not guess which one was meant).

use std::fmt;

use serde_json::Value;

use super::super::chap::QUANTILES;

/// Two quantiles closer than this are the same (1 − 0.9 is not exactly 0.1).
pub const QUANTILE_TOLERANCE: f64 = 1e-6;

/// Named quantile keys of the modeling app and their quantiles.
const NAMED: [(&str, f64); 5] = [
    ("quantile_low", 0.1),
    ("quantile_mid_low", 0.25),
    ("median", 0.5),
    ("quantile_mid_high", 0.75),
    ("quantile_high", 0.9),
];

/// The key of the outbreak indicator target.
pub const OUTBREAK_INDICATOR: &str = "outbreak_indicator";

/// What a target receives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetKind {
    /// The forecast's value at this quantile.
    Quantile(f64),
    /// 1 / true where the forecast reaches chap's seasonal threshold, else 0 / false.
    OutbreakIndicator,
}

/// One usable target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The key as the setup spells it (`median`, `0.5`, …), for messages.
    pub key: String,
    /// What it receives.
    pub kind: TargetKind,
    /// The DHIS2 data element.
    pub data_element_id: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.key, self.data_element_id)
    }
}

/// A setup's targets and the ones that could not be read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Targets {
    /// Usable targets, in the setup's order.
    pub targets: Vec<Target>,
    /// Why each unreadable target was left out.
    pub problems: Vec<String>,
}

impl Targets {
    /// No target at all (nothing to import, not even a problem to report).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.problems.is_empty()
    }

    /// Whether one of the targets is the outbreak indicator.
    pub fn has_indicator(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.kind == TargetKind::OutbreakIndicator)
    }

    /// The quantiles to ask chap for: the standard five, the targets' own and the indicator's.
    pub fn quantiles(&self, indicator_quantile: f64) -> Vec<f64> {
        let mut out: Vec<f64> = QUANTILES.to_vec();
        let extra = self.targets.iter().map(|t| match t.kind {
            TargetKind::Quantile(q) => q,
            TargetKind::OutbreakIndicator => indicator_quantile,
        });
        for q in extra {
            if !out.iter().any(|o| same_quantile(*o, q)) {
                out.push(q);
            }
        }
        out.sort_by(f64::total_cmp);
        out
    }
}

/// Whether two quantiles are the same within [`QUANTILE_TOLERANCE`].
pub fn same_quantile(a: f64, b: f64) -> bool {
    (a - b).abs() < QUANTILE_TOLERANCE
}

/// Reads a quantile key: a number in (0, 1), its text, a named key, or `outbreak_indicator`.
pub fn parse_key(key: &Value) -> Result<TargetKind, String> {
    let number = match key {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            if s.eq_ignore_ascii_case(OUTBREAK_INDICATOR) {
                return Ok(TargetKind::OutbreakIndicator);
            }
            if let Some((_, q)) = NAMED.iter().find(|(name, _)| s.eq_ignore_ascii_case(name)) {
                return Ok(TargetKind::Quantile(*q));
            }
            s.parse::<f64>().ok()
        }
        _ => None,
    };
    match number {
        Some(q) if q > 0.0 && q < 1.0 => Ok(TargetKind::Quantile(q)),
        Some(q) => Err(format!("quantile {q} is not between 0 and 1")),
        None => Err(format!(
            "{key} is neither a quantile (0 < q < 1) nor one of {}, {OUTBREAK_INDICATOR}",
            NAMED.map(|(n, _)| n).join(", ")
        )),
    }
}

fn element_id(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Reads `quantileTargets` in the list or the object form; `null` or absent is no targets.
pub fn parse_targets(raw: &Value) -> Targets {
    let mut out = Targets::default();
    let mut push = |key: &Value, element: Option<String>| {
        let label = match key {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match (parse_key(key), element) {
            (Ok(kind), Some(data_element_id)) => out.targets.push(Target {
                key: label,
                kind,
                data_element_id,
            }),
            (Err(why), _) => out
                .problems
                .push(format!("target '{label}' left out: {why}")),
            (Ok(_), None) => out.problems.push(format!(
                "target '{label}' left out: it names no data element"
            )),
        }
    };
    match raw {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                let key = item.get("quantile").cloned().unwrap_or(Value::Null);
                let element = item
                    .get("dataElementId")
                    .or_else(|| item.get("data_element_id"))
                    .or_else(|| item.get("dataElement"));
                push(&key, element_id(element));
            }
        }
        Value::Object(map) => {
            for (key, element) in map {
                push(&Value::String(key.clone()), element_id(Some(element)));
            }
        }
        other => out.problems.push(format!(
            "quantileTargets is neither a list nor an object: {other}"
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds(raw: Value) -> Vec<(TargetKind, String)> {
        let t = parse_targets(&raw);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        t.targets
            .into_iter()
            .map(|t| (t.kind, t.data_element_id))
            .collect()
    }

    #[test]
    fn every_spelling_of_a_quantile_is_read() {
        let list = kinds(json!([
            { "quantile": 0.5, "dataElementId": "A" },
            { "quantile": "0.9", "dataElementId": "B" },
            { "quantile": "median", "dataElementId": "C" },
            { "quantile": "quantile_low", "dataElementId": "D" },
            { "quantile": "Quantile_Mid_Low", "dataElementId": "E" },
            { "quantile": "quantile_mid_high", "dataElementId": "F" },
            { "quantile": "quantile_high", "dataElementId": "G" },
            { "quantile": "outbreak_indicator", "dataElementId": "H" },
        ]));
        assert_eq!(
            list,
            vec![
                (TargetKind::Quantile(0.5), "A".into()),
                (TargetKind::Quantile(0.9), "B".into()),
                (TargetKind::Quantile(0.5), "C".into()),
                (TargetKind::Quantile(0.1), "D".into()),
                (TargetKind::Quantile(0.25), "E".into()),
                (TargetKind::Quantile(0.75), "F".into()),
                (TargetKind::Quantile(0.9), "G".into()),
                (TargetKind::OutbreakIndicator, "H".into()),
            ]
        );
    }

    #[test]
    fn the_object_form_is_read_with_numeric_and_named_keys() {
        let mut object = kinds(json!({
            "0.5": "MED", "quantile_high": "HIGH", "outbreak_indicator": "ALERT", "0.1": "LOW"
        }));
        object.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            object,
            vec![
                (TargetKind::OutbreakIndicator, "ALERT".into()),
                (TargetKind::Quantile(0.9), "HIGH".into()),
                (TargetKind::Quantile(0.1), "LOW".into()),
                (TargetKind::Quantile(0.5), "MED".into()),
            ]
        );
    }

    #[test]
    fn unreadable_targets_are_reported_and_the_rest_kept() {
        let t = parse_targets(&json!([
            { "quantile": "mean", "dataElementId": "A" },
            { "quantile": 1.5, "dataElementId": "B" },
            { "quantile": 0.5 },
            { "quantile": 0.25, "dataElementId": "OK" },
        ]));
        assert_eq!(t.targets.len(), 1);
        assert_eq!(t.targets[0].data_element_id, "OK");
        assert_eq!(t.problems.len(), 3, "{:?}", t.problems);
        assert!(t.problems[0].contains("'mean'"), "{}", t.problems[0]);
        assert!(t.problems[1].contains("not between 0 and 1"));
        assert!(t.problems[2].contains("names no data element"));
        assert!(parse_targets(&Value::Null).is_empty());
        assert!(parse_targets(&json!([])).is_empty());
        assert_eq!(parse_targets(&json!("median")).problems.len(), 1);
    }

    #[test]
    fn quantiles_asked_of_chap_include_the_targets_and_the_indicator_without_duplicates() {
        let t = parse_targets(&json!({ "0.05": "A", "median": "B", "outbreak_indicator": "C" }));
        // 1 - 0.9 is 0.09999999999999998: the same quantile as 0.1.
        assert_eq!(
            t.quantiles(1.0 - 0.9),
            vec![0.05, 0.1, 0.25, 0.5, 0.75, 0.9]
        );
        assert!(same_quantile(1.0 - 0.9, 0.1));
        assert!(t.has_indicator());
    }
}
