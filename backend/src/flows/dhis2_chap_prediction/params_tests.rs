use super::*;

const BLOCK: &str = "6f1f4b8e-7c1a-4d2b-9e3f-0a1b2c3d4e5f";

fn errors_of(raw: Value) -> FieldErrors {
    validate(&raw).unwrap_err()
}

#[test]
fn credentials_alone_mean_a_calculated_run_over_every_setup() {
    let params = validate(&json!({ "credentials": BLOCK })).unwrap();
    assert_eq!(params.credentials.to_string(), BLOCK);
    assert_eq!(params.end, EndSpec::Calculated);
    assert_eq!(params.end_mode(), EndMode::Calculated);
    assert_eq!(params.setup_ids, None);
}

#[test]
fn fixed_mode_takes_the_end_date_and_ignores_the_offset() {
    let params = validate(&json!({
        "credentials": BLOCK, "end_mode": "fixed", "end_date": "2026-04-30", "end_period_offset": 2
    }))
    .unwrap();
    assert_eq!(
        params.end,
        EndSpec::Fixed(NaiveDate::from_ymd_opt(2026, 4, 30).unwrap())
    );
}

#[test]
fn offset_mode_takes_the_offset_and_a_setup_id() {
    let params = validate(&json!({
        "credentials": BLOCK, "end_mode": "offset", "end_period_offset": 1, "prediction_setup_id": 2
    }))
    .unwrap();
    assert_eq!(params.end, EndSpec::Offset(1));
    assert_eq!(params.setup_ids, Some(vec![2]));
}

#[test]
fn fixed_without_end_date_is_an_end_date_error() {
    let errors = errors_of(json!({ "credentials": BLOCK, "end_mode": "fixed" }));
    assert_eq!(
        errors["end_date"],
        "end_mode='fixed' requires end_date to be set"
    );
    assert_eq!(errors.len(), 1);
}

#[test]
fn offset_without_offset_is_an_end_period_offset_error() {
    let errors =
        errors_of(json!({ "credentials": BLOCK, "end_mode": "offset", "end_period_offset": null }));
    assert_eq!(
        errors["end_period_offset"],
        "end_mode='offset' requires end_period_offset to be set"
    );
}

#[test]
fn a_negative_offset_is_refused_in_every_mode() {
    for mode in EndMode::ALL {
        let errors = errors_of(
            json!({ "credentials": BLOCK, "end_mode": mode, "end_period_offset": -1,
                                       "end_date": "2026-04-30" }),
        );
        assert_eq!(
            errors["end_period_offset"], "end_period_offset must be >= 0, got -1",
            "{mode}"
        );
    }
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let errors = errors_of(json!({
        "end_mode": "sometimes", "end_date": "30/04/2026", "end_period_offset": "two",
        "prediction_setup_id": "one", "colour": "blue"
    }));
    let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "colour",
            "credentials",
            "end_date",
            "end_mode",
            "end_period_offset",
            "prediction_setup_id"
        ]
    );
    assert!(errors["end_mode"].contains("calculated, fixed, offset"));
    assert!(
        describe_errors(&errors).starts_with("colour: unknown parameter; credentials: required")
    );
}

#[test]
fn credentials_must_be_a_block_id() {
    let errors = errors_of(json!({ "credentials": "prod-dhis2" }));
    assert!(errors["credentials"].contains("UUID"));
    assert!(validate(&json!([1, 2]))
        .unwrap_err()
        .contains_key("parameters"));
}

#[test]
fn schema_renders_the_form_the_reference_describes() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["required"], json!(["credentials"]));
    assert_eq!(
        s["properties"]["credentials"]["block_type_slug"],
        CREDENTIALS_BLOCK_TYPE
    );
    assert_eq!(
        s["properties"]["end_mode"]["enum"],
        json!(["calculated", "fixed", "offset"])
    );
    assert_eq!(s["properties"]["end_mode"]["default"], "calculated");
    assert_eq!(s["properties"]["end_date"]["format"], "date");
    assert_eq!(s["properties"]["end_period_offset"]["minimum"], 0);
    assert_eq!(
        s["properties"]["end_period_offset"]["type"],
        json!(["integer", "null"])
    );
    assert_eq!(
        s["properties"]["prediction_setup_id"]["type"],
        json!(["integer", "null"])
    );
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(
        s["properties"]["import_to_dhis2"]["enum"],
        json!(["off", "dry_run", "import"])
    );
    assert_eq!(s["properties"]["import_to_dhis2"]["default"], "off");
    assert_eq!(
        s["properties"]["outbreak_probability"]["enum"],
        json!([0.9, 0.75, 0.5, 0.25, 0.1])
    );
    assert_eq!(
        s["properties"]["prediction_setup_ids"]["items"],
        json!({ "type": "integer" })
    );
    assert_eq!(s["properties"]["only_new_data"]["default"], false);
    let props = s["properties"].as_object().unwrap();
    assert_eq!(props.len(), 9);
}

#[test]
fn several_setup_ids_are_a_list_and_not_given_with_the_single_id() {
    let p = validate(&json!({ "credentials": BLOCK, "prediction_setup_ids": [3, 1, 3] })).unwrap();
    assert_eq!(p.setup_ids, Some(vec![3, 1]));
    let both = errors_of(json!({
        "credentials": BLOCK, "prediction_setup_id": 1, "prediction_setup_ids": [2]
    }));
    assert!(
        both["prediction_setup_ids"].contains("not both"),
        "{both:?}"
    );
    for bad in [json!([]), json!([1, "2"]), json!(5), json!([1.5])] {
        let errors = errors_of(json!({ "credentials": BLOCK, "prediction_setup_ids": bad }));
        assert!(
            errors.contains_key("prediction_setup_ids"),
            "{bad}: {errors:?}"
        );
    }
    let many: Vec<i64> = (0..=MAX_SETUP_IDS as i64).collect();
    assert!(
        errors_of(json!({ "credentials": BLOCK, "prediction_setup_ids": many }))
            ["prediction_setup_ids"]
            .contains("at most")
    );
    // null is absent.
    let p = validate(&json!({ "credentials": BLOCK, "prediction_setup_ids": null })).unwrap();
    assert_eq!(p.setup_ids, None);
}

#[test]
fn import_mode_and_outbreak_probability_are_checked_and_default() {
    let p = validate(&json!({ "credentials": BLOCK })).unwrap();
    assert_eq!(p.import_to_dhis2, ImportMode::Off);
    assert_eq!(p.outbreak_probability, 0.75);
    let p = validate(&json!({
        "credentials": BLOCK, "import_to_dhis2": "dry_run", "outbreak_probability": 0.1
    }))
    .unwrap();
    assert_eq!(p.import_to_dhis2, ImportMode::DryRun);
    assert_eq!(p.outbreak_probability, 0.1);
    let errors = errors_of(json!({
        "credentials": BLOCK, "import_to_dhis2": "yes", "outbreak_probability": 0.8
    }));
    assert!(errors["import_to_dhis2"].contains("off, dry_run, import"));
    assert!(errors["outbreak_probability"].contains("0.9, 0.75"));
    assert!(
        errors_of(json!({ "credentials": BLOCK, "outbreak_probability": "0.75" }))
            .contains_key("outbreak_probability")
    );
}

#[test]
fn only_new_data_is_a_boolean_off_by_default() {
    assert!(
        !validate(&json!({ "credentials": BLOCK }))
            .unwrap()
            .only_new_data
    );
    assert!(
        validate(&json!({ "credentials": BLOCK, "only_new_data": true }))
            .unwrap()
            .only_new_data
    );
    assert!(
        errors_of(json!({ "credentials": BLOCK, "only_new_data": "yes" }))
            .contains_key("only_new_data")
    );
}
