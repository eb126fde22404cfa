//! The window planner: the recommended length of a window for a fleet size
//! (the seed's rule: 4 hours plus 1 hour per 50 nodes, with a 1-hour cutoff),
//! whether a proposed duration and cutoff fit the targets, and when two
//! windows are open at the same time.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::schedule::{WindowSchedule, WindowTiming};

/// Hours every window gets before the per-node share is added.
const BASE_HOURS: usize = 4;
/// One more hour for each started group of this many nodes.
const NODES_PER_HOUR: usize = 50;
/// A window lasts at most a day.
const MAX_DURATION_HOURS: u8 = 24;

/// The cutoff the planner recommends: no task starts in a window's last hour.
pub const RECOMMENDED_CUTOFF_HOURS: u8 = 1;

/// `4 + ceil(nodes / 50)` hours, at most 24.
pub fn recommended_duration_hours(nodes: usize) -> u8 {
    let hours = BASE_HOURS.saturating_add(nodes.div_ceil(NODES_PER_HOUR));
    u8::try_from(hours)
        .unwrap_or(MAX_DURATION_HOURS)
        .min(MAX_DURATION_HOURS)
}

/// The planner's verdict on a window's duration and cutoff for its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanCheck {
    pub recommended_duration_hours: u8,
    pub recommended_cutoff_hours: u8,
    /// No problem found: the targets fit in the time tasks may start.
    pub fits: bool,
    /// One sentence per problem, for people.
    pub problems: Vec<String>,
}

/// Checks a window of `duration_hours` and `cutoff_hours` for `nodes` targets.
///
/// The targets fit when the hours in which tasks may start (duration −
/// cutoff) are at least those of the recommendation (recommended duration −
/// recommended cutoff): a longer cutoff must be paid for with a longer window.
pub fn plan(nodes: usize, duration_hours: u8, cutoff_hours: u8) -> PlanCheck {
    let recommended = recommended_duration_hours(nodes);
    let mut problems = Vec::new();
    if nodes == 0 {
        problems.push("the window has no targets".to_owned());
    }
    let needed_hours = BASE_HOURS.saturating_add(nodes.div_ceil(NODES_PER_HOUR));
    if needed_hours > usize::from(MAX_DURATION_HOURS) {
        problems.push(format!(
            "{nodes} nodes need {needed_hours} h at {NODES_PER_HOUR} nodes per hour, more than a \
             {MAX_DURATION_HOURS} h window: split the targets over several windows"
        ));
    }
    match WindowTiming::new(duration_hours, cutoff_hours) {
        Err(error) => problems.push(error.to_string()),
        Ok(_) => {
            let start_hours = duration_hours - cutoff_hours;
            let recommended_start_hours = recommended - RECOMMENDED_CUTOFF_HOURS;
            if start_hours < recommended_start_hours {
                problems.push(format!(
                    "a {duration_hours} h window with a {cutoff_hours} h cutoff leaves \
                     {start_hours} h to start tasks on {nodes} nodes; recommended: \
                     {recommended} h with a {RECOMMENDED_CUTOFF_HOURS} h cutoff \
                     ({recommended_start_hours} h to start tasks)"
                ));
            }
        }
    }
    PlanCheck {
        recommended_duration_hours: recommended,
        recommended_cutoff_hours: RECOMMENDED_CUTOFF_HOURS,
        fits: problems.is_empty(),
        problems,
    }
}

/// The open periods `[start, end)` of a window that intersect `[from, to)`.
fn open_periods(
    schedule: &WindowSchedule,
    timing: WindowTiming,
    from: Timestamp,
    to: Timestamp,
) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
    // A window opened up to `duration` before `from` may still be open at `from`.
    let duration = SignedDuration::from_hours(timing.duration_hours().into());
    let search_from = from.checked_sub(duration).unwrap_or(from);
    schedule
        .occurrences_between(search_from, to)
        // A window whose end is beyond the time range ends the search.
        .map_while(move |start| timing.bounds(&start).ok())
        .map(|bounds| (bounds.start.timestamp(), bounds.end.timestamp()))
        .filter(move |&(_, end)| end > from)
}

/// The periods within `[from, from + horizon)` in which both windows are
/// open, merged where they touch, in time order, at most `limit` of them.
///
/// Periods are those of [`WindowTiming::bounds`]: exact elapsed hours from
/// each occurrence, in each schedule's own time zone and DST rules.
pub fn overlaps(
    a: (&WindowSchedule, WindowTiming),
    b: (&WindowSchedule, WindowTiming),
    from: Timestamp,
    horizon: SignedDuration,
    limit: usize,
) -> Vec<(Timestamp, Timestamp)> {
    let mut found: Vec<(Timestamp, Timestamp)> = Vec::new();
    if limit == 0 || horizon <= SignedDuration::ZERO {
        return found;
    }
    let to = from.checked_add(horizon).unwrap_or(Timestamp::MAX);
    let mut periods_a = open_periods(a.0, a.1, from, to).peekable();
    let mut periods_b = open_periods(b.0, b.1, from, to).peekable();
    // Both lists are sorted by start and, with a fixed duration, by end: the
    // classic two-pointer intersection of interval lists applies.
    while let (Some(&(start_a, end_a)), Some(&(start_b, end_b))) =
        (periods_a.peek(), periods_b.peek())
    {
        let start = start_a.max(start_b).max(from);
        let end = end_a.min(end_b).min(to);
        if start < end {
            let count = found.len();
            match found.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ if count == limit => break,
                _ => found.push((start, end)),
            }
        }
        if end_a <= end_b {
            periods_a.next();
        } else {
            periods_b.next();
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleExpression;

    #[test]
    fn recommends_four_hours_plus_one_per_fifty_nodes() {
        let figures: Vec<(usize, u8)> = [0, 1, 50, 51, 100, 101, 1000, 1001, 100_000]
            .into_iter()
            .map(|nodes| (nodes, recommended_duration_hours(nodes)))
            .collect();
        assert_eq!(
            figures,
            [
                (0, 4),
                (1, 5),
                (50, 5),
                (51, 6),
                (100, 6),
                (101, 7),
                (1000, 24),
                (1001, 24),
                (100_000, 24)
            ]
        );
        assert_eq!(recommended_duration_hours(usize::MAX), 24);
    }

    #[test]
    fn plan_flags_short_windows_no_targets_and_bad_timing() {
        let good = plan(120, 7, 1);
        assert_eq!(
            good,
            PlanCheck {
                recommended_duration_hours: 7,
                recommended_cutoff_hours: 1,
                fits: true,
                problems: vec![],
            }
        );
        // Same start hours as recommended (6): fits without a cutoff too.
        assert!(plan(120, 6, 0).fits);
        let short = plan(120, 6, 1);
        assert!(!short.fits);
        assert_eq!(
            short.problems,
            [
                "a 6 h window with a 1 h cutoff leaves 5 h to start tasks on 120 nodes; \
              recommended: 7 h with a 1 h cutoff (6 h to start tasks)"
            ]
        );
        let empty = plan(0, 4, 1);
        assert!(!empty.fits);
        assert_eq!(empty.problems, ["the window has no targets"]);
        let invalid = plan(10, 4, 4);
        assert_eq!(
            invalid.problems,
            ["cutoff 4 h must be less than the duration 4 h"]
        );
        let huge = plan(2000, 24, 1);
        assert!(!huge.fits);
        assert!(huge.problems[0].starts_with("2000 nodes need 44 h"));
    }

    fn daily(cron: &str, zone: &str) -> WindowSchedule {
        let expression = ScheduleExpression::parse(cron);
        expression
            .ok()
            .and_then(|e| WindowSchedule::new(e, zone).ok())
            .unwrap_or_else(|| panic!("{cron} in {zone} should be valid"))
    }

    fn timing(duration: u8, cutoff: u8) -> WindowTiming {
        WindowTiming::new(duration, cutoff).unwrap_or_else(|e| panic!("{e}"))
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn texts(periods: &[(Timestamp, Timestamp)]) -> Vec<(String, String)> {
        periods
            .iter()
            .map(|(s, e)| (s.to_string(), e.to_string()))
            .collect()
    }

    #[test]
    fn daily_windows_at_shifted_hours_overlap_by_the_shared_hours() {
        // 02:00-06:00 and 04:00-08:00 UTC share 04:00-06:00 every day.
        let early = daily("cron(0 0 2 * * ?)", "UTC");
        let late = daily("cron(0 0 4 * * ?)", "UTC");
        let found = overlaps(
            (&early, timing(4, 1)),
            (&late, timing(4, 1)),
            at("2024-03-01T00:00:00Z"),
            SignedDuration::from_hours(72),
            10,
        );
        assert_eq!(
            texts(&found),
            [
                ("2024-03-01T04:00:00Z".into(), "2024-03-01T06:00:00Z".into()),
                ("2024-03-02T04:00:00Z".into(), "2024-03-02T06:00:00Z".into()),
                ("2024-03-03T04:00:00Z".into(), "2024-03-03T06:00:00Z".into()),
            ]
        );
        // The limit keeps the earliest; a window open at `from` counts from `from`.
        let limited = overlaps(
            (&early, timing(4, 1)),
            (&late, timing(4, 1)),
            at("2024-03-01T05:00:00Z"),
            SignedDuration::from_hours(72),
            2,
        );
        assert_eq!(
            texts(&limited),
            [
                ("2024-03-01T05:00:00Z".into(), "2024-03-01T06:00:00Z".into()),
                ("2024-03-02T04:00:00Z".into(), "2024-03-02T06:00:00Z".into()),
            ]
        );
        // Back to back (02:00-04:00 then 04:00-08:00) is not an overlap.
        let none = overlaps(
            (&early, timing(2, 1)),
            (&late, timing(4, 1)),
            at("2024-03-01T00:00:00Z"),
            SignedDuration::from_hours(72),
            10,
        );
        assert!(none.is_empty());
    }

    #[test]
    fn overlaps_follow_daylight_saving_time() {
        // 02:00 New York for 3 h against 05:00-07:00 UTC. In winter (EST,
        // UTC-5) New York's window is 07:00-10:00Z: it only touches the UTC
        // one. On 2024-03-10 02:00 does not exist and the window opens at
        // 03:00 EDT = 07:00Z: still no overlap. From 2024-03-11 (EDT, UTC-4)
        // it is 06:00-09:00Z and shares 06:00-07:00Z.
        let new_york = daily("cron(0 0 2 * * ?)", "America/New_York");
        let utc = daily("cron(0 0 5 * * ?)", "UTC");
        let found = overlaps(
            (&new_york, timing(3, 0)),
            (&utc, timing(2, 0)),
            at("2024-03-09T00:00:00Z"),
            SignedDuration::from_hours(48),
            10,
        );
        assert!(found.is_empty(), "{:?}", texts(&found));
        let found = overlaps(
            (&new_york, timing(3, 0)),
            (&utc, timing(2, 0)),
            at("2024-03-10T12:00:00Z"),
            SignedDuration::from_hours(48),
            10,
        );
        assert_eq!(
            texts(&found),
            [
                ("2024-03-11T06:00:00Z".into(), "2024-03-11T07:00:00Z".into()),
                ("2024-03-12T06:00:00Z".into(), "2024-03-12T07:00:00Z".into()),
            ]
        );
    }

    #[test]
    fn overlapping_occurrences_of_one_window_merge() {
        // Every hour for 3 hours: always open, so the overlap with a daily
        // window is that whole daily window, once.
        let hourly = ScheduleExpression::parse("rate(1 hour)")
            .ok()
            .and_then(|e| WindowSchedule::new(e, "UTC").ok());
        let Some(hourly) = hourly else {
            panic!("rate(1 hour) should be valid");
        };
        let nightly = daily("cron(0 0 22 * * ?)", "UTC");
        let found = overlaps(
            (&hourly, timing(3, 1)),
            (&nightly, timing(4, 1)),
            at("2024-03-01T12:00:00Z"),
            SignedDuration::from_hours(24),
            10,
        );
        assert_eq!(
            texts(&found),
            [("2024-03-01T22:00:00Z".into(), "2024-03-02T02:00:00Z".into())]
        );
        let zero = overlaps(
            (&hourly, timing(3, 1)),
            (&nightly, timing(4, 1)),
            at("2024-03-01T12:00:00Z"),
            SignedDuration::from_hours(24),
            0,
        );
        assert!(zero.is_empty());
    }
}
