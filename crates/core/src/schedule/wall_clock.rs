//! Turns wall-clock patterns (cron, day rates, `at`) into instants in a time
//! zone, applying the daylight-saving policy of [`super`] in one place.
//!
//! The zone's timeline is cut at its offset transitions into segments of
//! constant offset; inside a segment, wall time and instants map one-to-one
//! and in order. The walker searches the segment holding `after`, then each
//! following segment, for the first matching wall time:
//! - entering a segment after a spring-forward *gap*, the search starts at the
//!   gap's first missing wall time, and a match inside the gap fires at the
//!   transition instant (the first valid instant after the gap);
//! - entering a segment after a fall-back *fold*, [`FoldPolicy::FirstPassOnly`]
//!   patterns skip the repeated wall times (they already fired in the first
//!   pass), while [`FoldPolicy::EveryInstant`] patterns match them again.
//!
//! Instants found this way increase with segment order and wall time, so the
//! first match is the earliest occurrence and sequences come out strictly
//! increasing without sorting or de-duplication.

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::cron::{CronExpression, FoldPolicy, LAST_SEARCHED_YEAR};
use super::rate::Rate;

/// A rule over local wall times.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WallClockPattern<'a> {
    /// Cron matches moved `shift_days` calendar days later at the same wall time.
    Cron {
        expression: &'a CronExpression,
        shift_days: i8,
    },
    /// `anchor`, then every N calendar days at the anchor's wall time.
    Days { rate: Rate, anchor: DateTime },
    /// A single wall time.
    Once(DateTime),
}

impl WallClockPattern<'_> {
    fn first_match_in(&self, from: DateTime, until: DateTime) -> Option<DateTime> {
        match *self {
            WallClockPattern::Cron {
                expression,
                shift_days,
            } => expression.first_match_in(ceil_to_second(from)?, until, shift_days),
            WallClockPattern::Days { rate, anchor } => rate.first_day_in(anchor, from, until),
            WallClockPattern::Once(at) => (from <= at && at < until).then_some(at),
        }
    }

    fn fold_policy(&self) -> FoldPolicy {
        match self {
            WallClockPattern::Cron { expression, .. } => expression.fold_policy(),
            WallClockPattern::Days { .. } | WallClockPattern::Once(_) => FoldPolicy::FirstPassOnly,
        }
    }
}

fn ceil_to_second(datetime: DateTime) -> Option<DateTime> {
    if datetime.subsec_nanosecond() == 0 {
        return Some(datetime);
    }
    let floor = datetime.with().subsec_nanosecond(0).build().ok()?;
    floor.checked_add(SignedDuration::from_secs(1)).ok()
}

/// No wall time at or after this is searched (see [`LAST_SEARCHED_YEAR`]).
fn search_end() -> Option<DateTime> {
    DateTime::new(LAST_SEARCHED_YEAR.checked_add(1)?, 1, 2, 0, 0, 0, 0).ok()
}

/// The earliest instant strictly after `after` at which `pattern` fires in `zone`.
pub(crate) fn next_occurrence(
    pattern: WallClockPattern<'_>,
    zone: &TimeZone,
    after: Timestamp,
) -> Option<Timestamp> {
    let search_end = search_end()?;
    let policy = pattern.fold_policy();
    let one_nanosecond = SignedDuration::from_nanos(1);

    // The segment holding `after`: search strictly after its wall time.
    let mut offset = zone.to_offset(after);
    let mut from = offset.to_datetime(after).checked_add(one_nanosecond).ok()?;
    if policy == FoldPolicy::FirstPassOnly {
        let just_after = after.checked_add(one_nanosecond).ok()?;
        if let Some(previous) = zone.preceding(just_after).next() {
            let before = zone.to_offset(previous.timestamp().checked_sub(one_nanosecond).ok()?);
            if before > offset {
                // `after` may sit in the second pass of a fold: skip wall times
                // the first pass already covered.
                from = from.max(before.to_datetime(previous.timestamp()));
            }
        }
    }
    // Wall times before `gap_end_wall` (if any) lie in a gap and fire at `gap_instant`.
    let mut gap: Option<(Timestamp, DateTime)> = None;
    let mut segment_start = after;

    loop {
        let transition = zone.following(segment_start).next();
        let until = transition
            .as_ref()
            .map_or(search_end, |t| offset.to_datetime(t.timestamp()))
            .min(search_end);
        let found = (from < until)
            .then(|| pattern.first_match_in(from, until))
            .flatten();
        if let Some(wall) = found {
            return match gap {
                Some((gap_instant, gap_end_wall)) if wall < gap_end_wall => Some(gap_instant),
                _ => offset.to_timestamp(wall).ok(),
            };
        }
        let transition = transition?;
        if until >= search_end {
            return None;
        }
        let instant = transition.timestamp();
        let next_offset: Offset = transition.offset();
        let first_wall = next_offset.to_datetime(instant);
        // `until` is where the previous segment's wall clock stopped.
        (from, gap) = if next_offset > offset {
            (until, Some((instant, first_wall)))
        } else if next_offset < offset && policy == FoldPolicy::FirstPassOnly {
            (until, None)
        } else {
            (first_wall, None)
        };
        offset = next_offset;
        segment_start = instant;
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn zone(name: &str) -> TimeZone {
        super::super::zone::time_zone(name).unwrap_or(TimeZone::UTC)
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn once_in_a_gap_fires_at_the_end_of_the_gap() {
        let new_york = zone("America/New_York");
        let pattern = WallClockPattern::Once(date(2024, 3, 10).at(2, 30, 0, 0));
        assert_eq!(
            next_occurrence(pattern, &new_york, at("2024-03-01T00:00:00Z")),
            Some(at("2024-03-10T07:00:00Z"))
        );
        assert_eq!(
            next_occurrence(pattern, &new_york, at("2024-03-10T07:00:00Z")),
            None
        );
    }

    #[test]
    fn once_in_a_fold_fires_at_the_earlier_instant_only() {
        let new_york = zone("America/New_York");
        let pattern = WallClockPattern::Once(date(2024, 11, 3).at(1, 30, 0, 0));
        assert_eq!(
            next_occurrence(pattern, &new_york, at("2024-11-01T00:00:00Z")),
            Some(at("2024-11-03T05:30:00Z"))
        );
        assert_eq!(
            next_occurrence(pattern, &new_york, at("2024-11-03T05:30:00Z")),
            None
        );
        // Asking from inside the second pass must not fire the repeat either.
        assert_eq!(
            next_occurrence(pattern, &new_york, at("2024-11-03T06:10:00Z")),
            None
        );
    }

    #[test]
    fn zone_without_transitions_is_searched_to_the_horizon_only() {
        let utc = TimeZone::UTC;
        let pattern = WallClockPattern::Once(date(2300, 1, 1).at(0, 0, 0, 0));
        assert_eq!(
            next_occurrence(pattern, &utc, at("2024-01-01T00:00:00Z")),
            None
        );
    }
}
