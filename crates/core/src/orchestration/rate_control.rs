//! Rate control of one task over many nodes: how many pending invocations
//! to release now, given the counts in the store.
//!
//! The contract (semantics.md): never more than `max_concurrency`
//! invocations in flight; once the errors (failed + timed out) are greater
//! than `max_errors`, nothing new starts, the invocations in flight finish,
//! and the pending ones become not-started. The last release happens while
//! errors ≤ `max_errors`, with at most `max_concurrency` then in flight, so
//! the final error count is at most `max_errors + max_concurrency`: the
//! error that crosses the threshold plus up to `max_concurrency − 1` more
//! from invocations that were already running.
//!
//! The decision is a pure function of the counts, so a scheduler that keeps
//! its state in a store can call it on every tick, after a restart, or from
//! two servers: it never needs to remember what it decided before.

use serde::{Deserialize, Serialize};

use super::limit::Limit;
use super::status::InvocationCounts;

/// The resolved limits of one task (see [`Limit`] for how they resolve).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateControl {
    /// In-flight cap; 0 is treated as 1 so that a task always progresses.
    pub max_concurrency: usize,
    /// Errors tolerated; one more stops the task.
    pub max_errors: usize,
}

/// What the scheduler should do with a task right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dispatch {
    /// Release this many pending invocations (pending → queued), e.g. in node-id order.
    Start(usize),
    /// Nothing to release now; wait for in-flight invocations to finish.
    Wait,
    /// Errors exceed max-errors: mark every pending invocation not-started;
    /// in-flight ones finish.
    StopRemaining,
    /// Nothing pending or in flight: the task is finished.
    Done,
}

impl RateControl {
    /// The limits of a task with `targets` nodes.
    pub fn for_targets(max_concurrency: Limit, max_errors: Limit, targets: usize) -> RateControl {
        RateControl {
            max_concurrency: max_concurrency.concurrency_for(targets),
            max_errors: max_errors.errors_for(targets),
        }
    }

    /// True once the errors are greater than max-errors.
    pub fn stopped(&self, counts: &InvocationCounts) -> bool {
        counts.errors() > self.max_errors
    }

    /// The next step for a task whose invocations are counted in `counts`.
    pub fn dispatch(&self, counts: &InvocationCounts) -> Dispatch {
        let in_flight = counts.in_flight();
        if counts.pending == 0 {
            return if in_flight == 0 {
                Dispatch::Done
            } else {
                Dispatch::Wait
            };
        }
        if self.stopped(counts) {
            return Dispatch::StopRemaining;
        }
        match self.max_concurrency.max(1).saturating_sub(in_flight) {
            0 => Dispatch::Wait,
            free => Dispatch::Start(free.min(counts.pending)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestration::status::InvocationStatus;
    use proptest::prelude::*;

    fn counts(pending: usize, in_progress: usize, failed: usize) -> InvocationCounts {
        InvocationCounts {
            pending,
            in_progress,
            failed,
            ..InvocationCounts::default()
        }
    }

    #[test]
    fn releases_up_to_the_free_slots() {
        let rate = RateControl {
            max_concurrency: 3,
            max_errors: 1,
        };
        assert_eq!(rate.dispatch(&counts(10, 0, 0)), Dispatch::Start(3));
        assert_eq!(rate.dispatch(&counts(10, 2, 0)), Dispatch::Start(1));
        assert_eq!(rate.dispatch(&counts(10, 3, 0)), Dispatch::Wait);
        assert_eq!(rate.dispatch(&counts(1, 0, 0)), Dispatch::Start(1));
        assert_eq!(rate.dispatch(&counts(10, 0, 1)), Dispatch::Start(3));
        assert_eq!(rate.dispatch(&counts(10, 1, 2)), Dispatch::StopRemaining);
        assert_eq!(rate.dispatch(&counts(0, 1, 2)), Dispatch::Wait);
        assert_eq!(rate.dispatch(&counts(0, 0, 2)), Dispatch::Done);
        assert_eq!(rate.dispatch(&InvocationCounts::default()), Dispatch::Done);
        let queued = InvocationCounts {
            pending: 5,
            queued: 3,
            ..InvocationCounts::default()
        };
        assert_eq!(
            rate.dispatch(&queued),
            Dispatch::Wait,
            "queued counts as in flight"
        );
        let zero = RateControl {
            max_concurrency: 0,
            max_errors: 0,
        };
        assert_eq!(zero.dispatch(&counts(4, 0, 0)), Dispatch::Start(1));
    }

    #[test]
    fn max_errors_zero_stops_after_the_first_failure() {
        let rate = RateControl::for_targets(Limit::Count(1), Limit::Percent(10), 5);
        assert_eq!(rate.max_errors, 0);
        assert_eq!(rate.dispatch(&counts(5, 0, 0)), Dispatch::Start(1));
        let one_failed = InvocationCounts {
            pending: 4,
            failed: 1,
            ..InvocationCounts::default()
        };
        assert_eq!(rate.dispatch(&one_failed), Dispatch::StopRemaining);
        let timed_out = InvocationCounts {
            pending: 4,
            timed_out: 1,
            ..InvocationCounts::default()
        };
        assert_eq!(rate.dispatch(&timed_out), Dispatch::StopRemaining);
    }

    /// One simulated node: its status changes as the scheduler and the agent act.
    struct Simulation {
        rate: RateControl,
        statuses: Vec<InvocationStatus>,
        /// Random choices; cycled when exhausted so every run terminates.
        choices: Vec<u8>,
        next_choice: usize,
        failure_percent: u8,
        starts_after_stop: usize,
        max_in_flight_seen: usize,
        /// Errors and invocations in flight when errors first exceeded max-errors.
        at_stop: Option<(usize, usize)>,
    }

    impl Simulation {
        fn choice(&mut self) -> u8 {
            let value = self
                .choices
                .get(self.next_choice % self.choices.len().max(1))
                .copied()
                .unwrap_or(0);
            self.next_choice += 1;
            value
        }

        fn counts(&self) -> InvocationCounts {
            InvocationCounts::from_statuses(self.statuses.iter().copied())
        }

        fn indexes_in(&self, wanted: &[InvocationStatus]) -> Vec<usize> {
            (0..self.statuses.len())
                .filter(|&i| wanted.contains(&self.statuses[i]))
                .collect()
        }

        /// One scheduler tick; false when the task is done.
        fn tick(&mut self) -> Result<bool, TestCaseError> {
            let before = self.counts();
            match self.rate.dispatch(&before) {
                Dispatch::Start(n) => {
                    prop_assert!(n > 0 && n <= before.pending);
                    if self.rate.stopped(&before) {
                        self.starts_after_stop += 1;
                    }
                    for index in self
                        .indexes_in(&[InvocationStatus::Pending])
                        .into_iter()
                        .take(n)
                    {
                        self.statuses[index] = InvocationStatus::Queued;
                    }
                    let in_flight = self.counts().in_flight();
                    self.max_in_flight_seen = self.max_in_flight_seen.max(in_flight);
                    prop_assert!(in_flight <= self.rate.max_concurrency.max(1));
                }
                Dispatch::StopRemaining => {
                    prop_assert!(before.errors() > self.rate.max_errors);
                    for index in self.indexes_in(&[InvocationStatus::Pending]) {
                        self.statuses[index] = InvocationStatus::NotStarted;
                    }
                }
                Dispatch::Wait => {
                    prop_assert!(before.in_flight() > 0, "waiting with nothing in flight");
                    // Liveness: waiting while allowed to start means the cap is full.
                    if before.pending > 0 && !self.rate.stopped(&before) {
                        prop_assert_eq!(before.in_flight(), self.rate.max_concurrency.max(1));
                    }
                }
                Dispatch::Done => {
                    prop_assert_eq!(before.pending + before.in_flight(), 0);
                    return Ok(false);
                }
            }
            Ok(true)
        }

        /// The agents act: deliver a queued invocation or finish a running one,
        /// in random order, with a random outcome.
        fn agents_act(&mut self) {
            let in_flight =
                self.indexes_in(&[InvocationStatus::Queued, InvocationStatus::InProgress]);
            if in_flight.is_empty() {
                return;
            }
            let pick = in_flight[usize::from(self.choice()) % in_flight.len()];
            let roll = self.choice() % 100;
            self.statuses[pick] = match self.statuses[pick] {
                InvocationStatus::Queued if roll.is_multiple_of(3) => InvocationStatus::InProgress,
                _ if roll < self.failure_percent => {
                    if roll.is_multiple_of(2) {
                        InvocationStatus::Failed
                    } else {
                        InvocationStatus::TimedOut
                    }
                }
                _ => InvocationStatus::Success,
            };
            let counts = self.counts();
            if self.at_stop.is_none() && self.rate.stopped(&counts) {
                self.at_stop = Some((counts.errors(), counts.in_flight()));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn simulated_runs_keep_the_contract(
            targets in 0usize..60,
            concurrency in prop_oneof![
                (1u32..12).prop_map(Limit::Count),
                (1u8..=100).prop_map(Limit::Percent),
            ],
            errors in prop_oneof![
                (0u32..8).prop_map(Limit::Count),
                (0u8..=100).prop_map(Limit::Percent),
            ],
            failure_percent in 0u8..=100,
            choices in prop::collection::vec(any::<u8>(), 1..400),
        ) {
            let rate = RateControl::for_targets(concurrency, errors, targets);
            let mut simulation = Simulation {
                rate,
                statuses: vec![InvocationStatus::Pending; targets],
                choices,
                next_choice: 0,
                failure_percent,
                starts_after_stop: 0,
                max_in_flight_seen: 0,
                at_stop: None,
            };
            // Each tick either finishes the task or lets agents act; every
            // target needs at most a few steps, so this bound is generous.
            let mut steps = 0;
            while simulation.tick()? {
                // Sometimes several agents report between two ticks.
                let reports = 1 + simulation.choice() % 3;
                for _ in 0..reports {
                    simulation.agents_act();
                }
                steps += 1;
                prop_assert!(steps < 10 * targets + 10, "no progress after {} steps", steps);
            }

            let finished = simulation.counts();
            prop_assert_eq!(simulation.starts_after_stop, 0);
            prop_assert!(simulation.max_in_flight_seen <= rate.max_concurrency);
            prop_assert!(simulation.statuses.iter().all(|s| s.is_terminal()));
            prop_assert_eq!(finished.finished(), targets);
            prop_assert_eq!(
                finished.success + finished.failed + finished.timed_out + finished.not_started,
                targets
            );
            if rate.stopped(&finished) {
                prop_assert!(
                    finished.errors() <= rate.max_errors + rate.max_concurrency,
                    "{} errors with max-errors {} and max-concurrency {}",
                    finished.errors(), rate.max_errors, rate.max_concurrency
                );
                // Agents report one at a time here, so exactly one error
                // crosses the threshold; the others still in flight then
                // (at most max-concurrency − 1) are all that may add to it.
                let (errors_at_stop, in_flight_at_stop) = simulation.at_stop.unwrap_or_default();
                prop_assert_eq!(errors_at_stop, rate.max_errors + 1);
                prop_assert!(in_flight_at_stop < rate.max_concurrency);
                prop_assert!(finished.errors() - errors_at_stop <= in_flight_at_stop);
                if rate.max_errors == 0 && rate.max_concurrency == 1 {
                    prop_assert_eq!(finished.errors(), 1);
                }
            } else {
                prop_assert_eq!(finished.not_started, 0, "stopped without exceeding max-errors");
            }
        }
    }
}
