//! Pure report arithmetic: summaries per dimension value, per-patch rows
//! weighted by how many nodes share a result, and history points. The store supplies grouped counts; nothing
//! here touches the database.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use patchline_api::compliance::{ComplianceGroupSummary, HistoryPoint, PatchComplianceRow};
use patchline_core::baseline::ComplianceLevel;
use patchline_core::compliance::{ComplianceStatus, LevelCounts, PackageState};

use super::codec::PatchLine;

/// The key of nodes without a value for the dimension.
pub const NO_VALUE: &str = "-";

/// Nodes sharing a dimension value, status and severity (one row of a
/// grouped count). `status: None` is a node never evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub key: String,
    pub status: Option<ComplianceStatus>,
    pub severity: Option<ComplianceLevel>,
    pub nodes: u64,
}

fn level_slot(counts: &mut LevelCounts, level: ComplianceLevel) -> &mut u32 {
    match level {
        ComplianceLevel::Critical => &mut counts.critical,
        ComplianceLevel::High => &mut counts.high,
        ComplianceLevel::Medium => &mut counts.medium,
        ComplianceLevel::Low => &mut counts.low,
        ComplianceLevel::Informational => &mut counts.informational,
        ComplianceLevel::Unspecified => &mut counts.unspecified,
    }
}

/// One summary line per dimension value, sorted by value.
pub fn fold_summaries(rows: impl IntoIterator<Item = StatusCount>) -> Vec<ComplianceGroupSummary> {
    let mut by_key: BTreeMap<String, ComplianceGroupSummary> = BTreeMap::new();
    for row in rows {
        let line = by_key
            .entry(row.key.clone())
            .or_insert_with(|| ComplianceGroupSummary {
                key: row.key,
                nodes: 0,
                compliant: 0,
                non_compliant: 0,
                unreported: 0,
                non_compliant_by_severity: LevelCounts::default(),
            });
        line.nodes += row.nodes;
        match row.status {
            None => line.unreported += row.nodes,
            Some(ComplianceStatus::Compliant) => line.compliant += row.nodes,
            Some(ComplianceStatus::NonCompliant) => {
                line.non_compliant += row.nodes;
                let level = row.severity.unwrap_or_default();
                let slot = level_slot(&mut line.non_compliant_by_severity, level);
                // Level counts are u32 in the core's type; saturate rather
                // than wrap on absurd fleets.
                *slot = slot.saturating_add(u32::try_from(row.nodes).unwrap_or(u32::MAX));
            }
        }
    }
    by_key.into_values().collect()
}

/// Nodes of one day sharing a dimension value and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    pub day: Date,
    pub key: String,
    pub status: Option<ComplianceStatus>,
    pub nodes: u64,
}

/// History points sorted by day, then key.
pub fn fold_history(rows: impl IntoIterator<Item = DayCount>) -> Vec<HistoryPoint> {
    let mut points: BTreeMap<(Date, String), HistoryPoint> = BTreeMap::new();
    for row in rows {
        let point = points
            .entry((row.day, row.key.clone()))
            .or_insert_with(|| HistoryPoint {
                day: row.day,
                key: row.key,
                compliant: 0,
                non_compliant: 0,
                unreported: 0,
            });
        match row.status {
            None => point.unreported += row.nodes,
            Some(ComplianceStatus::Compliant) => point.compliant += row.nodes,
            Some(ComplianceStatus::NonCompliant) => point.non_compliant += row.nodes,
        }
    }
    points.into_values().collect()
}

/// Per approved patch (package name and approved version) across the fleet,
/// from each distinct result's patch lines and the number of nodes sharing
/// it. Sorted by level (highest first), nodes missing it, then name.
pub fn aggregate_patches<'r>(
    results: impl IntoIterator<Item = (&'r [PatchLine], u64)>,
) -> Vec<PatchComplianceRow> {
    let mut rows: HashMap<(&'r str, &'r str), PatchComplianceRow> = HashMap::new();
    for (lines, nodes) in results {
        for line in lines {
            let row =
                rows.entry((&line.name, &line.version))
                    .or_insert_with(|| PatchComplianceRow {
                        name: line.name.clone(),
                        version: Some(line.version.clone()),
                        advisory_id: None,
                        compliance_level: line.level,
                        missing_nodes: 0,
                        failed_nodes: 0,
                        pending_reboot_nodes: 0,
                        installed_nodes: 0,
                    });
            row.compliance_level = row.compliance_level.max(line.level);
            if row.advisory_id.is_none() {
                row.advisory_id = line.advisory_id.clone();
            }
            match line.state {
                PackageState::Missing => row.missing_nodes += nodes,
                PackageState::Failed => row.failed_nodes += nodes,
                PackageState::InstalledPendingReboot => row.pending_reboot_nodes += nodes,
                PackageState::Installed => row.installed_nodes += nodes,
                // Not installed where it applies, or judged by another rule
                // (rejected, unapproved security): not a patch count.
                PackageState::NotApplicable
                | PackageState::InstalledOther
                | PackageState::InstalledRejected
                | PackageState::AvailableSecurityUpdate => {}
            }
        }
    }
    let mut rows: Vec<PatchComplianceRow> = rows
        .into_values()
        .filter(|row| {
            row.missing_nodes + row.failed_nodes + row.pending_reboot_nodes + row.installed_nodes
                > 0
        })
        .collect();
    rows.sort_by(|a, b| {
        b.compliance_level
            .cmp(&a.compliance_level)
            .then((b.missing_nodes + b.failed_nodes).cmp(&(a.missing_nodes + a.failed_nodes)))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.version.cmp(&b.version))
    });
    rows
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use patchline_core::compliance::PackageCompliance;

    use patchline_core::compliance::NodeCompliance;

    use super::super::codec::patch_lines;
    use super::*;

    fn count(
        key: &str,
        status: Option<ComplianceStatus>,
        severity: Option<ComplianceLevel>,
        nodes: u64,
    ) -> StatusCount {
        StatusCount {
            key: key.into(),
            status,
            severity,
            nodes,
        }
    }

    #[test]
    fn summaries_split_compliant_non_compliant_by_severity_and_unreported() {
        use ComplianceStatus::*;
        let lines = fold_summaries([
            count("prod", Some(Compliant), None, 3),
            count(
                "prod",
                Some(NonCompliant),
                Some(ComplianceLevel::Critical),
                2,
            ),
            count("prod", Some(NonCompliant), Some(ComplianceLevel::Low), 1),
            count("-", None, None, 4),
        ]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].key, "-");
        assert_eq!((lines[0].nodes, lines[0].unreported), (4, 4));
        let prod = &lines[1];
        assert_eq!(
            (
                prod.nodes,
                prod.compliant,
                prod.non_compliant,
                prod.unreported
            ),
            (6, 3, 3, 0)
        );
        assert_eq!(prod.non_compliant_by_severity.critical, 2);
        assert_eq!(prod.non_compliant_by_severity.low, 1);
    }

    #[test]
    fn history_points_are_per_day_and_key() {
        let day1 = jiff::civil::date(2026, 3, 1);
        let day2 = jiff::civil::date(2026, 3, 2);
        let points = fold_history([
            DayCount {
                day: day2,
                key: "a".into(),
                status: Some(ComplianceStatus::Compliant),
                nodes: 2,
            },
            DayCount {
                day: day1,
                key: "a".into(),
                status: Some(ComplianceStatus::NonCompliant),
                nodes: 2,
            },
            DayCount {
                day: day1,
                key: "a".into(),
                status: None,
                nodes: 1,
            },
        ]);
        assert_eq!(points.len(), 2);
        assert_eq!(
            (points[0].day, points[0].non_compliant, points[0].unreported),
            (day1, 2, 1)
        );
        assert_eq!((points[1].day, points[1].compliant), (day2, 2));
    }

    fn line(
        name: &str,
        arch: &str,
        state: PackageState,
        approved: Option<&str>,
    ) -> PackageCompliance<'static> {
        PackageCompliance {
            name: Cow::Owned(name.into()),
            arch: Cow::Owned(arch.into()),
            state,
            non_compliant: matches!(state, PackageState::Missing | PackageState::Failed),
            compliance_level: ComplianceLevel::High,
            installed_version: Some(Cow::Borrowed("1")),
            approved_version: approved.map(|v| Cow::Owned(v.to_owned())),
            approved_by: None,
            advisory_id: None,
            security_update_version: None,
        }
    }

    fn result(packages: Vec<PackageCompliance<'static>>) -> NodeCompliance<'static> {
        NodeCompliance {
            status: ComplianceStatus::NonCompliant,
            severity: Some(ComplianceLevel::High),
            state_counts: Default::default(),
            non_compliant_levels: Default::default(),
            packages,
            to_install: Vec::new(),
        }
    }

    #[test]
    fn patch_rows_weigh_each_distinct_result_by_its_node_count() {
        let missing = result(vec![
            line("openssl", "amd64", PackageState::Missing, Some("3.0.2")),
            line("openssl", "i386", PackageState::Missing, Some("3.0.2")),
            line("bash", "amd64", PackageState::InstalledOther, None),
        ]);
        let installed = result(vec![line(
            "openssl",
            "amd64",
            PackageState::Installed,
            Some("3.0.2"),
        )]);
        let (missing, installed) = (patch_lines(&missing), patch_lines(&installed));
        let rows = aggregate_patches([(&missing[..], 7), (&installed[..], 3)]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "openssl");
        assert_eq!(rows[0].version.as_deref(), Some("3.0.2"));
        assert_eq!((rows[0].missing_nodes, rows[0].installed_nodes), (7, 3));
    }
}
