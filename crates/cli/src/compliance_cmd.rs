//! `patchline compliance summary|nodes|node|patches|history`: the fleet's
//! compliance reports as tables, JSON, or the server's CSV export.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use patchline_api::compliance::{
    ComplianceGroupSummary, HistoryPoint, NodeComplianceDetail, NodeComplianceRow,
    PatchComplianceRow, SummaryBy,
};
use patchline_api::nodes::NodeComplianceSummary;
use patchline_api::routes;
use patchline_core::compliance::{ComplianceStatus, LevelCounts};
use reqwest::Method;

use crate::output::{self, Cell, Format, OutputArgs, Table, Tone};
use crate::session::Session;
use crate::values::{query_value, wire_name};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum By {
    PatchGroup,
    Environment,
    Zone,
    Baseline,
    OsFamily,
    Application,
}

impl From<By> for SummaryBy {
    fn from(by: By) -> SummaryBy {
        match by {
            By::PatchGroup => SummaryBy::PatchGroup,
            By::Environment => SummaryBy::Environment,
            By::Zone => SummaryBy::Zone,
            By::Baseline => SummaryBy::Baseline,
            By::OsFamily => SummaryBy::OsFamily,
            By::Application => SummaryBy::Application,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Compliant,
    NonCompliant,
    Unreported,
}

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Node counts per value of a dimension.
    Summary {
        #[arg(long, value_enum, default_value = "patch-group")]
        by: By,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Every node's status.
    Nodes {
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only nodes evaluated against this baseline.
        #[arg(long)]
        baseline: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One node's package lines.
    Node {
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Each approved patch across the fleet.
    Patches {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Daily compliance counts.
    History {
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[arg(long, value_enum, default_value = "baseline")]
        by: By,
        #[command(flatten)]
        output: OutputArgs,
    },
}

pub async fn run(command: ComplianceCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    match command {
        ComplianceCommand::Summary { by, output } => {
            let by = SummaryBy::from(by);
            let path = format!("{}?by={}", routes::COMPLIANCE_SUMMARY, by.as_str());
            let rows: Option<Vec<ComplianceGroupSummary>> = fetch(
                &session,
                &path,
                output.format(),
                "cannot read the compliance summary",
            )
            .await?;
            if let Some(rows) = rows {
                output::print(output.format(), &rows, || summary_table(by, &rows))?;
            }
        }
        ComplianceCommand::Nodes {
            status,
            baseline,
            output,
        } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                let status = match status {
                    StatusArg::Compliant => "compliant",
                    StatusArg::NonCompliant => "non-compliant",
                    StatusArg::Unreported => "unreported",
                };
                query.push(format!("status={status}"));
            }
            if let Some(baseline) = &baseline {
                query.push(format!("baseline={}", query_value(baseline)));
            }
            let path = if query.is_empty() {
                routes::COMPLIANCE_NODES.to_string()
            } else {
                format!("{}?{}", routes::COMPLIANCE_NODES, query.join("&"))
            };
            let rows: Option<Vec<NodeComplianceRow>> = fetch(
                &session,
                &path,
                output.format(),
                "cannot list node compliance",
            )
            .await?;
            if let Some(rows) = rows {
                output::print(output.format(), &rows, || nodes_table(&rows))?;
            }
        }
        ComplianceCommand::Node { id, output } => {
            let path = routes::fill(routes::COMPLIANCE_NODE, &[&id]);
            let doing = format!("cannot read the compliance of node {id}");
            let detail: Option<NodeComplianceDetail> =
                fetch(&session, &path, output.format(), doing).await?;
            if let Some(detail) = detail {
                if output.format() == Format::Table {
                    outln!(
                        "{} ({}): {}",
                        detail.hostname,
                        detail.node_id,
                        summary_line(&detail.summary)
                    );
                }
                output::print(output.format(), &detail, || packages_table(&detail))?;
            }
        }
        ComplianceCommand::Patches { output } => {
            let rows: Option<Vec<PatchComplianceRow>> = fetch(
                &session,
                routes::COMPLIANCE_PATCHES,
                output.format(),
                "cannot list patch compliance",
            )
            .await?;
            if let Some(rows) = rows {
                output::print(output.format(), &rows, || patches_table(&rows))?;
            }
        }
        ComplianceCommand::History { days, by, output } => {
            let by = SummaryBy::from(by);
            let path = format!(
                "{}?days={days}&by={}",
                routes::COMPLIANCE_HISTORY,
                by.as_str()
            );
            let rows: Option<Vec<HistoryPoint>> = fetch(
                &session,
                &path,
                output.format(),
                "cannot read compliance history",
            )
            .await?;
            if let Some(rows) = rows {
                output::print(output.format(), &rows, || history_table(&rows))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// GETs a report. CSV is the server's own export (`format=csv`), printed
/// as received, and gives `None`; otherwise the decoded JSON.
async fn fetch<T: serde::de::DeserializeOwned>(
    session: &Session,
    path: &str,
    format: Format,
    doing: impl std::fmt::Display,
) -> Result<Option<T>> {
    if format == Format::Csv {
        let separator = if path.contains('?') { '&' } else { '?' };
        let csv_path = format!("{path}{separator}format=csv");
        let (_, text) = session.check(
            session
                .client
                .request_text::<()>(Method::GET, &csv_path, None)
                .await,
            doing,
        )?;
        out!("{text}");
        if !text.is_empty() && !text.ends_with('\n') {
            outln!();
        }
        return Ok(None);
    }
    session
        .check(session.client.get(path).await, doing)
        .map(Some)
}

pub fn status_cell(compliance: Option<&NodeComplianceSummary>) -> Cell {
    match compliance {
        None => Cell::toned("unreported", Tone::Warn),
        Some(summary) => match summary.status {
            ComplianceStatus::Compliant => Cell::toned("compliant", Tone::Good),
            ComplianceStatus::NonCompliant => Cell::toned(
                match summary.severity {
                    Some(level) => format!("non-compliant ({level})"),
                    None => "non-compliant".to_string(),
                },
                Tone::Bad,
            ),
        },
    }
}

/// `non-compliant (critical): 3 missing, 1 failed, 40 installed; baseline
/// debian-default v1, scanned ...`.
pub fn summary_line(summary: &NodeComplianceSummary) -> String {
    let counts = &summary.state_counts;
    let mut parts = Vec::new();
    for (count, name) in [
        (counts.missing, "missing"),
        (counts.failed, "failed"),
        (counts.installed_rejected, "installed-rejected"),
        (counts.installed_pending_reboot, "pending reboot"),
        (
            counts.available_security_update,
            "security update available",
        ),
        (counts.installed, "installed"),
        (counts.installed_other, "installed-other"),
        (counts.not_applicable, "not applicable"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {name}"));
        }
    }
    format!(
        "{}: {}; baseline {} v{}, scanned {}",
        status_cell(Some(summary)).text,
        if parts.is_empty() {
            "no packages".to_string()
        } else {
            parts.join(", ")
        },
        summary.baseline,
        summary.baseline_version,
        output::timestamp(summary.scanned_at)
    )
}

fn severity_columns(levels: &LevelCounts) -> [Cell; 4] {
    [
        levels.critical.into(),
        levels.high.into(),
        levels.medium.into(),
        (levels.low + levels.informational + levels.unspecified).into(),
    ]
}

pub fn summary_table(by: SummaryBy, rows: &[ComplianceGroupSummary]) -> Table {
    let mut table = Table::new([
        by.as_str(),
        "nodes",
        "compliant",
        "non-compliant",
        "unreported",
        "critical",
        "high",
        "medium",
        "low/other",
    ])
    .right_align(1..9);
    for row in rows {
        let non_compliant = Cell::toned(
            row.non_compliant.to_string(),
            if row.non_compliant > 0 {
                Tone::Bad
            } else {
                Tone::Plain
            },
        );
        let mut cells = vec![
            row.key.as_str().into(),
            row.nodes.into(),
            row.compliant.into(),
            non_compliant,
            row.unreported.into(),
        ];
        cells.extend(severity_columns(&row.non_compliant_by_severity));
        table.row(cells);
    }
    table
}

pub fn nodes_table(rows: &[NodeComplianceRow]) -> Table {
    let mut table = Table::new([
        "node", "hostname", "status", "missing", "failed", "baseline", "scanned",
    ])
    .right_align([3, 4]);
    for row in rows {
        let summary = row.compliance.as_ref();
        table.row([
            row.node_id.as_str().into(),
            row.hostname.as_str().into(),
            status_cell(summary),
            summary.map_or_else(|| "-".into(), |s| s.state_counts.missing.into()),
            summary.map_or_else(|| "-".into(), |s| s.state_counts.failed.into()),
            summary.map_or_else(
                || "-".into(),
                |s| format!("{} v{}", s.baseline, s.baseline_version).into(),
            ),
            summary.map_or_else(|| "-".into(), |s| output::timestamp(s.scanned_at).into()),
        ]);
    }
    table
}

fn packages_table(detail: &NodeComplianceDetail) -> Table {
    let mut table = Table::new([
        "package",
        "arch",
        "state",
        "level",
        "installed",
        "approved",
        "advisory",
    ]);
    // Non-compliant lines first, most severe first, then by name.
    let mut packages: Vec<_> = detail.packages.iter().collect();
    packages.sort_by(|a, b| {
        (b.non_compliant, b.compliance_level, &a.name).cmp(&(
            a.non_compliant,
            a.compliance_level,
            &b.name,
        ))
    });
    for package in packages {
        let state = Cell::toned(
            wire_name(&package.state),
            if package.non_compliant {
                Tone::Bad
            } else {
                Tone::Plain
            },
        );
        table.row([
            package.name.as_ref().into(),
            package.arch.as_ref().into(),
            state,
            package.compliance_level.to_string().into(),
            package.installed_version.as_deref().unwrap_or("-").into(),
            package.approved_version.as_deref().unwrap_or("-").into(),
            package.advisory_id.as_deref().unwrap_or("-").into(),
        ]);
    }
    table
}

fn patches_table(rows: &[PatchComplianceRow]) -> Table {
    let mut table = Table::new([
        "package",
        "version",
        "advisory",
        "level",
        "missing",
        "failed",
        "pending reboot",
        "installed",
    ])
    .right_align(4..8);
    for row in rows {
        table.row([
            row.name.as_str().into(),
            row.version.as_deref().unwrap_or("-").into(),
            row.advisory_id.as_deref().unwrap_or("-").into(),
            row.compliance_level.to_string().into(),
            Cell::toned(
                row.missing_nodes.to_string(),
                if row.missing_nodes > 0 {
                    Tone::Bad
                } else {
                    Tone::Plain
                },
            ),
            row.failed_nodes.into(),
            row.pending_reboot_nodes.into(),
            row.installed_nodes.into(),
        ]);
    }
    table
}

fn history_table(rows: &[HistoryPoint]) -> Table {
    let mut table =
        Table::new(["day", "key", "compliant", "non-compliant", "unreported"]).right_align(2..5);
    for row in rows {
        table.row([
            row.day.to_string().into(),
            row.key.as_str().into(),
            row.compliant.into(),
            row.non_compliant.into(),
            row.unreported.into(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::baseline::ComplianceLevel;
    use patchline_core::compliance::StateCounts;

    fn summary(status: ComplianceStatus) -> NodeComplianceSummary {
        NodeComplianceSummary {
            status,
            severity: (status == ComplianceStatus::NonCompliant)
                .then_some(ComplianceLevel::Critical),
            state_counts: StateCounts {
                installed: 40,
                missing: 3,
                ..StateCounts::default()
            },
            non_compliant_levels: LevelCounts::default(),
            baseline: "debian-default".into(),
            baseline_version: 2,
            scanned_at: "2026-11-25T10:00:00Z".parse().unwrap(),
            evaluated_at: "2026-11-25T10:00:01Z".parse().unwrap(),
        }
    }

    #[test]
    fn node_rows_show_status_counts_and_baseline() {
        let rows = vec![
            NodeComplianceRow {
                node_id: "n1".into(),
                hostname: "web-1".into(),
                compliance: Some(summary(ComplianceStatus::NonCompliant)),
            },
            NodeComplianceRow {
                node_id: "n2".into(),
                hostname: "web-2".into(),
                compliance: None,
            },
        ];
        let text = nodes_table(&rows).render_human(false);
        assert!(text.contains("non-compliant (critical)"), "{text}");
        assert!(text.contains("debian-default v2"), "{text}");
        assert!(
            text.lines().nth(2).unwrap().contains("unreported"),
            "{text}"
        );
        let csv = nodes_table(&rows).render_csv().unwrap();
        assert!(csv.starts_with("node,hostname,status,missing"), "{csv}");
    }

    #[test]
    fn the_summary_line_names_counts_and_baseline() {
        let line = summary_line(&summary(ComplianceStatus::NonCompliant));
        assert_eq!(
            line,
            "non-compliant (critical): 3 missing, 40 installed; baseline debian-default v2, scanned 2026-11-25T10:00:00Z"
        );
    }

    #[test]
    fn summary_tables_carry_the_dimension_name() {
        let rows = vec![ComplianceGroupSummary {
            key: "prod".into(),
            nodes: 3,
            compliant: 1,
            non_compliant: 2,
            unreported: 0,
            non_compliant_by_severity: LevelCounts {
                critical: 2,
                ..LevelCounts::default()
            },
        }];
        let text = summary_table(SummaryBy::Environment, &rows).render_human(false);
        assert!(text.starts_with("ENVIRONMENT"), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("prod"), "{text}");
    }
}
