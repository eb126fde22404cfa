//! The evaluator: a baseline compiled once (glob sets, filter masks), then
//! applied to nodes.
//!
//! Per node the cost is one verdict per candidate update, a sort of index
//! vectors by name (installed packages, candidates, marks), and one merge
//! walk over installed packages and candidates. Allocations are a fixed
//! handful of vectors per node plus the report; per-package work borrows
//! the caller's strings.

use std::borrow::Cow;
use std::cmp::Ordering;

use jiff::civil::Date;

use super::{
    Approval, ApprovedBy, ComplianceStatus, EvaluationError, EvaluationInput, InstallTarget,
    LevelCounts, NodeCompliance, PackageCompliance, PackageState, StateCounts, UpdateVerdict,
};
use crate::baseline::rules::CompiledRule;
use crate::baseline::{
    Baseline, BaselineError, ComplianceLevel, PatchList, PatternList, RejectedAction,
};
use crate::os::{OsFamily, OsInfo};
use crate::package::{
    Classification, InstalledPackage, PackageRef, Severity, Update, arches_compatible,
};
use crate::version::VersionScheme;

/// A baseline compiled for evaluation; immutable, shareable across threads.
pub struct Evaluator {
    baseline_name: String,
    family: OsFamily,
    scheme: VersionScheme,
    rules: Vec<CompiledRule>,
    approved: PatternList,
    approved_level: ComplianceLevel,
    rejected: PatternList,
    rejected_action: RejectedAction,
    rejected_level: ComplianceLevel,
    security_updates_status: ComplianceStatus,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("baseline_name", &self.baseline_name)
            .field("family", &self.family)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl Evaluator {
    /// Validates and compiles a baseline.
    pub fn new(baseline: &Baseline) -> Result<Evaluator, BaselineError> {
        if baseline.name.trim().is_empty() {
            return Err(BaselineError::EmptyName);
        }
        let rules = baseline
            .approval_rules
            .iter()
            .enumerate()
            .map(|(index, rule)| CompiledRule::compile(index, rule, baseline.os_family))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Evaluator {
            baseline_name: baseline.name.clone(),
            family: baseline.os_family,
            scheme: baseline.os_family.version_scheme(),
            rules,
            approved: PatternList::compile(
                PatchList::Approved,
                &baseline.approved_patches.patches,
            )?,
            approved_level: baseline.approved_patches.compliance_level,
            rejected: PatternList::compile(
                PatchList::Rejected,
                &baseline.rejected_patches.patches,
            )?,
            rejected_action: baseline.rejected_patches.action,
            rejected_level: baseline.rejected_patches.compliance_level,
            security_updates_status: baseline.available_security_updates_compliance,
        })
    }

    pub fn baseline_name(&self) -> &str {
        &self.baseline_name
    }

    pub fn family(&self) -> OsFamily {
        self.family
    }

    /// The baseline's decision on one update for a node on a day.
    pub fn verdict(&self, update: &Update, os: &OsInfo, today: Date) -> UpdateVerdict {
        self.verdict_in(update, &self.rule_windows(os, today))
    }

    /// Evaluates one node (see the [module documentation](super)).
    pub fn evaluate<'a>(
        &self,
        input: &EvaluationInput<'a>,
    ) -> Result<NodeCompliance<'a>, EvaluationError> {
        if input.os.family != self.family {
            return Err(EvaluationError::FamilyMismatch {
                baseline: self.family,
                node: input.os.family,
            });
        }
        let windows = self.rule_windows(input.os, input.today);
        let verdicts = input
            .updates
            .iter()
            .map(|update| self.verdict_in(update, &windows))
            .collect();
        let mut pass = NodePass {
            evaluator: self,
            input: *input,
            verdicts,
            failed_order: order_by_name(input.failed, |m| &m.name),
            pending_order: order_by_name(input.pending_reboot, |m| &m.name),
            consumed: vec![false; input.updates.len()],
            report: NodeCompliance {
                status: ComplianceStatus::Compliant,
                severity: None,
                state_counts: StateCounts::default(),
                non_compliant_levels: LevelCounts::default(),
                packages: Vec::with_capacity(input.installed.len()),
                to_install: Vec::new(),
            },
        };
        let update_order = order_by_name_arch(input.updates, |u| (&u.name, &u.arch));
        pass.judge_installed(&update_order);
        pass.report_not_applicable(&update_order);
        Ok(pass.report)
    }

    /// For each rule, the newest release date it approves for this node on
    /// this day, or `None` when its product filter excludes the node.
    fn rule_windows(&self, os: &OsInfo, today: Date) -> Vec<Option<Date>> {
        self.rules
            .iter()
            .map(|rule| rule.latest_approved_release(&os.product, today))
            .collect()
    }

    fn verdict_in(&self, update: &Update, windows: &[Option<Date>]) -> UpdateVerdict {
        if self
            .rejected
            .matches(self.scheme, &update.name, &update.version)
        {
            return UpdateVerdict::Rejected;
        }
        let mut best = self
            .approved
            .matches(self.scheme, &update.name, &update.version)
            .then_some(Approval {
                level: self.approved_level,
                by: ApprovedBy::ApprovedList,
            });
        for (index, (rule, window)) in self.rules.iter().zip(windows).enumerate() {
            let Some(latest) = *window else { continue };
            if update.release_date > latest || best.is_some_and(|b| b.level >= rule.level) {
                continue;
            }
            if rule.matches(update) {
                best = Some(Approval {
                    level: rule.level,
                    by: ApprovedBy::Rule(index),
                });
            }
        }
        best.map_or(UpdateVerdict::NotApproved, UpdateVerdict::Approved)
    }
}

fn order_by_name<T>(items: &[T], name: impl Fn(&T) -> &String) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_unstable_by(|&a, &b| name(&items[a]).cmp(name(&items[b])));
    order
}

fn order_by_name_arch<T>(items: &[T], key: impl Fn(&T) -> (&String, &String)) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_unstable_by(|&a, &b| key(&items[a]).cmp(&key(&items[b])));
    order
}

/// The marks of `marks` named `name`, found through `order` (sorted by name).
fn marks_named<'m>(
    marks: &'m [PackageRef],
    order: &'m [usize],
    name: &'m str,
) -> impl Iterator<Item = &'m PackageRef> + 'm {
    let start = order.partition_point(|&i| marks[i].name.as_str() < name);
    order[start..]
        .iter()
        .map(move |&i| &marks[i])
        .take_while(move |mark| mark.name == name)
}

/// What a package's candidates say, relative to its installed version.
struct CandidateSummary<'a> {
    /// The highest approved version, with its approval.
    target: Option<(&'a Update, Approval)>,
    /// The highest level among approved versions above the installed one.
    missing_level: Option<ComplianceLevel>,
    /// The newest unapproved, unrejected security update above installed.
    security: Option<&'a Update>,
    security_severity: Severity,
}

/// One node's evaluation in progress.
struct NodePass<'a, 'e> {
    evaluator: &'e Evaluator,
    input: EvaluationInput<'a>,
    verdicts: Vec<UpdateVerdict>,
    failed_order: Vec<usize>,
    pending_order: Vec<usize>,
    /// Updates that apply to some installed package.
    consumed: Vec<bool>,
    report: NodeCompliance<'a>,
}

impl<'a> NodePass<'a, '_> {
    fn compare(&self, a: &str, b: &str) -> Ordering {
        self.evaluator.scheme.compare(a, b)
    }

    /// Whether `candidate` should replace `current` as the target: a higher
    /// version, or the same version approved at a higher level.
    fn beats(&self, candidate: (&Update, Approval), current: Option<(&Update, Approval)>) -> bool {
        current.is_none_or(|(current, approval)| {
            match self.compare(&candidate.0.version, &current.version) {
                Ordering::Greater => true,
                Ordering::Equal => candidate.1.level > approval.level,
                Ordering::Less => false,
            }
        })
    }

    /// Walks installed packages by name and arch next to the candidates
    /// (`update_order` is sorted the same way).
    fn judge_installed(&mut self, update_order: &[usize]) {
        let installed = self.input.installed;
        let updates = self.input.updates;
        let installed_order = order_by_name_arch(installed, |p| (&p.name, &p.arch));
        let mut cursor = 0;
        let mut group_start = 0;
        while group_start < installed_order.len() {
            let name = installed[installed_order[group_start]].name.as_str();
            while cursor < update_order.len() && updates[update_order[cursor]].name.as_str() < name
            {
                cursor += 1;
            }
            let candidates_start = cursor;
            while cursor < update_order.len() && updates[update_order[cursor]].name == name {
                cursor += 1;
            }
            let candidates = &update_order[candidates_start..cursor];

            // One sub-group per arch: several versions of one name and arch
            // (install-only packages) are judged by the highest.
            let mut arch_start = group_start;
            while arch_start < installed_order.len()
                && installed[installed_order[arch_start]].name == name
            {
                let arch = installed[installed_order[arch_start]].arch.as_str();
                let arch_end = arch_start
                    + installed_order[arch_start..]
                        .iter()
                        .take_while(|&&i| installed[i].name == name && installed[i].arch == arch)
                        .count();
                let entries = &installed_order[arch_start..arch_end];
                let highest = entries
                    .iter()
                    .map(|&i| installed[i].version.as_str())
                    .max_by(|a, b| self.compare(a, b))
                    .unwrap_or_default();
                for &entry in entries {
                    self.judge(&installed[entry], highest, candidates);
                }
                arch_start = arch_end;
            }
            group_start = arch_start;
        }
    }

    fn summarize(
        &mut self,
        package: &InstalledPackage,
        installed_version: &str,
        candidates: &[usize],
    ) -> CandidateSummary<'a> {
        let updates = self.input.updates;
        let mut summary = CandidateSummary {
            target: None,
            missing_level: None,
            security: None,
            security_severity: Severity::Unspecified,
        };
        for &index in candidates {
            let update = &updates[index];
            if !arches_compatible(&package.arch, &update.arch) {
                continue;
            }
            self.consumed[index] = true;
            let is_newer = self.compare(&update.version, installed_version) == Ordering::Greater;
            match self.verdicts[index] {
                UpdateVerdict::Approved(approval) => {
                    if self.beats((update, approval), summary.target) {
                        summary.target = Some((update, approval));
                    }
                    if is_newer {
                        summary.missing_level = summary.missing_level.max(Some(approval.level));
                    }
                }
                UpdateVerdict::NotApproved
                    if is_newer && update.classification == Classification::Security =>
                {
                    if summary
                        .security
                        .is_none_or(|s| self.compare(&update.version, &s.version).is_gt())
                    {
                        summary.security = Some(update);
                    }
                    summary.security_severity = summary.security_severity.max(update.severity);
                }
                UpdateVerdict::NotApproved | UpdateVerdict::Rejected => {}
            }
        }
        summary
    }

    /// Decides the state of one installed package.
    fn judge(
        &mut self,
        package: &'a InstalledPackage,
        installed_version: &str,
        candidates: &[usize],
    ) {
        let summary = self.summarize(package, installed_version, candidates);
        let evaluator = self.evaluator;
        let rejected_action = evaluator
            .rejected
            .matches(evaluator.scheme, &package.name, &package.version)
            .then_some(evaluator.rejected_action);
        let upgrade = summary
            .target
            .filter(|(target, _)| self.compare(&target.version, installed_version).is_gt());

        let mut line = PackageCompliance {
            name: Cow::Borrowed(&package.name),
            arch: Cow::Borrowed(&package.arch),
            state: PackageState::InstalledOther,
            non_compliant: false,
            compliance_level: ComplianceLevel::Unspecified,
            installed_version: Some(Cow::Borrowed(&package.version)),
            approved_version: None,
            approved_by: None,
            advisory_id: None,
            security_update_version: None,
        };
        if let Some((target, approval)) = summary.target {
            line.approved_version = Some(Cow::Borrowed(&target.version));
            line.approved_by = Some(approval.by);
            line.advisory_id = target.advisory_id.as_deref().map(Cow::Borrowed);
            line.compliance_level = approval.level;
        }
        let missing_level = summary.missing_level.unwrap_or_default();

        if rejected_action == Some(RejectedAction::Block) {
            line.state = PackageState::InstalledRejected;
            line.non_compliant = true;
            line.compliance_level = evaluator
                .rejected_level
                .max(upgrade.map_or(ComplianceLevel::Unspecified, |_| missing_level));
            if let Some((target, _)) = upgrade {
                self.add_install_target(target);
            }
        } else if let Some((target, _)) = upgrade {
            line.state = if self.has_failed(package, target) {
                PackageState::Failed
            } else {
                PackageState::Missing
            };
            line.non_compliant = true;
            line.compliance_level = missing_level;
            self.add_install_target(target);
        } else if summary.target.is_some() && rejected_action.is_none() {
            if self.is_pending_reboot(package) {
                line.state = PackageState::InstalledPendingReboot;
                line.non_compliant = true;
            } else if let Some(security) = summary.security {
                self.mark_security_update(&mut line, security, summary.security_severity);
            } else {
                line.state = PackageState::Installed;
            }
        } else if let Some(security) = summary.security {
            self.mark_security_update(&mut line, security, summary.security_severity);
        } else {
            line.compliance_level = ComplianceLevel::Unspecified;
        }
        self.push(line);
    }

    fn mark_security_update(
        &self,
        line: &mut PackageCompliance<'a>,
        security: &'a Update,
        severity: Severity,
    ) {
        line.state = PackageState::AvailableSecurityUpdate;
        line.non_compliant =
            self.evaluator.security_updates_status == ComplianceStatus::NonCompliant;
        line.compliance_level = level_of_severity(severity);
        line.security_update_version = Some(Cow::Borrowed(&security.version));
        line.advisory_id = security.advisory_id.as_deref().map(Cow::Borrowed);
    }

    /// A failed mark for this package (and arch, and the target version,
    /// when the mark says).
    fn has_failed(&self, package: &InstalledPackage, target: &Update) -> bool {
        marks_named(self.input.failed, &self.failed_order, &package.name).any(|mark| {
            mark.arch
                .as_deref()
                .is_none_or(|arch| arch == package.arch || arch == target.arch)
                && mark
                    .version
                    .as_deref()
                    .is_none_or(|version| self.compare(version, &target.version).is_eq())
        })
    }

    /// A pending-reboot mark for this package (and arch, and the installed
    /// version, when the mark says).
    fn is_pending_reboot(&self, package: &InstalledPackage) -> bool {
        marks_named(
            self.input.pending_reboot,
            &self.pending_order,
            &package.name,
        )
        .any(|mark| {
            mark.arch.as_deref().is_none_or(|arch| arch == package.arch)
                && mark
                    .version
                    .as_deref()
                    .is_none_or(|version| self.compare(version, &package.version).is_eq())
        })
    }

    fn add_install_target(&mut self, target: &'a Update) {
        let duplicate = self.report.to_install.last().is_some_and(|last| {
            last.name == target.name.as_str()
                && last.arch == target.arch.as_str()
                && last.version == target.version.as_str()
        });
        if !duplicate {
            self.report.to_install.push(InstallTarget {
                name: Cow::Borrowed(&target.name),
                arch: Cow::Borrowed(&target.arch),
                version: Cow::Borrowed(&target.version),
                reboot_suggested: target.reboot_suggested,
            });
        }
    }

    /// Reports approved updates no installed package can take, once per
    /// name and arch, with the highest approved version.
    fn report_not_applicable(&mut self, update_order: &[usize]) {
        let updates = self.input.updates;
        let mut start = 0;
        while start < update_order.len() {
            let first = &updates[update_order[start]];
            let end = start
                + update_order[start..]
                    .iter()
                    .take_while(|&&i| {
                        updates[i].name == first.name && updates[i].arch == first.arch
                    })
                    .count();
            let mut best: Option<(&'a Update, Approval)> = None;
            for &index in &update_order[start..end] {
                if let (false, UpdateVerdict::Approved(approval)) =
                    (self.consumed[index], self.verdicts[index])
                {
                    if self.beats((&updates[index], approval), best) {
                        best = Some((&updates[index], approval));
                    }
                }
            }
            if let Some((update, approval)) = best {
                self.push(PackageCompliance {
                    name: Cow::Borrowed(&update.name),
                    arch: Cow::Borrowed(&update.arch),
                    state: PackageState::NotApplicable,
                    non_compliant: false,
                    compliance_level: approval.level,
                    installed_version: None,
                    approved_version: Some(Cow::Borrowed(&update.version)),
                    approved_by: Some(approval.by),
                    advisory_id: update.advisory_id.as_deref().map(Cow::Borrowed),
                    security_update_version: None,
                });
            }
            start = end;
        }
    }

    fn push(&mut self, line: PackageCompliance<'a>) {
        let report = &mut self.report;
        report.state_counts.add(line.state);
        if line.non_compliant {
            report.status = ComplianceStatus::NonCompliant;
            report.non_compliant_levels.add(line.compliance_level);
            report.severity = report.severity.max(Some(line.compliance_level));
        }
        report.packages.push(line);
    }
}

/// The compliance level an unapproved security update carries.
fn level_of_severity(severity: Severity) -> ComplianceLevel {
    match severity {
        Severity::Critical => ComplianceLevel::Critical,
        Severity::Important => ComplianceLevel::High,
        Severity::Moderate => ComplianceLevel::Medium,
        Severity::Low => ComplianceLevel::Low,
        Severity::Unspecified => ComplianceLevel::Unspecified,
    }
}
