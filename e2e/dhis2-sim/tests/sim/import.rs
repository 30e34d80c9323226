//! `POST /api/dataValueSets`: DHIS2's checks and conflicts, zero significance, strategies, dry runs,
//! both answer formats, and the values it stores.

use dhis2_sim::{
    DataElement, DataSet, EndpointGroup, Fault, ImportStrategy, ImportSummaryFormat, OrgUnit,
    Scenario, ValueType,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{start, Client};

const IMPORT: &str = "/api/dataValueSets";

/// The fixture (today 2026-05-07, OU1/OU2 under PARENT) plus OU3 elsewhere, the user's hierarchy
/// rooted at PARENT, one element per value type in DS1 (monthly, open 2 months ahead: up to
/// 202607), LONE1 in no data set and ELSE1 in a data set assigned to OU3 only.
fn scenario() -> Scenario {
    let typed = [
        ("MED1", ValueType::Number),
        ("LOW1", ValueType::IntegerZeroOrPositive),
        ("POS1", ValueType::IntegerPositive),
        ("INT1", ValueType::Integer),
        ("NEG1", ValueType::IntegerNegative),
        ("PCT1", ValueType::Percentage),
        ("UNIT1", ValueType::UnitInterval),
        ("BOOL1", ValueType::Boolean),
        ("TRUE1", ValueType::TrueOnly),
        ("TEXT1", ValueType::Text),
    ];
    let mut scenario = Scenario::fixture().org_unit(OrgUnit {
        parent: Some("OTHER".into()),
        ..OrgUnit::new("OU3", "Region 3")
    });
    for (id, value_type) in typed {
        scenario = scenario.data_element(DataElement::new(id, id).value_type(value_type));
    }
    scenario.dhis2.user_org_units = Some(vec!["PARENT".into()]);
    let mut in_ds1: Vec<&str> = typed.iter().map(|(id, _)| *id).collect();
    in_ds1.push("ZERO1");
    scenario
        .data_element(DataElement::new("ZERO1", "Zero counts").zero_significant())
        .data_element(DataElement::new("LONE1", "In no data set"))
        .data_element(DataElement::new("ELSE1", "Elsewhere"))
        .data_set(DataSet::monthly("DS1", "Forecasts", 2, in_ds1))
        .data_set(DataSet {
            org_units: vec!["OU3".into()],
            ..DataSet::monthly("DS2", "Elsewhere", 0, ["ELSE1"])
        })
}

fn dv(de: &str, period: &str, ou: &str, value: impl Into<Value>) -> Value {
    json!({"dataElement": de, "period": period, "orgUnit": ou, "value": value.into()})
}

async fn post(client: &Client, query: &str, values: Vec<Value>) -> (StatusCode, Value) {
    client
        .post(
            &format!("{IMPORT}{query}"),
            &json!({ "dataValues": values }),
        )
        .await
}

fn codes(summary: &Value) -> Vec<(String, Vec<u64>)> {
    summary["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let indexes = c["indexes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap())
                .collect();
            (c["errorCode"].as_str().unwrap().to_string(), indexes)
        })
        .collect()
}

#[tokio::test]
async fn each_check_becomes_a_conflict_in_dhis2s_order_and_the_rest_is_written() {
    let (sim, client) = start(scenario()).await;
    let values = vec![
        dv("NOPE", "202605", "OU1", "1"),
        dv("MED1", "202605", "NOOU", "1"),
        dv("MED1", "2026-05", "OU1", "1"),
        dv("MED1", "202605", "OU3", "1"),
        dv("LONE1", "202605", "OU1", "1"),
        dv("ELSE1", "202605", "OU1", "1"),
        dv("MED1", "202608", "OU1", "1"),
        dv("POS1", "202605", "OU1", "0"),
        dv("MED1", "202605", "OU1", "12.5"),
        // The same failure in another org unit joins the same conflict.
        dv("MED1", "202608", "OU2", "1"),
        // Checks stop at the first failure: an unknown element in an unknown org unit is E7610.
        dv("NOPE", "202605", "NOOU", "x"),
    ];
    let (status, body) = post(&client, "", values).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["httpStatus"], "Conflict");
    assert_eq!(body["httpStatusCode"], 409);
    assert_eq!(body["status"], "WARNING");
    assert_eq!(
        body["message"],
        "One more conflicts encountered, please check import summary."
    );
    let summary = &body["response"];
    assert_eq!(summary["responseType"], "ImportSummary");
    assert_eq!(summary["status"], "WARNING");
    assert_eq!(
        codes(summary),
        [
            ("E7610".to_string(), vec![0, 10]),
            ("E7612".into(), vec![1]),
            ("E7611".into(), vec![2]),
            ("E7617".into(), vec![3]),
            ("E7633".into(), vec![4]),
            ("E7636".into(), vec![5]),
            ("E7641".into(), vec![6, 9]),
            ("E7619".into(), vec![7]),
        ]
    );
    let conflicts = &summary["conflicts"];
    assert_eq!(conflicts[0]["property"], "dataElement");
    assert_eq!(conflicts[0]["object"], "NOPE");
    assert_eq!(
        conflicts[3]["value"],
        "Organisation unit: `OU3` not in hierarchy of current user: `alice`"
    );
    assert_eq!(
        conflicts[4]["value"],
        "Data element: `LONE1` is not part of any data set"
    );
    assert_eq!(
        conflicts[5]["value"],
        "Data element: `ELSE1` is not assigned to organisation unit: `OU1` through any data set"
    );
    assert_eq!(conflicts[6]["property"], "period");
    assert_eq!(
        conflicts[6]["value"],
        "Period: `202608` is after latest open future period: `202607` for data element: `MED1`"
    );
    assert_eq!(
        conflicts[6]["objects"],
        json!({"dataElement": "MED1", "period": "202608"})
    );
    assert_eq!(conflicts[7]["property"], "value");
    assert_eq!(
        conflicts[7]["value"],
        "Value must match data element's `POS1` type constraints: Value must be a positive integer"
    );
    assert_eq!(
        summary["rejectedIndexes"],
        json!([0, 1, 2, 3, 4, 5, 6, 7, 9, 10])
    );
    assert_eq!(
        summary["importCount"],
        json!({"imported": 1, "updated": 0, "ignored": 10, "deleted": 0})
    );
    assert_eq!(
        summary["importOptions"]["importStrategy"],
        "CREATE_AND_UPDATE"
    );
    assert_eq!(summary["importOptions"]["dryRun"], false);
    assert_eq!(summary["dataSetComplete"], "false");
    assert_eq!(
        sim.data_value("MED1", "202605", "OU1").as_deref(),
        Some("12.5")
    );
    assert_eq!(
        sim.data_values().len(),
        1,
        "only the valid value was written"
    );
    let imports = sim.imports();
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0].values, 11);
    assert_eq!(imports[0].status, 409);
    assert_eq!(imports[0].import_count.imported, 1);
    assert_eq!(imports[0].conflicts.len(), 8);
}

#[tokio::test]
async fn values_must_fit_their_value_type() {
    let (_sim, client) = start(scenario()).await;
    let cases = [
        ("MED1", "-3.25", true),
        ("MED1", "1,5", false),
        ("INT1", "12", true),
        ("INT1", "12.0", false),
        ("POS1", "3", true),
        ("POS1", "-3", false),
        ("LOW1", "0", true),
        ("LOW1", "2.5", false),
        ("NEG1", "-4", true),
        ("NEG1", "4", false),
        ("PCT1", "99.5", true),
        ("PCT1", "101", false),
        ("UNIT1", "0.3", true),
        ("UNIT1", "1.2", false),
        ("BOOL1", "false", true),
        ("BOOL1", "yes", false),
        ("TRUE1", "true", true),
        ("TRUE1", "false", false),
        ("TEXT1", "anything at all", true),
    ];
    for (de, value, ok) in cases {
        let (status, body) = post(
            &client,
            "?dryRun=true",
            vec![dv(de, "202605", "OU1", value)],
        )
        .await;
        let summary = &body["response"];
        if ok {
            assert_eq!(status, StatusCode::OK, "{de} {value}: {body}");
            assert_eq!(summary["status"], "SUCCESS");
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "{de} {value}");
            assert_eq!(summary["status"], "ERROR", "nothing was accepted");
            assert_eq!(body["status"], "ERROR");
            assert_eq!(
                summary["conflicts"][0]["errorCode"], "E7619",
                "{de} {value}"
            );
        }
    }
    // A JSON number is read as its text: 12 fits INTEGER, 12.5 does not.
    let (status, _) = post(&client, "", vec![dv("INT1", "202605", "OU1", 12)]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(&client, "", vec![dv("INT1", "202605", "OU1", 12.5)]).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_zero_that_is_not_significant_deletes_a_stored_value_or_is_ignored() {
    let (sim, client) = start(scenario().data_value("LOW1", "202605", "OU1", "7")).await;
    let values = vec![
        dv("LOW1", "202605", "OU1", "0"),
        dv("LOW1", "202606", "OU1", "0"),
        dv("MED1", "202606", "OU1", "0.0"),
        dv("ZERO1", "202606", "OU1", "0"),
    ];
    let (status, body) = post(&client, "", values).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "OK");
    assert_eq!(body["message"], "Import was successful.");
    assert_eq!(
        body["response"]["importCount"],
        json!({"imported": 1, "updated": 0, "ignored": 2, "deleted": 1})
    );
    assert_eq!(
        sim.data_value("LOW1", "202605", "OU1"),
        None,
        "the zero deleted it"
    );
    assert_eq!(sim.data_value("LOW1", "202606", "OU1"), None);
    assert_eq!(sim.data_value("MED1", "202606", "OU1"), None);
    assert_eq!(
        sim.data_value("ZERO1", "202606", "OU1").as_deref(),
        Some("0"),
        "a significant zero is stored"
    );
}

#[tokio::test]
async fn a_dry_run_counts_like_the_real_import_but_stores_nothing() {
    let (sim, client) = start(scenario().data_value("MED1", "202605", "OU1", "1")).await;
    let values = vec![
        dv("MED1", "202605", "OU1", "2"),
        dv("MED1", "202606", "OU1", "3"),
        dv("MED1", "202606", "OU1", "4"),
        dv("LOW1", "202605", "OU1", "-1"),
    ];
    let (status, dry) = post(&client, "?dryRun=true", values.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(dry["response"]["importOptions"]["dryRun"], true);
    assert_eq!(
        dry["response"]["importCount"],
        json!({"imported": 1, "updated": 2, "ignored": 1, "deleted": 0}),
        "the second value of a cell updates the first, even in a dry run"
    );
    assert_eq!(
        sim.data_value("MED1", "202605", "OU1").as_deref(),
        Some("1")
    );
    assert_eq!(sim.data_value("MED1", "202606", "OU1"), None);
    let (_, real) = post(&client, "", values).await;
    assert_eq!(
        real["response"]["importCount"],
        dry["response"]["importCount"]
    );
    assert_eq!(
        sim.data_value("MED1", "202605", "OU1").as_deref(),
        Some("2")
    );
    assert_eq!(
        sim.data_value("MED1", "202606", "OU1").as_deref(),
        Some("4")
    );
    let flags: Vec<bool> = sim.imports().iter().map(|i| i.dry_run).collect();
    assert_eq!(flags, [true, false]);
}

#[tokio::test]
async fn strategies_create_update_and_delete_behave_as_in_dhis2() {
    let (sim, client) = start(scenario().data_value("MED1", "202605", "OU1", "1")).await;
    let cells = || {
        vec![
            dv("MED1", "202605", "OU1", "5"),
            dv("MED1", "202605", "OU2", "6"),
        ]
    };
    let count = |body: &Value| body["response"]["importCount"].clone();
    let (_, create) = post(&client, "?importStrategy=CREATE", cells()).await;
    assert_eq!(
        count(&create),
        json!({"imported": 1, "updated": 0, "ignored": 1, "deleted": 0})
    );
    assert_eq!(
        sim.data_value("MED1", "202605", "OU1").as_deref(),
        Some("1")
    );
    let (_, update) = post(
        &client,
        "?importStrategy=UPDATE",
        vec![
            dv("MED1", "202605", "OU1", "7"),
            dv("MED1", "202606", "OU1", "8"),
        ],
    )
    .await;
    assert_eq!(
        count(&update),
        json!({"imported": 0, "updated": 1, "ignored": 1, "deleted": 0})
    );
    assert_eq!(
        sim.data_value("MED1", "202605", "OU1").as_deref(),
        Some("7")
    );
    assert_eq!(sim.data_value("MED1", "202606", "OU1"), None);
    let (status, delete) = post(
        &client,
        "?importStrategy=DELETE",
        vec![
            dv("MED1", "202605", "OU1", "anything"),
            dv("MED1", "202605", "OU2", ""),
            dv("MED1", "202607", "OU2", "1"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        delete["response"]["importOptions"]["importStrategy"],
        "DELETE"
    );
    assert_eq!(
        count(&delete),
        json!({"imported": 0, "updated": 0, "ignored": 1, "deleted": 2})
    );
    assert!(sim.data_values().is_empty());
    let strategies: Vec<ImportStrategy> = sim.imports().iter().map(|i| i.import_strategy).collect();
    assert_eq!(
        strategies,
        [
            ImportStrategy::Create,
            ImportStrategy::Update,
            ImportStrategy::Delete
        ]
    );
    let (status, body) = post(&client, "?importStrategy=MERGE", cells()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["httpStatusCode"], 400);
}

#[tokio::test]
async fn an_older_server_answers_the_bare_summary_with_200_with_or_without_error_codes() {
    let mut scenario = scenario();
    scenario.dhis2.import_summary = ImportSummaryFormat::TopLevel;
    let (_sim, client) = start(scenario.clone()).await;
    let values = || {
        vec![
            dv("MED1", "202605", "OU1", "1"),
            dv("LONE1", "202605", "OU1", "1"),
        ]
    };
    let (status, body) = post(&client, "", values()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["responseType"], "ImportSummary");
    assert_eq!(body["status"], "WARNING");
    assert_eq!(body["conflicts"][0]["errorCode"], "E7633");
    assert_eq!(body["importCount"]["imported"], 1);
    let (status, clean) = post(&client, "", vec![dv("MED1", "202606", "OU1", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clean["status"], "SUCCESS");
    assert!(clean.get("httpStatus").is_none());

    scenario.dhis2.conflict_error_codes = false;
    let (_sim, client) = start(scenario).await;
    let (status, body) = post(&client, "", values()).await;
    assert_eq!(status, StatusCode::OK);
    let conflict = &body["conflicts"][0];
    assert!(conflict.get("errorCode").is_none(), "{conflict}");
    assert_eq!(conflict["object"], "LONE1");
    assert_eq!(
        conflict["value"],
        "Data element: `LONE1` is not part of any data set"
    );
}

#[tokio::test]
async fn a_malformed_body_answers_400_like_dhis2() {
    let (sim, client) = start(scenario()).await;
    let (status, body) = client
        .post_raw(IMPORT, b"{\"dataValues\": [{\"dataElement\": ".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["httpStatus"], "Bad Request");
    assert_eq!(body["status"], "ERROR");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("JSON parse error"));
    assert_eq!(sim.imports()[0].status, 400);
    assert!(sim.data_values().is_empty());
}

#[tokio::test]
async fn stored_values_are_read_back_through_dhis2_and_the_control_api() {
    let scenario = scenario().org_unit(OrgUnit {
        parent: Some("OU1".into()),
        ..OrgUnit::new("OU1A", "Below region 1")
    });
    let (sim, client) = start(scenario).await;
    sim.set_data_value("MED1", "202604", "OU2", "9");
    let (status, _) = post(
        &client,
        "",
        vec![
            dv("MED1", "202605", "OU1", "1.5"),
            dv("LOW1", "202606", "OU1A", "2"),
            dv("LOW1", "202607", "OU2", "3"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let read = |query: &'static str| {
        let client = &client;
        async move {
            let (status, body) = client.get_json(&format!("{IMPORT}?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body["dataValues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    format!(
                        "{} {} {} {}",
                        v["dataElement"].as_str().unwrap(),
                        v["period"].as_str().unwrap(),
                        v["orgUnit"].as_str().unwrap(),
                        v["value"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        read("dataSet=DS1").await,
        [
            "LOW1 202606 OU1A 2",
            "LOW1 202607 OU2 3",
            "MED1 202604 OU2 9",
            "MED1 202605 OU1 1.5"
        ]
    );
    assert_eq!(
        read("dataSet=DS1&period=202605").await,
        ["MED1 202605 OU1 1.5"]
    );
    assert_eq!(
        read("dataSet=DS1&startDate=2026-06-01&endDate=2026-07-31").await,
        ["LOW1 202606 OU1A 2", "LOW1 202607 OU2 3"]
    );
    assert_eq!(
        read("dataSet=DS1&orgUnit=OU1").await,
        ["MED1 202605 OU1 1.5"]
    );
    assert_eq!(
        read("dataSet=DS1&orgUnit=OU1&children=true").await,
        ["LOW1 202606 OU1A 2", "MED1 202605 OU1 1.5"]
    );
    assert!(read("dataSet=DS2").await.is_empty());
    let (_, full) = client
        .get_json(&format!("{IMPORT}?dataSet=DS1&period=202605"))
        .await;
    let value = &full["dataValues"][0];
    assert_eq!(value["categoryOptionCombo"], "HllvX50cXC0");
    assert_eq!(value["attributeOptionCombo"], "HllvX50cXC0");
    assert_eq!(value["storedBy"], "alice");
    assert_eq!(value["followup"], false);
    assert!(value["created"].is_string() && value["lastUpdated"].is_string());

    let (status, body) = client.get_json(IMPORT).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["errorCode"], "E2001");
    let (status, _) = client.get_json(&format!("{IMPORT}?dataSet=NOPE")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let control: Value = client
        .http
        .get(format!("{}/__sim/data-values", client.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(control.as_array().unwrap().len(), 4);
    assert_eq!(control[0]["dataElement"], "LOW1");
    assert_eq!(sim.data_values().len(), 4);
    assert_eq!(sim.count_status(EndpointGroup::DataValueSets, 200), 8);
}

#[tokio::test]
async fn weekly_ids_padded_or_not_are_the_same_cell() {
    let scenario = scenario()
        .data_element(DataElement {
            period_type: dhis2_sim::periods::PeriodType::Week,
            ..DataElement::new("WK1", "Weekly forecast")
        })
        .data_set(DataSet {
            period_type: dhis2_sim::periods::PeriodType::Week,
            ..DataSet::monthly("DSW", "Weekly", 4, ["WK1"])
        });
    let (sim, client) = start(scenario).await;
    let (status, body) = post(
        &client,
        "",
        vec![
            dv("WK1", "2026W01", "OU1", "1"),
            dv("WK1", "2026W1", "OU1", "2"),
            dv("WK1", "2026W23", "OU1", "3"),
        ],
    )
    .await;
    // Today 2026-05-07 is in 2026W19: four weeks ahead is 2026W23.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["response"]["importCount"],
        json!({"imported": 2, "updated": 1, "ignored": 0, "deleted": 0})
    );
    assert_eq!(sim.data_value("WK1", "2026W1", "OU1").as_deref(), Some("2"));
    let (status, body) = post(&client, "", vec![dv("WK1", "2026W24", "OU1", "1")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["response"]["conflicts"][0]["value"],
        "Period: `2026W24` is after latest open future period: `2026W23` for data element: `WK1`"
    );
}

#[tokio::test]
async fn a_fault_on_data_value_sets_fails_the_next_import_batch_and_is_not_an_import() {
    let (sim, client) = start(scenario()).await;
    sim.inject(Fault {
        method: Some("POST".into()),
        ..Fault::next(EndpointGroup::DataValueSets, 1, 502)
    });
    assert_eq!(
        client.get_json(&format!("{IMPORT}?dataSet=DS1")).await.0,
        StatusCode::OK
    );
    let batch = || vec![dv("MED1", "202605", "OU1", "1")];
    let (status, body) = post(&client, "", batch()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["httpStatusCode"], 502);
    assert!(
        sim.imports().is_empty(),
        "the fault answered before the importer"
    );
    assert!(sim.data_values().is_empty());
    let (status, _) = post(&client, "", batch()).await;
    assert_eq!(status, StatusCode::OK, "the retry goes through");
    assert_eq!(sim.imports().len(), 1);
    assert_eq!(sim.count_status(EndpointGroup::DataValueSets, 502), 1);
    assert_eq!(sim.count("POST", IMPORT), 2);
}
