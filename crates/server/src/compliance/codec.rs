//! The stored form of evaluation results: every package line of a
//! distinct result (for per-node detail) and its approved-patch lines (for
//! the per-patch report).
//!
//! CSV records rather than JSON objects, because a fleet re-evaluation
//! encodes hundreds of results of ~1,500 lines each and field names would
//! be most of the bytes and of the time; the full report is then
//! zstd-compressed (about 20x on such lines) and base64-encoded into a
//! portable TEXT column. CSV quoting keeps any text an agent sent intact.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use patchline_core::baseline::ComplianceLevel;
use patchline_core::compliance::{
    ApprovedBy, InstallTarget, NodeCompliance, PackageCompliance, PackageState,
};

/// zstd level: the fastest; the lines compress well at any level.
const ZSTD_LEVEL: i32 = 1;
/// The largest decompressed report accepted (a corrupt row must not
/// allocate without bound).
const MAX_REPORT_BYTES: usize = 256 * 1024 * 1024;

/// Why a stored result does not decode.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not zstd: {0}")]
    Zstd(#[from] std::io::Error),
    #[error("not CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("record {record}: {problem}")]
    Record { record: usize, problem: String },
}

/// Every package line and install target of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub packages: Vec<PackageCompliance<'static>>,
    pub to_install: Vec<InstallTarget<'static>>,
}

/// One approved patch as one result reports it (a package line with an
/// approved version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchLine {
    pub name: String,
    pub version: String,
    pub advisory_id: Option<String>,
    pub level: ComplianceLevel,
    pub state: PackageState,
}

/// The approved-patch lines of a result, one per name, version and state
/// (multi-arch siblings collapse: a node counts once per patch).
pub fn patch_lines(result: &NodeCompliance<'_>) -> Vec<PatchLine> {
    let mut lines: Vec<PatchLine> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in &result.packages {
        let Some(version) = line.approved_version.as_deref() else {
            continue;
        };
        if seen.insert((line.name.as_ref(), version, line.state)) {
            lines.push(PatchLine {
                name: line.name.to_string(),
                version: version.to_owned(),
                advisory_id: line.advisory_id.as_deref().map(str::to_owned),
                level: line.compliance_level,
                state: line.state,
            });
        }
    }
    lines
}

pub fn state_text(state: PackageState) -> &'static str {
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

fn parse_state(text: &str) -> Option<PackageState> {
    PackageState::ALL
        .into_iter()
        .find(|state| state_text(*state) == text)
}

fn parse_level(text: &str) -> Option<ComplianceLevel> {
    ComplianceLevel::ALL
        .into_iter()
        .find(|level| level.as_str() == text)
}

fn approved_by_text(by: Option<ApprovedBy>) -> String {
    match by {
        None => String::new(),
        Some(ApprovedBy::ApprovedList) => "list".into(),
        Some(ApprovedBy::Rule(index)) => index.to_string(),
    }
}

fn parse_approved_by(text: &str) -> Option<Option<ApprovedBy>> {
    match text {
        "" => Some(None),
        "list" => Some(Some(ApprovedBy::ApprovedList)),
        index => index
            .parse()
            .ok()
            .map(|index| Some(ApprovedBy::Rule(index))),
    }
}

fn optional(text: &str) -> Option<Cow<'static, str>> {
    (!text.is_empty()).then(|| Cow::Owned(text.to_owned()))
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_writer(Vec::with_capacity(64 * 1024))
}

fn into_bytes(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, CodecError> {
    writer
        .into_inner()
        .map_err(|error| CodecError::Csv(error.into_error().into()))
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// The stored text of a result's full report.
pub fn encode_report(result: &NodeCompliance<'_>) -> Result<String, CodecError> {
    let mut out = writer();
    for line in &result.packages {
        out.write_record([
            "p",
            &line.name,
            &line.arch,
            state_text(line.state),
            if line.non_compliant { "1" } else { "0" },
            line.compliance_level.as_str(),
            line.installed_version.as_deref().unwrap_or(""),
            line.approved_version.as_deref().unwrap_or(""),
            &approved_by_text(line.approved_by),
            line.advisory_id.as_deref().unwrap_or(""),
            line.security_update_version.as_deref().unwrap_or(""),
        ])?;
    }
    for target in &result.to_install {
        out.write_record([
            "t",
            &target.name,
            &target.arch,
            &target.version,
            if target.reboot_suggested { "1" } else { "0" },
        ])?;
    }
    let compressed = zstd::bulk::compress(&into_bytes(out)?, ZSTD_LEVEL)?;
    Ok(STANDARD_NO_PAD.encode(compressed))
}

pub fn decode_report(text: &str) -> Result<Report, CodecError> {
    let compressed = STANDARD_NO_PAD.decode(text)?;
    let bytes = zstd::bulk::decompress(&compressed, MAX_REPORT_BYTES)?;
    let mut report = Report {
        packages: Vec::new(),
        to_install: Vec::new(),
    };
    for (index, record) in reader(&bytes).records().enumerate() {
        let record = record?;
        let bad = |problem: &str| CodecError::Record {
            record: index + 1,
            problem: problem.to_owned(),
        };
        let field = |at: usize| record.get(at).ok_or_else(|| bad("too few fields"));
        match field(0)? {
            "p" => report.packages.push(PackageCompliance {
                name: Cow::Owned(field(1)?.to_owned()),
                arch: Cow::Owned(field(2)?.to_owned()),
                state: parse_state(field(3)?).ok_or_else(|| bad("unknown state"))?,
                non_compliant: field(4)? == "1",
                compliance_level: parse_level(field(5)?).ok_or_else(|| bad("unknown level"))?,
                installed_version: optional(field(6)?),
                approved_version: optional(field(7)?),
                approved_by: parse_approved_by(field(8)?).ok_or_else(|| bad("bad approved-by"))?,
                advisory_id: optional(field(9)?),
                security_update_version: optional(field(10)?),
            }),
            "t" => report.to_install.push(InstallTarget {
                name: Cow::Owned(field(1)?.to_owned()),
                arch: Cow::Owned(field(2)?.to_owned()),
                version: Cow::Owned(field(3)?.to_owned()),
                reboot_suggested: field(4)? == "1",
            }),
            _ => return Err(bad("unknown record kind")),
        }
    }
    Ok(report)
}

/// The stored text of a result's patch lines (plain CSV: they are few).
pub fn encode_patch_lines(lines: &[PatchLine]) -> Result<String, CodecError> {
    let mut out = writer();
    for line in lines {
        out.write_record([
            line.name.as_str(),
            &line.version,
            line.advisory_id.as_deref().unwrap_or(""),
            line.level.as_str(),
            state_text(line.state),
        ])?;
    }
    // The CSV writer only ever writes the UTF-8 it is given.
    Ok(String::from_utf8_lossy(&into_bytes(out)?).into_owned())
}

pub fn decode_patch_lines(text: &str) -> Result<Vec<PatchLine>, CodecError> {
    let mut lines = Vec::new();
    for (index, record) in reader(text.as_bytes()).records().enumerate() {
        let record = record?;
        let bad = |problem: &str| CodecError::Record {
            record: index + 1,
            problem: problem.to_owned(),
        };
        let field = |at: usize| record.get(at).ok_or_else(|| bad("too few fields"));
        lines.push(PatchLine {
            name: field(0)?.to_owned(),
            version: field(1)?.to_owned(),
            advisory_id: (!field(2)?.is_empty())
                .then(|| field(2).map(str::to_owned))
                .transpose()?,
            level: parse_level(field(3)?).ok_or_else(|| bad("unknown level"))?,
            state: parse_state(field(4)?).ok_or_else(|| bad("unknown state"))?,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use patchline_core::compliance::ComplianceStatus;

    use super::*;

    fn line(name: &str, state: PackageState, approved: Option<&str>) -> PackageCompliance<'static> {
        PackageCompliance {
            name: Cow::Owned(name.into()),
            arch: Cow::Borrowed("amd64"),
            state,
            non_compliant: state == PackageState::Missing,
            compliance_level: ComplianceLevel::High,
            installed_version: Some(Cow::Borrowed("1:2.0-1")),
            approved_version: approved.map(|v| Cow::Owned(v.into())),
            approved_by: approved.map(|_| ApprovedBy::Rule(2)),
            advisory_id: approved.map(|_| Cow::Borrowed("DSA-5, \"quoted\"\nline")),
            security_update_version: None,
        }
    }

    fn result() -> NodeCompliance<'static> {
        NodeCompliance {
            status: ComplianceStatus::NonCompliant,
            severity: Some(ComplianceLevel::High),
            state_counts: Default::default(),
            non_compliant_levels: Default::default(),
            packages: vec![
                line("openssl", PackageState::Missing, Some("1:2.1-1")),
                line("odd,name\t\"x\"", PackageState::InstalledOther, None),
            ],
            to_install: vec![InstallTarget {
                name: Cow::Borrowed("openssl"),
                arch: Cow::Borrowed("amd64"),
                version: Cow::Borrowed("1:2.1-1"),
                reboot_suggested: true,
            }],
        }
    }

    #[test]
    fn reports_round_trip_with_any_text() {
        let result = result();
        let decoded = decode_report(&encode_report(&result).unwrap()).unwrap();
        assert_eq!(decoded.packages, result.packages);
        assert_eq!(decoded.to_install, result.to_install);
    }

    #[test]
    fn patch_lines_round_trip() {
        let lines = patch_lines(&result());
        assert_eq!(lines.len(), 1);
        assert_eq!(
            decode_patch_lines(&encode_patch_lines(&lines).unwrap()).unwrap(),
            lines
        );
    }

    #[test]
    fn corrupt_text_is_an_error_not_a_panic() {
        assert!(decode_report("not base64 !").is_err());
        assert!(decode_report(&STANDARD_NO_PAD.encode(b"not zstd")).is_err());
        assert!(decode_patch_lines("pkg,1\n").is_err());
        assert!(decode_patch_lines("pkg,1,,high,sleeping\n").is_err());
    }
}
