//! Human rendering of a scan: a summary, then the packages that need
//! attention (everything but the compliant states unless `all` is asked).

use std::fmt::Write as _;

use patchline_core::compliance::{ComplianceStatus, PackageState};

use crate::scan::ScanReport;

/// Renders the report as text for a terminal.
pub fn render(report: &ScanReport, all: bool) -> String {
    let mut out = String::new();
    let c = &report.compliance;
    let facts = &report.facts;
    let _ = writeln!(
        out,
        "node       {} ({}, {})",
        facts.hostname.as_deref().unwrap_or("-"),
        facts.os.product,
        report.root
    );
    if let Some(kernel) = &facts.kernel {
        let _ = writeln!(out, "kernel     {kernel}");
    }
    let _ = writeln!(out, "baseline   {}", report.baseline);
    let _ = writeln!(
        out,
        "inventory  {} installed packages, {} known versions from {} sources ({} security)",
        report.installed_packages,
        report.known_versions,
        report.sources.len(),
        report.sources.iter().filter(|s| s.security).count()
    );
    let status = match (c.status, c.severity) {
        (ComplianceStatus::Compliant, _) => "COMPLIANT".to_owned(),
        (ComplianceStatus::NonCompliant, Some(level)) => {
            format!("NON-COMPLIANT (severity {level})")
        }
        (ComplianceStatus::NonCompliant, None) => "NON-COMPLIANT".to_owned(),
    };
    let _ = writeln!(out, "compliance {status}");
    let counts: Vec<String> = PackageState::ALL
        .iter()
        .map(|&state| (state, c.state_counts.get(state)))
        .filter(|&(_, n)| n > 0)
        .map(|(state, n)| format!("{} {n}", state_name(state)))
        .collect();
    let _ = writeln!(out, "states     {}", counts.join(", "));
    if facts.reboot_required {
        let _ = writeln!(out, "reboot     required");
    }
    for package in &report.interrupted {
        let _ = writeln!(
            out,
            "warning    {}:{} was left {} by an interrupted dpkg run",
            package.name, package.arch, package.state
        );
    }
    if report.sources.is_empty() {
        let refresh = if facts.os.family.is_debian_like() {
            "no apt lists found: run `apt-get update`"
        } else {
            "no dnf/zypper repository cache found: run `dnf makecache` or `zypper refresh`"
        };
        let _ = writeln!(out, "warning    {refresh} so updates can be seen");
    }
    let rows: Vec<_> = c
        .packages
        .iter()
        .filter(|p| {
            all || p.state != PackageState::InstalledOther && p.state != PackageState::Installed
        })
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<32} {:<8} {:<26} {:<26} {:<13} STATE",
            "PACKAGE", "ARCH", "INSTALLED", "APPROVED", "LEVEL"
        );
        for p in rows {
            let _ = writeln!(
                out,
                "{:<32} {:<8} {:<26} {:<26} {:<13} {}",
                p.name,
                p.arch,
                p.installed_version.as_deref().unwrap_or("-"),
                p.approved_version
                    .as_deref()
                    .or(p.security_update_version.as_deref())
                    .unwrap_or("-"),
                p.compliance_level.to_string(),
                state_name(p.state)
            );
        }
    }
    out
}

fn state_name(state: PackageState) -> &'static str {
    match state {
        PackageState::Installed => "installed",
        PackageState::InstalledOther => "installed-other",
        PackageState::InstalledPendingReboot => "installed-pending-reboot",
        PackageState::InstalledRejected => "installed-rejected",
        PackageState::Missing => "missing",
        PackageState::Failed => "failed",
        PackageState::NotApplicable => "not-applicable",
        PackageState::AvailableSecurityUpdate => "available-security-update",
    }
}
