//! The planner's view of one window over the current fleet: its targets,
//! the recommended duration and cutoff for them (core `plan`), the other
//! windows open at the same time with targets in common (core `overlaps`,
//! 30 days ahead), and the high-availability warning when one window covers
//! every zone of a service (core `shared_window_warnings`; service tag
//! `Application`, environment tag `Environment`, zone tag the window's
//! rollout zone tag or `Zone`).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use patchline_api::nodes::tag_keys;
use patchline_api::windows::{TaskAction, WindowOverlap, WindowPlan, WindowSpec};
use patchline_core::orchestration::{NodePlacement, overlaps, plan, shared_window_warnings};
use patchline_core::os::OsFamily;
use patchline_core::schedule::{WindowSchedule, WindowTiming};

use super::window_check::window_schedule;
use crate::orchestrator::targets::{Membership, window_members};
use crate::store::records::NodeRecord;
use crate::store::windows::WindowRecord;

/// How far ahead overlaps are looked for.
pub const OVERLAP_HORIZON_DAYS: i64 = 30;
/// At most this many overlapping periods are reported per other window.
const OVERLAPS_PER_WINDOW: usize = 5;
/// Openings listed in a plan or a window view.
pub const NEXT_OPENINGS: usize = 3;

/// What the planner reads besides the window itself.
#[derive(Debug, Clone, Copy)]
pub struct Fleet<'a> {
    /// Every stored window (the planned one, if stored, is replaced by the
    /// spec being planned).
    pub windows: &'a [WindowRecord],
    /// The nodes the caller reaches.
    pub nodes: &'a [NodeRecord],
    /// The governance default window.
    pub default_window: Option<&'a str>,
    /// Every stored baseline's OS family (for task overrides).
    pub baselines: &'a BTreeMap<String, OsFamily>,
    pub now: Timestamp,
}

impl<'a> Fleet<'a> {
    /// Who the default window serves is decided by every stored window.
    fn membership(&self) -> Membership<'a> {
        Membership {
            default_window: self.default_window,
            windows: self.windows,
        }
    }
}

/// The next `count` openings after `now` (none for an invalid schedule).
pub fn next_openings(spec: &WindowSpec, now: Timestamp, count: usize) -> Vec<Timestamp> {
    match window_schedule(spec) {
        Ok(schedule) => schedule
            .occurrences_after(now)
            .take(count)
            .map(|opening| opening.timestamp())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The planner's check of `spec` over `fleet`.
pub fn plan_window(spec: &WindowSpec, fleet: Fleet<'_>) -> WindowPlan {
    let members = member_ids(spec, fleet);
    let check = plan(members.len(), spec.duration_hours, spec.cutoff_hours);
    let mut problems = check.problems;
    if spec.tasks.is_empty() {
        problems.push("the window has no tasks".to_owned());
    }
    problems.extend(override_family_problems(spec, fleet));
    let timed = match (
        window_schedule(spec),
        WindowTiming::new(spec.duration_hours, spec.cutoff_hours),
    ) {
        (Ok(schedule), Ok(timing)) => Some((schedule, timing)),
        (Err(error), _) => {
            problems.push(error.to_string());
            None
        }
        // The core plan has named the timing problem already.
        (_, Err(_)) => None,
    };
    let next = next_openings(spec, fleet.now, NEXT_OPENINGS);
    if timed.is_some() && next.is_empty() {
        problems.push("the window never opens again (its schedule has no future opening)".into());
    }
    let mut warnings = Vec::new();
    if !spec.enabled {
        warnings.push("the window is disabled: it does not open".to_owned());
    }
    warnings.extend(high_availability_warnings(spec, fleet));
    let overlaps = match &timed {
        Some((schedule, timing)) if spec.enabled => {
            window_overlaps(spec, schedule, *timing, &members, fleet)
        }
        _ => Vec::new(),
    };
    WindowPlan {
        window: spec.name.clone(),
        targets: members.len() as u64,
        duration_hours: spec.duration_hours,
        cutoff_hours: spec.cutoff_hours,
        recommended_duration_hours: check.recommended_duration_hours,
        recommended_cutoff_hours: check.recommended_cutoff_hours,
        fits: check.fits,
        problems,
        overlaps,
        warnings,
        next_openings: next,
    }
}

/// Install tasks whose override baseline is of another OS family than
/// some targets: their install would fail on those nodes.
fn override_family_problems(spec: &WindowSpec, fleet: Fleet<'_>) -> Vec<String> {
    let members = window_members(spec, fleet.membership(), fleet.nodes);
    let mut problems = Vec::new();
    for task in &spec.tasks {
        let TaskAction::Patch {
            baseline: Some(baseline),
            ..
        } = &task.action
        else {
            continue;
        };
        let Some(family) = fleet.baselines.get(baseline) else {
            problems.push(format!(
                "task {:?}: baseline {baseline:?} does not exist",
                task.name
            ));
            continue;
        };
        let others = members
            .iter()
            .filter(|target| target.os_family != *family)
            .count();
        if others > 0 {
            problems.push(format!(
                "task {:?}: baseline {baseline:?} is for {family} nodes, and {others} of the \
                 targets are not (the task fails on them)",
                task.name
            ));
        }
    }
    problems
}

/// What a PUT reports about the window it saved: the plan's problems,
/// overlaps and warnings, as sentences.
pub fn put_warnings(plan: &WindowPlan) -> Vec<String> {
    let mut warnings = plan.problems.clone();
    for overlap in &plan.overlaps {
        warnings.push(format!(
            "overlaps window {:?} from {} to {} ({} nodes in both)",
            overlap.window, overlap.start, overlap.end, overlap.shared_targets
        ));
    }
    warnings.extend(plan.warnings.iter().cloned());
    warnings
}

/// The ids of the nodes `spec` targets.
pub fn member_ids(spec: &WindowSpec, fleet: Fleet<'_>) -> BTreeSet<String> {
    window_members(spec, fleet.membership(), fleet.nodes)
        .into_iter()
        .map(|target| target.node_id)
        .collect()
}

/// The other enabled windows, with the planned spec in place of its stored
/// version.
fn other_windows<'a>(spec: &WindowSpec, fleet: Fleet<'a>) -> impl Iterator<Item = &'a WindowSpec> {
    let name = spec.name.clone();
    fleet
        .windows
        .iter()
        .map(|record| &record.spec)
        .filter(move |other| other.enabled && other.name != name)
}

fn window_overlaps(
    spec: &WindowSpec,
    schedule: &WindowSchedule,
    timing: WindowTiming,
    members: &BTreeSet<String>,
    fleet: Fleet<'_>,
) -> Vec<WindowOverlap> {
    let horizon = SignedDuration::from_hours(OVERLAP_HORIZON_DAYS * 24);
    let mut found = Vec::new();
    for other in other_windows(spec, fleet) {
        let shared = member_ids(other, fleet).intersection(members).count();
        if shared == 0 {
            continue;
        }
        let (Ok(other_schedule), Ok(other_timing)) = (
            window_schedule(other),
            WindowTiming::new(other.duration_hours, other.cutoff_hours),
        ) else {
            continue;
        };
        for (start, end) in overlaps(
            (schedule, timing),
            (&other_schedule, other_timing),
            fleet.now,
            horizon,
            OVERLAPS_PER_WINDOW,
        ) {
            found.push(WindowOverlap {
                window: other.name.clone(),
                shared_targets: shared as u64,
                start,
                end,
            });
        }
    }
    found.sort_by(|a, b| (a.start, &a.window).cmp(&(b.start, &b.window)));
    found
}

/// The high-availability warnings about `spec`: a service (per
/// environment) with nodes in several zones, all of them in this window.
fn high_availability_warnings(spec: &WindowSpec, fleet: Fleet<'_>) -> Vec<String> {
    let zone_tag = spec
        .rollout
        .as_ref()
        .map_or(tag_keys::ZONE, |rollout| rollout.zone_tag.as_str());
    let mut windows: Vec<(&WindowSpec, BTreeSet<String>)> = other_windows(spec, fleet)
        .map(|other| (other, member_ids(other, fleet)))
        .collect();
    windows.push((spec, member_ids(spec, fleet)));
    let placements: Vec<NodePlacement> = fleet
        .nodes
        .iter()
        .map(|node| NodePlacement {
            node_id: node.id.clone(),
            service: node.tags.get(tag_keys::APPLICATION).cloned(),
            environment: node.tags.get(tag_keys::ENVIRONMENT).cloned(),
            zone: node.tags.get(zone_tag).cloned(),
            windows: windows
                .iter()
                .filter(|(_, members)| members.contains(&node.id))
                .map(|(window, _)| window.name.clone())
                .collect(),
        })
        .collect();
    shared_window_warnings(&placements)
        .into_iter()
        .filter(|warning| warning.window == spec.name)
        .map(|warning| warning.to_string())
        .collect()
}
