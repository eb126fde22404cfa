//! Waiting between calls: the check-in interval with jitter (so a fleet
//! restarted at once does not check in in lockstep), and capped exponential
//! backoff after transport failures.

use std::time::Duration;

/// How long to wait after failed calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait.
    pub initial: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

/// Exponential backoff with "equal jitter": each wait is drawn from
/// `[d/2, d]` where `d` doubles from `initial` up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    failures: u32,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Backoff {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// The wait after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let doubled = self
            .policy
            .initial
            .saturating_mul(1u32 << self.failures.min(31));
        self.failures = self.failures.saturating_add(1);
        let ceiling = doubled.min(self.policy.max);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a success: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The server's check-in interval, ±10 %, at least one second.
pub fn jittered_interval(seconds: u32) -> Duration {
    let base = Duration::from_secs(u64::from(seconds.max(1)));
    base.mul_f64(0.9 + 0.2 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let policy = RetryPolicy {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(20),
        };
        let mut backoff = Backoff::new(policy);
        let ceilings = [2, 4, 8, 16, 20, 20, 20];
        for ceiling in ceilings {
            let ceiling = Duration::from_secs(ceiling);
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} not in [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        assert_eq!(backoff.failures(), 7);
        for _ in 0..100 {
            backoff.next_delay();
        }
        assert!(
            backoff.next_delay() <= policy.max,
            "no overflow past the cap"
        );
        backoff.reset();
        assert!(backoff.next_delay() <= policy.initial);
    }

    #[test]
    fn the_interval_varies_within_ten_percent() {
        for _ in 0..100 {
            let wait = jittered_interval(60);
            assert!(wait >= Duration::from_secs(54) && wait <= Duration::from_secs(66));
        }
        assert!(jittered_interval(0) >= Duration::from_millis(900));
    }
}
