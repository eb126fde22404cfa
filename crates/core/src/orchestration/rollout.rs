//! Zone-by-zone rollout for highly available services: a task's targets are
//! split by a zone tag into batches that run one after the other, each capped
//! by a disruption budget, so a service never loses more than the budget of
//! one zone at a time.
//!
//! Zone k+1 starts only when zone k has nothing pending or in flight. Errors
//! count over the whole task: a failure in the first zone can stop the
//! rollout before the next zone is touched, which is the point of going zone
//! by zone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::limit::Limit;
use super::rate_control::{Dispatch, RateControl};
use super::status::InvocationCounts;

/// How a window splits its targets: the tag whose value names a node's zone,
/// and how many nodes of one zone may be patched at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneRollout {
    pub zone_tag: String,
    pub disruption_budget: Limit,
}

/// The nodes of one zone; `zone: None` holds the nodes without the zone tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneBatch {
    pub zone: Option<String>,
    pub nodes: Vec<String>,
}

/// What to do with a zone-by-zone task right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutDispatch {
    /// Release this many pending invocations of the batch at index `zone`.
    Start { zone: usize, count: usize },
    /// Wait for in-flight invocations to finish.
    Wait,
    /// Errors exceed max-errors: every pending invocation, in every zone, becomes not-started.
    StopRemaining,
    /// Nothing pending or in flight in any zone.
    Done,
}

/// Splits `(node id, zone)` pairs into batches: zones in name order, the
/// nodes without a zone last, node ids sorted and deduplicated in each batch.
pub fn zone_batches(targets: &[(String, Option<String>)]) -> Vec<ZoneBatch> {
    // `Option`'s order puts `None` first; keying on (is_none, zone) puts it last.
    let mut zones: BTreeMap<(bool, Option<&str>), Vec<String>> = BTreeMap::new();
    for (node, zone) in targets {
        zones
            .entry((zone.is_none(), zone.as_deref()))
            .or_default()
            .push(node.clone());
    }
    zones
        .into_iter()
        .map(|((_, zone), mut nodes)| {
            nodes.sort_unstable();
            nodes.dedup();
            ZoneBatch {
                zone: zone.map(str::to_owned),
                nodes,
            }
        })
        .collect()
}

impl ZoneRollout {
    /// The in-flight cap inside a zone of `zone_size` nodes: the task's own
    /// cap, lowered to the disruption budget of that zone.
    pub fn zone_concurrency(&self, zone_size: usize, task_concurrency: usize) -> usize {
        self.disruption_budget
            .concurrency_for(zone_size)
            .min(task_concurrency.max(1))
    }

    /// The next step of a task whose invocations are counted per batch, in
    /// [`zone_batches`] order (`zones[i]` counts batch i).
    pub fn dispatch(&self, rate: &RateControl, zones: &[InvocationCounts]) -> RolloutDispatch {
        let mut task = InvocationCounts::default();
        for zone in zones {
            task += *zone;
        }
        match rate.dispatch(&task) {
            Dispatch::Done => return RolloutDispatch::Done,
            Dispatch::StopRemaining => return RolloutDispatch::StopRemaining,
            Dispatch::Wait | Dispatch::Start(_) => {}
        }
        // The first batch not finished is the only one allowed to run.
        let Some((index, zone)) = zones
            .iter()
            .enumerate()
            .find(|(_, zone)| zone.pending > 0 || zone.in_flight() > 0)
        else {
            return RolloutDispatch::Done;
        };
        if zone.pending == 0 {
            return RolloutDispatch::Wait;
        }
        // Earlier batches are finished, so the task's in-flight count is this zone's.
        let zone_rate = RateControl {
            max_concurrency: self.zone_concurrency(zone.total(), rate.max_concurrency),
            max_errors: rate.max_errors,
        };
        match zone_rate.dispatch(&task) {
            Dispatch::Start(count) => RolloutDispatch::Start {
                zone: index,
                count: count.min(zone.pending),
            },
            Dispatch::StopRemaining => RolloutDispatch::StopRemaining,
            Dispatch::Wait | Dispatch::Done => RolloutDispatch::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(node: &str, zone: Option<&str>) -> (String, Option<String>) {
        (node.to_owned(), zone.map(str::to_owned))
    }

    #[test]
    fn batches_zones_in_name_order_and_zoneless_nodes_last() {
        let batches = zone_batches(&[
            target("n5", None),
            target("n3", Some("zone-b")),
            target("n2", Some("zone-a")),
            target("n9", Some("zone-b")),
            target("n1", Some("zone-b")),
            target("n4", None),
            target("n1", Some("zone-b")),
        ]);
        let summary: Vec<(Option<&str>, Vec<&str>)> = batches
            .iter()
            .map(|b| {
                (
                    b.zone.as_deref(),
                    b.nodes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Some("zone-a"), vec!["n2"]),
                (Some("zone-b"), vec!["n1", "n3", "n9"]),
                (None, vec!["n4", "n5"]),
            ]
        );
        assert!(zone_batches(&[]).is_empty());
    }

    fn zone(pending: usize, in_progress: usize, success: usize, failed: usize) -> InvocationCounts {
        InvocationCounts {
            pending,
            in_progress,
            success,
            failed,
            ..InvocationCounts::default()
        }
    }

    #[test]
    fn runs_one_zone_at_a_time_within_the_budget() {
        let rollout = ZoneRollout {
            zone_tag: "zone".to_owned(),
            disruption_budget: Limit::Percent(50),
        };
        let rate = RateControl {
            max_concurrency: 10,
            max_errors: 0,
        };
        assert_eq!(rollout.zone_concurrency(3, 10), 2);
        assert_eq!(rollout.zone_concurrency(3, 1), 1);
        // Zone 0 has 4 nodes: budget 2.
        assert_eq!(
            rollout.dispatch(&rate, &[zone(4, 0, 0, 0), zone(4, 0, 0, 0)]),
            RolloutDispatch::Start { zone: 0, count: 2 }
        );
        assert_eq!(
            rollout.dispatch(&rate, &[zone(2, 2, 0, 0), zone(4, 0, 0, 0)]),
            RolloutDispatch::Wait
        );
        assert_eq!(
            rollout.dispatch(&rate, &[zone(2, 1, 1, 0), zone(4, 0, 0, 0)]),
            RolloutDispatch::Start { zone: 0, count: 1 }
        );
        // Zone 0 drains before zone 1 starts.
        assert_eq!(
            rollout.dispatch(&rate, &[zone(0, 1, 3, 0), zone(4, 0, 0, 0)]),
            RolloutDispatch::Wait
        );
        assert_eq!(
            rollout.dispatch(&rate, &[zone(0, 0, 4, 0), zone(4, 0, 0, 0)]),
            RolloutDispatch::Start { zone: 1, count: 2 }
        );
        // A failure in zone 0 stops the rollout before zone 1 is touched.
        assert_eq!(
            rollout.dispatch(&rate, &[zone(0, 1, 2, 1), zone(4, 0, 0, 0)]),
            RolloutDispatch::StopRemaining
        );
        assert_eq!(
            rollout.dispatch(
                &rate,
                &[
                    zone(0, 0, 3, 1),
                    InvocationCounts {
                        not_started: 4,
                        ..InvocationCounts::default()
                    }
                ]
            ),
            RolloutDispatch::Done
        );
        assert_eq!(rollout.dispatch(&rate, &[]), RolloutDispatch::Done);
    }

    #[test]
    fn task_concurrency_still_caps_a_generous_budget() {
        let rollout = ZoneRollout {
            zone_tag: "zone".to_owned(),
            disruption_budget: Limit::Count(10),
        };
        let rate = RateControl {
            max_concurrency: 3,
            max_errors: 5,
        };
        assert_eq!(
            rollout.dispatch(&rate, &[zone(8, 1, 0, 0)]),
            RolloutDispatch::Start { zone: 0, count: 2 }
        );
    }

    mod simulated {
        use super::*;
        use crate::orchestration::status::InvocationStatus;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Random zones, budgets, outcomes and finishing order: a zone
            /// starts only after the earlier ones drained, in-flight stays
            /// within the zone's cap, nothing starts after the stop, and
            /// every node ends in a terminal status.
            #[test]
            fn zone_by_zone_runs_keep_the_contract(
                zones_of_nodes in prop::collection::vec(prop::option::of(0u8..4), 0..40),
                budget in prop_oneof![
                    (1u32..5).prop_map(Limit::Count),
                    (1u8..=100).prop_map(Limit::Percent),
                ],
                task_concurrency in 1usize..8,
                max_errors in 0usize..4,
                choices in prop::collection::vec(any::<u8>(), 1..300),
            ) {
                let targets: Vec<(String, Option<String>)> = zones_of_nodes
                    .iter()
                    .enumerate()
                    .map(|(i, zone)| (format!("n{i:02}"), zone.map(|z| format!("zone-{z}"))))
                    .collect();
                let batches = zone_batches(&targets);
                prop_assert_eq!(batches.iter().map(|b| b.nodes.len()).sum::<usize>(), targets.len());
                let rollout = ZoneRollout { zone_tag: "zone".to_owned(), disruption_budget: budget };
                let rate = RateControl { max_concurrency: task_concurrency, max_errors };
                let mut statuses: Vec<Vec<InvocationStatus>> = batches
                    .iter()
                    .map(|b| vec![InvocationStatus::Pending; b.nodes.len()])
                    .collect();
                let mut next_choice = 0usize;
                let mut choice = || {
                    next_choice += 1;
                    choices[next_choice % choices.len()]
                };
                let mut steps = 0;
                loop {
                    let counts: Vec<InvocationCounts> = statuses
                        .iter()
                        .map(|zone| InvocationCounts::from_statuses(zone.iter().copied()))
                        .collect();
                    let mut task = InvocationCounts::default();
                    counts.iter().for_each(|zone| task += *zone);
                    match rollout.dispatch(&rate, &counts) {
                        RolloutDispatch::Done => break,
                        RolloutDispatch::StopRemaining => {
                            prop_assert!(task.errors() > max_errors);
                            for status in statuses.iter_mut().flatten() {
                                if *status == InvocationStatus::Pending {
                                    *status = InvocationStatus::NotStarted;
                                }
                            }
                        }
                        RolloutDispatch::Start { zone, count } => {
                            prop_assert!(task.errors() <= max_errors);
                            prop_assert!(counts[..zone].iter().all(|z| z.pending + z.in_flight() == 0));
                            prop_assert!(count > 0 && count <= counts[zone].pending);
                            let cap = rollout.zone_concurrency(batches[zone].nodes.len(), task_concurrency);
                            prop_assert!(counts[zone].in_flight() + count <= cap);
                            for status in statuses[zone]
                                .iter_mut()
                                .filter(|s| **s == InvocationStatus::Pending)
                                .take(count)
                            {
                                *status = InvocationStatus::InProgress;
                            }
                        }
                        RolloutDispatch::Wait => prop_assert!(task.in_flight() > 0),
                    }
                    // One agent reports: a random in-flight node, a random outcome.
                    let in_flight: Vec<(usize, usize)> = statuses
                        .iter()
                        .enumerate()
                        .flat_map(|(z, zone)| {
                            zone.iter()
                                .enumerate()
                                .filter(|(_, s)| **s == InvocationStatus::InProgress)
                                .map(move |(n, _)| (z, n))
                        })
                        .collect();
                    if !in_flight.is_empty() {
                        let (z, n) = in_flight[usize::from(choice()) % in_flight.len()];
                        statuses[z][n] = if choice() < 40 {
                            InvocationStatus::Failed
                        } else {
                            InvocationStatus::Success
                        };
                    }
                    steps += 1;
                    prop_assert!(steps < 4 * targets.len() + 4, "no progress");
                }
                prop_assert!(statuses.iter().flatten().all(|s| s.is_terminal()));
            }
        }
    }
}
