//! DHIS2's own endpoints: system info, analytics, organisation units, basic auth.

use chrono::NaiveDate;
use dhis2_sim::{DataElement, OrgUnit, Scenario};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{analytics_path, header_names, rows, start};

#[tokio::test]
async fn system_info_reports_the_scenario_version_to_an_authenticated_user() {
    let (_sim, client) = start(Scenario::fixture()).await;
    let (status, body) = client.get_json("/api/system/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], "2.41.3");
    assert_eq!(body["systemName"], "DHIS 2 Simulator");
    assert!(body["serverDate"].is_string());
    assert!(body["buildTime"].is_string());
    assert_eq!(body["contextPath"], client.base.as_str());
}

#[tokio::test]
async fn missing_or_wrong_credentials_answer_401_like_dhis2() {
    let (sim, client) = start(Scenario::fixture()).await;
    for path in [
        "/api/system/info",
        "/api/routes/chap/run/system/info",
        "/api/analytics",
    ] {
        let anonymous = client
            .http
            .get(format!("{}{path}", client.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            anonymous.headers()["www-authenticate"],
            "Basic realm=\"DHIS2\""
        );
        let body: serde_json::Value = anonymous.json().await.unwrap();
        assert_eq!(body["httpStatusCode"], 401);
        assert_eq!(body["status"], "ERROR");
        let wrong = client
            .http
            .get(format!("{}{path}", client.base))
            .basic_auth(sim.username(), Some("not-the-password"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(
        sim.count_status(dhis2_sim::EndpointGroup::SystemInfo, 401),
        2
    );
}

#[tokio::test]
async fn a_relative_window_covers_the_completed_periods_that_have_data() {
    // Today 2026-05-07: LAST_12_MONTHS is 202505..202604. RAIN1 lags, stopping at 202601.
    let mut scenario = Scenario::fixture();
    scenario.data_elements[1].last_period = Some("202601".into());
    let (sim, client) = start(scenario).await;
    let (status, body) = client
        .get_json(&analytics_path(
            &["POP1", "RAIN1"],
            "LAST_12_MONTHS",
            &["OU1", "OU2"],
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_names(&body), ["dx", "pe", "ou", "value"]);
    let rows = rows(&body);
    assert_eq!(body["height"], rows.len());
    assert_eq!(body["width"], 4);
    let periods_of = |de: &str| -> Vec<String> {
        let mut p: Vec<String> = rows
            .iter()
            .filter(|r| r[0] == de)
            .map(|r| r[1].clone())
            .collect();
        p.dedup();
        p
    };
    assert_eq!(periods_of("POP1").len(), 12);
    assert_eq!(periods_of("POP1").first().unwrap(), "202505");
    assert_eq!(periods_of("POP1").last().unwrap(), "202604");
    assert_eq!(periods_of("RAIN1").last().unwrap(), "202601");
    assert_eq!(rows.len(), (12 + 9) * 2);
    assert!(rows.iter().all(|r| r[3].parse::<f64>().is_ok()));
    assert_eq!(
        body["metaData"]["dimensions"]["pe"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(
        sim.analytics_queries(),
        ["dimension=dx:POP1;RAIN1&dimension=pe:LAST_12_MONTHS&dimension=ou:OU1;OU2"]
    );
}

#[tokio::test]
async fn an_explicit_period_list_returns_rows_only_where_data_exists() {
    let mut scenario = Scenario::fixture();
    scenario.data_elements[2].missing_org_units = vec!["OU2".into()];
    scenario.data_elements[0].missing_cells = vec![dhis2_sim::scenario::Cell {
        org_unit: "OU1".into(),
        period: "202603".into(),
    }];
    let (_sim, client) = start(scenario).await;
    // 202605 is in progress on 2026-05-07: no data yet.
    let (_, body) = client
        .get_json(&analytics_path(
            &["POP1", "DISEASE1"],
            "202603;202604;202605",
            &["OU1", "OU2"],
        ))
        .await;
    let rows = rows(&body);
    let cells: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("POP1", "202603", "OU2"),
        ("POP1", "202604", "OU1"),
        ("POP1", "202604", "OU2"),
        ("DISEASE1", "202603", "OU1"),
        ("DISEASE1", "202604", "OU1"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(cells, expected);
}

#[tokio::test]
async fn columns_follow_the_order_the_dimensions_were_given_in() {
    let (_sim, client) = start(Scenario::fixture()).await;
    let (_, body) = client
        .get_json("/api/analytics?dimension=ou:OU1&dimension=pe:202604&dimension=dx:POP1;RAIN1")
        .await;
    assert_eq!(header_names(&body), ["ou", "pe", "dx", "value"]);
    let rows = rows(&body);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][..3], ["OU1", "202604", "POP1"]);
}

#[tokio::test]
async fn weekly_ids_come_back_unpadded_and_a_53_week_year_has_week_53() {
    let scenario = Scenario::default()
        .today(NaiveDate::from_ymd_opt(2027, 1, 20).unwrap())
        .org_unit(OrgUnit::new("OU1", "Region 1"))
        .data_element(DataElement {
            period_type: dhis2_sim::periods::PeriodType::Week,
            ..DataElement::new("WEEKLY1", "Weekly cases")
        });
    let (_sim, client) = start(scenario).await;
    // 2027-01-20 is in 2027W3: the last completed week is 2027W2.
    let (_, body) = client
        .get_json(&analytics_path(&["WEEKLY1"], "LAST_52_WEEKS", &["OU1"]))
        .await;
    let periods: Vec<String> = rows(&body).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(periods.len(), 52);
    assert_eq!(periods.last().unwrap(), "2027W2");
    assert!(periods.contains(&"2026W53".to_string()));
    assert!(periods.contains(&"2027W1".to_string()));
    assert!(periods.iter().all(|p| !p.contains("W0")));
    // Padded ids are accepted in explicit lists and answered in DHIS2's canonical form.
    let (_, body) = client
        .get_json(&analytics_path(
            &["WEEKLY1"],
            "2026W09;2026W52;2026W53;2027W01",
            &["OU1"],
        ))
        .await;
    let periods: Vec<String> = rows(&body).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(periods, ["2026W9", "2026W52", "2026W53", "2027W1"]);
}

#[tokio::test]
async fn chunked_queries_merge_to_exactly_the_unchunked_answer() {
    let (_sim, client) = start(Scenario::fixture()).await;
    let whole = rows(
        &client
            .get_json(&analytics_path(
                &["POP1", "RAIN1", "DISEASE1"],
                "202501;202502;202503;202504",
                &["OU1", "OU2"],
            ))
            .await
            .1,
    );
    let mut merged = Vec::new();
    for periods in ["202501;202502", "202503;202504"] {
        for ou in ["OU1", "OU2"] {
            merged.extend(rows(
                &client
                    .get_json(&analytics_path(
                        &["POP1", "RAIN1", "DISEASE1"],
                        periods,
                        &[ou],
                    ))
                    .await
                    .1,
            ));
        }
    }
    assert_eq!(whole.len(), 3 * 4 * 2);
    let (mut whole, mut merged) = (whole, merged);
    whole.sort();
    merged.sort();
    assert_eq!(whole, merged);
}

#[tokio::test]
async fn results_over_the_max_limit_and_unknown_windows_answer_409_like_dhis2() {
    let scenario = Scenario {
        analytics_max_rows: Some(10),
        ..Scenario::fixture()
    };
    let (_sim, client) = start(scenario).await;
    let (status, body) = client
        .get_json(&analytics_path(&["POP1"], "LAST_12_MONTHS", &["OU1"]))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["errorCode"], "E7128");
    assert_eq!(body["message"], "Query result set exceeded max limit: `10`");
    // There is no LAST_24_MONTHS in DHIS2.
    let (status, body) = client
        .get_json(&analytics_path(&["POP1"], "LAST_24_MONTHS", &["OU1"]))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["errorCode"], "E7124");
    assert_eq!(body["httpStatus"], "Conflict");
}

#[tokio::test]
async fn org_units_filter_returns_the_requested_units_with_geometry_and_parent() {
    let scenario = Scenario::fixture().org_unit(OrgUnit {
        without_geometry: true,
        ..OrgUnit::new("OU3", "Region 3")
    });
    let (sim, client) = start(scenario).await;
    let (status, body) = client
        .get_json("/api/organisationUnits?filter=id:in:%5BOU1,OU3%5D&fields=id,geometry,parent%5Bid%5D,level,displayName,code&paging=false")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("pager").is_none());
    let units = body["organisationUnits"].as_array().unwrap();
    assert_eq!(units.len(), 2);
    assert_eq!(
        units[0],
        json!({
            "id": "OU1", "displayName": "Region 1", "level": 2, "code": "R1",
            "parent": {"id": "PARENT"},
            "geometry": units[0]["geometry"].clone(),
        })
    );
    let geometry = &units[0]["geometry"];
    assert_eq!(geometry["type"], "Polygon");
    let ring = geometry["coordinates"][0].as_array().unwrap();
    assert!(ring.len() >= 4);
    assert_eq!(ring.first(), ring.last(), "a GeoJSON ring is closed");
    // No geometry, no code, no parent: the fields are omitted, not null.
    assert_eq!(
        units[1],
        json!({"id": "OU3", "displayName": "Region 3", "level": 2})
    );
    assert_eq!(sim.count("GET", "/api/organisationUnits"), 1);
}
