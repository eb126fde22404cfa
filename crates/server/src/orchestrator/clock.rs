//! Where the orchestrator's time comes from. Production runs on
//! [`SystemClock`]; tests drive windows that last hours on a
//! [`ManualClock`] they set and advance, never sleeping. Every instant the
//! orchestrator stores (openings, deadlines, timings) comes from its clock,
//! at the store's precision (milliseconds).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};

/// A source of the current instant.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, truncated to milliseconds (what the store keeps).
    fn now(&self) -> Timestamp;
}

/// A clock shared by the server's parts (and by two test servers).
pub type SharedClock = Arc<dyn Clock>;

/// The host's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        to_millis(Timestamp::now())
    }
}

/// A clock that moves only when told to. Clones share one instant, so a
/// test and the servers it started see the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(to_millis(start))),
        }
    }

    /// Jumps to `at` (backwards too: a test may replay an instant).
    pub fn set(&self, at: Timestamp) {
        *self.lock() = to_millis(at);
    }

    /// Moves forward by `by` (saturating at the end of jiff's range).
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.lock();
        *now = to_millis(now.checked_add(by).unwrap_or(Timestamp::MAX));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A panic while holding this lock cannot leave the instant half
        // written, so a poisoned lock is still a valid one.
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}

/// `at` without its sub-millisecond part.
fn to_millis(at: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(at.as_millisecond()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let start: Timestamp = "2026-03-01T10:00:00.123456Z".parse().unwrap_or_default();
        let clock = ManualClock::new(start);
        let other = clock.clone();
        assert_eq!(clock.now().as_millisecond(), start.as_millisecond());
        assert_eq!(clock.now().subsec_nanosecond() % 1_000_000, 0);
        clock.advance(SignedDuration::from_hours(2));
        assert_eq!(
            other.now().as_millisecond(),
            start.as_millisecond() + 2 * 3600 * 1000
        );
        other.set(start);
        assert_eq!(clock.now().as_millisecond(), start.as_millisecond());
    }

    #[test]
    fn the_system_clock_keeps_milliseconds_only() {
        assert_eq!(SystemClock.now().subsec_nanosecond() % 1_000_000, 0);
    }
}
