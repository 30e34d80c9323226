//! Which listed setups a run processes (reference §2.3 step 6) and the operator's listing block (§2.8).
//!
//! Decisions where the reference is ambiguous:
//! - A listing element that could not be read (decision 2) is processed like an enabled setup: it
//!   fails at `read_prediction_setup` in its listing position. `prediction_setup_id` matches it by id.
//! - The "not found" message lists the readable ids, sorted, like Python's list repr: `[1, 2]`.

use super::model::{PredictionSetup, SetupListing};
use super::report::{ReportEntry, Step};

/// Why a disabled setup is not run.
pub const DISABLED_REASON: &str = "schedule_enabled=false";

/// The setups of a run: skipped ones (reported first) and those to run, in chap's listing order.
#[derive(Debug)]
pub struct Selection {
    /// Entries of setups not run, and failed entries of asked-for ids chap does not list.
    pub skipped: Vec<ReportEntry>,
    /// Setups to run.
    pub to_run: Vec<SetupListing>,
}

fn listing_id(item: &SetupListing) -> Option<i64> {
    match item {
        Ok(setup) => Some(setup.id),
        Err(invalid) => invalid.id,
    }
}

/// The requested ids as the parameter spelled them, for messages.
fn requested(ids: &[i64]) -> String {
    match ids {
        [id] => format!("prediction_setup_id={id}"),
        _ => format!(
            "prediction_setup_ids=[{}]",
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Applies `prediction_setup_ids` (which also override `scheduleEnabled=false`) or skips disabled
/// setups. Asked-for ids chap does not list fail (a report entry each) when some others are found;
/// when none is, the listing fails as a whole.
pub fn select_setups(
    listing: Vec<SetupListing>,
    only: Option<&[i64]>,
) -> Result<Selection, String> {
    if let Some(wanted) = only {
        let mut ids: Vec<i64> = listing.iter().filter_map(listing_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let available = ids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let to_run: Vec<SetupListing> = listing
            .into_iter()
            .filter(|item| listing_id(item).is_some_and(|id| wanted.contains(&id)))
            .collect();
        let missing: Vec<i64> = wanted
            .iter()
            .copied()
            .filter(|id| ids.binary_search(id).is_err())
            .collect();
        if to_run.is_empty() {
            return Err(format!(
                "{} not found; available ids: [{available}]",
                requested(wanted)
            ));
        }
        let skipped = missing
            .into_iter()
            .map(|id| {
                let mut entry = ReportEntry::new(format!("setup {id}"), "?");
                entry.setup_id = Some(id);
                entry.fail(
                    Step::ReadSetup,
                    Some(format!(
                        "ValueError: prediction setup {id} is not in chap's listing; available ids: \
                         [{available}]"
                    )),
                    None,
                );
                entry
            })
            .collect();
        return Ok(Selection { skipped, to_run });
    }
    let mut selection = Selection {
        skipped: Vec::new(),
        to_run: Vec::new(),
    };
    for item in listing {
        match &item {
            Ok(setup) if !setup.schedule_enabled => {
                let mut entry = ReportEntry::skipped(
                    &setup.name,
                    &setup.configured_model.name,
                    DISABLED_REASON,
                );
                entry.setup_id = Some(setup.id);
                selection.skipped.push(entry);
            }
            _ => selection.to_run.push(item),
        }
    }
    Ok(selection)
}

/// The operator log lines describing chap's setup listing.
pub fn describe_listing(listing: &[SetupListing]) -> Vec<String> {
    let mut lines = vec![format!("chap lists {} prediction setup(s):", listing.len())];
    for item in listing {
        match item {
            Ok(setup) => lines.extend(describe_setup(setup)),
            Err(invalid) => lines.push(format!(
                "  - {} (id {}): unreadable -- {}",
                invalid.name.as_deref().unwrap_or("(unnamed)"),
                invalid
                    .id
                    .map_or_else(|| "?".to_string(), |id| id.to_string()),
                invalid.reason
            )),
        }
    }
    lines
}

fn describe_setup(setup: &PredictionSetup) -> Vec<String> {
    let template = &setup.configured_model.model_template;
    let covariates = setup.covariates();
    let covariates = if covariates.is_empty() {
        "(none)".to_string()
    } else {
        covariates.join(", ")
    };
    vec![
        format!("  - {} (id {})", setup.name, setup.id),
        format!(
            "      model            : {} ({})",
            setup.configured_model.name, template.display_name
        ),
        format!("      target           : {}", template.target),
        format!(
            "      period type      : {}",
            setup.period_type.as_deref().unwrap_or("(none)")
        ),
        format!(
            "      start period     : {}",
            setup.start_period.as_deref().unwrap_or("(none)")
        ),
        format!("      covariates       : {covariates}"),
        format!("      org units        : {}", setup.org_units.len()),
        format!("      covariate sources: {}", setup.covariate_sources.len()),
        format!(
            "      schedule enabled : {}",
            if setup.schedule_enabled { "yes" } else { "no" }
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::dhis2_chap_prediction::model::parse_setup_listing;
    use crate::flows::dhis2_chap_prediction::report::EntryStatus;
    use serde_json::{json, Value};

    fn setup(id: i64, name: &str, enabled: bool) -> Value {
        json!({
            "id": id, "name": name, "backtestId": 7,
            "configuredModel": { "id": 12, "name": "chapkit-ewars-model",
                "modelTemplate": { "name": "chapkit-ewars-model", "displayName": "CHAP-EWARS",
                    "target": "disease_cases", "supportedPeriodType": "month",
                    "requiredCovariates": ["population"] } },
            "startPeriod": "202301", "orgUnits": ["OU1"], "periodType": "month",
            "covariateSources": [{ "covariate": "population", "dataElementId": "POP1" }],
            "scheduleEnabled": enabled
        })
    }

    fn listing(items: Vec<Value>) -> Vec<SetupListing> {
        parse_setup_listing(Value::Array(items)).unwrap()
    }

    fn names(to_run: &[SetupListing]) -> Vec<String> {
        to_run
            .iter()
            .map(|s| s.as_ref().map_or("?".into(), |s| s.name.clone()))
            .collect()
    }

    #[test]
    fn without_a_filter_every_enabled_setup_runs_and_disabled_ones_are_skipped() {
        let s = select_setups(
            listing(vec![
                setup(1, "alpha", true),
                setup(2, "beta-disabled", false),
                setup(3, "gamma", true),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(names(&s.to_run), ["alpha", "gamma"]);
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.skipped[0].name, "beta-disabled");
        assert_eq!(s.skipped[0].status, EntryStatus::Skipped);
        assert_eq!(s.skipped[0].skip_reason.as_deref(), Some(DISABLED_REASON));
    }

    #[test]
    fn a_setup_id_runs_that_setup_even_when_disabled() {
        let s = select_setups(
            listing(vec![
                setup(1, "alpha", true),
                setup(2, "beta-disabled", false),
            ]),
            Some(&[2]),
        )
        .unwrap();
        assert_eq!(names(&s.to_run), ["beta-disabled"]);
        assert!(s.skipped.is_empty());
    }

    #[test]
    fn an_unknown_setup_id_names_the_available_ids() {
        let err = select_setups(
            listing(vec![setup(2, "beta", true), setup(1, "alpha", true)]),
            Some(&[999]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "prediction_setup_id=999 not found; available ids: [1, 2]"
        );
        let err = select_setups(listing(vec![setup(1, "alpha", true)]), Some(&[7, 8])).unwrap_err();
        assert_eq!(
            err,
            "prediction_setup_ids=[7, 8] not found; available ids: [1]"
        );
    }

    #[test]
    fn several_ids_run_in_listing_order_and_an_unknown_one_fails_alone() {
        let s = select_setups(
            listing(vec![
                setup(1, "alpha", true),
                setup(2, "beta-disabled", false),
                setup(3, "gamma", true),
            ]),
            Some(&[3, 9, 2]),
        )
        .unwrap();
        assert_eq!(names(&s.to_run), ["beta-disabled", "gamma"]);
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.skipped[0].status, EntryStatus::Failed);
        assert_eq!(s.skipped[0].setup_id, Some(9));
        assert_eq!(
            s.skipped[0].step_failed.as_deref(),
            Some("read_prediction_setup")
        );
        assert!(s.skipped[0]
            .error
            .as_deref()
            .unwrap()
            .contains("prediction setup 9 is not in chap's listing; available ids: [1, 2, 3]"));
    }

    #[test]
    fn an_unreadable_setup_is_run_in_place_so_it_fails_alone() {
        let mut bad = setup(2, "broken", false);
        bad["configuredModel"] = json!(null);
        let s = select_setups(
            listing(vec![setup(1, "alpha", true), bad, setup(3, "gamma", true)]),
            None,
        )
        .unwrap();
        assert_eq!(s.to_run.len(), 3);
        assert!(s.to_run[1].is_err());
        let lines = describe_listing(&listing(vec![setup(1, "alpha", true)]));
        assert_eq!(lines[0], "chap lists 1 prediction setup(s):");
        assert!(lines
            .iter()
            .any(|l| l.contains("covariates       : population")));
    }
}
