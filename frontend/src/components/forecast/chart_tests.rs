//! Unit tests of the chart's geometry and words.

use super::*;
use crate::components::forecast::rows::Levels;

/// Four periods over 0..100 in a 456 × 300 frame: x = 56 + (i + 0.5) × 97, y = 270 − v × 2.52.
fn frame() -> Frame {
    Frame {
        width: 456.0,
        height: 300.0,
        first: 0,
        periods: 4,
        axis: value_axis(0.0, 100.0, 5),
    }
}

#[test]
fn positions_fill_the_plot_area_and_values_rise_upwards() {
    let f = frame();
    assert_eq!(f.step(), 97.0);
    assert_eq!(f.x(0), 104.5);
    assert_eq!(f.y(0.0), 270.0);
    assert_eq!(f.y(100.0), TOP);
}

#[test]
fn a_narrow_chart_draws_the_last_twelve_observed_periods_and_every_forecast_one() {
    let point = |period: String, observed: Option<f64>, median: Option<f64>| PeriodPoint {
        period,
        observed,
        quantiles: if median.is_some() {
            vec![median]
        } else {
            vec![]
        },
        median,
        outer: None,
        inner: None,
        threshold: None,
        previous: None,
    };
    let mut points: Vec<PeriodPoint> = (0..24)
        .map(|i| point(format!("p{i}"), Some(1000.0 * f64::from(i)), None))
        .collect();
    points.extend((24..27).map(|i| point(format!("p{i}"), None, Some(5.0))));
    let series = OrgUnitSeries {
        points,
        levels: Levels::of(&[0.5]),
        quantile_levels: vec![0.5],
        has_thresholds: false,
        has_previous: false,
    };
    let wide = Frame::new(800.0, &series);
    assert_eq!((wide.first, wide.periods), (0, 27));
    let narrow = Frame::new(320.0, &series);
    assert_eq!((narrow.first, narrow.periods), (12, 15));
    // The axis covers only what is drawn.
    assert_eq!(narrow.axis.high, 30_000.0);
    assert_eq!(narrow.x_of(12), Some(narrow.x(0)));
    assert_eq!(narrow.x_of(11), None);
    assert_eq!(narrow.x_of(27), None);
}

#[test]
fn a_line_breaks_where_a_value_is_missing() {
    let d = line_path(&frame(), &[Some(0.0), Some(50.0), None, Some(100.0)]);
    assert_eq!(d, "M104.5 270.0 L201.5 144.0 M395.5 18.0");
    assert_eq!(line_path(&frame(), &[None, None]), "");
}

#[test]
fn a_band_is_one_shape_per_run_and_a_lone_period_a_box() {
    let d = band_path(
        &frame(),
        &[
            Some((0.0, 100.0)),
            Some((50.0, 100.0)),
            None,
            Some((0.0, 50.0)),
        ],
    );
    assert_eq!(
        d,
        "M104.5 18.0 L201.5 18.0 L201.5 144.0 L104.5 270.0 Z \
         M371.2 144.0 H419.8 V270.0 H371.2 Z"
    );
}

#[test]
fn a_threshold_is_a_flat_stroke_across_each_period_that_has_one() {
    let d = step_path(&frame(), &[None, None, Some(50.0), Some(100.0)]);
    assert_eq!(d, "M250.0 144.0 H347.0 M347.0 18.0 H444.0");
}

#[test]
fn ticks_print_whole_numbers_without_decimals() {
    assert_eq!(tick_label(20.0), "20");
    assert_eq!(tick_label(1500.0), "1,500");
    assert_eq!(tick_label(0.5), "0.5");
}

#[test]
fn a_period_is_described_with_every_value_it_has() {
    let series = OrgUnitSeries {
        points: vec![],
        levels: Levels::of(&[0.1, 0.25, 0.5, 0.75, 0.9]),
        quantile_levels: vec![0.1, 0.25, 0.5, 0.75, 0.9],
        has_thresholds: true,
        has_previous: true,
    };
    let point = PeriodPoint {
        period: "202606".into(),
        observed: None,
        quantiles: vec![Some(6.0), Some(7.5), Some(10.0), Some(12.5), Some(14.0)],
        median: Some(10.0),
        outer: Some((6.0, 14.0)),
        inner: Some((7.5, 12.5)),
        threshold: Some(11.0),
        previous: Some(9.0),
    };
    assert_eq!(
        describe(&point, &series),
        "202606: median forecast 10.0, 80 % interval (q0.1\u{2013}q0.9) 6.0\u{2013}14.0, \
         50 % interval (q0.25\u{2013}q0.75) 7.5\u{2013}12.5, threshold 11.0, previous run's median 9.0"
    );
    let observed = PeriodPoint {
        period: "202605".into(),
        observed: Some(123.4),
        quantiles: vec![],
        median: None,
        outer: None,
        inner: None,
        threshold: None,
        previous: None,
    };
    assert_eq!(describe(&observed, &series), "202605: observed 123");
}
