//! Window schedules across daylight-saving transitions, and every cron feature,
//! checked against instants worked out by hand (written in UTC).
//!
//! Transition facts used below (2024):
//! - America/New_York: 02:00 EST → 03:00 EDT on Mar 10 (07:00Z);
//!   02:00 EDT → 01:00 EST on Nov 3 (06:00Z), so 01:00-02:00 repeats.
//! - Europe/Berlin: 02:00 CET → 03:00 CEST on Mar 31 (01:00Z);
//!   03:00 CEST → 02:00 CET on Oct 27 (01:00Z), so 02:00-03:00 repeats.
//! - Australia/Sydney: 03:00 AEDT → 02:00 AEST on Apr 7 (Apr 6 16:00Z);
//!   02:00 AEST → 03:00 AEDT on Oct 6 (Oct 5 16:00Z).
//! - Australia/Lord_Howe (30-minute shift): 02:00 +11 → 01:30 +10:30 on Apr 7
//!   (Apr 6 15:00Z); 02:00 +10:30 → 02:30 +11 on Oct 6 (Oct 5 15:30Z).
//!
//! The property tests at the end compare the schedule with a brute-force
//! oracle that walks every minute of real time.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use patchline_core::schedule::{
    FoldPolicy, ScheduleExpression, WindowSchedule, WindowTiming, time_zone,
};
use proptest::prelude::*;

fn instant(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("bad instant {text}: {e}"))
}

fn schedule(expression: &str, zone: &str) -> WindowSchedule {
    let parsed = ScheduleExpression::parse(expression)
        .unwrap_or_else(|e| panic!("bad expression {expression}: {e}"));
    WindowSchedule::new(parsed, zone).unwrap_or_else(|e| panic!("bad zone {zone}: {e}"))
}

/// The next `count` occurrences after `after`, as UTC instants.
fn next_utc(schedule: &WindowSchedule, after: &str, count: usize) -> Vec<String> {
    schedule
        .occurrences_after(instant(after))
        .take(count)
        .map(|occurrence| occurrence.timestamp().to_string())
        .collect()
}

fn assert_next(expression: &str, zone: &str, after: &str, expected: &[&str]) {
    let actual = next_utc(&schedule(expression, zone), after, expected.len() + 1);
    let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        actual.get(..expected.len()),
        Some(expected.as_slice()),
        "{expression} in {zone} after {after}"
    );
}

// ---------------------------------------------------------------- New York

#[test]
fn new_york_daily_in_spring_gap_fires_once_at_end_of_gap() {
    assert_next(
        "cron(0 30 2 * * ?)",
        "America/New_York",
        "2024-03-09T00:00:00Z",
        &[
            "2024-03-09T07:30:00Z", // 02:30 EST
            "2024-03-10T07:00:00Z", // 02:30 does not exist: 03:00 EDT
            "2024-03-11T06:30:00Z", // 02:30 EDT
        ],
    );
    let gap_day = schedule("cron(0 30 2 * * ?)", "America/New_York")
        .next_after(instant("2024-03-09T12:00:00Z"))
        .map(|z| z.to_string());
    assert_eq!(
        gap_day.as_deref(),
        Some("2024-03-10T03:00:00-04:00[America/New_York]")
    );
}

#[test]
fn new_york_daily_in_fall_fold_fires_once_at_earlier_instant() {
    assert_next(
        "cron(0 30 1 * * ?)",
        "America/New_York",
        "2024-11-02T00:00:00Z",
        &[
            "2024-11-02T05:30:00Z", // 01:30 EDT
            "2024-11-03T05:30:00Z", // 01:30 EDT, first of two 01:30s
            "2024-11-04T06:30:00Z", // 01:30 EST
        ],
    );
    // Asking from inside the repeated hour does not fire the second 01:30.
    assert_next(
        "cron(0 30 1 * * ?)",
        "America/New_York",
        "2024-11-03T06:10:00Z",
        &["2024-11-04T06:30:00Z"],
    );
}

#[test]
fn new_york_every_15_minutes_continues_through_repeated_hour() {
    assert_next(
        "cron(0 */15 * * * ?)",
        "America/New_York",
        "2024-11-03T04:50:00Z",
        &[
            "2024-11-03T05:00:00Z", // 01:00 EDT
            "2024-11-03T05:15:00Z",
            "2024-11-03T05:30:00Z",
            "2024-11-03T05:45:00Z",
            "2024-11-03T06:00:00Z", // 01:00 EST
            "2024-11-03T06:15:00Z",
            "2024-11-03T06:30:00Z",
            "2024-11-03T06:45:00Z",
            "2024-11-03T07:00:00Z", // 02:00 EST
        ],
    );
}

#[test]
fn new_york_every_15_minutes_skips_missing_hour_without_duplicates() {
    assert_next(
        "cron(0 */15 * * * ?)",
        "America/New_York",
        "2024-03-10T06:40:00Z",
        &[
            "2024-03-10T06:45:00Z", // 01:45 EST
            "2024-03-10T07:00:00Z", // 03:00 EDT (02:00-02:45 collapse here)
            "2024-03-10T07:15:00Z",
        ],
    );
}

#[test]
fn new_york_hourly_follows_real_hours() {
    assert_next(
        "cron(0 0 * * * ?)",
        "America/New_York",
        "2024-11-03T03:30:00Z",
        &[
            "2024-11-03T04:00:00Z", // 00:00 EDT
            "2024-11-03T05:00:00Z", // 01:00 EDT
            "2024-11-03T06:00:00Z", // 01:00 EST
            "2024-11-03T07:00:00Z", // 02:00 EST
        ],
    );
    assert_next(
        "cron(0 0 * * * ?)",
        "America/New_York",
        "2024-03-10T05:30:00Z",
        &[
            "2024-03-10T06:00:00Z", // 01:00 EST
            "2024-03-10T07:00:00Z", // 03:00 EDT
            "2024-03-10T08:00:00Z", // 04:00 EDT
        ],
    );
}

#[test]
fn new_york_seconds_schedule_runs_through_fold() {
    assert_next(
        "cron(*/20 * * * * ?)",
        "America/New_York",
        "2024-11-03T05:59:30Z",
        &[
            "2024-11-03T05:59:40Z", // 01:59:40 EDT
            "2024-11-03T06:00:00Z", // 01:00:00 EST
            "2024-11-03T06:00:20Z",
        ],
    );
}

#[test]
fn new_york_rate_hours_are_absolute() {
    let start = instant("2024-11-03T03:30:00Z");
    let rate = schedule("rate(1 hour)", "America/New_York")
        .with_start(start)
        .unwrap_or_else(|e| panic!("{e}"));
    let occurrences: Vec<_> = rate
        .occurrences_after(instant("2024-11-01T00:00:00Z"))
        .take(5)
        .collect();
    let utc: Vec<String> = occurrences
        .iter()
        .map(|z| z.timestamp().to_string())
        .collect();
    assert_eq!(
        utc,
        [
            "2024-11-03T03:30:00Z",
            "2024-11-03T04:30:00Z",
            "2024-11-03T05:30:00Z",
            "2024-11-03T06:30:00Z",
            "2024-11-03T07:30:00Z",
        ]
    );
    // Local 01:30 shows up twice: rate(hours) is elapsed time, not wall time.
    let local: Vec<String> = occurrences
        .iter()
        .map(|z| z.datetime().to_string())
        .collect();
    assert_eq!(local.get(2), local.get(3));
}

#[test]
fn new_york_rate_days_keep_wall_time() {
    let spring = schedule("rate(1 day)", "America/New_York")
        .with_start(instant("2024-03-08T07:30:00Z")) // 02:30 EST
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&spring, "2024-03-01T00:00:00Z", 4),
        [
            "2024-03-08T07:30:00Z",
            "2024-03-09T07:30:00Z",
            "2024-03-10T07:00:00Z", // gap: 03:00 EDT
            "2024-03-11T06:30:00Z", // 02:30 EDT
        ]
    );
    let fall = schedule("rate(1 day)", "America/New_York")
        .with_start(instant("2024-11-01T05:30:00Z")) // 01:30 EDT
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&fall, "2024-11-01T00:00:00Z", 4),
        [
            "2024-11-01T05:30:00Z",
            "2024-11-02T05:30:00Z",
            "2024-11-03T05:30:00Z", // fold: earlier 01:30
            "2024-11-04T06:30:00Z", // 01:30 EST
        ]
    );
}

// ------------------------------------------------------------------ Berlin

#[test]
fn berlin_daily_across_both_transitions() {
    assert_next(
        "cron(0 30 2 * * ?)",
        "Europe/Berlin",
        "2024-03-30T00:00:00Z",
        &[
            "2024-03-30T01:30:00Z", // 02:30 CET
            "2024-03-31T01:00:00Z", // gap: 03:00 CEST
            "2024-04-01T00:30:00Z", // 02:30 CEST
        ],
    );
    assert_next(
        "cron(0 30 2 * * ?)",
        "Europe/Berlin",
        "2024-10-26T00:00:00Z",
        &[
            "2024-10-26T00:30:00Z", // 02:30 CEST
            "2024-10-27T00:30:00Z", // fold: first 02:30 (CEST)
            "2024-10-28T01:30:00Z", // 02:30 CET
        ],
    );
}

#[test]
fn berlin_half_hourly_through_fold() {
    assert_next(
        "cron(0 0/30 * * * ?)",
        "Europe/Berlin",
        "2024-10-26T23:50:00Z",
        &[
            "2024-10-27T00:00:00Z", // 02:00 CEST
            "2024-10-27T00:30:00Z", // 02:30 CEST
            "2024-10-27T01:00:00Z", // 02:00 CET
            "2024-10-27T01:30:00Z", // 02:30 CET
            "2024-10-27T02:00:00Z", // 03:00 CET
        ],
    );
}

#[test]
fn berlin_at_in_gap_fold_and_summer() {
    assert_next(
        "at(2024-07-01T03:00:00)",
        "Europe/Berlin",
        "2024-01-01T00:00:00Z",
        &["2024-07-01T01:00:00Z"],
    );
    assert_next(
        "at(2024-03-31T02:30:00)",
        "Europe/Berlin",
        "2024-01-01T00:00:00Z",
        &["2024-03-31T01:00:00Z"],
    );
    assert_next(
        "at(2024-10-27T02:30:00)",
        "Europe/Berlin",
        "2024-01-01T00:00:00Z",
        &["2024-10-27T00:30:00Z"],
    );
    let once = schedule("at(2024-07-01T03:00:00)", "Europe/Berlin");
    assert_eq!(next_utc(&once, "2024-01-01T00:00:00Z", 5).len(), 1);
    assert_eq!(once.next_after(instant("2024-07-01T01:00:00Z")), None);
}

// ------------------------------------------------------------------ Sydney

#[test]
fn sydney_daily_across_both_transitions() {
    assert_next(
        "cron(0 30 2 * * ?)",
        "Australia/Sydney",
        "2024-10-04T00:00:00Z",
        &[
            "2024-10-04T16:30:00Z", // Oct 5 02:30 AEST
            "2024-10-05T16:00:00Z", // Oct 6 gap: 03:00 AEDT
            "2024-10-06T15:30:00Z", // Oct 7 02:30 AEDT
        ],
    );
    assert_next(
        "cron(0 30 2 * * ?)",
        "Australia/Sydney",
        "2024-04-05T00:00:00Z",
        &[
            "2024-04-05T15:30:00Z", // Apr 6 02:30 AEDT
            "2024-04-06T15:30:00Z", // Apr 7 fold: first 02:30 (AEDT)
            "2024-04-07T16:30:00Z", // Apr 8 02:30 AEST
        ],
    );
}

#[test]
fn sydney_quarter_hours_through_fold() {
    assert_next(
        "cron(0 */15 * * * ?)",
        "Australia/Sydney",
        "2024-04-06T15:40:00Z",
        &[
            "2024-04-06T15:45:00Z", // 02:45 AEDT
            "2024-04-06T16:00:00Z", // 02:00 AEST
            "2024-04-06T16:15:00Z",
            "2024-04-06T16:30:00Z",
            "2024-04-06T16:45:00Z",
            "2024-04-06T17:00:00Z", // 03:00 AEST
        ],
    );
}

// -------------------------------------------------------------- Lord Howe

#[test]
fn lord_howe_half_hour_gap() {
    assert_next(
        "cron(0 15 2 * * ?)",
        "Australia/Lord_Howe",
        "2024-10-04T00:00:00Z",
        &[
            "2024-10-04T15:45:00Z", // Oct 5 02:15 +10:30
            "2024-10-05T15:30:00Z", // Oct 6 gap: 02:30 +11
            "2024-10-06T15:15:00Z", // Oct 7 02:15 +11
        ],
    );
    assert_next(
        "cron(0 */15 * * * ?)",
        "Australia/Lord_Howe",
        "2024-10-05T15:10:00Z",
        &[
            "2024-10-05T15:15:00Z", // 01:45 +10:30
            "2024-10-05T15:30:00Z", // 02:00 and 02:15 missing: 02:30 +11, once
            "2024-10-05T15:45:00Z", // 02:45 +11
        ],
    );
}

#[test]
fn lord_howe_half_hour_fold() {
    assert_next(
        "cron(0 45 1 * * ?)",
        "Australia/Lord_Howe",
        "2024-04-05T00:00:00Z",
        &[
            "2024-04-05T14:45:00Z", // Apr 6 01:45 +11
            "2024-04-06T14:45:00Z", // Apr 7 fold: first 01:45 (+11)
            "2024-04-07T15:15:00Z", // Apr 8 01:45 +10:30
        ],
    );
    assert_next(
        "cron(0 */15 * * * ?)",
        "Australia/Lord_Howe",
        "2024-04-06T14:20:00Z",
        &[
            "2024-04-06T14:30:00Z", // 01:30 +11
            "2024-04-06T14:45:00Z", // 01:45 +11
            "2024-04-06T15:00:00Z", // 01:30 +10:30
            "2024-04-06T15:15:00Z", // 01:45 +10:30
            "2024-04-06T15:30:00Z", // 02:00 +10:30
        ],
    );
}

// ------------------------------------------------------------ cron features

#[test]
fn cron_feature_table() {
    let cases: &[(&str, &str, &[&str])] = &[
        // W: nearest weekday, never leaving the month.
        (
            "0 0 9 15W * ?",
            "2024-06-01T00:00:00Z",
            &[
                "2024-06-14T09:00:00Z", // 15th is a Saturday
                "2024-07-15T09:00:00Z",
                "2024-08-15T09:00:00Z",
                "2024-09-16T09:00:00Z", // 15th is a Sunday
            ],
        ),
        (
            "0 0 9 1W * ?",
            "2024-05-31T00:00:00Z",
            &[
                "2024-06-03T09:00:00Z", // 1st is a Saturday: Monday the 3rd
                "2024-07-01T09:00:00Z",
                "2024-08-01T09:00:00Z",
                "2024-09-02T09:00:00Z", // 1st is a Sunday
            ],
        ),
        (
            "0 0 9 LW * ?",
            "2024-08-01T00:00:00Z",
            &[
                "2024-08-30T09:00:00Z", // 31st is a Saturday
                "2024-09-30T09:00:00Z",
                "2024-10-31T09:00:00Z",
                "2024-11-29T09:00:00Z", // 30th is a Saturday
            ],
        ),
        // L and L-n.
        (
            "0 0 0 L * ?",
            "2024-01-15T00:00:00Z",
            &[
                "2024-01-31T00:00:00Z",
                "2024-02-29T00:00:00Z",
                "2024-03-31T00:00:00Z",
                "2024-04-30T00:00:00Z",
            ],
        ),
        (
            "0 0 0 L-3 * ?",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-28T00:00:00Z",
                "2024-02-26T00:00:00Z",
                "2024-03-28T00:00:00Z",
                "2024-04-27T00:00:00Z",
            ],
        ),
        // #: nth weekday, by number and by name; a missing 5th is skipped.
        (
            "0 0 10 ? * FRI#3",
            "2024-05-01T00:00:00Z",
            &[
                "2024-05-17T10:00:00Z",
                "2024-06-21T10:00:00Z",
                "2024-07-19T10:00:00Z",
            ],
        ),
        (
            "0 0 10 ? * 6#3",
            "2024-05-01T00:00:00Z",
            &[
                "2024-05-17T10:00:00Z",
                "2024-06-21T10:00:00Z",
                "2024-07-19T10:00:00Z",
            ],
        ),
        (
            "0 0 10 ? * MON#5",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-29T10:00:00Z",
                "2024-04-29T10:00:00Z",
                "2024-07-29T10:00:00Z",
            ],
        ),
        // nL / NAMEL: last such weekday.
        (
            "0 0 10 ? * 6L",
            "2024-05-01T00:00:00Z",
            &[
                "2024-05-31T10:00:00Z",
                "2024-06-28T10:00:00Z",
                "2024-07-26T10:00:00Z",
            ],
        ),
        (
            "0 0 10 ? * FRIL",
            "2024-05-01T00:00:00Z",
            &[
                "2024-05-31T10:00:00Z",
                "2024-06-28T10:00:00Z",
                "2024-07-26T10:00:00Z",
            ],
        ),
        // Lists, steps and names.
        (
            "0 0/20 8 ? * MON,WED",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-01T08:00:00Z",
                "2024-01-01T08:20:00Z",
                "2024-01-01T08:40:00Z",
                "2024-01-03T08:00:00Z",
            ],
        ),
        (
            "0 10-50/20 12 1 * ?",
            "2024-01-31T00:00:00Z",
            &[
                "2024-02-01T12:10:00Z",
                "2024-02-01T12:30:00Z",
                "2024-02-01T12:50:00Z",
                "2024-03-01T12:10:00Z",
            ],
        ),
        (
            "*/5 * * * * ?",
            "2024-01-01T00:00:03Z",
            &["2024-01-01T00:00:05Z", "2024-01-01T00:00:10Z"],
        ),
        // Ranges with names, in months and weekdays.
        (
            "0 0 6 ? NOV-DEC SUN,SAT",
            "2024-02-01T00:00:00Z",
            &["2024-11-02T06:00:00Z", "2024-11-03T06:00:00Z"],
        ),
        // Year field.
        (
            "0 0 12 1 JAN ? 2025,2027",
            "2024-01-01T00:00:00Z",
            &["2025-01-01T12:00:00Z", "2027-01-01T12:00:00Z"],
        ),
        (
            "0 0 12 1 JAN ? 2026-2030/2",
            "2024-01-01T00:00:00Z",
            &[
                "2026-01-01T12:00:00Z",
                "2028-01-01T12:00:00Z",
                "2030-01-01T12:00:00Z",
            ],
        ),
        // Leap years: 2100 is not one.
        (
            "0 0 0 29 FEB ?",
            "2024-03-01T00:00:00Z",
            &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
        ),
        (
            "0 0 0 29 FEB ?",
            "2096-03-01T00:00:00Z",
            &["2104-02-29T00:00:00Z"],
        ),
        // Both day fields restricted: either matches (Vixie).
        (
            "0 0 0 13 * FRI",
            "2024-09-01T00:00:00Z",
            &[
                "2024-09-06T00:00:00Z",
                "2024-09-13T00:00:00Z", // both
                "2024-09-20T00:00:00Z",
                "2024-09-27T00:00:00Z",
                "2024-10-04T00:00:00Z",
                "2024-10-11T00:00:00Z",
                "2024-10-13T00:00:00Z", // the 13th, a Sunday
                "2024-10-18T00:00:00Z",
            ],
        ),
        // Classic 5-field Unix cron: 0 and 7 are Sunday, seconds are 0.
        (
            "30 2 * * 0",
            "2024-01-01T00:00:00Z",
            &["2024-01-07T02:30:00Z", "2024-01-14T02:30:00Z"],
        ),
        (
            "30 2 * * 7",
            "2024-01-01T00:00:00Z",
            &["2024-01-07T02:30:00Z", "2024-01-14T02:30:00Z"],
        ),
        (
            "0 4 * * 1-5",
            "2024-01-05T05:00:00Z",
            &["2024-01-08T04:00:00Z", "2024-01-09T04:00:00Z"],
        ),
        (
            "*/30 * 1 1 *",
            "2024-01-01T23:10:00Z",
            &["2024-01-01T23:30:00Z", "2025-01-01T00:00:00Z"],
        ),
    ];
    for (expression, after, expected) in cases {
        assert_next(expression, "UTC", after, expected);
    }
}

#[test]
fn year_field_ends_the_sequence() {
    let limited = schedule("0 0 12 1 JAN ? 2025,2027", "UTC");
    assert_eq!(next_utc(&limited, "2024-01-01T00:00:00Z", 10).len(), 2);
}

#[test]
fn never_matching_expressions_end_instead_of_looping() {
    for expression in [
        "0 0 0 30 FEB ?",
        "0 0 0 L-30 FEB ?",
        "0 0 0 31 APR,JUN,SEP,NOV ?",
        "0 0 0 1 1 ? 2020",
        "0 0 0 ? FEB MON#5 2025-2030",
    ] {
        for zone in ["UTC", "Europe/Berlin", "Australia/Lord_Howe"] {
            let never = schedule(expression, zone);
            assert_eq!(
                never.next_after(instant("2024-01-01T00:00:00Z")),
                None,
                "{expression} in {zone}"
            );
        }
    }
}

#[test]
fn searches_stop_at_the_year_2200() {
    let new_year = schedule("0 0 0 1 1 ?", "UTC");
    assert_eq!(
        next_utc(&new_year, "2198-06-01T00:00:00Z", 3),
        ["2199-01-01T00:00:00Z"]
    );
    let fifth_monday = schedule("0 0 0 ? FEB MON#5", "Europe/Berlin");
    // February has five Mondays only in leap years starting on a Monday.
    assert_eq!(
        next_utc(&fifth_monday, "2024-03-01T00:00:00Z", 1),
        ["2044-02-28T23:00:00Z"]
    );
}

// ------------------------------------------------------------ offset_days

#[test]
fn offset_days_cross_month_ends_and_keep_wall_time() {
    let after_last_day = schedule("cron(0 0 23 L * ?)", "Europe/Berlin")
        .with_offset_days(1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&after_last_day, "2024-01-15T00:00:00Z", 3),
        [
            "2024-02-01T22:00:00Z", // Jan 31 + 1 day, 23:00 CET
            "2024-03-01T22:00:00Z", // Feb 29 (leap) + 1 day
            "2024-04-01T21:00:00Z", // Mar 31 + 1 day, 23:00 CEST
        ]
    );
    let patch_tuesday_plus_four = schedule("cron(0 0 3 ? * TUE#2)", "America/New_York")
        .with_offset_days(4)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&patch_tuesday_plus_four, "2024-01-01T00:00:00Z", 3),
        [
            "2024-01-13T08:00:00Z", // Tue Jan 9 + 4, 03:00 EST
            "2024-02-17T08:00:00Z", // Tue Feb 13 + 4
            "2024-03-16T07:00:00Z", // Tue Mar 12 + 4, 03:00 EDT
        ]
    );
    let into_the_gap = schedule("cron(0 30 2 ? MAR FRI#2)", "America/New_York")
        .with_offset_days(2)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&into_the_gap, "2024-01-01T00:00:00Z", 1),
        ["2024-03-10T07:00:00Z"] // Fri Mar 8 + 2 = Sun Mar 10, 02:30 missing: 03:00 EDT
    );
    let over_new_year = schedule("cron(0 0 22 31 DEC ?)", "UTC")
        .with_offset_days(3)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&over_new_year, "2024-06-01T00:00:00Z", 1),
        ["2025-01-03T22:00:00Z"]
    );
}

// ------------------------------------------------------------ bounds

#[test]
fn start_and_end_bound_occurrences_inclusively() {
    let bounded = schedule("cron(0 0 12 * * ?)", "UTC")
        .with_start(instant("2024-05-10T12:00:00Z"))
        .and_then(|s| s.with_end(instant("2024-05-12T12:00:00Z")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&bounded, "2024-01-01T00:00:00Z", 10),
        [
            "2024-05-10T12:00:00Z",
            "2024-05-11T12:00:00Z",
            "2024-05-12T12:00:00Z",
        ]
    );
    assert_eq!(bounded.next_after(instant("2024-05-12T12:00:00Z")), None);
    let between: Vec<String> = bounded
        .occurrences_between(
            instant("2024-05-10T12:00:00Z"),
            instant("2024-05-12T12:00:00Z"),
        )
        .map(|z| z.timestamp().to_string())
        .collect();
    assert_eq!(between, ["2024-05-10T12:00:00Z", "2024-05-11T12:00:00Z"]);
}

#[test]
fn at_outside_bounds_never_fires() {
    let too_early = schedule("at(2024-05-01T09:00:00)", "Europe/Berlin")
        .with_start(instant("2024-06-01T00:00:00Z"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(too_early.next_after(instant("2024-01-01T00:00:00Z")), None);
    let too_late = schedule("at(2024-05-01T09:00:00)", "Europe/Berlin")
        .with_end(instant("2024-05-01T06:59:59Z"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(too_late.next_after(instant("2024-01-01T00:00:00Z")), None);
    let inside = schedule("at(2024-05-01T09:00:00)", "Europe/Berlin")
        .with_start(instant("2024-05-01T07:00:00Z"))
        .and_then(|s| s.with_end(instant("2024-05-01T07:00:00Z")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&inside, "2024-01-01T00:00:00Z", 2),
        ["2024-05-01T07:00:00Z"]
    );
}

#[test]
fn rate_minutes_anchor_at_start() {
    let every_40 = schedule("rate(40 minutes)", "Asia/Kolkata")
        .with_start(instant("2024-01-01T00:05:00Z"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_utc(&every_40, "2024-01-01T01:00:00Z", 3),
        [
            "2024-01-01T01:25:00Z",
            "2024-01-01T02:05:00Z",
            "2024-01-01T02:45:00Z"
        ]
    );
    // Without a start, the anchor is the Unix epoch.
    let unanchored = schedule("rate(7 minutes)", "UTC");
    assert_eq!(
        next_utc(&unanchored, "2024-01-01T00:00:00Z", 1),
        // 2024-01-01T00:00Z is 28,401,120 minutes after the epoch, 6 past a multiple of 7.
        ["2024-01-01T00:01:00Z"]
    );
}

#[test]
fn next_n_across_a_year_boundary() {
    assert_next(
        "cron(0 0 22 L * ?)",
        "America/New_York",
        "2024-11-15T00:00:00Z",
        &[
            "2024-12-01T03:00:00Z", // Nov 30 22:00 EST
            "2025-01-01T03:00:00Z", // Dec 31 22:00 EST
            "2025-02-01T03:00:00Z",
            "2025-03-01T03:00:00Z",
        ],
    );
}

#[test]
fn window_timing_from_an_occurrence() {
    let occurrence = schedule("cron(0 30 2 * * ?)", "America/New_York")
        .next_after(instant("2024-03-09T12:00:00Z"))
        .unwrap_or_else(|| panic!("no occurrence"));
    let bounds = WindowTiming::new(4, 1)
        .and_then(|timing| timing.bounds(&occurrence))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bounds.start.timestamp().to_string(), "2024-03-10T07:00:00Z");
    assert_eq!(bounds.end.timestamp().to_string(), "2024-03-10T11:00:00Z");
    assert_eq!(
        bounds.last_task_start.timestamp().to_string(),
        "2024-03-10T10:00:00Z"
    );
}

// ------------------------------------------------------------ properties

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Antarctica/Troll",
];

fn minutes_field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        (1u8..=30).prop_map(|step| format!("*/{step}")),
        (0u8..60).prop_map(|m| m.to_string()),
        (0u8..60, 0u8..60).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (0u8..60, 0u8..60).prop_map(|(a, b)| format!("{a},{b}")),
        (0u8..60, 1u8..=30).prop_map(|(a, step)| format!("{a}/{step}")),
    ]
}

fn hours_field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        (1u8..=12).prop_map(|step| format!("*/{step}")),
        (0u8..24).prop_map(|h| h.to_string()),
        (0u8..24, 0u8..24).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (0u8..24, 0u8..24).prop_map(|(a, b)| format!("{a},{b}")),
    ]
}

fn day_fields() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("* * ?".to_owned()),
        (1u8..=31).prop_map(|d| format!("{d} * ?")),
        Just("L * ?".to_owned()),
        Just("? * MON-FRI".to_owned()),
        Just("? * SUN,SAT".to_owned()),
        (1u8..=7, 1u8..=5).prop_map(|(w, n)| format!("? * {w}#{n}")),
    ]
}

/// Simple cron expressions with whole minutes, so the oracle can walk minutes.
fn minute_cron() -> impl Strategy<Value = String> {
    (minutes_field(), hours_field(), day_fields())
        .prop_map(|(minutes, hours, days)| format!("0 {minutes} {hours} {days}"))
}

fn zone_name() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(ZONES)
}

fn transition_near(zone: &TimeZone, seed_seconds: i64) -> Timestamp {
    let base = instant("2024-01-01T00:00:00Z")
        .checked_add(SignedDuration::from_secs(seed_seconds))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    zone.following(base)
        .next()
        .map_or(base, |transition| transition.timestamp())
}

/// Every minute instant in `(from, to]` at which the policy says the
/// expression fires, found by walking real time rather than wall time.
fn oracle(
    expression: &ScheduleExpression,
    zone: &TimeZone,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Timestamp> {
    let ScheduleExpression::Cron(cron) = expression else {
        panic!("oracle handles cron only");
    };
    let minute = SignedDuration::from_mins(1);
    let one_ns = SignedDuration::from_nanos(1);
    let mut fired = Vec::new();
    // Walk whole minutes: the expressions fire on whole minutes only.
    let seconds = from.as_second();
    let mut now = Timestamp::from_second(seconds - seconds.rem_euclid(60)).unwrap_or(from);
    while now < to {
        now = now.checked_add(minute).unwrap_or(to);
        if now > to {
            break;
        }
        let offset = zone.to_offset(now);
        let wall = offset.to_datetime(now);
        let second_pass = match zone.to_ambiguous_timestamp(wall).offset() {
            AmbiguousOffset::Fold { before, after } => offset == after && before != after,
            _ => false,
        };
        let wall_fires =
            cron.matches(wall) && !(second_pass && cron.fold_policy() == FoldPolicy::FirstPassOnly);
        let before = zone.to_offset(now.checked_sub(one_ns).unwrap_or(now));
        let gap_fires = before < offset && {
            // Wall times skipped by this transition: [now+before, now+offset).
            let mut skipped: DateTime = before.to_datetime(now);
            let gap_end = wall;
            let mut any = false;
            while skipped < gap_end {
                any |= cron.matches(skipped);
                skipped = skipped.checked_add(minute).unwrap_or(gap_end);
            }
            any
        };
        if wall_fires || gap_fires {
            fired.push(now);
        }
    }
    fired
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    /// Around a real transition of a random zone, the schedule fires exactly
    /// where a minute-by-minute walk of real time says it should.
    #[test]
    fn matches_minute_by_minute_oracle_around_transitions(
        text in minute_cron(),
        zone_name in zone_name(),
        seed in 0i64..(3 * 365 * 86_400),
        lead_minutes in 0i64..(30 * 60),
    ) {
        let zone = time_zone(zone_name).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expression = ScheduleExpression::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let schedule = WindowSchedule::new(expression.clone(), zone_name)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let transition = transition_near(&zone, seed);
        let from = transition.checked_sub(SignedDuration::from_mins(lead_minutes)).unwrap_or(transition);
        let to = from.checked_add(SignedDuration::from_hours(48)).unwrap_or(from);
        let actual: Vec<Timestamp> = schedule
            .occurrences_after(from)
            .map(|z| z.timestamp())
            .take_while(|t| *t <= to)
            .collect();
        let expected = oracle(&expression, &zone, from, to);
        let first_difference = actual.iter().zip(&expected).position(|(a, e)| a != e);
        prop_assert!(
            actual == expected,
            "{} in {} after {}: {} occurrences, oracle {}; first difference at index {:?}: {:?} vs {:?}",
            text, zone_name, from, actual.len(), expected.len(), first_difference,
            first_difference.and_then(|i| actual.get(i)), first_difference.and_then(|i| expected.get(i)),
        );
    }

    /// Any simple expression (seconds included) in any zone yields a strictly
    /// increasing sequence whose local times match the fields, except for
    /// occurrences at the end of a gap, which stand for a skipped wall time.
    #[test]
    fn sequence_is_strictly_increasing_and_matches_fields(
        seconds in prop_oneof![Just("0".to_owned()), (1u8..=30).prop_map(|s| format!("*/{s}")), (0u8..60).prop_map(|s| s.to_string())],
        rest in (minutes_field(), hours_field(), day_fields()),
        zone_name in zone_name(),
        seed in 0i64..(5 * 365 * 86_400),
    ) {
        let (minutes, hours, days) = rest;
        let text = format!("{seconds} {minutes} {hours} {days}");
        let expression = ScheduleExpression::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let ScheduleExpression::Cron(cron) = &expression else {
            return Err(TestCaseError::fail("not a cron expression"));
        };
        let schedule = WindowSchedule::new(expression.clone(), zone_name)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let zone = schedule.time_zone().clone();
        let from = transition_near(&zone, seed).checked_sub(SignedDuration::from_hours(2)).unwrap_or(Timestamp::UNIX_EPOCH);
        let mut previous: Option<Timestamp> = None;
        for occurrence in schedule.occurrences_after(from).take(40) {
            let now = occurrence.timestamp();
            prop_assert!(now > from);
            if let Some(previous) = previous {
                prop_assert!(now > previous, "{} not after {} for {} in {}", now, previous, text, zone_name);
            }
            previous = Some(now);
            let before = zone.to_offset(now.checked_sub(SignedDuration::from_nanos(1)).unwrap_or(now));
            let at_gap_end = before < zone.to_offset(now);
            prop_assert!(
                cron.matches(occurrence.datetime()) || at_gap_end,
                "{} does not match {} in {}", occurrence, text, zone_name
            );
        }
    }

    /// Canonical strings parse back to the same expression.
    #[test]
    fn display_round_trips(text in minute_cron(), year in prop_oneof![Just(String::new()), (1970u16..2199).prop_map(|y| format!(" {y}"))]) {
        let expression = ScheduleExpression::parse(&format!("{text}{year}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let canonical = expression.to_string();
        prop_assert_eq!(ScheduleExpression::parse(&canonical).ok(), Some(expression.clone()));
        prop_assert_eq!(ScheduleExpression::parse(&canonical).map(|e| e.to_string()).ok(), Some(canonical));
    }
}
