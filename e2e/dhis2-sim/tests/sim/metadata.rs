//! `GET /api/dataElements`: value types, category combos, zero significance, filters and paging.

use dhis2_sim::{CategoryCombo, DataElement, EndpointGroup, Scenario, ValueType};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::start;

fn scenario() -> Scenario {
    Scenario::fixture()
        .data_element(
            DataElement::new("LOW1", "Predicted cases (low)")
                .value_type(ValueType::IntegerZeroOrPositive),
        )
        .data_element(DataElement {
            category_combo: CategoryCombo {
                id: "t3aNCvHsoSX".into(),
                name: "Sex".into(),
            },
            ..DataElement::new("ALERT1", "Outbreak alert")
                .value_type(ValueType::Boolean)
                .zero_significant()
        })
}

#[tokio::test]
async fn data_elements_answer_the_requested_fields_for_the_known_ids() {
    let (sim, client) = start(scenario()).await;
    let (status, body) = client
        .get_json("/api/dataElements?filter=id:in:[LOW1,ALERT1,NOPE]&fields=id,name,valueType,categoryCombo[id,name],zeroIsSignificant&paging=false")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"dataElements": [
            {"id": "LOW1", "name": "Predicted cases (low)", "valueType": "INTEGER_ZERO_OR_POSITIVE",
             "categoryCombo": {"id": "bjDvmb4bfuf", "name": "default"}, "zeroIsSignificant": false},
            {"id": "ALERT1", "name": "Outbreak alert", "valueType": "BOOLEAN",
             "categoryCombo": {"id": "t3aNCvHsoSX", "name": "Sex"}, "zeroIsSignificant": true},
        ]}),
        "unknown ids are simply absent, no pager with paging=false"
    );
    assert_eq!(sim.count_status(EndpointGroup::DataElements, 200), 1);
}

#[tokio::test]
async fn data_elements_default_to_id_and_display_name_with_a_pager() {
    let (_sim, client) = start(scenario()).await;
    let (_, body) = client.get_json("/api/dataElements?filter=id:eq:POP1").await;
    assert_eq!(
        body["dataElements"],
        json!([{"id": "POP1", "displayName": "Population"}])
    );
    assert_eq!(body["pager"]["total"], 1);
    let (_, page) = client
        .get_json("/api/dataElements?fields=id&pageSize=2&page=2")
        .await;
    assert_eq!(page["pager"]["total"], 5);
    assert_eq!(page["pager"]["pageCount"], 3);
    assert_eq!(
        page["dataElements"],
        json!([{"id": "DISEASE1"}, {"id": "LOW1"}])
    );
    let (_, nested) = client
        .get_json("/api/dataElements.json?filter=id:in:[POP1]&fields=categoryCombo,valueType&paging=false")
        .await;
    assert_eq!(
        nested["dataElements"],
        json!([{"categoryCombo": {"id": "bjDvmb4bfuf"}, "valueType": "NUMBER"}])
    );
}
