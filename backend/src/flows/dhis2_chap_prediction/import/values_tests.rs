use super::*;
use serde_json::json;

fn element(value_type: &str, zero_is_significant: bool) -> DataElement {
    DataElement {
        id: "DE1".into(),
        name: Some("Predicted cases".into()),
        value_type: Some(value_type.into()),
        category_combo: Some(IdName {
            id: Some("bjDvmb4bfuf".into()),
            name: Some("default".into()),
        }),
        zero_is_significant,
    }
}

fn target(kind: TargetKind) -> Target {
    Target {
        key: "median".into(),
        kind,
        data_element_id: "DE1".into(),
    }
}

fn entry(org_unit: &str, period: &str, quantile: f64, value: Option<f64>) -> PredictionEntry {
    PredictionEntry {
        org_unit: org_unit.into(),
        period: period.into(),
        quantile,
        value,
    }
}

#[test]
fn integer_types_round_half_away_from_zero_and_have_no_decimal_point() {
    let int = element("INTEGER", true);
    assert_eq!(encode(CellValue::Number(12.0), &int).unwrap(), "12");
    assert_eq!(encode(CellValue::Number(12.5), &int).unwrap(), "13");
    assert_eq!(encode(CellValue::Number(12.49), &int).unwrap(), "12");
    assert_eq!(encode(CellValue::Number(-2.5), &int).unwrap(), "-3");
    assert_eq!(encode(CellValue::Number(0.4), &int).unwrap(), "0");
    let number = element("NUMBER", true);
    assert_eq!(encode(CellValue::Number(12.0), &number).unwrap(), "12");
    assert_eq!(encode(CellValue::Number(12.25), &number).unwrap(), "12.25");
    assert_eq!(
        encode(CellValue::Number(1e-7), &number).unwrap(),
        "0.0000001"
    );
    assert_eq!(
        encode(CellValue::Number(f64::NAN), &number),
        Err(LeftOut::NoValue)
    );
}

#[test]
fn values_dhis2_would_refuse_or_delete_are_left_out() {
    let positive = element("INTEGER_POSITIVE", true);
    assert_eq!(
        encode(CellValue::Number(0.4), &positive),
        Err(LeftOut::NotPositive)
    );
    assert_eq!(encode(CellValue::Number(0.6), &positive).unwrap(), "1");
    let zero_or_positive = element("INTEGER_ZERO_OR_POSITIVE", true);
    assert_eq!(
        encode(CellValue::Number(-0.6), &zero_or_positive),
        Err(LeftOut::Negative)
    );
    // -0.4 rounds to zero, which this type holds.
    assert_eq!(
        encode(CellValue::Number(-0.4), &zero_or_positive).unwrap(),
        "0"
    );
    let negative = element("INTEGER_NEGATIVE", true);
    assert_eq!(
        encode(CellValue::Number(3.0), &negative),
        Err(LeftOut::NotNegative)
    );
    assert_eq!(
        encode(CellValue::Number(101.0), &element("PERCENTAGE", true)),
        Err(LeftOut::OutOfRange)
    );
    assert_eq!(
        encode(CellValue::Number(0.5), &element("UNIT_INTERVAL", true)).unwrap(),
        "0.5"
    );
    // Zero where zero is not significant: DHIS2 would delete the stored value.
    let not_significant = element("INTEGER_ZERO_OR_POSITIVE", false);
    assert_eq!(
        encode(CellValue::Number(0.3), &not_significant),
        Err(LeftOut::ZeroNotSignificant)
    );
    assert_eq!(
        encode(CellValue::Number(0.0), &element("NUMBER", false)),
        Err(LeftOut::ZeroNotSignificant)
    );
}

#[test]
fn the_indicator_is_a_boolean_a_true_only_or_a_number() {
    assert_eq!(
        encode(CellValue::Flag(false), &element("BOOLEAN", false)).unwrap(),
        "false"
    );
    assert_eq!(
        encode(CellValue::Flag(true), &element("TRUE_ONLY", false)).unwrap(),
        "true"
    );
    assert_eq!(
        encode(CellValue::Flag(false), &element("TRUE_ONLY", false)),
        Err(LeftOut::FalseIntoTrueOnly)
    );
    assert_eq!(
        encode(CellValue::Flag(true), &element("INTEGER", false)).unwrap(),
        "1"
    );
    assert_eq!(
        encode(CellValue::Flag(false), &element("INTEGER", false)),
        Err(LeftOut::ZeroNotSignificant)
    );
    assert_eq!(
        encode(CellValue::Flag(false), &element("INTEGER", true)).unwrap(),
        "0"
    );
}

#[test]
fn elements_are_refused_with_their_name() {
    let quantile = target(TargetKind::Quantile(0.5));
    let missing = refuse_element(&quantile, None).unwrap();
    assert!(missing.contains("'DE1'") && missing.contains("does not exist"));
    let mut disaggregated = element("NUMBER", false);
    disaggregated.category_combo = Some(IdName {
        id: Some("X".into()),
        name: Some("Sex and age".into()),
    });
    let refused = refuse_element(&quantile, Some(&disaggregated)).unwrap();
    assert!(
        refused.contains("'Predicted cases'") && refused.contains("'Sex and age'"),
        "{refused}"
    );
    let boolean = refuse_element(&quantile, Some(&element("BOOLEAN", false))).unwrap();
    assert!(boolean.contains("value type BOOLEAN"), "{boolean}");
    assert!(refuse_element(&quantile, Some(&element("TEXT", false))).is_some());
    assert!(refuse_element(&quantile, Some(&element("INTEGER", false))).is_none());
    let indicator = target(TargetKind::OutbreakIndicator);
    assert!(refuse_element(&indicator, Some(&element("TRUE_ONLY", false))).is_none());
    // No category combo in the answer is the default one.
    let mut bare = element("NUMBER", false);
    bare.category_combo = None;
    assert!(refuse_element(&quantile, Some(&bare)).is_none());
}

#[test]
fn the_plan_takes_each_targets_quantile_within_tolerance_and_counts_what_is_left_out() {
    let median = target(TargetKind::Quantile(0.5));
    let low = Target {
        key: "quantile_low".into(),
        kind: TargetKind::Quantile(1.0 - 0.9),
        data_element_id: "LOW".into(),
    };
    let five = Target {
        key: "0.05".into(),
        kind: TargetKind::Quantile(0.05),
        data_element_id: "DE1".into(),
    };
    let int = element("INTEGER_ZERO_OR_POSITIVE", false);
    let low_element = DataElement {
        id: "LOW".into(),
        ..element("NUMBER", false)
    };
    let entries = vec![
        entry("OU1", "202607", 0.5, Some(12.5)),
        entry("OU2", "202607", 0.5, Some(0.2)),
        entry("OU1", "202608", 0.5, None),
        entry("OU1", "202607", 0.1, Some(3.25)),
    ];
    let plan = plan_values(
        &[(&median, &int), (&low, &low_element), (&five, &int)],
        &entries,
        None,
    );
    assert_eq!(
        plan.values,
        vec![
            DataValue {
                data_element: "DE1".into(),
                period: "202607".into(),
                org_unit: "OU1".into(),
                value: "13".into()
            },
            DataValue {
                data_element: "LOW".into(),
                period: "202607".into(),
                org_unit: "OU1".into(),
                value: "3.25".into()
            },
        ]
    );
    assert_eq!(plan.left_out[&LeftOut::ZeroNotSignificant], 1);
    assert_eq!(plan.left_out[&LeftOut::NoValue], 1);
    assert_eq!(plan.missing_quantiles.len(), 1);
    assert!(plan.missing_quantiles[0].contains("quantile 0.05"));
}

#[test]
fn the_indicator_compares_its_quantile_with_the_threshold_of_each_cell() {
    let alert = Target {
        key: "outbreak_indicator".into(),
        kind: TargetKind::OutbreakIndicator,
        data_element_id: "DE1".into(),
    };
    let boolean = element("BOOLEAN", false);
    let entries = vec![
        entry("OU1", "202607", 0.25, Some(10.0)),
        entry("OU2", "202607", 0.25, Some(9.99)),
        entry("OU3", "202607", 0.25, Some(50.0)),
        entry("OU4", "202607", 0.25, Some(50.0)),
        entry("OU1", "202607", 0.5, Some(100.0)),
    ];
    let thresholds: Thresholds = [
        (("202607".to_string(), "OU1".to_string()), Some(10.0)),
        (("202607".to_string(), "OU2".to_string()), Some(10.0)),
        (("202607".to_string(), "OU3".to_string()), None),
    ]
    .into_iter()
    .collect();
    let plan = plan_values(&[(&alert, &boolean)], &entries, Some((0.25, &thresholds)));
    let values: Vec<(&str, &str)> = plan
        .values
        .iter()
        .map(|v| (v.org_unit.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(values, vec![("OU1", "true"), ("OU2", "false")]);
    assert_eq!(plan.left_out[&LeftOut::NoThreshold], 2);
    // Without thresholds the indicator is left out entirely.
    assert!(plan_values(&[(&alert, &boolean)], &entries, None)
        .values
        .is_empty());
}

#[test]
fn data_values_serialise_as_dhis2_reads_them() {
    let v = DataValue {
        data_element: "DE1".into(),
        period: dhis2_period("2026W05"),
        org_unit: "OU1".into(),
        value: "12".into(),
    };
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        json!({ "dataElement": "DE1", "period": "2026W5", "orgUnit": "OU1", "value": "12" })
    );
    assert_eq!(dhis2_period("not a period"), "not a period");
}
