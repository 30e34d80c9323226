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
