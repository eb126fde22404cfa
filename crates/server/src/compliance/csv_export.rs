//! CSV exports of every compliance listing (`?format=csv`): one header
//! line, one record per row, enum values in their kebab-case JSON spelling
//! so CSV and JSON read the same.

use patchline_api::compliance::{
    ComplianceGroupSummary, HistoryPoint, NodeComplianceDetail, NodeComplianceRow,
    PatchComplianceRow,
};
use serde::Serialize;

/// The kebab-case name of a unit enum value, as serde writes it.
fn kebab<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
}

pub fn summaries(rows: &[ComplianceGroupSummary]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "key",
        "nodes",
        "compliant",
        "non_compliant",
        "unreported",
        "critical",
        "high",
        "medium",
        "low",
        "informational",
        "unspecified",
    ])?;
    for row in rows {
        let levels = &row.non_compliant_by_severity;
        out.write_record([
            row.key.clone(),
            row.nodes.to_string(),
            row.compliant.to_string(),
            row.non_compliant.to_string(),
            row.unreported.to_string(),
            levels.critical.to_string(),
            levels.high.to_string(),
            levels.medium.to_string(),
            levels.low.to_string(),
            levels.informational.to_string(),
            levels.unspecified.to_string(),
        ])?;
    }
    finish(out)
}

pub fn nodes(rows: &[NodeComplianceRow]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "node_id",
        "hostname",
        "status",
        "severity",
        "baseline",
        "baseline_version",
        "missing",
        "failed",
        "installed_pending_reboot",
        "installed_rejected",
        "available_security_update",
        "scanned_at",
        "evaluated_at",
    ])?;
    for row in rows {
        let mut record = vec![row.node_id.clone(), row.hostname.clone()];
        match &row.compliance {
            None => {
                record.push("unreported".to_owned());
                record.extend(std::iter::repeat_n(String::new(), 10));
            }
            Some(summary) => {
                let counts = &summary.state_counts;
                record.extend([
                    kebab(&summary.status),
                    summary
                        .severity
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    summary.baseline.clone(),
                    summary.baseline_version.to_string(),
                    counts.missing.to_string(),
                    counts.failed.to_string(),
                    counts.installed_pending_reboot.to_string(),
                    counts.installed_rejected.to_string(),
                    counts.available_security_update.to_string(),
                    summary.scanned_at.to_string(),
                    summary.evaluated_at.to_string(),
                ]);
            }
        }
        out.write_record(&record)?;
    }
    finish(out)
}

/// Every package line of one node.
pub fn node_detail(detail: &NodeComplianceDetail) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "name",
        "arch",
        "state",
        "non_compliant",
        "compliance_level",
        "installed_version",
        "approved_version",
        "advisory_id",
        "security_update_version",
    ])?;
    for line in &detail.packages {
        out.write_record([
            line.name.as_ref(),
            line.arch.as_ref(),
            &kebab(&line.state),
            if line.non_compliant { "true" } else { "false" },
            line.compliance_level.as_str(),
            line.installed_version.as_deref().unwrap_or(""),
            line.approved_version.as_deref().unwrap_or(""),
            line.advisory_id.as_deref().unwrap_or(""),
            line.security_update_version.as_deref().unwrap_or(""),
        ])?;
    }
    finish(out)
}

pub fn patches(rows: &[PatchComplianceRow]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "name",
        "version",
        "advisory_id",
        "compliance_level",
        "missing_nodes",
        "failed_nodes",
        "pending_reboot_nodes",
        "installed_nodes",
    ])?;
    for row in rows {
        out.write_record([
            row.name.clone(),
            row.version.clone().unwrap_or_default(),
            row.advisory_id.clone().unwrap_or_default(),
            row.compliance_level.as_str().to_owned(),
            row.missing_nodes.to_string(),
            row.failed_nodes.to_string(),
            row.pending_reboot_nodes.to_string(),
            row.installed_nodes.to_string(),
        ])?;
    }
    finish(out)
}

pub fn history(points: &[HistoryPoint]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["day", "key", "compliant", "non_compliant", "unreported"])?;
    for point in points {
        out.write_record([
            point.day.to_string(),
            point.key.clone(),
            point.compliant.to_string(),
            point.non_compliant.to_string(),
            point.unreported.to_string(),
        ])?;
    }
    finish(out)
}

#[cfg(test)]
mod tests {
    use patchline_core::compliance::LevelCounts;

    use super::*;

    #[test]
    fn summaries_quote_keys_that_need_it() {
        let rows = vec![ComplianceGroupSummary {
            key: "web, \"blue\"".into(),
            nodes: 3,
            compliant: 1,
            non_compliant: 2,
            unreported: 0,
            non_compliant_by_severity: LevelCounts {
                critical: 2,
                ..LevelCounts::default()
            },
        }];
        let text = String::from_utf8(summaries(&rows).unwrap()).unwrap();
        assert_eq!(
            text,
            "key,nodes,compliant,non_compliant,unreported,critical,high,medium,low,informational,unspecified\n\
             \"web, \"\"blue\"\"\",3,1,2,0,2,0,0,0,0,0\n"
        );
    }

    #[test]
    fn unreported_nodes_have_a_status_and_empty_columns() {
        let rows = vec![NodeComplianceRow {
            node_id: "n1".into(),
            hostname: "h1".into(),
            compliance: None,
        }];
        let text = String::from_utf8(nodes(&rows).unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(record.len(), 13);
        assert_eq!(&record[2], "unreported");
    }
}
