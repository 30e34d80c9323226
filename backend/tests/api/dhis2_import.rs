//! Forecasts into DHIS2 (`import_to_dhis2`, issue 11 §1), end to end against the simulator: every
//! spelling of the quantile targets, the outbreak indicator, rounding and values left out, a refused
//! data element, dry runs that write nothing, conflicts in both summary formats, a 5xx on a batch, and
//! a national-scale import in batches. What DHIS2 stored is read back from the simulator.

use std::collections::BTreeMap;

use dhis2_sim::{
    CategoryCombo, Cell, DataElement, DataSet, EndpointGroup, EntryOverride, ErrorAnswer, Fault,
    ImportSummaryFormat, PredictionSetup, Scenario, SetupBehaviour, ValueType,
};
use serde_json::{json, Value};

use crate::prediction::{step, steps, world, World};

const FORECAST: [&str; 3] = ["202605", "202606", "202607"];

/// The fixture (setup 1 "test" over OU1 and OU2, today 2026-05-07: forecasts 202605..202607) with
/// the setup's quantile targets, their data elements and a monthly data set open 3 months ahead.
fn scenario(targets: Value, elements: &[DataElement]) -> Scenario {
    let mut s = Scenario::fixture();
    s.prediction_setups[0].setup = s.prediction_setups[0]
        .setup
        .clone()
        .quantile_targets(targets);
    let ids: Vec<String> = elements.iter().map(|e| e.id.clone()).collect();
    for e in elements {
        s = s.data_element(e.clone());
    }
    s.data_set(DataSet::monthly("DsForecast", "Forecasts", 3, ids))
}

fn number(id: &str, name: &str) -> DataElement {
    DataElement::new(id, name)
}

fn import(mode: &str) -> Value {
    json!({ "import_to_dhis2": mode })
}

/// The prediction id the report names for the first setup.
fn prediction_id(report: &str) -> i64 {
    let line = report
        .lines()
        .find(|l| l.starts_with("- Prediction: `"))
        .unwrap_or_else(|| panic!("no prediction in {report}"));
    line.trim_start_matches("- Prediction: `")
        .trim_end_matches('`')
        .parse()
        .unwrap()
}

/// chap's prediction entries (org unit, period, quantile) → value, read from the simulator.
pub(crate) async fn entries(
    w: &World,
    prediction: i64,
) -> BTreeMap<(String, String, String), Option<f64>> {
    let url = format!(
        "{}/api/routes/chap/run/v1/analytics/prediction-entry/{prediction}?quantiles=0.1&quantiles=0.25&quantiles=0.5&quantiles=0.75&quantiles=0.9",
        w.sim.base_url()
    );
    let list: Vec<Value> = reqwest::Client::new()
        .get(url)
        .basic_auth(w.sim.username(), Some(w.sim.password()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.iter()
        .map(|e| {
            let key = (
                e["orgUnit"].as_str().unwrap().to_string(),
                e["period"].as_str().unwrap().to_string(),
                e["quantile"].as_f64().unwrap().to_string(),
            );
            (key, e["value"].as_f64())
        })
        .collect()
}

fn entry(
    entries: &BTreeMap<(String, String, String), Option<f64>>,
    ou: &str,
    pe: &str,
    q: f64,
) -> f64 {
    entries[&(ou.to_string(), pe.to_string(), q.to_string())].unwrap()
}

/// What the simulator stored for an element, by (org unit, period).
fn stored(w: &World, element: &str) -> BTreeMap<(String, String), String> {
    w.sim
        .data_values()
        .into_iter()
        .filter(|v| v.data_element == element)
        .map(|v| ((v.org_unit, v.period), v.value))
        .collect()
}

#[tokio::test]
async fn every_spelling_of_the_targets_lands_in_dhis2_with_the_forecasts_values() {
    // The object form with numeric and named keys, on the fixture's setup.
    let elements = [
        number("MED", "Cases (median)"),
        number("LOW", "Cases (low)"),
        number("HIGH", "Cases (high)"),
        number("Q25", "Cases (q25)"),
        number("Q75", "Cases (q75)"),
    ];
    let mut s = scenario(
        json!({ "0.5": "MED", "quantile_low": "LOW", "quantile_high": "HIGH" }),
        &elements,
    );
    // The list form with a number, a numeric string and a name, on a second setup over OU2.
    let gamma = PredictionSetup::new(3, "gamma")
        .org_units(["OU2"])
        .source("population", "POP1")
        .source("rainfall", "RAIN1")
        .quantile_targets(json!([
            { "quantile": 0.25, "dataElementId": "Q25" },
            { "quantile": "0.75", "dataElementId": "Q75" },
            { "quantile": "quantile_mid_low", "dataElementId": "Q25" },
        ]));
    s = s.setup(gamma);
    let w = world(s, &[]).await;
    let run = w.run(import("import")).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(run["summary"]["succeeded"], 2, "{run}");
    let report = w.report(&run).await;
    let values = entries(&w, prediction_id(&report)).await;
    for (element, q) in [("MED", 0.5), ("LOW", 0.1), ("HIGH", 0.9)] {
        let got = stored(&w, element);
        assert_eq!(got.len(), 6, "{element}: {got:?}");
        for ou in ["OU1", "OU2"] {
            for pe in FORECAST {
                let text = &got[&(ou.to_string(), pe.to_string())];
                assert!(!text.ends_with(".0"), "{text}");
                assert_eq!(text.parse::<f64>().unwrap(), entry(&values, ou, pe, q));
            }
        }
    }
    // gamma: 0.25 and 0.75 over OU2, and quantile_mid_low (0.25 again) into Q25 a second time.
    assert_eq!(stored(&w, "Q25").len(), 3);
    assert_eq!(stored(&w, "Q75").len(), 3);
    assert!(
        report.contains("- **DHIS2 import:** import -- 18 values sent after a clean dry run; imported 18, updated 0, ignored 0 (2 requests)"),
        "{report}"
    );
    assert!(report.contains("  - Data elements: Cases (median), Cases (high), Cases (low)"));
    assert!(report.contains("## DHIS2 import"), "{report}");
    assert!(
        report.contains("**IMPORT** -- 2 setups: 27 values;"),
        "{report}"
    );
    let imports = w.sim.imports();
    assert_eq!(
        imports.iter().map(|i| i.dry_run).collect::<Vec<_>>(),
        [true, false, true, false],
        "a dry run before each setup's import"
    );
    assert!(imports
        .iter()
        .all(|i| i.import_strategy.as_str() == "CREATE_AND_UPDATE"));

    // The same run again updates the same cells; nothing is created twice or deleted.
    let again = w.run(import("import")).await;
    assert_eq!(again["state"], "COMPLETED", "{again}");
    // 27 values sent per run, 24 cells: gamma's two 0.25 targets write the same Q25 cells.
    assert_eq!(w.sim.data_values().len(), 24);
    assert!(w.sim.imports().iter().all(|i| i.import_count.deleted == 0));
}

#[tokio::test]
async fn the_outbreak_indicator_compares_the_quantile_with_chaps_threshold_cell_by_cell() {
    let elements = [
        number("MED", "Cases (median)"),
        DataElement::new("ALERT", "Outbreak alert").value_type(ValueType::Boolean),
    ];
    let mut s = scenario(
        json!({ "median": "MED", "outbreak_indicator": "ALERT" }),
        &elements,
    );
    s.prediction_setups[0].sim.threshold_missing = vec![Cell {
        org_unit: "OU1".into(),
        period: "202606".into(),
    }];
    s.prediction_setups[0].sim.threshold_null = vec![Cell {
        org_unit: "OU2".into(),
        period: "202607".into(),
    }];
    let w = world(s, &[]).await;
    // outbreak_probability 0.75 (default): the indicator compares quantile 0.25.
    let run = w.run(import("import")).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let report = w.report(&run).await;
    let prediction = prediction_id(&report);
    let values = entries(&w, prediction).await;
    let dataset = w
        .sim
        .dataset_id(prediction)
        .expect("the prediction's dataset");
    let thresholds = w
        .sim
        .thresholds_for(dataset, &FORECAST, &["OU1", "OU2"])
        .unwrap();
    // The run's forecast shows the same thresholds (none where chap had none).
    let forecasts = crate::helpers::body(
        w.app
            .get(
                &format!("/api/v1/runs/{}/forecasts", run["id"].as_str().unwrap()),
                &w.token,
            )
            .await,
    )
    .await;
    let shown = &forecasts[0]["forecast"];
    for t in &thresholds {
        let p = shown["forecast_periods"]
            .as_array()
            .unwrap()
            .iter()
            .position(|p| p == t.period.as_str())
            .unwrap();
        assert_eq!(
            shown["thresholds"][&t.location][p].as_f64(),
            t.value,
            "{} {}",
            t.location,
            t.period
        );
    }
    assert!(shown["thresholds"]["OU1"][0].is_null() || shown["forecast_periods"][0] != "202606");
    let alerts = stored(&w, "ALERT");
    let (mut raised, mut lowered) = (0, 0);
    for t in &thresholds {
        let key = (t.location.clone(), t.period.clone());
        match t.value {
            Some(threshold) => {
                let expected = entry(&values, &t.location, &t.period, 0.25) >= threshold;
                assert_eq!(alerts[&key], expected.to_string(), "{key:?}");
                if expected {
                    raised += 1
                } else {
                    lowered += 1
                }
            }
            None => assert!(!alerts.contains_key(&key), "null threshold: {key:?}"),
        }
    }
    assert!(!alerts.contains_key(&("OU1".to_string(), "202606".to_string())));
    assert_eq!(
        alerts.len(),
        4,
        "6 cells less a missing and a null threshold"
    );
    assert_eq!(raised + lowered, 4);
    assert!(
        report.contains("2 no seasonal threshold from chap"),
        "{report}"
    );
    assert_eq!(stored(&w, "MED").len(), 6);

    // A dataset chap cannot compute thresholds for: the indicator is left out with a note, the
    // quantiles are still imported.
    w.sim.clear_data_values();
    w.sim.update_behaviour(1, |b| {
        b.thresholds = Some(ErrorAnswer {
            status: 400,
            body: json!({ "detail": "Dataset has no disease_cases" }),
        })
    });
    let run = w.run(import("import")).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let report = w.report(&run).await;
    assert!(stored(&w, "ALERT").is_empty());
    assert_eq!(stored(&w, "MED").len(), 6);
    assert!(
        report.contains("  - Note: outbreak indicator left out: chap gave no seasonal thresholds (ChapHttpError:"),
        "{report}"
    );
    assert!(report.contains("Dataset has no disease_cases"), "{report}");
}

#[tokio::test]
async fn integers_are_rounded_and_values_dhis2_would_refuse_or_delete_are_left_out() {
    let cases =
        DataElement::new("CASES", "Predicted cases").value_type(ValueType::IntegerZeroOrPositive);
    let mut s = scenario(
        json!([{ "quantile": "median", "dataElementId": "CASES" }]),
        &[cases],
    );
    let over = |ou: &str, pe: &str, value: Option<f64>| EntryOverride {
        org_unit: ou.into(),
        period: Some(pe.into()),
        quantile: Some(0.5),
        value,
    };
    s.prediction_setups[0].sim.entry_overrides = vec![
        over("OU1", "202605", Some(12.5)),
        over("OU1", "202606", Some(-3.0)),
        over("OU1", "202607", Some(7.0)),
        over("OU2", "202605", Some(0.2)),
        over("OU2", "202606", None),
        over("OU2", "202607", Some(-0.4)),
    ];
    // A value stored before: a zero sent into it would make DHIS2 delete it.
    s = s.data_value("CASES", "202605", "OU2", "7");
    let w = world(s, &[]).await;
    let run = w.run(import("import")).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let got = stored(&w, "CASES");
    let cell = |ou: &str, pe: &str| got.get(&(ou.to_string(), pe.to_string())).cloned();
    assert_eq!(
        cell("OU1", "202605").as_deref(),
        Some("13"),
        "half away from zero"
    );
    assert_eq!(
        cell("OU1", "202607").as_deref(),
        Some("7"),
        "no decimal point"
    );
    assert_eq!(cell("OU1", "202606"), None, "negative left out");
    assert_eq!(
        cell("OU2", "202605").as_deref(),
        Some("7"),
        "the stored value is kept"
    );
    assert_eq!(cell("OU2", "202606"), None);
    assert_eq!(cell("OU2", "202607"), None);
    let report = w.report(&run).await;
    assert!(
        report.contains("  - Left out: 4 (2 zeros into elements where zero is not significant; 1 negative into INTEGER_ZERO_OR_POSITIVE; 1 no value from chap)"),
        "{report}"
    );
    let sent: Vec<String> = w.sim.imports()[1].body()["dataValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, ["13", "7"]);
}

#[tokio::test]
async fn an_element_with_a_category_combo_is_refused_by_name_and_nothing_is_sent() {
    let mut disaggregated = number("AGE", "Cases by age");
    disaggregated.category_combo = CategoryCombo {
        id: "CcAge".into(),
        name: "Age groups".into(),
    };
    let s = scenario(
        json!({ "median": "AGE", "quantile_high": "NOPE" }),
        &[disaggregated],
    );
    let w = world(s, &[]).await;
    let run = w.run(import("import")).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    let st = steps(&run);
    let (_, _, state, error) = step(&st, "Import forecast into DHIS2");
    assert_eq!(state, "FAILED");
    assert!(
        error.contains("'Cases by age' (AGE)") && error.contains("'Age groups'"),
        "{error}"
    );
    assert!(
        error.contains("'NOPE'") && error.contains("does not exist"),
        "{error}"
    );
    assert!(w.sim.imports().is_empty(), "nothing sent");
    let report = w.report(&run).await;
    assert!(
        report.contains("- **Status:** FAILED at `import_to_dhis2`"),
        "{report}"
    );
    assert!(
        report.contains("- Prediction: `"),
        "the prediction stays in chap: {report}"
    );
    assert!(report.contains("; nothing was sent"), "{report}");
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_says_what_dhis2_would_do() {
    let s = scenario(
        json!({ "median": "MED" }),
        &[number("MED", "Cases (median)")],
    );
    let w = world(s, &[]).await;
    let run = w.run(import("dry_run")).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert!(w.sim.data_values().is_empty());
    let imports = w.sim.imports();
    assert_eq!(imports.len(), 1);
    assert!(imports[0].dry_run);
    let report = w.report(&run).await;
    assert!(
        report.contains("- **DHIS2 import:** dry run -- 6 values checked, nothing written; DHIS2 would have imported 6, updated 0, ignored 0 (1 request)"),
        "{report}"
    );
    // off (the default) does not touch DHIS2 at all.
    let run = w.run(json!({})).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(w.sim.imports().len(), 1);
    assert_eq!(w.sim.count("GET", "/api/dataElements"), 1);
}

/// Runs an import into a data set open only one month ahead: 202607 is refused (E7641).
async fn conflicting_run(format: ImportSummaryFormat, codes: bool) -> (World, Value, String) {
    let mut s = scenario(
        json!({ "median": "MED" }),
        &[number("MED", "Cases (median)")],
    );
    s.data_sets[0].open_future_periods = 1;
    s.dhis2.import_summary = format;
    s.dhis2.conflict_error_codes = codes;
    let w = world(s, &[]).await;
    let run = w.run(import("import")).await;
    let report = w.report(&run).await;
    (w, run, report)
}

#[tokio::test]
async fn conflicts_in_the_dry_run_write_nothing_in_either_summary_format() {
    // DHIS2 2.38+: 409 with the summary under `response`.
    let (w, run, report) = conflicting_run(ImportSummaryFormat::Wrapped, true).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    assert_eq!(w.sim.imports().len(), 1, "the dry run only");
    assert_eq!(w.sim.imports()[0].status, 409);
    assert!(w.sim.data_values().is_empty());
    assert!(
        report.contains("- **DHIS2 import:** FAILED in the dry run -- 2 of 6 values refused by DHIS2; nothing was written (1 request)"),
        "{report}"
    );
    assert!(
        report.contains("  - Conflicts: E7641 x2 (period after the data set's open future periods: raise openFuturePeriods of the data set), e.g."),
        "{report}"
    );
    let st = steps(&run);
    let (_, _, _, error) = step(&st, "Import forecast into DHIS2");
    assert!(
        error.starts_with("ImportConflict: DHIS2 refused 2 of 6 values in the dry run"),
        "{error}"
    );

    // An older DHIS2: 200 with the summary at the top level and no error codes.
    let (w, run, report) = conflicting_run(ImportSummaryFormat::TopLevel, false).await;
    assert_eq!(run["state"], "FAILED", "{run}");
    assert_eq!(w.sim.imports()[0].status, 200);
    assert_eq!(w.sim.imports().len(), 1);
    assert!(w.sim.data_values().is_empty());
    assert!(
        report.contains("  - Conflicts: (no code) x2, e.g."),
        "{report}"
    );
}

#[tokio::test]
async fn a_5xx_on_an_import_batch_is_retried_and_the_totals_stay_right() {
    let mut s = scenario(
        json!({ "median": "MED" }),
        &[number("MED", "Cases (median)")],
    );
    // Batches of 4: two dry-run batches, then two import batches; the second import batch gets a
    // 502 once.
    s = s.fault(Fault {
        method: Some("POST".into()),
        skip: 3,
        ..Fault::next(EndpointGroup::DataValueSets, 1, 502)
    });
    let w = world(s, &[("CHAP_SCHEDULER_DHIS2_IMPORT_BATCH", "4")]).await;
    let run = w.run(import("import")).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(w.sim.count_status(EndpointGroup::DataValueSets, 502), 1);
    let imports = w.sim.imports();
    assert_eq!(
        imports
            .iter()
            .map(|i| (i.dry_run, i.values))
            .collect::<Vec<_>>(),
        [(true, 4), (true, 2), (false, 4), (false, 2)]
    );
    assert_eq!(stored(&w, "MED").len(), 6);
    let report = w.report(&run).await;
    assert!(
        report.contains("import -- 6 values sent after a clean dry run; imported 6, updated 0, ignored 0 (4 requests)"),
        "{report}"
    );
}

#[tokio::test]
async fn a_national_scale_forecast_is_imported_in_batches_with_every_value_present() {
    // 1,000 org units x 3 forecast months x 5 quantiles = 15,000 values.
    let scenario = Scenario::national_scale(1000, 13, 1);
    let targets = scenario.prediction_setups[0].setup.quantile_targets.clone();
    assert_eq!(targets.as_array().map(Vec::len), Some(5), "{targets}");
    let w = world(scenario, &[]).await;
    let run = w.run(import("import")).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    let imports = w.sim.imports();
    assert_eq!(
        imports
            .iter()
            .map(|i| (i.dry_run, i.values))
            .collect::<Vec<_>>(),
        [
            (true, 10_000),
            (true, 5_000),
            (false, 10_000),
            (false, 5_000)
        ]
    );
    assert_eq!(w.sim.data_values().len(), 15_000);
    let report = w.report(&run).await;
    assert!(
        report.contains("import -- 15,000 values sent after a clean dry run; imported 15,000, updated 0, ignored 0 (4 requests)"),
        "{report}"
    );
}

#[tokio::test]
async fn unreadable_targets_are_reported_and_a_quantile_chap_did_not_return_is_not_guessed() {
    let mut s = scenario(
        json!([
            { "quantile": "mean", "dataElementId": "MED" },
            { "quantile": 0.05, "dataElementId": "LOW" },
            { "quantile": 0.5, "dataElementId": "MED" },
        ]),
        &[number("MED", "Cases (median)"), number("LOW", "Cases (5%)")],
    );
    s.prediction_setups[0].sim = SetupBehaviour {
        entry_quantiles: Some(vec![0.1, 0.25, 0.5, 0.75, 0.9]),
        ..s.prediction_setups[0].sim.clone()
    };
    let w = world(s, &[]).await;
    let run = w.run(import("import")).await;
    assert_eq!(run["state"], "COMPLETED", "{run}");
    assert_eq!(stored(&w, "MED").len(), 6);
    assert!(stored(&w, "LOW").is_empty());
    let report = w.report(&run).await;
    assert!(
        report.contains("  - Note: target 'mean' left out:"),
        "{report}"
    );
    assert!(
        report.contains(
            "  - Note: target 0.05 -> Cases (5%): chap returned no values for quantile 0.05"
        ),
        "{report}"
    );
}
