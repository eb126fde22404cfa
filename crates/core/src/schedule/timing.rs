//! A window's length and cutoff: from an occurrence start, when the window ends
//! and when the last task may start.
//!
//! Both are exact elapsed hours: a 4-hour window that spans a daylight-saving
//! change still lasts 4 real hours, so the maintenance time a fleet gets never
//! shrinks or grows with the clock change.

use jiff::{SignedDuration, Zoned};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a window's duration or cutoff is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowTimingError {
    #[error("duration {0} h is out of range 1-24")]
    DurationOutOfRange(u8),
    #[error("cutoff {0} h is out of range 0-23")]
    CutoffOutOfRange(u8),
    #[error("cutoff {cutoff} h must be less than the duration {duration} h")]
    CutoffNotBelowDuration { cutoff: u8, duration: u8 },
    #[error("a window starting at {start} ends beyond the supported time range")]
    BeyondTimeRange { start: String },
}

/// Validated duration (1-24 h) and cutoff (0-23 h, less than the duration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawWindowTiming", into = "RawWindowTiming")]
pub struct WindowTiming {
    duration_hours: u8,
    cutoff_hours: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindowTiming {
    duration_hours: u8,
    cutoff_hours: u8,
}

/// The instants of one window occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowBounds {
    pub start: Zoned,
    /// `start + duration`: running tasks stop (or are cancelled) here.
    pub end: Zoned,
    /// `end - cutoff`: no new task starts at or after this instant.
    pub last_task_start: Zoned,
}

impl WindowTiming {
    pub fn new(duration_hours: u8, cutoff_hours: u8) -> Result<Self, WindowTimingError> {
        if !(1..=24).contains(&duration_hours) {
            return Err(WindowTimingError::DurationOutOfRange(duration_hours));
        }
        if cutoff_hours > 23 {
            return Err(WindowTimingError::CutoffOutOfRange(cutoff_hours));
        }
        if cutoff_hours >= duration_hours {
            return Err(WindowTimingError::CutoffNotBelowDuration {
                cutoff: cutoff_hours,
                duration: duration_hours,
            });
        }
        Ok(WindowTiming {
            duration_hours,
            cutoff_hours,
        })
    }

    pub fn duration_hours(&self) -> u8 {
        self.duration_hours
    }

    pub fn cutoff_hours(&self) -> u8 {
        self.cutoff_hours
    }

    /// End and last-task-start of the window opening at `start`, in `start`'s zone.
    pub fn bounds(&self, start: &Zoned) -> Result<WindowBounds, WindowTimingError> {
        let beyond = || WindowTimingError::BeyondTimeRange {
            start: start.to_string(),
        };
        let end = start
            .checked_add(SignedDuration::from_hours(self.duration_hours.into()))
            .map_err(|_| beyond())?;
        let last_task_start = end
            .checked_sub(SignedDuration::from_hours(self.cutoff_hours.into()))
            .map_err(|_| beyond())?;
        Ok(WindowBounds {
            start: start.clone(),
            end,
            last_task_start,
        })
    }
}

impl TryFrom<RawWindowTiming> for WindowTiming {
    type Error = WindowTimingError;

    fn try_from(raw: RawWindowTiming) -> Result<Self, Self::Error> {
        WindowTiming::new(raw.duration_hours, raw.cutoff_hours)
    }
}

impl From<WindowTiming> for RawWindowTiming {
    fn from(timing: WindowTiming) -> Self {
        RawWindowTiming {
            duration_hours: timing.duration_hours,
            cutoff_hours: timing.cutoff_hours,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_ranges() {
        assert_eq!(
            WindowTiming::new(0, 0),
            Err(WindowTimingError::DurationOutOfRange(0))
        );
        assert_eq!(
            WindowTiming::new(25, 1),
            Err(WindowTimingError::DurationOutOfRange(25))
        );
        assert_eq!(
            WindowTiming::new(24, 24),
            Err(WindowTimingError::CutoffOutOfRange(24))
        );
        assert_eq!(
            WindowTiming::new(4, 4)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("cutoff 4 h must be less than the duration 4 h")
        );
        assert!(WindowTiming::new(24, 23).is_ok());
        assert!(WindowTiming::new(1, 0).is_ok());
    }

    #[test]
    fn bounds_are_elapsed_hours_across_dst() {
        // 2024-11-03 00:30 EDT; New York falls back at 02:00 EDT to 01:00 EST.
        let start: Zoned = "2024-11-03T00:30:00-04:00[America/New_York]"
            .parse()
            .unwrap_or_default();
        let timing = WindowTiming::new(4, 1);
        let bounds = timing.and_then(|t| t.bounds(&start));
        let instants = bounds.map(|b| {
            (
                b.end.timestamp().to_string(),
                b.last_task_start.timestamp().to_string(),
            )
        });
        assert_eq!(
            instants.ok(),
            Some((
                "2024-11-03T08:30:00Z".to_owned(),
                "2024-11-03T07:30:00Z".to_owned()
            ))
        );
    }

    #[test]
    fn serde_validates() {
        let parsed: Result<WindowTiming, _> =
            serde_json::from_str(r#"{"duration_hours":4,"cutoff_hours":1}"#);
        assert_eq!(parsed.ok(), WindowTiming::new(4, 1).ok());
        let bad: Result<WindowTiming, _> =
            serde_json::from_str(r#"{"duration_hours":2,"cutoff_hours":3}"#);
        assert!(bad.is_err_and(|e| {
            e.to_string()
                .contains("cutoff 3 h must be less than the duration 2 h")
        }));
    }
}
