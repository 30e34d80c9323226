//! DHIS2's answer to `POST /api/dataValueSets` (issue 11 §1.4): an `ImportSummary` under `response`
//! (2.38+, HTTP 200 or 409) or at the top level (older servers, HTTP 200 even with conflicts and
//! perhaps without `errorCode`). The outcome is judged by `status` and `conflicts`, never by the HTTP
//! status; conflicts are grouped by `errorCode`, never by message text, and the common codes get a
//! hint for the operator.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::Deserialize;
use serde_json::Value;

/// `importCount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct ImportCount {
    /// New values stored.
    #[serde(default)]
    pub imported: u64,
    /// Existing values changed.
    #[serde(default)]
    pub updated: u64,
    /// Values not stored (refused or unchanged).
    #[serde(default)]
    pub ignored: u64,
    /// Values deleted.
    #[serde(default)]
    pub deleted: u64,
}

impl ImportCount {
    /// Values DHIS2 stored (new or changed).
    pub fn written(&self) -> u64 {
        self.imported + self.updated
    }
}

impl AddAssign for ImportCount {
    fn add_assign(&mut self, other: ImportCount) {
        self.imported += other.imported;
        self.updated += other.updated;
        self.ignored += other.ignored;
        self.deleted += other.deleted;
    }
}

/// One entry of `conflicts`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The object concerned (a data element, org unit or period id).
    #[serde(default)]
    pub object: Option<String>,
    /// DHIS2's message.
    #[serde(default)]
    pub value: Option<String>,
    /// `E7641`, … (absent on older servers).
    #[serde(default)]
    pub error_code: Option<String>,
    /// The value's property at fault.
    #[serde(default)]
    pub property: Option<String>,
    /// Positions of the refused values in the request.
    #[serde(default)]
    pub indexes: Vec<usize>,
}

impl Conflict {
    /// How many values the conflict concerns (at least one).
    pub fn values(&self) -> usize {
        self.indexes.len().max(1)
    }
}

/// An `ImportSummary`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    /// `SUCCESS`, `WARNING` or `ERROR`.
    #[serde(default)]
    pub status: String,
    /// DHIS2's description of the outcome.
    #[serde(default)]
    pub description: Option<String>,
    /// Counts.
    #[serde(default)]
    pub import_count: ImportCount,
    /// What was refused.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
    /// Positions of the refused values.
    #[serde(default)]
    pub rejected_indexes: Vec<usize>,
}

impl ImportSummary {
    /// Reads the summary under `response` or at the top level; `None` when the body holds none.
    pub fn from_body(body: &Value) -> Option<ImportSummary> {
        let looks_like = |v: &Value| {
            v.get("responseType").and_then(Value::as_str) == Some("ImportSummary")
                || v.get("importCount").is_some()
        };
        let summary = match body.get("response") {
            Some(inner) if looks_like(inner) => inner,
            _ if looks_like(body) => body,
            _ => return None,
        };
        serde_json::from_value(summary.clone()).ok()
    }

    /// Whether DHIS2 refused anything (conflicts, or the status `ERROR`).
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty() && !self.status.eq_ignore_ascii_case("ERROR")
    }

    /// Values refused: the rejected indexes, else the conflicts' values.
    pub fn rejected(&self) -> usize {
        if self.rejected_indexes.is_empty() {
            self.conflicts.iter().map(Conflict::values).sum()
        } else {
            self.rejected_indexes.len()
        }
    }
}

/// What an operator should do about a common conflict code.
pub fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "E7641" => {
            "period after the data set's open future periods: raise openFuturePeriods of the data set"
        }
        "E7619" => "the value does not fit the data element's value type",
        "E7610" => "data element not found or not accessible to this account",
        "E7612" => "org unit not found or not accessible to this account",
        "E7617" => "org unit outside the account's data capture hierarchy",
        "E7633" => "data element not in a data set: add it to one",
        "E7636" => "data element not assigned to the org unit through a data set",
        _ => return None,
    })
}

/// Conflicts of one code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConflictGroup {
    /// Values concerned.
    pub values: usize,
    /// A few of DHIS2's messages (with the object), distinct.
    pub examples: Vec<String>,
}

/// Examples kept per code.
pub const EXAMPLES_PER_CODE: usize = 3;

/// Conflicts by code (`(no code)` for servers that send none), counted in values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConflictGroups(pub BTreeMap<String, ConflictGroup>);

/// The label of conflicts without an `errorCode`.
pub const NO_CODE: &str = "(no code)";

impl ConflictGroups {
    /// Adds a summary's conflicts.
    pub fn add(&mut self, conflicts: &[Conflict]) {
        for c in conflicts {
            let code = c.error_code.clone().unwrap_or_else(|| NO_CODE.into());
            let group = self.0.entry(code).or_default();
            group.values += c.values();
            let example = match (&c.object, &c.value) {
                (Some(o), Some(v)) if !v.contains(o.as_str()) => format!("{o}: {v}"),
                (_, Some(v)) => v.clone(),
                (Some(o), None) => o.clone(),
                (None, None) => continue,
            };
            if group.examples.len() < EXAMPLES_PER_CODE && !group.examples.contains(&example) {
                group.examples.push(example);
            }
        }
    }

    /// No conflict at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Values concerned, over every code.
    pub fn values(&self) -> usize {
        self.0.values().map(|g| g.values).sum()
    }

    /// One line per code: `E7641 x3 (hint) e.g. "…"; "…"`.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(code, group)| {
                let mut line = format!("{code} x{}", group.values);
                if let Some(hint) = hint(code) {
                    line.push_str(&format!(" ({hint})"));
                }
                if !group.examples.is_empty() {
                    let examples: Vec<String> = group
                        .examples
                        .iter()
                        .map(|e| format!("\"{}\"", one_line(e)))
                        .collect();
                    line.push_str(&format!(", e.g. {}", examples.join("; ")));
                }
                line
            })
            .collect()
    }
}

/// Text from DHIS2 or chap on one line (control characters blanked), cut to 200 characters.
pub fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 200 {
        format!("{}…", flat.chars().take(200).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conflict(code: Option<&str>, object: &str, indexes: &[usize]) -> Value {
        let mut c = json!({
            "object": object,
            "value": format!("Period: `202612` is after latest open future period: `202609` for data element: `{object}`"),
            "property": "period",
            "indexes": indexes,
        });
        if let Some(code) = code {
            c["errorCode"] = json!(code);
        }
        c
    }

    #[test]
    fn a_wrapped_summary_with_conflicts_is_read_whatever_the_http_status() {
        let body = json!({
            "httpStatus": "Conflict", "httpStatusCode": 409, "status": "WARNING",
            "message": "One more conflicts encountered, please check import summary.",
            "response": {
                "responseType": "ImportSummary", "status": "WARNING",
                "importCount": { "imported": 10, "updated": 2, "ignored": 3, "deleted": 0 },
                "conflicts": [conflict(Some("E7641"), "DE1", &[1, 2, 3])],
                "rejectedIndexes": [1, 2, 3]
            }
        });
        let s = ImportSummary::from_body(&body).unwrap();
        assert!(!s.is_clean());
        assert_eq!(s.import_count.written(), 12);
        assert_eq!(s.rejected(), 3);
        let mut groups = ConflictGroups::default();
        groups.add(&s.conflicts);
        assert_eq!(groups.values(), 3);
        let lines = groups.lines();
        assert!(
            lines[0].starts_with("E7641 x3 (period after the data set's open future periods: raise openFuturePeriods"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_top_level_summary_without_codes_is_judged_by_its_conflicts() {
        let body = json!({
            "responseType": "ImportSummary", "status": "SUCCESS",
            "importCount": { "imported": 5, "updated": 0, "ignored": 1, "deleted": 0 },
            "conflicts": [conflict(None, "DE1", &[])]
        });
        let s = ImportSummary::from_body(&body).unwrap();
        assert!(!s.is_clean(), "a conflict fails even under SUCCESS");
        assert_eq!(s.rejected(), 1);
        let mut groups = ConflictGroups::default();
        groups.add(&s.conflicts);
        assert_eq!(groups.0[NO_CODE].values, 1);
        assert!(groups.lines()[0].starts_with("(no code) x1, e.g."));
    }

    #[test]
    fn clean_summaries_and_bodies_that_are_no_summary() {
        let ok = json!({ "httpStatus": "OK", "response": {
            "responseType": "ImportSummary", "status": "SUCCESS",
            "importCount": { "imported": 3 }, "conflicts": [] } });
        assert!(ImportSummary::from_body(&ok).unwrap().is_clean());
        let error = json!({ "status": "ERROR", "importCount": {}, "description": "The import process failed" });
        assert!(!ImportSummary::from_body(&error).unwrap().is_clean());
        assert!(
            ImportSummary::from_body(&json!({ "httpStatus": "Conflict", "message": "x" }))
                .is_none()
        );
    }

    #[test]
    fn groups_keep_a_few_distinct_examples_per_code_and_unknown_codes_verbatim() {
        let conflicts: Vec<Conflict> = (0..6)
            .map(|i| {
                serde_json::from_value(conflict(Some("E7999"), &format!("DE{}", i % 4), &[i]))
                    .unwrap()
            })
            .collect();
        let mut groups = ConflictGroups::default();
        groups.add(&conflicts);
        assert_eq!(groups.0["E7999"].values, 6);
        assert_eq!(groups.0["E7999"].examples.len(), EXAMPLES_PER_CODE);
        assert!(groups.lines()[0].starts_with("E7999 x6, e.g."));
        assert!(hint("E7999").is_none());
    }
}
