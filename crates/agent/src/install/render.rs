//! Human rendering of an install: per-package results, hooks, reboot, and
//! the resulting compliance.

use std::fmt::Write as _;

use patchline_core::compliance::ComplianceStatus;

use super::{InstallReport, RebootOutcome};
use crate::driver::TargetOutcome;

/// Renders the report as text for a terminal.
pub fn render(report: &InstallReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "node       {} ({} driver)", report.root, report.driver);
    let _ = writeln!(out, "baseline   {}", report.baseline);
    for package in &report.interrupted {
        let _ = writeln!(
            out,
            "repair     {}:{} was left {} by an interrupted run",
            package.name, package.arch, package.state
        );
    }
    if let Some(repair) = &report.repair {
        let verdict = if repair.succeeded() {
            "repaired".to_owned()
        } else {
            format!("repair failed: {}", repair.command.failure_summary())
        };
        let _ = writeln!(out, "repair     {verdict}");
    }
    for hook in &report.hooks {
        let verdict = if hook.succeeded() {
            "ok".to_owned()
        } else {
            hook.record.failure_summary()
        };
        let _ = writeln!(out, "hook       {:<10} {verdict}", hook.phase.as_str());
    }
    if report.cancelled {
        let _ = writeln!(
            out,
            "cancelled  before the package manager started: nothing installed"
        );
    }
    if let Some(abort) = &report.aborted {
        let _ = writeln!(
            out,
            "ABORTED    at {}: {} (nothing installed)",
            abort.phase.as_str(),
            abort.reason
        );
    }
    if !report.held.is_empty() {
        let _ = writeln!(out, "held       {}", report.held.join(", "));
    }
    let reboot = match &report.reboot {
        RebootOutcome::NotNeeded => "not needed".to_owned(),
        RebootOutcome::Rebooted => "reboot command run".to_owned(),
        RebootOutcome::Pending { reason } => format!("pending ({reason})"),
    };
    let _ = writeln!(out, "reboot     {reboot}");
    let compliance = &report.compliance;
    let status = match (compliance.status, compliance.severity) {
        (ComplianceStatus::Compliant, _) => "COMPLIANT".to_owned(),
        (ComplianceStatus::NonCompliant, Some(level)) => {
            format!("NON-COMPLIANT (severity {level})")
        }
        (ComplianceStatus::NonCompliant, None) => "NON-COMPLIANT".to_owned(),
    };
    let _ = writeln!(out, "compliance {status}");
    if report.packages.is_empty() {
        let _ = writeln!(out, "\nnothing to install");
        return out;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<32} {:<8} {:<26} {:<10} DETAIL",
        "PACKAGE", "ARCH", "VERSION", "RESULT"
    );
    for package in &report.packages {
        let target = &package.result.target;
        let (result, detail) = match &package.result.outcome {
            TargetOutcome::Installed => ("installed", ""),
            TargetOutcome::Failed { reason } => ("failed", reason.as_str()),
            TargetOutcome::Skipped { reason } => ("skipped", reason.as_str()),
        };
        let arch = if target.arch.is_empty() {
            "-"
        } else {
            &target.arch
        };
        let _ = writeln!(
            out,
            "{:<32} {:<8} {:<26} {:<10} {detail}",
            target.name, arch, target.version, result
        );
    }
    out
}
