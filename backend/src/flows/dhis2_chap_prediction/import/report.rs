//! What the run report shows of an import (issue 11 §1): a **DHIS2 import** block per setup (mode,
//! values sent, DHIS2's counts, what was left out and why, the data elements by name, conflicts
//! grouped by code) and a run-level total.

use std::collections::BTreeMap;

use super::super::params::ImportMode;
use super::super::report::thousands;
use super::summary::{one_line, ConflictGroups, ImportCount};
use super::values::LeftOut;

/// One setup's import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// `dry_run` or `import`.
    pub mode: ImportMode,
    /// The targets' data elements by name.
    pub elements: Vec<String>,
    /// Values built from the forecast (what the dry run checks).
    pub values: usize,
    /// Cells not sent, by reason.
    pub left_out: BTreeMap<LeftOut, usize>,
    /// Targets that could not be read or had no values, the indicator's warnings.
    pub notes: Vec<String>,
    /// `POST /api/dataValueSets` requests answered (dry runs and imports).
    pub requests: usize,
    /// What DHIS2 said it would do, over the dry run's batches.
    pub dry_run: ImportCount,
    /// What DHIS2 did, over the import's batches (`None` until a batch was imported).
    pub imported: Option<ImportCount>,
    /// Values of the import DHIS2 refused (conflicts in a real batch).
    pub refused: usize,
    /// Refused values by code.
    pub conflicts: ConflictGroups,
    /// Whether the conflicts came from the dry run (then nothing was written).
    pub conflicts_in_dry_run: bool,
    /// Values never sent because a batch failed.
    pub not_sent: usize,
    /// Why the import failed, when it did.
    pub error: Option<String>,
    /// chap's seasonal thresholds, when the outbreak indicator fetched them (the forecast artifact
    /// shows them).
    pub thresholds: Option<super::values::Thresholds>,
}

impl ImportReport {
    /// An empty report for `mode`.
    pub fn new(mode: ImportMode) -> Self {
        ImportReport {
            mode,
            elements: Vec::new(),
            values: 0,
            left_out: BTreeMap::new(),
            notes: Vec::new(),
            requests: 0,
            dry_run: ImportCount::default(),
            imported: None,
            refused: 0,
            conflicts: ConflictGroups::default(),
            conflicts_in_dry_run: false,
            not_sent: 0,
            error: None,
            thresholds: None,
        }
    }

    /// Cells left out, over every reason.
    pub fn left_out_total(&self) -> usize {
        self.left_out.values().sum()
    }
}

fn counts(c: &ImportCount) -> String {
    format!(
        "imported {}, updated {}, ignored {}",
        thousands(c.imported as usize),
        thousands(c.updated as usize),
        thousands(c.ignored as usize)
    )
}

fn requests(n: usize) -> String {
    if n == 1 {
        "1 request".into()
    } else {
        format!("{n} requests")
    }
}

/// The headline of a setup's import.
fn headline(r: &ImportReport) -> String {
    let values = thousands(r.values);
    if r.conflicts_in_dry_run {
        return format!(
            "FAILED in the dry run -- {} of {values} values refused by DHIS2; nothing was written ({})",
            thousands(r.conflicts.values()),
            requests(r.requests)
        );
    }
    if let (Some(error), None, 0) = (&r.error, &r.imported, r.requests) {
        return format!("FAILED -- {}; nothing was sent", one_line(error));
    }
    if let Some(error) = &r.error {
        let written = r.imported.map_or(0, |c| c.written()) as usize;
        let mut line = format!(
            "FAILED -- {error}; {} of {values} values written",
            thousands(written)
        );
        if let Some(c) = &r.imported {
            line.push_str(&format!(" ({})", counts(c)));
        }
        if r.refused > 0 {
            line.push_str(&format!(", {} refused", thousands(r.refused)));
        }
        if r.not_sent > 0 {
            line.push_str(&format!(", {} not sent", thousands(r.not_sent)));
        }
        return format!("{line} ({})", requests(r.requests));
    }
    match (r.mode, &r.imported) {
        (ImportMode::Import, Some(c)) => format!(
            "import -- {values} values sent after a clean dry run; {} ({})",
            counts(c),
            requests(r.requests)
        ),
        (ImportMode::Import, None) if r.values == 0 => "import -- no values to send".into(),
        _ => format!(
            "dry run -- {values} values checked, nothing written; DHIS2 would have {} ({})",
            counts(&r.dry_run),
            requests(r.requests)
        ),
    }
}

/// The `- **DHIS2 import:** …` block of a setup.
pub fn render_import(lines: &mut Vec<String>, r: &ImportReport) {
    lines.push(format!("- **DHIS2 import:** {}", headline(r)));
    if !r.left_out.is_empty() {
        let parts: Vec<String> = r
            .left_out
            .iter()
            .map(|(why, n)| format!("{} {why}", thousands(*n)))
            .collect();
        lines.push(format!(
            "  - Left out: {} ({})",
            thousands(r.left_out_total()),
            parts.join("; ")
        ));
    }
    if !r.elements.is_empty() {
        let names: Vec<String> = r.elements.iter().map(|n| one_line(n)).collect();
        lines.push(format!("  - Data elements: {}", names.join(", ")));
    }
    for line in r.conflicts.lines() {
        lines.push(format!("  - Conflicts: {line}"));
    }
    for note in &r.notes {
        lines.push(format!("  - Note: {}", one_line(note)));
    }
}

/// The run-level `## DHIS2 import` section, when any setup imported or tried to.
pub fn render_total<'a>(
    lines: &mut Vec<String>,
    reports: impl IntoIterator<Item = &'a ImportReport>,
) {
    let reports: Vec<&ImportReport> = reports.into_iter().collect();
    let Some(first) = reports.first() else {
        return;
    };
    let mut total = ImportCount::default();
    let mut dry = ImportCount::default();
    let (mut values, mut left_out, mut failed, mut requests_made) = (0, 0, 0, 0);
    for r in &reports {
        values += r.values;
        left_out += r.left_out_total();
        requests_made += r.requests;
        dry += r.dry_run;
        if let Some(c) = r.imported {
            total += c;
        }
        if r.error.is_some() || r.conflicts_in_dry_run {
            failed += 1;
        }
    }
    let setups = if reports.len() == 1 {
        "1 setup".to_string()
    } else {
        format!("{} setups", reports.len())
    };
    let mut line = match first.mode {
        ImportMode::Import => format!(
            "**{}** -- {setups}: {} values; {}; {} left out ({})",
            "IMPORT",
            thousands(values),
            counts(&total),
            thousands(left_out),
            requests(requests_made)
        ),
        _ => format!(
            "**{}** -- {setups}: {} values checked, nothing written; DHIS2 would have {}; {} left out ({})",
            "DRY RUN",
            thousands(values),
            counts(&dry),
            thousands(left_out),
            requests(requests_made)
        ),
    };
    if failed > 0 {
        line.push_str(&format!("; {failed} failed"));
    }
    lines.extend(["## DHIS2 import".into(), String::new(), line, String::new()]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use super::super::summary::Conflict;

    fn report(mode: ImportMode) -> ImportReport {
        ImportReport {
            values: 15_000,
            requests: 4,
            elements: vec!["Cases (median)".into(), "Cases (high)".into()],
            dry_run: ImportCount {
                imported: 15_000,
                ..ImportCount::default()
            },
            ..ImportReport::new(mode)
        }
    }

    fn render(r: &ImportReport) -> Vec<String> {
        let mut lines = Vec::new();
        render_import(&mut lines, r);
        lines
    }

    #[test]
    fn a_clean_import_shows_values_counts_and_elements() {
        let mut r = report(ImportMode::Import);
        r.imported = Some(ImportCount {
            imported: 14_990,
            updated: 10,
            ..ImportCount::default()
        });
        r.left_out.insert(LeftOut::ZeroNotSignificant, 7);
        assert_eq!(
            render(&r),
            vec![
                "- **DHIS2 import:** import -- 15,000 values sent after a clean dry run; imported 14,990, updated 10, ignored 0 (4 requests)",
                "  - Left out: 7 (7 zeros into elements where zero is not significant)",
                "  - Data elements: Cases (median), Cases (high)",
            ]
        );
        let mut total = Vec::new();
        render_total(&mut total, [&r]);
        assert_eq!(
            total[2],
            "**IMPORT** -- 1 setup: 15,000 values; imported 14,990, updated 10, ignored 0; 7 left out (4 requests)"
        );
    }

    #[test]
    fn a_dry_run_with_conflicts_says_nothing_was_written_and_groups_them() {
        let mut r = report(ImportMode::Import);
        r.requests = 2;
        r.conflicts_in_dry_run = true;
        let conflict: Conflict = serde_json::from_value(json!({
            "object": "202612", "value": "Period: `202612` is after latest open future period: `202609`",
            "errorCode": "E7641", "indexes": [1, 2]
        }))
        .unwrap();
        r.conflicts.add(&[conflict]);
        let lines = render(&r);
        assert_eq!(
            lines[0],
            "- **DHIS2 import:** FAILED in the dry run -- 2 of 15,000 values refused by DHIS2; nothing was written (2 requests)"
        );
        assert!(lines[2].starts_with("  - Conflicts: E7641 x2 (period after the data set's open future periods: raise openFuturePeriods of the data set), e.g."), "{lines:?}");
    }

    #[test]
    fn a_failed_batch_says_what_was_written_and_what_was_not_sent() {
        let mut r = report(ImportMode::Import);
        r.imported = Some(ImportCount {
            imported: 10_000,
            ..ImportCount::default()
        });
        r.not_sent = 5_000;
        r.error = Some("Dhis2HttpError: HTTP 500".into());
        assert_eq!(
            render(&r)[0],
            "- **DHIS2 import:** FAILED -- Dhis2HttpError: HTTP 500; 10,000 of 15,000 values written (imported 10,000, updated 0, ignored 0), 5,000 not sent (4 requests)"
        );
    }

    #[test]
    fn names_and_notes_from_dhis2_or_chap_stay_on_one_line() {
        let mut r = report(ImportMode::DryRun);
        r.elements = vec!["Cases\n## injected".into()];
        r.notes = vec!["target 'a\rb' left out".into()];
        let lines = render(&r);
        assert_eq!(lines[1], "  - Data elements: Cases ## injected");
        assert_eq!(lines[2], "  - Note: target 'a b' left out");
    }

    #[test]
    fn a_dry_run_shows_what_dhis2_would_do() {
        let r = report(ImportMode::DryRun);
        assert_eq!(
            render(&r)[0],
            "- **DHIS2 import:** dry run -- 15,000 values checked, nothing written; DHIS2 would have imported 15,000, updated 0, ignored 0 (4 requests)"
        );
        let mut total = Vec::new();
        render_total(&mut total, std::iter::empty());
        assert!(total.is_empty());
    }
}
