//! Unit tests of `schema_form`, mostly on a copy of the prediction flow's parameter schema
//! (`backend/src/flows/dhis2_chap_prediction/params.rs`).

use super::*;
use serde_json::json;

fn prediction_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "credentials": { "title": "DHIS2 credentials", "type": "string", "format": "uuid", "block_type_slug": "dhis2-credentials" },
            "end_mode": { "title": "End mode", "type": "string", "enum": ["calculated", "fixed", "offset"], "default": "calculated" },
            "end_date": { "title": "End date", "type": ["string", "null"], "format": "date", "default": null },
            "end_period_offset": { "title": "End period offset", "type": ["integer", "null"], "minimum": 0, "default": null },
            "prediction_setup_id": { "title": "Prediction setup id", "type": ["integer", "null"], "default": null },
            "prediction_setup_ids": { "title": "Prediction setup ids", "type": ["array", "null"], "items": { "type": "integer" }, "minItems": 1, "maxItems": 1000, "default": null },
            "import_to_dhis2": { "title": "Import forecasts to DHIS2", "type": "string", "enum": ["off", "dry_run", "import"], "default": "off" },
            "outbreak_probability": { "title": "Outbreak probability", "type": "number", "enum": [0.9, 0.75, 0.5, 0.25, 0.1], "default": 0.75 }
        },
        "required": ["credentials"],
        "allOf": [
            { "if": { "properties": { "end_mode": { "const": "fixed" } }, "required": ["end_mode"] },
              "then": { "required": ["end_date"] } },
            { "if": { "properties": { "end_mode": { "const": "offset" } }, "required": ["end_mode"] },
              "then": { "required": ["end_period_offset"] } }
        ]
    })
}

#[test]
fn fields_get_their_inputs_in_a_sensible_order() {
    let f = fields(&prediction_schema());
    let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "credentials",
            "end_mode",
            "end_date",
            "end_period_offset",
            "import_to_dhis2",
            "outbreak_probability",
            "prediction_setup_id",
            "prediction_setup_ids"
        ]
    );
    assert_eq!(f[0].kind, FieldKind::Block("dhis2-credentials".into()));
    assert!(f[0].required);
    assert!(matches!(f[1].kind, FieldKind::Choice(_)));
    assert_eq!(f[2].kind, FieldKind::Date);
    assert_eq!(f[2].shown_when, Some(("end_mode".into(), "fixed".into())));
    assert_eq!(f[3].kind, FieldKind::Integer { minimum: Some(0) });
    assert!(!f[6].required);
    assert_eq!(
        f[7].kind,
        FieldKind::IntegerList {
            max_items: Some(1000)
        }
    );
    assert!(!f[7].required);
}

#[test]
fn end_mode_shows_only_the_field_it_needs_and_requires_it() {
    let f = fields(&prediction_schema());
    let mut values = initial_values(&prediction_schema(), &json!({ "credentials": "b1" }));
    assert_eq!(values["end_mode"], "calculated");
    assert!(validate(&f, &values).is_empty());
    assert_eq!(
        parameters(&f, &values),
        json!({
            "credentials": "b1",
            "end_mode": "calculated",
            "import_to_dhis2": "off",
            "outbreak_probability": 0.75
        })
    );

    values.insert("end_mode".into(), "offset".into());
    values.insert("end_date".into(), "2026-01-01".into());
    assert_eq!(validate(&f, &values)["end_period_offset"], "Required.");
    values.insert("end_period_offset".into(), "-1".into());
    assert_eq!(
        validate(&f, &values)["end_period_offset"],
        "Must be at least 0."
    );
    values.insert("end_period_offset".into(), "2".into());
    assert!(validate(&f, &values).is_empty());
    // The hidden end_date is not sent.
    assert_eq!(
        parameters(&f, &values),
        json!({
            "credentials": "b1",
            "end_mode": "offset",
            "end_period_offset": 2,
            "import_to_dhis2": "off",
            "outbreak_probability": 0.75
        })
    );

    values.insert("end_mode".into(), "fixed".into());
    values.insert("end_date".into(), "30/04/2026".into());
    assert_eq!(
        validate(&f, &values)["end_date"],
        "Enter a date as YYYY-MM-DD."
    );
}

#[test]
fn missing_required_and_bad_integers_are_reported() {
    let f = fields(&prediction_schema());
    let mut values = initial_values(&prediction_schema(), &json!({}));
    values.insert("prediction_setup_id".into(), "two".into());
    let errors = validate(&f, &values);
    assert_eq!(errors["credentials"], "Required.");
    assert_eq!(errors["prediction_setup_id"], "Enter a whole number.");
}

#[test]
fn setup_ids_are_typed_with_commas_or_blanks_and_sent_as_an_array_of_numbers() {
    let schema = prediction_schema();
    let f = fields(&schema);
    let mut values = initial_values(&schema, &json!({ "credentials": "b1" }));
    // Empty: not sent at all (the schema's null).
    assert_eq!(values["prediction_setup_ids"], "");
    assert!(validate(&f, &values).is_empty());
    assert!(parameters(&f, &values)
        .get("prediction_setup_ids")
        .is_none());

    values.insert("prediction_setup_ids".into(), " 1, 3 7,, 12 ".into());
    assert!(validate(&f, &values).is_empty());
    assert_eq!(
        parameters(&f, &values)["prediction_setup_ids"],
        json!([1, 3, 7, 12])
    );

    for bad in ["1, two", "1.5", "3;4", ","] {
        values.insert("prediction_setup_ids".into(), bad.into());
        assert_eq!(
            validate(&f, &values)["prediction_setup_ids"],
            "Enter whole numbers separated by commas.",
            "{bad}"
        );
    }
    let too_many: Vec<String> = (0..1001).map(|n| n.to_string()).collect();
    values.insert("prediction_setup_ids".into(), too_many.join(","));
    assert_eq!(
        validate(&f, &values)["prediction_setup_ids"],
        "Enter at most 1000 numbers."
    );
}

#[test]
fn stored_setup_ids_read_back_as_the_list_typed() {
    let schema = prediction_schema();
    let f = fields(&schema);
    let values = values_of(&schema, &json!({ "prediction_setup_ids": [2, 5] }));
    assert_eq!(values["prediction_setup_ids"], "2, 5");
    assert_eq!(
        pinned_parameters(&f, &values, &BTreeMap::new()),
        json!({ "prediction_setup_ids": [2, 5] })
    );
    assert_eq!(
        values_of(&schema, &json!({ "prediction_setup_ids": null }))["prediction_setup_ids"],
        ""
    );
}

#[test]
fn a_schedule_pins_only_what_it_sets_and_conditions_see_the_deployment_defaults() {
    let schema = prediction_schema();
    let f = fields(&schema);
    let inherited = initial_values(
        &schema,
        &json!({ "credentials": "b1", "end_mode": "fixed", "end_date": "2026-01-31" }),
    );
    // Nothing pinned: everything comes from the deployment, and that is valid.
    let mut pinned = values_of(&schema, &json!({}));
    assert_eq!(pinned["end_mode"], "");
    assert!(validate(&f, &merged(&inherited, &pinned)).is_empty());
    assert_eq!(pinned_parameters(&f, &pinned, &inherited), json!({}));

    // end_date pinned while end_mode comes from the deployment (fixed): it is shown and sent.
    pinned.insert("end_date".into(), "2026-06-30".into());
    assert_eq!(
        pinned_parameters(&f, &pinned, &inherited),
        json!({ "end_date": "2026-06-30" })
    );

    // Pinning offset mode needs an offset, and then the pinned end_date is hidden and dropped.
    pinned.insert("end_mode".into(), "offset".into());
    assert_eq!(
        validate(&f, &merged(&inherited, &pinned))["end_period_offset"],
        "Required."
    );
    pinned.insert("end_period_offset".into(), "3".into());
    assert_eq!(
        pinned_parameters(&f, &pinned, &inherited),
        json!({ "end_mode": "offset", "end_period_offset": 3 })
    );
}

#[test]
fn an_enum_of_numbers_offers_its_numbers_and_sends_a_number() {
    let schema = prediction_schema();
    let f = fields(&schema);
    let probability = f
        .iter()
        .find(|f| f.name == "outbreak_probability")
        .expect("the field");
    let FieldKind::Choice(options) = &probability.kind else {
        panic!("not a choice: {:?}", probability.kind);
    };
    let texts: Vec<_> = options.iter().map(|o| o.text.as_str()).collect();
    assert_eq!(texts, ["0.9", "0.75", "0.5", "0.25", "0.1"]);

    let mut values = initial_values(&schema, &json!({ "credentials": "b1" }));
    assert_eq!(values["outbreak_probability"], "0.75");
    values.insert("import_to_dhis2".into(), "dry_run".into());
    values.insert("outbreak_probability".into(), "0.9".into());
    assert!(validate(&f, &values).is_empty());
    let sent = parameters(&f, &values);
    assert_eq!(sent["import_to_dhis2"], json!("dry_run"));
    assert_eq!(sent["outbreak_probability"], json!(0.9));
    assert!(sent["outbreak_probability"].is_number());

    values.insert("outbreak_probability".into(), "0.3".into());
    assert_eq!(
        validate(&f, &values)["outbreak_probability"],
        "Choose one of the options."
    );
    values.insert("import_to_dhis2".into(), "sometimes".into());
    assert_eq!(
        validate(&f, &values)["import_to_dhis2"],
        "Choose one of the options."
    );
}

#[test]
fn an_enum_of_integers_keeps_integers_and_matches_a_number_written_otherwise() {
    let schema = json!({
        "type": "object",
        "properties": {
            "level": { "type": "integer", "enum": [1, 2, 3] },
            "count": { "type": "integer", "minimum": 1 }
        }
    });
    let f = fields(&schema);
    assert_eq!(f[1].name, "level");
    assert!(matches!(&f[1].kind, FieldKind::Choice(o) if o.len() == 3));
    assert_eq!(f[0].kind, FieldKind::Integer { minimum: Some(1) });
    // A stored 2.0 selects the option 2, and is sent back as the integer 2.
    let values = values_of(&schema, &json!({ "level": 2.0, "count": 4 }));
    assert_eq!(values["level"], "2");
    assert!(validate(&f, &values).is_empty());
    assert_eq!(parameters(&f, &values), json!({ "level": 2, "count": 4 }));
}

#[test]
fn a_pinned_number_choice_is_sent_as_a_number_and_an_empty_one_is_left_to_the_deployment() {
    let schema = prediction_schema();
    let f = fields(&schema);
    let inherited = initial_values(&schema, &json!({ "credentials": "b1" }));
    let mut pinned = values_of(&schema, &json!({}));
    assert_eq!(pinned["outbreak_probability"], "");
    assert_eq!(pinned_parameters(&f, &pinned, &inherited), json!({}));
    pinned.insert("outbreak_probability".into(), "0.25".into());
    assert_eq!(
        pinned_parameters(&f, &pinned, &inherited),
        json!({ "outbreak_probability": 0.25 })
    );
}

#[test]
fn a_condition_on_a_default_shows_its_fields_from_the_start() {
    // The credentials block's schema: basic (the default) needs a username and password, pat a token.
    let schema = json!({
        "type": "object",
        "required": ["base_url"],
        "properties": {
            "base_url": { "type": "string" },
            "auth_type": { "type": "string", "enum": ["basic", "pat"], "default": "basic" },
            "username": { "type": "string" },
            "password": { "type": "string" },
            "token": { "type": "string" }
        },
        "allOf": [
            { "if": { "properties": { "auth_type": { "const": "basic" } } },
              "then": { "required": ["username", "password"] } },
            { "if": { "properties": { "auth_type": { "const": "pat" } }, "required": ["auth_type"] },
              "then": { "required": ["token"] } }
        ]
    });
    let f = fields(&schema);
    let shown = |values: &BTreeMap<String, String>| -> Vec<String> {
        f.iter()
            .filter(|f| f.is_shown(values))
            .map(|f| f.name.clone())
            .collect()
    };
    // A block stored before auth_type existed reads as basic.
    let mut values = initial_values(
        &schema,
        &json!({ "base_url": "https://d", "username": "u" }),
    );
    assert_eq!(values["auth_type"], "basic");
    assert_eq!(
        shown(&values),
        ["auth_type", "password", "username", "base_url"]
    );
    assert_eq!(validate(&f, &values)["password"], "Required.");

    values.insert("auth_type".into(), "pat".into());
    assert_eq!(shown(&values), ["auth_type", "token", "base_url"]);
    let errors = validate(&f, &values);
    assert_eq!(errors.keys().collect::<Vec<_>>(), ["token"]);
    values.insert("token".into(), "d2pat_x".into());
    // The username typed before is hidden now, and not sent.
    assert_eq!(
        parameters(&f, &values),
        json!({ "auth_type": "pat", "base_url": "https://d", "token": "d2pat_x" })
    );
}

#[test]
fn a_boolean_is_a_choice_of_false_and_true_sent_as_a_boolean() {
    let schema = json!({
        "type": "object",
        "properties": { "only_new_data": { "type": "boolean", "title": "Only new data", "default": false } }
    });
    let f = fields(&schema);
    let FieldKind::Choice(options) = &f[0].kind else {
        panic!("{:?}", f[0].kind)
    };
    assert_eq!(
        options.iter().map(|o| o.text.as_str()).collect::<Vec<_>>(),
        ["false", "true"]
    );
    let values = initial_values(&schema, &json!({}));
    assert_eq!(values["only_new_data"], "false");
    assert!(validate(&f, &values).is_empty());
    assert_eq!(parameters(&f, &values), json!({ "only_new_data": false }));
    let mut on = values.clone();
    on.insert("only_new_data".into(), "true".into());
    assert_eq!(parameters(&f, &on), json!({ "only_new_data": true }));
    // A stored parameter reads back as its text.
    assert_eq!(
        values_of(&schema, &json!({ "only_new_data": true }))["only_new_data"],
        "true"
    );
}
