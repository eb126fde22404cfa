//! What an execution runs, fixed when it is created: its tasks with their
//! work and limits, the rollout, and the targets with their zone. The plan
//! is stored with the execution, so editing or deleting the window never
//! changes an execution already created.

use patchline_api::windows::{CutoffBehavior, PatchOperation, Reboot, TaskAction, WindowSpec};
use patchline_core::orchestration::{Limit, RateControl, ZoneRollout, zone_batches};
use serde::{Deserialize, Serialize};

use super::targets::Target;

/// The plan of one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionPlan {
    pub tasks: Vec<PlannedTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<ZoneRollout>,
    /// In rollout order: zone batch, then node id.
    pub targets: Vec<PlannedTarget>,
    /// What the cutoff does to invocations still running (absent in plans
    /// stored before it existed: they continue).
    #[serde(default, skip_serializing_if = "CutoffBehavior::is_default")]
    pub cutoff_behavior: CutoffBehavior,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedTask {
    pub name: String,
    pub priority: u32,
    pub work: InvocationWork,
    pub max_concurrency: Limit,
    pub max_errors: Limit,
}

/// One targeted node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedTarget {
    pub node_id: String,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Index of its zone batch (0 without a rollout).
    pub batch: usize,
}

/// What one invocation hands its agent (stored per invocation); the
/// baseline of an install is resolved only at delivery, so it is the
/// node's baseline of that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationWork {
    pub action: PlannedAction,
    pub timeout_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PlannedAction {
    Scan,
    Install {
        baseline: BaselineChoice,
        reboot: Reboot,
    },
    Command {
        command: String,
    },
    Snapshot {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
    },
}

/// Which baseline an install applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum BaselineChoice {
    /// The node's own, as compliance resolves it (patch group, default).
    Node,
    /// This baseline by name.
    Named(String),
    /// Every available update, approved now (Patch Now's default).
    Emergency,
}

impl InvocationWork {
    /// The work of a window task.
    pub fn of_action(action: &TaskAction, timeout_seconds: u32) -> InvocationWork {
        let action = match action {
            TaskAction::Patch {
                operation: PatchOperation::Scan,
                ..
            } => PlannedAction::Scan,
            TaskAction::Patch {
                operation: PatchOperation::Install,
                reboot,
                baseline,
            } => PlannedAction::Install {
                baseline: baseline
                    .clone()
                    .map_or(BaselineChoice::Node, BaselineChoice::Named),
                reboot: *reboot,
            },
            TaskAction::Command { command } => PlannedAction::Command {
                command: command.clone(),
            },
            TaskAction::Snapshot { command } => PlannedAction::Snapshot {
                command: command.clone(),
            },
        };
        InvocationWork {
            action,
            timeout_seconds,
        }
    }
}

impl ExecutionPlan {
    /// The plan of a window opening over `targets`.
    pub fn of_window(spec: &WindowSpec, targets: &[Target]) -> ExecutionPlan {
        let tasks = spec
            .tasks
            .iter()
            .map(|task| PlannedTask {
                name: task.name.clone(),
                priority: task.priority,
                work: InvocationWork::of_action(&task.action, task.timeout_seconds()),
                max_concurrency: task.max_concurrency,
                max_errors: task.max_errors,
            })
            .collect();
        ExecutionPlan {
            cutoff_behavior: spec.cutoff_behavior,
            ..ExecutionPlan::new(tasks, spec.rollout.clone(), targets)
        }
    }

    /// Orders the targets by zone batch when there is a rollout.
    pub fn new(
        tasks: Vec<PlannedTask>,
        rollout: Option<ZoneRollout>,
        targets: &[Target],
    ) -> ExecutionPlan {
        let zone_of = |target: &Target| {
            rollout
                .as_ref()
                .and_then(|rollout| target.tag(&rollout.zone_tag))
                .map(str::to_owned)
        };
        let pairs: Vec<(String, Option<String>)> = targets
            .iter()
            .map(|target| (target.node_id.clone(), zone_of(target)))
            .collect();
        let mut planned = Vec::with_capacity(targets.len());
        for (batch, zone) in zone_batches(&pairs).into_iter().enumerate() {
            for node_id in zone.nodes {
                let Some(target) = targets.iter().find(|target| target.node_id == node_id) else {
                    continue;
                };
                planned.push(PlannedTarget {
                    node_id,
                    hostname: target.hostname.clone(),
                    zone: zone.zone.clone(),
                    batch: if rollout.is_some() { batch } else { 0 },
                });
            }
        }
        ExecutionPlan {
            tasks,
            rollout,
            targets: planned,
            cutoff_behavior: CutoffBehavior::default(),
        }
    }

    /// The resolved limits of task `index` over this plan's targets,
    /// capped at the per-task concurrency quota; the note says when the
    /// cap applied (never silently).
    pub fn rate_control(
        &self,
        task: &PlannedTask,
        concurrency_quota: usize,
    ) -> (RateControl, Option<String>) {
        let mut rate =
            RateControl::for_targets(task.max_concurrency, task.max_errors, self.targets.len());
        let mut note = None;
        if rate.max_concurrency > concurrency_quota.max(1) {
            note = Some(format!(
                "max concurrency {} ({} of {} targets) capped at the quota max_concurrency_per_task = {}",
                rate.max_concurrency,
                task.max_concurrency,
                self.targets.len(),
                concurrency_quota.max(1)
            ));
            rate.max_concurrency = concurrency_quota.max(1);
        }
        (rate, note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use patchline_core::os::OsFamily;

    fn target(id: &str, zone: Option<&str>) -> Target {
        let mut tags = BTreeMap::new();
        if let Some(zone) = zone {
            tags.insert("Zone".to_owned(), zone.to_owned());
        }
        Target {
            node_id: id.into(),
            hostname: format!("host-{id}"),
            os_family: OsFamily::Debian,
            tags,
        }
    }

    fn task(concurrency: Limit) -> PlannedTask {
        PlannedTask {
            name: "install".into(),
            priority: 0,
            work: InvocationWork {
                action: PlannedAction::Scan,
                timeout_seconds: 60,
            },
            max_concurrency: concurrency,
            max_errors: Limit::Count(0),
        }
    }

    #[test]
    fn a_rollout_orders_targets_by_zone_with_unzoned_nodes_last() {
        let targets = [
            target("n3", Some("b")),
            target("n1", None),
            target("n2", Some("a")),
            target("n4", Some("a")),
        ];
        let rollout = ZoneRollout {
            zone_tag: "Zone".into(),
            disruption_budget: Limit::Count(1),
        };
        let plan = ExecutionPlan::new(vec![task(Limit::Count(1))], Some(rollout), &targets);
        let order: Vec<(&str, usize)> = plan
            .targets
            .iter()
            .map(|target| (target.node_id.as_str(), target.batch))
            .collect();
        assert_eq!(order, [("n2", 0), ("n4", 0), ("n3", 1), ("n1", 2)]);
        let flat = ExecutionPlan::new(vec![task(Limit::Count(1))], None, &targets);
        assert!(
            flat.targets
                .iter()
                .all(|target| target.batch == 0 && target.zone.is_none())
        );
    }

    #[test]
    fn a_concurrency_above_the_quota_is_capped_and_said() {
        let targets: Vec<Target> = (0..100)
            .map(|i| target(&format!("n{i:03}"), None))
            .collect();
        let plan = ExecutionPlan::new(vec![task(Limit::Percent(50))], None, &targets);
        let (rate, note) = plan.rate_control(&plan.tasks[0], 20);
        assert_eq!(rate.max_concurrency, 20);
        assert!(note.is_some_and(|note| note.contains("capped")));
        let (rate, note) = plan.rate_control(&plan.tasks[0], 80);
        assert_eq!((rate.max_concurrency, note), (50, None));
    }

    #[test]
    fn window_actions_become_invocation_work() {
        let install = TaskAction::Patch {
            operation: PatchOperation::Install,
            reboot: Reboot::NoReboot,
            baseline: None,
        };
        assert_eq!(
            InvocationWork::of_action(&install, 10).action,
            PlannedAction::Install {
                baseline: BaselineChoice::Node,
                reboot: Reboot::NoReboot
            }
        );
        let json =
            serde_json::to_string(&InvocationWork::of_action(&install, 10)).unwrap_or_default();
        let back: Option<InvocationWork> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(InvocationWork::of_action(&install, 10)));
    }
}
