use serde_json::json;

use super::*;

fn setup_json() -> Value {
    json!({
        "id": 1, "name": "test", "created": "2026-01-01T00:00:00", "backtestId": 7,
        "configuredModel": { "id": 12, "name": "chapkit-ewars-model",
            "additionalContinuousCovariates": ["rainfall", "mean_temperature"], "userOptionValues": {},
            "modelTemplate": { "id": 11, "name": "chapkit-ewars-model", "displayName": "CHAP-EWARS Model (chapkit)",
                "target": "disease_cases", "supportedPeriodType": "month", "requiredCovariates": ["population"] } },
        "startPeriod": "202301", "orgUnits": ["FRmrFTE63D0", "K27JzTKmBKh"],
        "covariateSources": [ {"covariate": "population", "dataElementId": "naAwC0qIH2N"},
                              {"covariate": "disease_cases", "dataElementId": "A6UIC6raN1P"} ],
        "periodType": "month", "scheduleCronExpression": "0 6 * * 1", "scheduleEnabled": true,
        "quantileTargets": [ {"quantile": "median", "dataElementId": "DE_MED"} ]
    })
}

#[test]
fn a_full_prediction_setup_parses_and_ignores_unknown_keys() {
    let setups = parse_setup_listing(json!([setup_json()])).unwrap();
    let setup = setups[0].as_ref().unwrap();
    assert_eq!(setup.id, 1);
    assert_eq!(setup.label(), "test (chapkit-ewars-model)");
    assert_eq!(setup.start_period.as_deref(), Some("202301"));
    assert_eq!(setup.period_type.as_deref(), Some("month"));
    assert!(setup.schedule_enabled);
    assert_eq!(setup.schedule_cron_expression.as_deref(), Some("0 6 * * 1"));
    assert_eq!(
        setup.covariates(),
        ["population", "rainfall", "mean_temperature"]
    );
    assert_eq!(setup.data_element_ids(), ["naAwC0qIH2N", "A6UIC6raN1P"]);
    assert_eq!(setup.quantile_targets[0]["dataElementId"], "DE_MED");
}

#[test]
fn optional_setup_fields_take_the_reference_defaults() {
    let mut v = setup_json();
    let obj = v.as_object_mut().unwrap();
    for key in [
        "scheduleEnabled",
        "scheduleCronExpression",
        "quantileTargets",
        "backtestId",
    ] {
        obj.remove(key);
    }
    let cm = obj["configuredModel"].as_object_mut().unwrap();
    cm.remove("additionalContinuousCovariates");
    cm["modelTemplate"]
        .as_object_mut()
        .unwrap()
        .remove("requiredCovariates");
    cm["modelTemplate"].as_object_mut().unwrap().remove("id");
    let setup = parse_setup_listing(json!([v])).unwrap().remove(0).unwrap();
    assert!(!setup.schedule_enabled, "scheduleEnabled defaults to false");
    assert!(setup.quantile_targets.is_null());
    assert!(setup.covariates().is_empty());
    assert_eq!(setup.configured_model.model_template.id, None);
}

#[test]
fn template_target_and_covariates_may_be_objects() {
    let mut v = setup_json();
    v["configuredModel"]["modelTemplate"]["target"] =
        json!({"name": "disease_cases", "displayName": "Cases"});
    v["configuredModel"]["modelTemplate"]["requiredCovariates"] = json!([{"name": "population"}]);
    let setup = parse_setup_listing(json!([v])).unwrap().remove(0).unwrap();
    assert_eq!(
        setup.configured_model.model_template.target,
        "disease_cases"
    );
    assert_eq!(setup.covariates()[0], "population");
}

#[test]
fn one_bad_setup_does_not_break_the_listing() {
    let mut broken = setup_json();
    broken["id"] = json!(2);
    broken["name"] = json!("broken");
    broken.as_object_mut().unwrap().remove("configuredModel");
    let mut nulls = setup_json();
    nulls["id"] = json!(3);
    nulls["startPeriod"] = Value::Null;
    nulls["periodType"] = Value::Null;
    let listing = parse_setup_listing(json!([setup_json(), broken, nulls])).unwrap();
    assert!(listing[0].is_ok());
    let bad = listing[1].as_ref().unwrap_err();
    assert_eq!((bad.id, bad.name.as_deref()), (Some(2), Some("broken")));
    assert!(bad.reason.contains("configuredModel"), "{}", bad.reason);
    let nulls = listing[2].as_ref().unwrap();
    assert_eq!(
        (nulls.start_period.as_ref(), nulls.period_type.as_ref()),
        (None, None)
    );
    assert!(parse_setup_listing(json!({"detail": "nope"})).is_err());
}

#[test]
fn system_infos_parse_with_their_required_fields() {
    let dhis2: Dhis2SystemInfo = serde_json::from_value(json!({
        "version": "2.44-SNAPSHOT", "buildTime": "x", "systemName": "DHIS 2 Demo - Sierra Leone",
        "serverDate": "2026-05-07T11:38:23.000", "contextPath": "https://dhis.example.org", "other": 1
    }))
    .unwrap();
    assert_eq!(
        dhis2.system_name.as_deref(),
        Some("DHIS 2 Demo - Sierra Leone")
    );
    assert!(serde_json::from_value::<Dhis2SystemInfo>(json!({"systemName": "x"})).is_err());
    let chap: ChapSystemInfo = serde_json::from_value(json!({
        "chap_core_version": "2.0.0.dev1", "python_version": "3.13.12",
        "server_date": "2026-05-07T11:38:23+00:00", "server_time_zone_id": "Etc/UTC", "revision": ""
    }))
    .unwrap();
    assert_eq!(chap.chap_core_version, "2.0.0.dev1");
}

#[test]
fn job_result_is_accepted_as_string_or_integer() {
    let jobs: Vec<JobDescription> = serde_json::from_value(json!([
        {"id": "a", "type": "make_prediction", "name": "test", "status": "SUCCESS",
         "start_time": "2026-05-07T10:00:00", "end_time": "2026-05-07T10:01:00", "result": "42"},
        {"id": "b", "status": "SUCCESS", "result": 43},
        {"id": "c", "status": "FAILURE", "result": null, "start_time": null, "end_time": null},
        {"id": "d", "status": "SUCCESS", "result": "not-an-int"}
    ]))
    .unwrap();
    assert_eq!(prediction_id(&jobs, "a"), Ok(42));
    assert_eq!(prediction_id(&jobs, "b"), Ok(43));
    assert_eq!(
        prediction_id(&jobs, "c").unwrap_err().to_string(),
        "could not resolve prediction id for job c"
    );
    assert_eq!(
        prediction_id(&jobs, "missing").unwrap_err().to_string(),
        "could not resolve prediction id for job missing"
    );
    assert_eq!(
        prediction_id(&jobs, "d").unwrap_err().to_string(),
        "job d result 'not-an-int' is not an int prediction id"
    );
}

#[test]
fn retry_is_a_transient_job_status_and_case_does_not_matter() {
    for s in [
        "PENDING",
        "running",
        "Started",
        "QUEUED",
        "PROCESSING",
        "RETRY",
        " retry ",
    ] {
        assert!(JobStatus::new(s).is_transient(), "{s}");
    }
    for s in ["SUCCESS", "FAILURE", "REVOKED", "FAILED"] {
        assert!(!JobStatus::new(s).is_transient(), "{s}");
    }
    assert!(JobStatus::new("success").is_success());
    assert!(!JobStatus::new("FAILURE").is_success());
}

#[test]
fn a_missing_values_rejection_parses_and_other_bodies_do_not() {
    let body = json!({"detail": {"message": "All regions rejected due to missing values", "imported_count": 0,
        "rejected": [{"reason": "Missing value for some/all time periods", "orgUnit": "FRmrFTE63D0",
                      "featureName": "rainfall", "timePeriods": ["202510", "202511", "202512"]},
                     {"reason": "r", "orgUnit": "OU2", "featureName": "rainfall", "timePeriods": []}]}});
    let rejection = MissingValuesRejection::from_body(&body).unwrap();
    assert_eq!(rejection.rejected.len(), 2);
    assert_eq!(rejection.rejected[0].org_unit, "FRmrFTE63D0");
    assert_eq!(rejection.rejected[0].time_periods.len(), 3);
    let no_count = json!({"detail": {"message": "m"}});
    assert_eq!(
        MissingValuesRejection::from_body(&no_count)
            .unwrap()
            .imported_count,
        0
    );
    for other in [
        Value::Null,
        json!("plain string"),
        json!({"foo": "bar"}),
        json!({"detail": "not a dict"}),
        json!({"detail": {"foo": 1}}),
    ] {
        assert_eq!(MissingValuesRejection::from_body(&other), None, "{other}");
    }
}

#[test]
fn the_run_body_has_exactly_the_five_camel_case_keys() {
    let body = PredictionRequest {
        name: "n".into(),
        geojson: json!({"type": "FeatureCollection", "features": []}),
        provided_data: vec![Observation {
            feature_name: "population".into(),
            org_unit: "OU1".into(),
            period: "202301".into(),
            value: 1000.0,
        }],
        n_periods: 3,
        dataset_type: "forecasting".into(),
    };
    let v = serde_json::to_value(&body).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["geojson", "nPeriods", "name", "providedData", "type"]
    );
    assert_eq!(
        v["providedData"][0],
        json!({"featureName": "population", "orgUnit": "OU1", "period": "202301", "value": 1000.0})
    );
    let legacy = json!({"name": "n", "geojson": {}, "providedData": [], "nPeriods": 3, "type": "forecasting",
                        "dataSources": []});
    assert!(serde_json::from_value::<PredictionRequest>(legacy).is_err());
}

#[test]
fn prediction_entries_tolerate_null_values() {
    let entries: Vec<PredictionEntry> = serde_json::from_value(json!([
        {"orgUnit": "OU1", "period": "202501", "quantile": 0.5, "value": 7.0},
        {"orgUnit": "OU1", "period": "202502", "quantile": 0.9, "value": null}
    ]))
    .unwrap();
    assert_eq!(entries[0].value, Some(7.0));
    assert_eq!(entries[1].value, None);
}

#[test]
fn org_units_tolerate_missing_fields() {
    let list: OrgUnitList = serde_json::from_value(json!({"organisationUnits": [
        {"id": "OU1", "displayName": "Region 1", "level": 2, "code": "R1", "parent": {"id": "PARENT"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
        {"id": "OU2"}
    ]}))
    .unwrap();
    assert_eq!(
        list.organisation_units[0]
            .parent
            .as_ref()
            .unwrap()
            .id
            .as_deref(),
        Some("PARENT")
    );
    assert_eq!(list.organisation_units[1].geometry, None);
    let empty: OrgUnitList = serde_json::from_value(json!({})).unwrap();
    assert!(empty.organisation_units.is_empty());
}

fn listed(jobs: serde_json::Value) -> Vec<JobDescription> {
    serde_json::from_value(jobs).unwrap()
}

#[test]
fn a_job_in_flight_is_found_by_its_own_setup_id_whatever_the_filter_did() {
    let jobs = listed(json!([
        {"id": "other", "status": "STARTED", "prediction_setup_id": 2, "start_time": "2026-12-01T10:00:00"},
        {"id": "done", "status": "SUCCESS", "prediction_setup_id": 1, "start_time": "2026-12-01T11:00:00"},
        {"id": "old", "status": "pending", "prediction_setup_id": "1", "start_time": "2026-12-01T09:00:00"},
        {"id": "new", "status": "Started", "prediction_setup_id": 1, "start_time": "2026-12-01T10:30:00"},
    ]));
    assert_eq!(
        setup_jobs(&jobs, 1),
        SetupJobs::InFlight {
            id: "new".into(),
            status: "Started".into()
        }
    );
    assert_eq!(setup_jobs(&jobs, 3), SetupJobs::Idle);
    assert_eq!(setup_jobs(&[], 1), SetupJobs::Idle);
}

#[test]
fn a_listing_that_names_no_setup_cannot_be_followed() {
    let jobs = listed(json!([{"id": "a", "status": "STARTED"}]));
    assert_eq!(setup_jobs(&jobs, 1), SetupJobs::Unknown);
}

#[test]
fn revoked_is_terminal_and_told_apart() {
    assert!(JobStatus::new("revoked").is_revoked());
    assert!(!JobStatus::new("REVOKED").is_transient());
    assert!(JobStatus::new("Retry").is_transient());
}

fn system(value: serde_json::Value) -> Dhis2SystemInfo {
    serde_json::from_value(value).unwrap()
}

#[test]
fn dhis2s_date_is_the_date_it_writes_never_converted() {
    let at = |date: &str| system(json!({"version": "2.41", "serverDate": date})).today();
    let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 5, d);
    assert_eq!(at("2026-05-07T23:59:59.999"), day(7), "local wall time");
    assert_eq!(
        at("2026-05-08T01:00:00+14:00"),
        day(8),
        "an offset is not applied"
    );
    assert_eq!(at("2026-05-07"), day(7));
    assert_eq!(at("07/05/2026"), None);
    assert_eq!(system(json!({"version": "2.41"})).today(), None);
}

#[test]
fn only_the_iso8601_calendar_is_supported() {
    let calendar = |c: &str| system(json!({"version": "2.41", "calendar": c})).unsupported();
    assert_eq!(calendar("iso8601"), None);
    assert_eq!(calendar("ISO8601"), None);
    assert_eq!(
        calendar("nepali").as_deref(),
        Some("DHIS2 uses the nepali calendar; only iso8601 is supported")
    );
    assert_eq!(system(json!({"version": "2.41"})).unsupported(), None);
}
