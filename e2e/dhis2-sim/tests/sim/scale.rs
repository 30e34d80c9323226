//! The national-scale scenario: 1,000 org units × 60 months × 5 covariates = 300,000 rows.

use std::time::Instant;

use dhis2_sim::Scenario;

/// Peak resident memory of this process so far, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn the_national_scale_answer_streams_300k_rows_in_bounded_memory() {
    let scenario = Scenario::national_scale(1000, 60, 5);
    let setup = scenario.prediction_setups[0].setup.clone();
    let (sim, client) = crate::helpers::start(scenario).await;
    let dx: Vec<&str> = setup
        .covariate_sources
        .iter()
        .map(|c| c.data_element_id.as_str())
        .collect();
    let first = dhis2_sim::periods::Period::parse(setup.start_period.as_deref().unwrap()).unwrap();
    let periods: Vec<String> = std::iter::successors(Some(first), |p| Some(p.next()))
        .take(60)
        .map(|p| p.to_string())
        .collect();
    let ou: Vec<&str> = setup.org_units.iter().map(String::as_str).collect();
    let path = crate::helpers::analytics_path(&dx, &periods.join(";"), &ou);

    let before = peak_rss_kib();
    let started = Instant::now();
    let mut response = client.get(&path).await;
    assert_eq!(response.status(), 200);
    let (mut bytes, mut rows, mut head) = (0usize, 0usize, Vec::new());
    let mut previous = 0u8;
    let mut in_rows = false;
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        if head.len() < 1 << 20 {
            head.extend_from_slice(&chunk[..chunk.len().min((1 << 20) - head.len())]);
        }
        for &b in chunk.iter() {
            // Every row ends with `"]`; nothing else after `"rows":[` does.
            if in_rows && previous == b'"' && b == b']' {
                rows += 1;
            }
            previous = b;
        }
        if !in_rows {
            let text = String::from_utf8_lossy(&head);
            if let Some(at) = text.find("\"rows\":[") {
                in_rows = true;
                // Rows that arrived in the same chunk as the marker.
                rows += text[at..].matches("\"]").count();
            }
        }
    }
    let elapsed = started.elapsed();
    let growth_kib = match (before, peak_rss_kib()) {
        (Some(b), Some(a)) => a.saturating_sub(b),
        _ => 0,
    };
    println!(
        "national scale: {rows} rows, {:.1} MB in {:.2} s ({:.0} rows/s); peak RSS grew {:.1} MB",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        growth_kib as f64 / 1024.0
    );
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.contains("\"height\":300000"),
        "height is announced up front"
    );
    assert_eq!(rows, 300_000);
    assert_eq!(sim.count("GET", "/api/analytics"), 1);
    // Holding the body would cost at least its size; streaming costs a few chunks.
    assert!(
        (growth_kib as usize) * 1024 < bytes / 2,
        "peak RSS grew {growth_kib} KiB for a {bytes} byte answer"
    );
}

#[tokio::test]
async fn a_national_forecast_of_15000_values_imports_in_one_batch() {
    let scenario = Scenario::national_scale(1000, 60, 5);
    let setup = scenario.prediction_setups[0].setup.clone();
    let targets: Vec<(f64, String)> = setup
        .quantile_targets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["quantile"].as_f64().unwrap(),
                t["dataElementId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        targets.iter().map(|t| t.0).collect::<Vec<_>>(),
        [0.1, 0.25, 0.5, 0.75, 0.9]
    );
    let data_set = &scenario.data_sets[0];
    assert_eq!(data_set.open_future_periods, 3);
    assert!(data_set.org_units.is_empty(), "assigned to every org unit");
    let (sim, client) = crate::helpers::start(scenario).await;
    let mut values = Vec::with_capacity(15_000);
    for org_unit in &setup.org_units {
        for period in ["202605", "202606", "202607"] {
            for (q, element) in &targets {
                values.push(serde_json::json!({"dataElement": element, "period": period,
                    "orgUnit": org_unit, "value": format!("{:.1}", 10.0 + q * 20.0)}));
            }
        }
    }
    let body = serde_json::to_vec(&serde_json::json!({ "dataValues": values })).unwrap();
    let bytes = body.len();
    let started = Instant::now();
    let (status, answer) = client.post_raw("/api/dataValueSets", body.clone()).await;
    let first = started.elapsed();
    assert_eq!(status, 200, "{}", answer["response"]["conflicts"]);
    assert_eq!(answer["response"]["importCount"]["imported"], 15_000);
    let started = Instant::now();
    let (_, again) = client.post_raw("/api/dataValueSets", body).await;
    let second = started.elapsed();
    assert_eq!(again["response"]["importCount"]["updated"], 15_000);
    assert_eq!(sim.data_values().len(), 15_000);
    println!(
        "national import: 15000 values, {:.1} MB body; new {:.0} ms, update {:.0} ms (round trip)",
        bytes as f64 / 1e6,
        first.as_secs_f64() * 1e3,
        second.as_secs_f64() * 1e3
    );
}
