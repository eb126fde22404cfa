//! The evaluator: a baseline compiled once (glob sets, filter masks), then
//! applied to nodes.
//!
//! Per node the cost is one verdict per candidate update, a hash grouping
//! of the candidates by name, one hash lookup per installed package, and a
//! rejected-list match per installed package when the list blocks (most
//! names are ruled out by a literal-prefix check). Allocations are a fixed
//! handful of vectors per node plus the report; per-package work borrows
//! the caller's strings.

use std::borrow::Cow;
use std::cmp::Ordering;

use jiff::civil::Date;

use super::index::CandidateIndex;
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

    /// The baseline's decision on one update for a node (only its product
    /// is used; the family is not checked) on a day.
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
        let candidates = CandidateIndex::build(input.updates);
        pass.judge_installed(&candidates);
        pass.report_not_applicable(&candidates);
        Ok(pass.finish())
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

/// An installed package that has candidates: its group in the index, and
/// the installed entry whose version it is judged by.
struct Matched {
    package: usize,
    group: usize,
    judged_by: usize,
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

    /// Judges installed packages in input order.
    fn judge_installed(&mut self, index: &CandidateIndex<'a>) {
        let installed = self.input.installed;
        let mut matched: Vec<Matched> = installed
            .iter()
            .enumerate()
            .filter_map(|(package, p)| {
                index.group(&p.name).map(|group| Matched {
                    package,
                    group,
                    judged_by: package,
                })
            })
            .collect();
        self.judge_repeats_by_newest(index, &mut matched);
        let mut next = matched.iter().peekable();
        for (position, package) in installed.iter().enumerate() {
            match next.next_if(|m| m.package == position) {
                Some(m) => {
                    let judged_by = &installed[m.judged_by].version;
                    self.judge(package, judged_by, index.members(m.group));
                }
                None => self.judge(package, &package.version, &[]),
            }
        }
    }

    /// Several installed versions of one name and arch (install-only
    /// packages such as `kernel`) are all judged by the newest. Only
    /// packages with candidates are looked at: without candidates the
    /// version plays no role.
    fn judge_repeats_by_newest(&self, index: &CandidateIndex<'a>, matched: &mut [Matched]) {
        let installed = self.input.installed;
        let mut per_group = vec![0u32; index.group_count()];
        for m in matched.iter() {
            per_group[m.group] += 1;
        }
        // (position in `matched`, installed package) of repeated names.
        let mut repeats: Vec<(usize, usize)> = (0..matched.len())
            .filter(|&k| per_group[matched[k].group] > 1)
            .map(|k| (k, matched[k].package))
            .collect();
        let key = |package: usize| (&installed[package].name, &installed[package].arch);
        repeats.sort_unstable_by(|a, b| key(a.1).cmp(&key(b.1)));
        for same in repeats.chunk_by(|a, b| key(a.1) == key(b.1)) {
            let newest = same
                .iter()
                .map(|&(_, package)| package)
                .max_by(|&a, &b| self.compare(&installed[a].version, &installed[b].version));
            for &(k, package) in same {
                matched[k].judged_by = newest.unwrap_or(package);
            }
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
        // With `allow-as-dependency`, a rejected installed version only
        // matters when something is approved; skip the match otherwise.
        let rejected_action = (evaluator.rejected_action == RejectedAction::Block
            || summary.target.is_some())
        .then(|| {
            evaluator
                .rejected
                .matches(evaluator.scheme, &package.name, &package.version)
                .then_some(evaluator.rejected_action)
        })
        .flatten();
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
        self.report.to_install.push(InstallTarget {
            name: Cow::Borrowed(&target.name),
            arch: Cow::Borrowed(&target.arch),
            version: Cow::Borrowed(&target.version),
            reboot_suggested: target.reboot_suggested,
        });
    }

    /// Sorts the install list by name, arch and version and drops the
    /// duplicates that install-only packages and arch-independent updates
    /// shared by multi-arch siblings produce.
    fn finish(mut self) -> NodeCompliance<'a> {
        let targets = &mut self.report.to_install;
        targets.sort_unstable_by(|a, b| {
            (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version))
        });
        targets.dedup_by(|a, b| a.name == b.name && a.arch == b.arch && a.version == b.version);
        self.report
    }

    /// Reports approved updates no installed package can take, once per
    /// name and arch, with the highest approved version.
    fn report_not_applicable(&mut self, index: &CandidateIndex<'a>) {
        let updates = self.input.updates;
        for group in index.groups() {
            // A group shares one name; split it by arch (groups are small).
            for (position, &first) in group.iter().enumerate() {
                let arch = &updates[first].arch;
                if group[..position].iter().any(|&u| updates[u].arch == *arch) {
                    continue;
                }
                let mut best: Option<(&'a Update, Approval)> = None;
                for &u in &group[position..] {
                    let UpdateVerdict::Approved(approval) = self.verdicts[u] else {
                        continue;
                    };
                    if updates[u].arch == *arch
                        && !self.consumed[u]
                        && self.beats((&updates[u], approval), best)
                    {
                        best = Some((&updates[u], approval));
                    }
                }
                if let Some((update, approval)) = best {
                    self.push_not_applicable(update, approval);
                }
            }
        }
    }

    fn push_not_applicable(&mut self, update: &'a Update, approval: Approval) {
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
