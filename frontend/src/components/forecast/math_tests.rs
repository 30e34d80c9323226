//! Unit tests of the forecast view's quantile math.

use super::*;

const LEVELS: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

fn values(v: [f64; 5]) -> Vec<Option<f64>> {
    v.iter().copied().map(Some).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_nearest_level_is_the_closest_one_and_the_lower_on_a_tie() {
    assert_eq!(nearest_level(&LEVELS, 0.1), Some(0));
    assert_eq!(nearest_level(&LEVELS, 0.09999999), Some(0));
    assert_eq!(nearest_level(&[0.05, 0.5, 0.95], 0.1), Some(0));
    assert_eq!(nearest_level(&[0.05, 0.5, 0.95], 0.9), Some(2));
    assert_eq!(nearest_level(&[0.2, 0.4], 0.3), Some(0));
    assert_eq!(nearest_level(&[], 0.5), None);
}

#[test]
fn a_given_quantile_is_read_and_a_missing_one_interpolated_between_its_neighbours() {
    let v = values([10.0, 20.0, 30.0, 50.0, 90.0]);
    assert_eq!(value_at(&LEVELS, &v, 0.5), Some(30.0));
    assert_eq!(value_at(&LEVELS, &v, 0.1 + 1e-12), Some(10.0));
    let at = value_at(&LEVELS, &v, 0.6).expect("inside the levels");
    assert!(close(at, 38.0), "{at}");
    // Outside the levels nothing is known.
    assert_eq!(value_at(&LEVELS, &v, 0.05), None);
    assert_eq!(value_at(&LEVELS, &v, 0.95), None);
    // A level chap gave no value for is skipped: 0.5 lies between 0.25 and 0.75.
    let gap = vec![Some(10.0), Some(20.0), None, Some(40.0), Some(90.0)];
    assert_eq!(value_at(&LEVELS, &gap, 0.5), Some(30.0));
}

#[test]
fn the_chance_above_a_threshold_interpolates_the_distribution_between_quantiles() {
    let v = values([10.0, 20.0, 30.0, 50.0, 90.0]);
    // At a quantile: 1 − its level.
    assert_eq!(exceedance(&LEVELS, &v, 30.0), Some(Exceedance::About(0.5)));
    // Halfway between q0.5 = 30 and q0.75 = 50: the CDF is 0.625.
    match exceedance(&LEVELS, &v, 40.0) {
        Some(Exceedance::About(p)) => assert!(close(p, 0.375), "{p}"),
        other => panic!("{other:?}"),
    }
    // Beyond the outer quantiles only a bound is known.
    assert_eq!(
        exceedance(&LEVELS, &v, 5.0),
        Some(Exceedance::MoreThan(0.9))
    );
    assert_eq!(
        exceedance(&LEVELS, &v, 100.0),
        Some(Exceedance::LessThan(1.0 - 0.9))
    );
    assert_eq!(
        exceedance(&LEVELS, &v, 90.0),
        Some(Exceedance::About(1.0 - 0.9))
    );
    assert_eq!(exceedance(&LEVELS, &[None; 5], 1.0), None);
    assert_eq!(exceedance(&LEVELS, &v, f64::NAN), None);
}

#[test]
fn a_threshold_on_a_run_of_equal_quantiles_counts_from_the_highest_of_them() {
    // q0.1 … q0.5 are all 0 (a model that predicts no cases for half the distribution).
    let v = values([0.0, 0.0, 0.0, 4.0, 8.0]);
    assert_eq!(exceedance(&LEVELS, &v, 0.0), Some(Exceedance::About(0.5)));
    // A quantile lower than the one before is read as the one before (rounding noise).
    let noisy = values([10.0, 9.99, 30.0, 50.0, 90.0]);
    assert_eq!(
        exceedance(&LEVELS, &noisy, 9.995),
        Some(Exceedance::MoreThan(0.9))
    );
}

#[test]
fn chances_print_as_whole_percent_with_their_bounds_and_sort_next_to_what_they_bound() {
    assert_eq!(Exceedance::MoreThan(0.9).label(), "> 90 %");
    assert_eq!(Exceedance::LessThan(0.1).label(), "< 10 %");
    assert_eq!(Exceedance::About(0.374).label(), "37 %");
    assert!(Exceedance::MoreThan(0.9).sort_key() > Exceedance::About(0.9).sort_key());
    assert!(Exceedance::LessThan(0.1).sort_key() < Exceedance::About(0.1).sort_key());
}

#[test]
fn a_change_is_relative_to_the_base_and_has_no_value_without_one() {
    assert_eq!(change_percent(Some(50.0), Some(75.0)), Some(50.0));
    assert_eq!(change_percent(Some(80.0), Some(60.0)), Some(-25.0));
    assert_eq!(change_percent(Some(-10.0), Some(-5.0)), Some(50.0));
    assert_eq!(change_percent(Some(0.0), Some(5.0)), None);
    assert_eq!(change_percent(None, Some(5.0)), None);
    assert_eq!(change_percent(Some(5.0), None), None);
    assert_eq!(change_label(12.4), "+12 %");
    assert_eq!(change_label(-4.6), "\u{2212}5 %");
    assert_eq!(change_label(-0.2), "0 %");
}

#[test]
fn values_print_whole_from_a_hundred_and_with_one_decimal_below() {
    assert_eq!(format_value(1234.56), "1,235");
    assert_eq!(format_value(1_234_567.0), "1,234,567");
    assert_eq!(format_value(99.94), "99.9");
    assert_eq!(format_value(5.0), "5.0");
    assert_eq!(format_value(-2500.0), "\u{2212}2,500");
    assert_eq!(format_value(0.0), "0.0");
    assert_eq!(
        format_value(1e30),
        "1,000,000,000,000,000,019,884,624,838,656"
    );
    assert_eq!(format_count(50), "50");
    assert_eq!(format_count(1000), "1,000");
    assert_eq!(level_label(0.1), "q0.1");
    assert_eq!(level_label(0.25), "q0.25");
    assert_eq!(level_label(0.5), "q0.5");
    assert_eq!(level_label(0.09999999999), "q0.1");
}

#[test]
fn axis_ticks_are_round_numbers_covering_the_values_and_counts_start_at_zero() {
    let axis = value_axis(12.0, 87.0, 5);
    assert_eq!(axis.ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
    assert_eq!((axis.low, axis.high), (0.0, 100.0));
    // Far from zero the axis keeps to the values.
    let axis = value_axis(1010.0, 1090.0, 4);
    assert_eq!(
        axis.ticks,
        vec![1000.0, 1020.0, 1040.0, 1060.0, 1080.0, 1100.0]
    );
    // A flat series still gets a span.
    let axis = value_axis(0.0, 0.0, 4);
    assert!(axis.high > 0.0 && axis.ticks.len() >= 2, "{axis:?}");
    let axis = value_axis(40.0, 40.0, 4);
    assert!(axis.low < 40.0 && axis.high > 40.0, "{axis:?}");
    // Negative values (an anomaly) are covered too, without a "-0" tick.
    let axis = value_axis(-3.0, 7.0, 5);
    assert_eq!(axis.ticks, vec![-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0]);
    assert!(axis
        .ticks
        .iter()
        .all(|t| !(t.is_sign_negative() && *t == 0.0)));
    // No values: a unit axis rather than a panic.
    assert_eq!(value_axis(f64::INFINITY, f64::NEG_INFINITY, 4).low, 0.0);
}

#[test]
fn period_labels_are_thinned_to_what_fits() {
    assert_eq!(label_stride(27, 600.0, 60.0), 3);
    assert_eq!(label_stride(10, 600.0, 60.0), 1);
    assert_eq!(label_stride(27, 280.0, 60.0), 7);
    assert_eq!(label_stride(0, 280.0, 60.0), 1);
    assert_eq!(label_stride(5, 10.0, 60.0), 5);
}
