use super::*;
use crate::flows::dhis2_chap_prediction::end_period::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn p(s: &str) -> PeriodId {
    PeriodId::parse(s).unwrap()
}

fn ids(periods: &[PeriodId]) -> Vec<String> {
    periods.iter().map(|p| p.to_string()).collect()
}

// --- §8.5 parsing and ordering ---

#[test]
fn a_day_covers_itself() {
    assert_eq!(
        (p("20240615").start(), p("20240615").end()),
        (d(2024, 6, 15), d(2024, 6, 15))
    );
}

#[test]
fn a_date_range_covers_its_two_ends() {
    let r = p("20240601_20240630");
    assert_eq!((r.start(), r.end()), (d(2024, 6, 1), d(2024, 6, 30)));
}

#[test]
fn an_inverted_date_range_is_refused() {
    let err = PeriodId::parse("20240630_20240601").unwrap_err();
    assert!(err.to_string().contains("end<start"), "{err}");
}

#[test]
fn a_week_runs_monday_to_sunday() {
    let w = p("2024W26");
    assert_eq!((w.start(), w.end()), (d(2024, 6, 24), d(2024, 6, 30)));
}

#[test]
fn quarters_and_six_months_cover_their_months() {
    assert_eq!(
        (p("2024Q1").start(), p("2024Q1").end()),
        (d(2024, 1, 1), d(2024, 3, 31))
    );
    assert_eq!(
        (p("2024Q4").start(), p("2024Q4").end()),
        (d(2024, 10, 1), d(2024, 12, 31))
    );
    assert_eq!(
        (p("2024S1").start(), p("2024S1").end()),
        (d(2024, 1, 1), d(2024, 6, 30))
    );
    assert_eq!(
        (p("2024S2").start(), p("2024S2").end()),
        (d(2024, 7, 1), d(2024, 12, 31))
    );
}

#[test]
fn months_know_leap_years_and_december() {
    assert_eq!(
        (p("202402").start(), p("202402").end()),
        (d(2024, 2, 1), d(2024, 2, 29))
    );
    assert_eq!(
        (p("202312").start(), p("202312").end()),
        (d(2023, 12, 1), d(2023, 12, 31))
    );
}

#[test]
fn month_thirteen_is_an_invalid_month() {
    let err = PeriodId::parse("202413").unwrap_err();
    assert!(err.to_string().contains("Invalid month"), "{err}");
}

#[test]
fn a_year_covers_january_to_december() {
    assert_eq!(
        (p("2024").start(), p("2024").end()),
        (d(2024, 1, 1), d(2024, 12, 31))
    );
}

#[test]
fn garbage_is_unsupported() {
    for bad in [
        "not-a-period",
        "garbage",
        "",
        "2024W",
        "2024W001",
        "2024X1",
        "2024Q5",
        "20240230",
        "2024W54",
    ] {
        let err = PeriodId::parse(bad).unwrap_err();
        assert!(
            matches!(err, PeriodError::Unrecognized(_) | PeriodError::Invalid(_)),
            "{bad}: {err}"
        );
    }
    assert!(PeriodId::parse("garbage")
        .unwrap_err()
        .to_string()
        .contains("Unsupported"));
}

#[test]
fn next_steps_each_shape_across_boundaries() {
    let cases = [
        ("20240615", "20240616"),
        ("20240131", "20240201"),
        ("2024W52", "2025W1"),
        ("2024Q1", "2024Q2"),
        ("2024Q4", "2025Q1"),
        ("2024S1", "2024S2"),
        ("2024S2", "2025S1"),
        ("202401", "202402"),
        ("202412", "202501"),
        ("2024", "2025"),
    ];
    for (from, to) in cases {
        assert_eq!(p(from).next().unwrap().as_str(), to, "next({from})");
    }
    assert!(PeriodId::parse("garbage").is_err());
    assert!(p("20240601_20240630").next().is_err());
}

#[test]
fn ordering_is_by_date_range_across_shapes() {
    let all = [p("202401"), p("202312"), p("2024Q4"), p("20240615")];
    assert_eq!(all.iter().max().unwrap().as_str(), "2024Q4");
    assert!(p("202401") < p("202402"));
    assert!(p("202612") < p("202701"));
}

// --- decision 1: padded and unpadded weeks ---

#[test]
fn padded_and_unpadded_weeks_are_the_same_period() {
    assert_eq!(p("2024W1"), p("2024W01"));
    assert_eq!(p("2024W01").canonical(), "2024W1");
    assert_eq!(p("2024W01").as_str(), "2024W01");
    assert_eq!(p("2024W1").as_str(), "2024W1");
}

#[test]
fn weeks_compare_by_date_not_by_text() {
    // As strings "2024W10" < "2024W9"; as periods week 9 comes first.
    assert!(p("2024W9") < p("2024W10"));
    assert!(p("2024W09") < p("2024W10"));
}

#[test]
fn generated_weeks_are_dhis2_canonical() {
    assert_eq!(PeriodType::Week.covering(d(2024, 1, 3)).as_str(), "2024W1");
    assert_eq!(PeriodType::Week.covering(d(2024, 3, 1)).as_str(), "2024W9");
}

// --- §4.5 ISO week-years and 53-week years ---

#[test]
fn iso_week_year_differs_from_the_calendar_year_at_the_edges() {
    let w = PeriodType::Week;
    assert_eq!(w.covering(d(2024, 12, 31)), p("2025W01"));
    assert_eq!(w.covering(d(2021, 1, 3)), p("2020W53"));
    for day in 1..=3 {
        assert_eq!(w.covering(d(2027, 1, day)), p("2026W53"));
    }
}

#[test]
fn fifty_three_week_years_step_through_week_53() {
    assert_eq!(p("2026W52").next().unwrap(), p("2026W53"));
    assert_eq!(p("2026W53").next().unwrap(), p("2027W01"));
    assert_eq!(p("2020W53").next().unwrap(), p("2021W1"));
    assert_eq!(p("2025W52").next().unwrap(), p("2026W01"));
    assert_eq!(p("2024W52").next().unwrap(), p("2025W01"));
    assert!(PeriodId::parse("2025W53").is_err(), "2025 has 52 ISO weeks");
    assert!(PeriodId::parse("2032W53").is_ok());
}

// --- §4.2 / §8.6 helpers ---

#[test]
fn last_completed_period_excludes_the_current_one() {
    assert_eq!(
        PeriodType::Month.last_completed(d(2026, 5, 7)).as_str(),
        "202604"
    );
    assert_eq!(
        PeriodType::Month.last_completed(d(2026, 1, 15)).as_str(),
        "202512"
    );
    assert_eq!(
        PeriodType::Year.last_completed(d(2026, 5, 7)).as_str(),
        "2025"
    );
    assert_eq!(PeriodType::Week.last_completed(d(2026, 5, 7)), p("2026W18"));
    assert_eq!(PeriodType::Week.last_completed(d(2027, 1, 4)), p("2026W53"));
    assert_eq!(PeriodType::Week.last_completed(d(2026, 1, 1)), p("2025W52"));
}

#[test]
fn covering_period_includes_an_incomplete_period() {
    assert_eq!(
        PeriodType::Month.covering(d(2024, 12, 31)).as_str(),
        "202412"
    );
    assert_eq!(
        PeriodType::Month.covering(d(2024, 12, 1)).as_str(),
        "202412"
    );
    assert_eq!(PeriodType::Year.covering(d(2024, 12, 31)).as_str(), "2024");
    assert_eq!(PeriodType::Week.covering(d(2024, 12, 31)), p("2025W01"));
}

#[test]
fn offsets_count_back_from_the_period_covering_today() {
    let may11 = d(2026, 5, 11);
    assert_eq!(PeriodType::Month.at_offset(may11, 0).as_str(), "202605");
    assert_eq!(
        PeriodType::Week.at_offset(may11, 0),
        PeriodType::Week.covering(may11)
    );
    assert_eq!(PeriodType::Week.at_offset(may11, 0), p("2026W20"));
    assert_eq!(PeriodType::Year.at_offset(may11, 0).as_str(), "2026");
    for t in [PeriodType::Month, PeriodType::Week, PeriodType::Year] {
        assert_eq!(t.at_offset(may11, 1), t.last_completed(may11), "{t}");
    }
    assert_eq!(PeriodType::Month.at_offset(may11, 3).as_str(), "202602");
    assert_eq!(
        PeriodType::Month.at_offset(d(2026, 1, 15), 2).as_str(),
        "202511"
    );
    assert_eq!(PeriodType::Week.at_offset(d(2026, 1, 5), 2), p("2025W52"));
    assert_eq!(PeriodType::Year.at_offset(may11, 5).as_str(), "2021");
    assert_eq!(
        PeriodType::Month.at_offset(d(2026, 1, 15), 25).as_str(),
        "202312"
    );
}

#[test]
fn a_negative_offset_is_refused() {
    let err = period_at_offset(PeriodType::Month, d(2026, 5, 11), -1).unwrap_err();
    assert_eq!(err.to_string(), "end_period_offset must be >= 0, got -1");
}

#[test]
fn unknown_period_types_are_unsupported() {
    let err = PeriodType::parse("fortnight").unwrap_err();
    assert_eq!(err.to_string(), "unsupported period_type: 'fortnight'");
    assert_eq!(PeriodType::parse(" Month ").unwrap(), PeriodType::Month);
}

#[test]
fn horizon_is_three_months_twelve_weeks_one_year_and_three_otherwise() {
    assert_eq!(forecast_horizon("month"), 3);
    assert_eq!(forecast_horizon("week"), 12);
    assert_eq!(forecast_horizon("year"), 1);
    assert_eq!(forecast_horizon("fortnight"), 3);
}

#[test]
fn probe_windows_are_valid_dhis2_relative_periods() {
    assert_eq!(probe_window("month").unwrap().name, "LAST_12_MONTHS");
    assert_eq!(probe_window("week").unwrap().name, "LAST_52_WEEKS");
    assert_eq!(probe_window("year").unwrap().name, "LAST_5_YEARS");
}

#[test]
fn a_period_type_without_a_relative_window_fails_with_a_clear_message() {
    let err = probe_window("quarter").unwrap_err().to_string();
    assert!(
        err.contains("'quarter'") && err.contains("no DHIS2 relative period window"),
        "{err}"
    );
    assert!(!err.contains("LAST_24_MONTHS"));
}

// --- enumeration, cap, input window ---

#[test]
fn enumeration_is_inclusive_of_both_ends() {
    let end = PeriodType::Month.last_completed(d(2026, 5, 7));
    assert_eq!(
        ids(&enumerate(&p("202601"), &end).unwrap()),
        ["202601", "202602", "202603", "202604"]
    );
    assert_eq!(ids(&enumerate(&p("202604"), &end).unwrap()), ["202604"]);
    assert_eq!(
        ids(&enumerate(&p("202412"), &p("202412")).unwrap()),
        ["202412"]
    );
    let fixed = PeriodType::Month.covering(d(2024, 12, 31));
    assert_eq!(
        ids(&enumerate(&p("202410"), &fixed).unwrap()),
        ["202410", "202411", "202412"]
    );
    assert_eq!(
        ids(&enumerate(&p("202410"), &p("202411")).unwrap()),
        ["202410", "202411"]
    );
}

#[test]
fn enumeration_refuses_a_start_after_the_end() {
    let err = enumerate(&p("202601"), &p("202512")).unwrap_err();
    assert!(err.to_string().contains("after end period"), "{err}");
    let err = enumerate(&p("2027"), &p("2025")).unwrap_err();
    assert!(err.to_string().contains("after end period"), "{err}");
}

#[test]
fn enumeration_refuses_to_truncate_past_the_cap() {
    let err = enumerate(&p("202401"), &p("203412"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("exceeds the 120-period cap"), "{err}");
    assert!(err.contains("stopped at '203312'"), "{err}");
    let months = enumerate(&p("202401"), &p("203312")).unwrap();
    assert_eq!(months.len(), 120);
    let weeks = enumerate(&p("2024W01"), &p("2026W16")).unwrap();
    assert_eq!(weeks.len(), 120);
    assert!(enumerate(&p("2024W01"), &p("2026W17")).is_err());
}

#[test]
fn enumeration_across_53_week_years_is_continuous() {
    let weeks = enumerate(&p("2026W51"), &p("2027W2")).unwrap();
    assert_eq!(
        ids(&weeks),
        ["2026W51", "2026W52", "2026W53", "2027W1", "2027W2"]
    );
    let weeks = enumerate(&p("2020W52"), &p("2021W01")).unwrap();
    assert_eq!(ids(&weeks), ["2020W52", "2020W53", "2021W1"]);
}

#[test]
fn enumeration_keeps_the_start_spelling_and_emits_canonical_ids_after_it() {
    let weeks = enumerate(&p("2024W08"), &p("2024W10")).unwrap();
    assert_eq!(ids(&weeks), ["2024W08", "2024W9", "2024W10"]);
    let canonical: Vec<String> = weeks.iter().map(PeriodId::canonical).collect();
    assert_eq!(canonical, ["2024W8", "2024W9", "2024W10"]);
}

#[test]
fn a_start_of_another_type_than_the_setup_is_refused() {
    let err = p("2024W01").expect_type(PeriodType::Month).unwrap_err();
    assert_eq!(err.to_string(), "period '2024W01' is not a month period");
    assert!(p("202401").expect_type(PeriodType::Month).is_ok());
}

#[test]
fn end_modes_resolve_without_dhis2_except_calculated() {
    let today = d(2026, 5, 7);
    let fixed = EndSpec::Fixed(d(2024, 12, 31));
    assert_eq!(
        resolve_end(PeriodType::Month, &fixed, today),
        EndResolution::Resolved(ResolvedEnd {
            period: p("202412"),
            source: EndSource::Fixed
        })
    );
    // One date maps to different ids for monthly and weekly setups.
    match resolve_end(PeriodType::Week, &fixed, today) {
        EndResolution::Resolved(end) => assert_eq!(end.period, p("2025W01")),
        other => panic!("{other:?}"),
    }
    match resolve_end(PeriodType::Month, &EndSpec::Offset(1), today) {
        EndResolution::Resolved(end) => {
            assert_eq!(end.period.as_str(), "202604");
            assert_eq!(end.source, EndSource::Offset);
            assert_eq!(
                end.log_line(&EndSpec::Offset(1)),
                "Using offset end period 202604 (offset=1)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        resolve_end(PeriodType::Month, &EndSpec::Calculated, today),
        EndResolution::NeedsProbe(PeriodType::Month.relative_window())
    );
}

#[test]
fn input_window_spans_start_to_end_and_names_the_end_source_when_inverted() {
    let end = ResolvedEnd {
        period: p("202604"),
        source: EndSource::Probed,
    };
    assert_eq!(input_window(&p("202301"), &end).unwrap().len(), 40);
    let early = ResolvedEnd {
        period: p("202012"),
        source: EndSource::Fixed,
    };
    let err = input_window(&p("202301"), &early).unwrap_err().to_string();
    assert_eq!(
        err,
        "configured start_period '202301' is after the fixed end period (from end_date) '202012'; nothing \
         to fetch. Check the chap prediction-setup definition or trigger with an end_date / end_period_offset \
         at or after start_period."
    );
}

#[test]
fn period_strings_sort_by_period_order_with_unknown_ones_last() {
    let sorted = sort_period_strings(["2024W10", "2024W9", "junk", "2024W1", "2024W9"]);
    assert_eq!(sorted, ["2024W1", "2024W9", "2024W10", "junk"]);
}
