//! A maintenance window's schedule: expression, IANA zone, day offset and
//! start/end bounds, answering "when does it next open".

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cron::LAST_SEARCHED_YEAR;
use super::expression::ScheduleExpression;
use super::rate::RateUnit;
use super::wall_clock::{WallClockPattern, next_occurrence};
use super::zone::{UnknownTimeZone, time_zone};

/// Why a window schedule is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowScheduleError {
    #[error(transparent)]
    UnknownTimeZone(#[from] UnknownTimeZone),
    #[error("offset_days {0} is out of range 0-6")]
    OffsetDaysOutOfRange(u8),
    #[error("offset_days is only allowed with cron(...) expressions, not {kind}(...)")]
    OffsetDaysRequiresCron { kind: &'static str },
    #[error("start {start} is after end {end}")]
    StartAfterEnd { start: Timestamp, end: Timestamp },
}

/// The serialized form of a [`WindowSchedule`], validated on conversion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowScheduleSpec {
    pub expression: ScheduleExpression,
    pub time_zone: String,
    #[serde(default)]
    pub offset_days: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
}

/// A validated window schedule. Occurrences are computed in the zone's wall
/// time with the daylight-saving policy described in [`crate::schedule`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WindowScheduleSpec", into = "WindowScheduleSpec")]
pub struct WindowSchedule {
    expression: ScheduleExpression,
    zone: TimeZone,
    zone_name: String,
    offset_days: u8,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
}

impl WindowSchedule {
    /// A schedule in the named IANA zone, without offset or bounds.
    pub fn new(
        expression: ScheduleExpression,
        time_zone_name: &str,
    ) -> Result<Self, WindowScheduleError> {
        let zone = time_zone(time_zone_name)?;
        let zone_name = zone.iana_name().unwrap_or(time_zone_name).to_owned();
        Ok(WindowSchedule {
            expression,
            zone,
            zone_name,
            offset_days: 0,
            start: None,
            end: None,
        })
    }

    /// Fires `days` (0-6) calendar days after each cron match, at the same wall time.
    pub fn with_offset_days(mut self, days: u8) -> Result<Self, WindowScheduleError> {
        if days > 6 {
            return Err(WindowScheduleError::OffsetDaysOutOfRange(days));
        }
        if days > 0 && !matches!(self.expression, ScheduleExpression::Cron(_)) {
            return Err(WindowScheduleError::OffsetDaysRequiresCron {
                kind: self.expression.kind(),
            });
        }
        self.offset_days = days;
        Ok(self)
    }

    /// No occurrence before `start`; also the anchor of `rate(...)` expressions.
    pub fn with_start(mut self, start: Timestamp) -> Result<Self, WindowScheduleError> {
        check_order(Some(start), self.end)?;
        self.start = Some(start);
        Ok(self)
    }

    /// No occurrence after `end` (an occurrence exactly at `end` is kept).
    pub fn with_end(mut self, end: Timestamp) -> Result<Self, WindowScheduleError> {
        check_order(self.start, Some(end))?;
        self.end = Some(end);
        Ok(self)
    }

    pub fn expression(&self) -> &ScheduleExpression {
        &self.expression
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The canonical IANA name of the zone.
    pub fn time_zone_name(&self) -> &str {
        &self.zone_name
    }

    pub fn offset_days(&self) -> u8 {
        self.offset_days
    }

    pub fn start(&self) -> Option<Timestamp> {
        self.start
    }

    pub fn end(&self) -> Option<Timestamp> {
        self.end
    }

    /// The first occurrence strictly after `after`, or `None` if there is none
    /// within the bounds and before the year 2200.
    pub fn next_after(&self, after: Timestamp) -> Option<Zoned> {
        // Searching strictly after `start - 1ns` lets an occurrence at `start` count.
        let after = match self.start {
            Some(start) if after < start => {
                start.checked_sub(SignedDuration::from_nanos(1)).ok()?
            }
            _ => after,
        };
        let next = match &self.expression {
            ScheduleExpression::Cron(expression) => next_occurrence(
                WallClockPattern::Cron {
                    expression,
                    // offset_days is validated to 0-6.
                    shift_days: self.offset_days as i8,
                },
                &self.zone,
                after,
            ),
            ScheduleExpression::At(at) => {
                next_occurrence(WallClockPattern::Once(*at), &self.zone, after)
            }
            ScheduleExpression::Rate(rate) if rate.unit() == RateUnit::Days => {
                let anchor = match self.start {
                    Some(start) => self.zone.to_datetime(start),
                    None => DateTime::constant(1970, 1, 1, 0, 0, 0, 0),
                };
                next_occurrence(
                    WallClockPattern::Days {
                        rate: *rate,
                        anchor,
                    },
                    &self.zone,
                    after,
                )
            }
            ScheduleExpression::Rate(rate) => {
                rate.next_fixed_after(self.start.unwrap_or(Timestamp::UNIX_EPOCH), after)
            }
        }?;
        // `next <= after` would be a bug in the walker; refusing it keeps every
        // iteration strictly increasing and therefore finite.
        debug_assert!(next > after, "occurrence {next} not after {after}");
        let beyond_end = self.end.is_some_and(|end| next > end);
        if next <= after || beyond_end || next >= horizon()? {
            return None;
        }
        Some(next.to_zoned(self.zone.clone()))
    }

    /// Occurrences strictly after `after`, in increasing order; `.take(n)` gives the next n.
    pub fn occurrences_after(&self, after: Timestamp) -> Occurrences<'_> {
        Occurrences {
            schedule: self,
            after: Some(after),
        }
    }

    /// Occurrences in the half-open range `[from, to)`.
    pub fn occurrences_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = Zoned> + '_ {
        let after = from
            .checked_sub(SignedDuration::from_nanos(1))
            .unwrap_or(from);
        self.occurrences_after(after)
            .take_while(move |occurrence| occurrence.timestamp() < to)
    }
}

/// Occurrences are never computed at or after 2200-01-01T00:00:00Z.
fn horizon() -> Option<Timestamp> {
    let year = LAST_SEARCHED_YEAR.checked_add(1)?;
    DateTime::new(year, 1, 1, 0, 0, 0, 0)
        .ok()?
        .to_zoned(TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

fn check_order(
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<(), WindowScheduleError> {
    match (start, end) {
        (Some(start), Some(end)) if start > end => {
            Err(WindowScheduleError::StartAfterEnd { start, end })
        }
        _ => Ok(()),
    }
}

/// Iterator over a schedule's occurrences; ends when the schedule has no more.
#[derive(Debug, Clone)]
pub struct Occurrences<'a> {
    schedule: &'a WindowSchedule,
    after: Option<Timestamp>,
}

impl Iterator for Occurrences<'_> {
    type Item = Zoned;

    fn next(&mut self) -> Option<Zoned> {
        let next = self.schedule.next_after(self.after?);
        self.after = next.as_ref().map(Zoned::timestamp);
        next
    }
}

impl std::iter::FusedIterator for Occurrences<'_> {}

impl TryFrom<WindowScheduleSpec> for WindowSchedule {
    type Error = WindowScheduleError;

    fn try_from(spec: WindowScheduleSpec) -> Result<Self, Self::Error> {
        let mut schedule = WindowSchedule::new(spec.expression, &spec.time_zone)?
            .with_offset_days(spec.offset_days)?;
        if let Some(start) = spec.start {
            schedule = schedule.with_start(start)?;
        }
        if let Some(end) = spec.end {
            schedule = schedule.with_end(end)?;
        }
        Ok(schedule)
    }
}

impl From<WindowSchedule> for WindowScheduleSpec {
    fn from(schedule: WindowSchedule) -> Self {
        WindowScheduleSpec {
            expression: schedule.expression,
            time_zone: schedule.zone_name,
            offset_days: schedule.offset_days,
            start: schedule.start,
            end: schedule.end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expression(text: &str) -> ScheduleExpression {
        ScheduleExpression::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn validates_zone_offset_and_bounds() {
        let cron = expression("0 0 3 ? * TUE#2");
        assert_eq!(
            WindowSchedule::new(cron.clone(), "Europe/Atlantis")
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                "unknown time zone 'Europe/Atlantis' (expected an IANA name such as Europe/Berlin)"
            )
        );
        let schedule = WindowSchedule::new(cron, "europe/berlin");
        assert_eq!(
            schedule.as_ref().map(WindowSchedule::time_zone_name).ok(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            schedule.clone().and_then(|s| s.with_offset_days(7)).err(),
            Some(WindowScheduleError::OffsetDaysOutOfRange(7))
        );
        let rate = WindowSchedule::new(expression("rate(1 day)"), "UTC")
            .and_then(|s| s.with_offset_days(1));
        assert_eq!(
            rate.err().map(|e| e.to_string()).as_deref(),
            Some("offset_days is only allowed with cron(...) expressions, not rate(...)")
        );
        let early: Timestamp = "2024-01-01T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let late: Timestamp = "2025-01-01T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let reversed = schedule
            .and_then(|s| s.with_end(early))
            .and_then(|s| s.with_start(late));
        assert_eq!(
            reversed.err(),
            Some(WindowScheduleError::StartAfterEnd {
                start: late,
                end: early
            })
        );
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let json = r#"{"expression":"cron(0 0 3 ? * TUE#2)","time_zone":"America/New_York","offset_days":4,"start":"2024-01-01T00:00:00Z"}"#;
        let schedule: Result<WindowSchedule, _> = serde_json::from_str(json);
        let back = schedule
            .as_ref()
            .ok()
            .and_then(|s| serde_json::to_string(s).ok());
        assert_eq!(back.as_deref(), Some(json));
        let bad = r#"{"expression":"rate(1 hour)","time_zone":"America/New_York","offset_days":2}"#;
        let error = serde_json::from_str::<WindowSchedule>(bad)
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("offset_days is only allowed with cron")));
    }
}
