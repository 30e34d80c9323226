//! Unit tests of the overview's rows, orders and filter.

use std::collections::BTreeMap;

use chap_scheduler_api::{ForecastArtifact, ForecastOrgUnit};

use super::*;

/// Org units A (rising, above its threshold), B (falling), C (no observations, no threshold).
fn forecast() -> ForecastArtifact {
    let ou = |id: &str, name: &str| ForecastOrgUnit {
        id: id.into(),
        name: name.into(),
    };
    let q = |m: f64| {
        vec![
            Some(m * 0.6),
            Some(m * 0.75),
            Some(m),
            Some(m * 1.25),
            Some(m * 1.4),
        ]
    };
    ForecastArtifact {
        setup_id: 1,
        setup_name: "monthly".into(),
        period_type: "month".into(),
        target: "disease_cases".into(),
        org_units: vec![ou("A", "alpha"), ou("B", "Bravo"), ou("C", "charlie")],
        quantiles: vec![0.1, 0.25, 0.5, 0.75, 0.9],
        forecast_periods: vec!["202606".into(), "202607".into()],
        forecast: BTreeMap::from([
            ("A".into(), vec![q(100.0), q(120.0)]),
            ("B".into(), vec![q(40.0), q(30.0)]),
            ("C".into(), vec![q(10.0), q(10.0)]),
        ]),
        observed_periods: vec!["202604".into(), "202605".into()],
        observed: BTreeMap::from([
            ("A".into(), vec![Some(70.0), Some(80.0)]),
            // The last period is missing: the one before counts.
            ("B".into(), vec![Some(50.0), None]),
        ]),
        thresholds: Some(BTreeMap::from([
            ("A".into(), vec![Some(90.0), Some(90.0)]),
            ("B".into(), vec![Some(60.0), None]),
            ("C".into(), vec![None, None]),
        ])),
        prediction_id: 5,
        previous_run_id: None,
    }
}

fn names(rows: &[OverviewRow]) -> Vec<&str> {
    rows.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn a_row_has_the_next_periods_median_interval_and_chance_against_the_last_observation() {
    let rows = overview_rows(&forecast(), None);
    let a = &rows[0];
    assert_eq!(a.last_observed, Some(80.0));
    assert_eq!(a.median, Some(100.0));
    assert_eq!(a.change, Some(25.0));
    assert_eq!(a.interval, Some((60.0, 140.0)));
    // 90 lies between q0.25 = 75 and q0.5 = 100: the CDF is 0.25 + 0.25 × 15/25 = 0.4.
    match a.above {
        Some(Exceedance::About(p)) => assert!((p - 0.6).abs() < 1e-9, "{p}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.since_last, None, "no previous run");
    let b = &rows[1];
    assert_eq!(b.last_observed, Some(50.0));
    assert_eq!(b.change, Some(-20.0));
    // 60 lies above q0.9 = 56.
    assert_eq!(b.above, Some(Exceedance::LessThan(1.0 - 0.9)));
    let c = &rows[2];
    assert_eq!((c.last_observed, c.change, c.above), (None, None, None));
}

#[test]
fn the_change_since_the_last_run_compares_medians_of_the_same_period() {
    let current = forecast();
    let mut previous = forecast();
    // The previous run forecast one period earlier: its second period is our first.
    previous.forecast_periods = vec!["202605".into(), "202606".into()];
    previous.forecast.insert(
        "A".into(),
        vec![
            vec![Some(1.0); 5],
            vec![Some(40.0), Some(60.0), Some(80.0), Some(90.0), Some(99.0)],
        ],
    );
    previous.forecast.remove("C");
    let rows = overview_rows(&current, Some(&previous));
    assert_eq!(rows[0].since_last, Some(25.0), "100 against 80");
    let b = rows[1].since_last.expect("B was forecast for 202606");
    assert!(
        (b - 100.0 / 3.0).abs() < 1e-9,
        "40 against the 30 of 202606: {b}"
    );
    assert_eq!(
        rows[2].since_last, None,
        "C was not in the previous forecast"
    );
    // A previous forecast without our next period gives nothing to compare.
    previous.forecast_periods = vec!["202603".into(), "202604".into()];
    assert!(overview_rows(&current, Some(&previous))
        .iter()
        .all(|r| r.since_last.is_none()));
}

#[test]
fn the_levels_are_the_nearest_available_and_the_inner_band_only_when_chap_gave_it() {
    let all = Levels::of(&[0.1, 0.25, 0.5, 0.75, 0.9]);
    assert_eq!(all.outer, Some((0, 4)));
    assert_eq!(all.inner, Some((1, 3)));
    let three = Levels::of(&[0.05, 0.5, 0.95]);
    assert_eq!(three.outer, Some((0, 2)));
    assert_eq!(three.inner, None);
    let quartiles = Levels::of(&[0.25, 0.5, 0.75]);
    assert_eq!(quartiles.outer, Some((0, 2)));
    assert_eq!(quartiles.inner, None, "the same pair as the outer one");
    assert_eq!(Levels::of(&[0.5]).outer, None);
    // The headers say which levels they show.
    let levels = [0.1, 0.25, 0.5, 0.75, 0.9];
    assert_eq!(
        all.outer_label(&levels).as_deref(),
        Some("80 % interval (q0.1\u{2013}q0.9)")
    );
    assert_eq!(
        all.inner_label(&levels).as_deref(),
        Some("50 % interval (q0.25\u{2013}q0.75)")
    );
    assert_eq!(
        three.outer_label(&[0.05, 0.5, 0.95]).as_deref(),
        Some("Interval (q0.05\u{2013}q0.95)")
    );
    // Without q0.5 the median is interpolated, or the nearest level when it cannot be.
    assert_eq!(median(&[0.25, 0.75], &[Some(10.0), Some(20.0)]), Some(15.0));
    assert_eq!(median(&[0.9], &[Some(7.0)]), Some(7.0));
}

#[test]
fn by_default_the_highest_chance_comes_first_then_the_largest_rise() {
    let mut rows = overview_rows(&forecast(), None);
    rows.reverse();
    sort_rows(&mut rows, None);
    assert_eq!(names(&rows), ["alpha", "Bravo", "charlie"]);
    // Without thresholds, the largest rise first; no change at all last.
    let mut f = forecast();
    f.thresholds = None;
    let mut rows = overview_rows(&f, None);
    rows.reverse();
    sort_rows(&mut rows, None);
    assert_eq!(names(&rows), ["alpha", "Bravo", "charlie"]);
    rows[0].change = Some(-90.0);
    sort_rows(&mut rows, None);
    assert_eq!(names(&rows), ["Bravo", "alpha", "charlie"]);
}

#[test]
fn a_chosen_column_sorts_both_ways_with_missing_values_last_and_names_ignore_case() {
    let mut rows = overview_rows(&forecast(), None);
    let sort = |column, ascending| Some(SortBy { column, ascending });
    sort_rows(&mut rows, sort(Column::Median, true));
    assert_eq!(names(&rows), ["charlie", "Bravo", "alpha"]);
    sort_rows(&mut rows, sort(Column::Median, false));
    assert_eq!(names(&rows), ["alpha", "Bravo", "charlie"]);
    sort_rows(&mut rows, sort(Column::LastObserved, true));
    assert_eq!(names(&rows), ["Bravo", "alpha", "charlie"]);
    sort_rows(&mut rows, sort(Column::LastObserved, false));
    assert_eq!(names(&rows), ["alpha", "Bravo", "charlie"], "missing last");
    sort_rows(&mut rows, sort(Column::Name, false));
    assert_eq!(names(&rows), ["charlie", "Bravo", "alpha"]);
    sort_rows(&mut rows, sort(Column::Name, true));
    assert_eq!(names(&rows), ["alpha", "Bravo", "charlie"]);
    sort_rows(&mut rows, sort(Column::Above, true));
    assert_eq!(names(&rows), ["Bravo", "alpha", "charlie"]);
    sort_rows(&mut rows, sort(Column::Interval, false));
    assert_eq!(names(&rows), ["alpha", "Bravo", "charlie"]);
    sort_rows(&mut rows, sort(Column::Change, true));
    assert_eq!(names(&rows), ["Bravo", "alpha", "charlie"]);
}

#[test]
fn the_name_filter_ignores_case_and_surrounding_spaces() {
    assert!(name_matches("Bombali", "bom"));
    assert!(name_matches("Bombali", " ALI "));
    assert!(name_matches("Bombali", ""));
    assert!(!name_matches("Bo", "bom"));
    assert!(name_matches("Ségou", "SÉG"));
}
