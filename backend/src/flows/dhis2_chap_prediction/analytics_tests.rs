use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::flows::dhis2_chap_prediction::periods::{enumerate, PeriodType};

fn base() -> Url {
    Url::parse("https://dhis.example.org").unwrap()
}

fn sources(pairs: &[(&str, &str)]) -> Vec<CovariateSource> {
    pairs
        .iter()
        .map(|(c, d)| CovariateSource {
            covariate: (*c).into(),
            data_element_id: (*d).into(),
        })
        .collect()
}

fn table(rows: Value) -> AnalyticsTable {
    let resp: AnalyticsResponse = serde_json::from_value(json!({ "rows": rows })).unwrap();
    AnalyticsTable::from_response(&resp).unwrap()
}

fn p(s: &str) -> PeriodId {
    PeriodId::parse(s).unwrap()
}

// --- the query shape ---

#[test]
fn the_probe_query_repeats_dimension_in_dx_pe_ou_order() {
    let req = AnalyticsRequest::probe(
        &sources(&[("population", "POP1"), ("rainfall", "RAIN1")]),
        PeriodType::Month.relative_window(),
        &["OU1".into(), "OU2".into()],
    );
    assert_eq!(
        req.query(),
        [
            ("dimension", "dx:POP1;RAIN1".to_string()),
            ("dimension", "pe:LAST_12_MONTHS".to_string()),
            ("dimension", "ou:OU1;OU2".to_string())
        ]
    );
    let url = req.url(&Url::parse("https://dhis.example.org/dhis/").unwrap());
    assert_eq!(url.path(), "/dhis/api/analytics");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs[1], ("dimension".into(), "pe:LAST_12_MONTHS".into()));
}

#[test]
fn input_queries_list_every_period_as_a_dhis2_canonical_id() {
    let weeks = enumerate(&p("2024W08"), &p("2024W10")).unwrap();
    let req = AnalyticsRequest::input(&sources(&[("rainfall", "RAIN1")]), &weeks, &["OU1".into()]);
    assert_eq!(req.query()[1].1, "pe:2024W8;2024W9;2024W10");
    assert_eq!(req.estimated_rows(), 3);
}

// --- reading rows by header ---

#[test]
fn rows_are_read_by_header_name_whatever_the_column_order() {
    let resp: AnalyticsResponse = serde_json::from_value(json!({
        "headers": [{"name": "value"}, {"name": "ou"}, {"name": "dx"}, {"name": "pe"}],
        "rows": [["120.5", "OU1", "RAIN1", "202301"], ["1", "OU1"]]
    }))
    .unwrap();
    let t = AnalyticsTable::from_response(&resp).unwrap();
    assert_eq!(
        t.rows,
        [AnalyticsRow {
            dx: "RAIN1".into(),
            pe: "202301".into(),
            ou: "OU1".into(),
            value: Some("120.5".into())
        }]
    );
    assert_eq!((t.short_rows, t.row_count()), (1, 2));
    assert_eq!(t.columns, ["value", "ou", "dx", "pe"]);
}

#[test]
fn rows_are_positional_only_when_headers_are_absent() {
    let t = table(json!([
        ["POP1", "202301", "OU1", "1000"],
        ["POP1", "202302", "OU1", null],
        ["POP1"]
    ]));
    assert_eq!(t.rows[0].dx, "POP1");
    assert_eq!(t.rows[0].value.as_deref(), Some("1000"));
    assert_eq!(t.rows[1].value, None);
    assert_eq!(t.short_rows, 1);
}

#[test]
fn headers_without_a_value_column_are_refused() {
    let resp: AnalyticsResponse = serde_json::from_value(json!({
        "headers": [{"name": "dx"}, {"name": "pe"}, {"name": "ou"}], "rows": []
    }))
    .unwrap();
    let err = AnalyticsTable::from_response(&resp).unwrap_err();
    assert_eq!(
        err.to_string(),
        "analytics response has no 'value' column (columns: [dx, pe, ou])"
    );
}

// --- chunking ---

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:08}")).collect()
}

fn big_request(dx: usize, periods: usize, ous: usize) -> AnalyticsRequest {
    let mut pe = Vec::new();
    let mut cur = p("201001");
    for _ in 0..periods {
        pe.push(cur.canonical());
        cur = cur.next().unwrap();
    }
    AnalyticsRequest {
        dx: ids("DX", dx),
        pe: PeriodDimension::Ids(pe),
        ou: ids("OU", ous),
    }
}

fn cells(req: &AnalyticsRequest) -> BTreeSet<(String, String, String)> {
    let PeriodDimension::Ids(pe) = &req.pe else {
        panic!("explicit periods expected")
    };
    let mut out = BTreeSet::new();
    for d in &req.dx {
        for p in pe {
            for o in &req.ou {
                out.insert((d.clone(), p.clone(), o.clone()));
            }
        }
    }
    out
}

fn assert_plan_covers_exactly(
    req: &AnalyticsRequest,
    plan: &[AnalyticsRequest],
    limits: &ChunkLimits,
) {
    let mut union = BTreeSet::new();
    let mut total = 0;
    for chunk in plan {
        assert!(
            chunk.estimated_rows() <= limits.max_rows,
            "{} rows",
            chunk.estimated_rows()
        );
        assert!(chunk.url(&base()).as_str().len() <= limits.max_url_len);
        let c = cells(chunk);
        total += c.len();
        union.extend(c);
    }
    assert_eq!(total, union.len(), "no cell is requested twice");
    assert_eq!(union, cells(req), "every cell is requested");
}

#[test]
fn a_request_within_budget_is_one_call() {
    let req = big_request(3, 40, 18);
    assert_eq!(
        plan_chunks(&base(), &req, &ChunkLimits::default()).unwrap(),
        [req]
    );
}

#[test]
fn a_request_over_the_row_budget_is_split_and_covers_every_cell_once() {
    // 5 dx × 60 pe × 1,000 ou = 300,000 rows, and a URL of ~14 KB.
    let req = big_request(5, 60, 1000);
    let limits = ChunkLimits::default();
    let plan = plan_chunks(&base(), &req, &limits).unwrap();
    assert!(plan.len() >= 6, "{} calls", plan.len());
    assert_plan_covers_exactly(&req, &plan, &limits);
}

#[test]
fn a_long_url_is_split_by_org_units_even_under_the_row_budget() {
    let req = big_request(1, 1, 2000);
    let limits = ChunkLimits::default();
    assert!(req.estimated_rows() <= limits.max_rows);
    let plan = plan_chunks(&base(), &req, &limits).unwrap();
    assert!(plan.len() > 1);
    assert_plan_covers_exactly(&req, &plan, &limits);
}

#[test]
fn tight_row_budgets_split_periods_too() {
    let req = big_request(4, 12, 3);
    let limits = ChunkLimits {
        max_rows: 10,
        max_url_len: 8192,
    };
    let plan = plan_chunks(&base(), &req, &limits).unwrap();
    assert_plan_covers_exactly(&req, &plan, &limits);
    assert!(plan
        .iter()
        .any(|c| matches!(&c.pe, PeriodDimension::Ids(p) if p.len() < 12)));
}

#[test]
fn a_probe_is_split_by_org_units_only() {
    let req = AnalyticsRequest::probe(
        &sources(&[("a", "A"), ("b", "B"), ("c", "C"), ("d", "D"), ("e", "E")]),
        PeriodType::Week.relative_window(),
        &ids("OU", 1000),
    );
    let plan = plan_chunks(&base(), &req, &ChunkLimits::default()).unwrap();
    assert!(plan.len() >= 6);
    let all: Vec<String> = plan.iter().flat_map(|c| c.ou.clone()).collect();
    assert_eq!(all, req.ou);
    for c in &plan {
        assert_eq!(c.pe, req.pe);
        assert!(c.estimated_rows() <= 50_000);
    }
}

#[test]
fn an_unsplittable_request_is_a_clear_error() {
    let req = big_request(3, 2, 2);
    let err = plan_chunks(
        &base(),
        &req,
        &ChunkLimits {
            max_rows: 2,
            max_url_len: 8192,
        },
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot split the analytics request"),
        "{err}"
    );
}

#[test]
fn merged_chunks_equal_the_unchunked_answer() {
    // A fake DHIS2: a value for every cell except a deterministic few, rows in DHIS2's dx/pe/ou order.
    let answer = |req: &AnalyticsRequest| {
        let rows: Vec<Value> = cells(req)
            .into_iter()
            .filter(|(d, p, o)| {
                !(d.len() + p.len() + o.len() + o.as_bytes()[o.len() - 1] as usize)
                    .is_multiple_of(7)
            })
            .map(|(d, p, o)| json!([d, p, o, format!("{}.5", o.len())]))
            .collect();
        let resp: AnalyticsResponse = serde_json::from_value(json!({
            "headers": [{"name": "dx"}, {"name": "pe"}, {"name": "ou"}, {"name": "value"}], "rows": rows
        }))
        .unwrap();
        AnalyticsTable::from_response(&resp).unwrap()
    };
    let req = big_request(3, 24, 300);
    let limits = ChunkLimits {
        max_rows: 2_000,
        max_url_len: 2_048,
    };
    let plan = plan_chunks(&base(), &req, &limits).unwrap();
    assert!(plan.len() > 1);
    let merged = AnalyticsTable::merge(plan.iter().map(answer));
    let whole = answer(&req);
    let sorted = |t: &AnalyticsTable| {
        let mut r = t.rows.clone();
        r.sort();
        r
    };
    assert_eq!(sorted(&merged), sorted(&whole));
    assert_eq!(merged.columns, whole.columns);
    assert_eq!(merged.row_count(), whole.row_count());
}

// --- the freshness probe (§8.8, §8.6 29–33) ---

#[test]
fn latest_period_per_element_is_taken_by_period_order() {
    let t = table(json!([
        ["POP1", "202601", "OU1", "1"],
        ["POP1", "202604", "OU1", "1"],
        ["RAIN1", "202602", "OU1", "1"]
    ]));
    let latest = latest_periods(&t).unwrap();
    assert_eq!(
        (latest["POP1"].as_str(), latest["RAIN1"].as_str()),
        ("202604", "202602")
    );

    let t = table(json!([
        ["POP1", "202604", "OU1", "1"],
        ["POP1", "202601", "OU1", "1"],
        ["POP1", "202603", "OU1", "1"]
    ]));
    assert_eq!(latest_periods(&t).unwrap()["POP1"].as_str(), "202604");

    let t = table(json!([
        ["RAIN1", "202602"],
        ["POP1"],
        ["POP1", "202604", "OU1", "1"],
        ["RAIN1", "202603", "OU1", "1"]
    ]));
    let latest = latest_periods(&t).unwrap();
    assert_eq!(
        (latest["POP1"].as_str(), latest["RAIN1"].as_str()),
        ("202604", "202603")
    );

    assert!(latest_periods(&table(json!([]))).unwrap().is_empty());

    let t = table(json!([
        ["POP1", "202612", "OU1", "1"],
        ["POP1", "202701", "OU1", "1"]
    ]));
    assert_eq!(latest_periods(&t).unwrap()["POP1"].as_str(), "202701");
}

#[test]
fn unpadded_weekly_probe_rows_are_understood() {
    let t = table(json!([
        ["POP1", "2024W9", "OU1", "1"],
        ["POP1", "2024W10", "OU1", "1"],
        ["POP1", "2024W1", "OU1", "1"]
    ]));
    assert_eq!(latest_periods(&t).unwrap()["POP1"].as_str(), "2024W10");
}

fn latest(pairs: &[(&str, &str)]) -> BTreeMap<String, PeriodId> {
    pairs
        .iter()
        .map(|(d, s)| ((*d).to_string(), p(s)))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn the_safe_end_is_the_earliest_latest_period_over_expected_elements() {
    let l = latest(&[
        ("POP1", "202602"),
        ("RAIN1", "202601"),
        ("DISEASE1", "202604"),
    ]);
    assert_eq!(
        safe_end_period(&l, &strings(&["POP1", "RAIN1", "DISEASE1"]))
            .unwrap()
            .as_str(),
        "202601"
    );
    let no_rain = latest(&[("POP1", "202602"), ("DISEASE1", "202604")]);
    assert_eq!(
        safe_end_period(&no_rain, &strings(&["POP1", "RAIN1", "DISEASE1"])),
        None
    );
    assert_eq!(safe_end_period(&BTreeMap::new(), &strings(&["POP1"])), None);
    assert_eq!(safe_end_period(&l, &[]), None);
    let extra = latest(&[("POP1", "202602"), ("RAIN1", "202601"), ("EXTRA", "202412")]);
    assert_eq!(
        safe_end_period(&extra, &strings(&["POP1", "RAIN1"]))
            .unwrap()
            .as_str(),
        "202601"
    );
}

#[test]
fn a_covariate_without_data_fails_the_probe_naming_it_and_the_window() {
    let srcs = sources(&[("rainfall", "RAIN1"), ("population", "POP1")]);
    let err = probed_end(
        &srcs,
        &latest(&[("POP1", "202604")]),
        PeriodType::Month.relative_window(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DHIS2 returned no data within LAST_12_MONTHS for covariate(s): rainfall. Import the missing data, or \
         trigger the flow with an explicit end_date to override."
    );
    let ok = probed_end(
        &srcs,
        &latest(&[("POP1", "202604"), ("RAIN1", "202603")]),
        PeriodType::Month.relative_window(),
    );
    assert_eq!(ok.unwrap().as_str(), "202603");
    assert_eq!(
        probed_end(&[], &BTreeMap::new(), PeriodType::Month.relative_window()),
        Err(ProbeError::NoSources)
    );
    assert_eq!(
        describe_latest(&srcs, &latest(&[("POP1", "202604")])),
        "latest period per covariate: {rainfall: (no data), population: 202604}"
    );
}
