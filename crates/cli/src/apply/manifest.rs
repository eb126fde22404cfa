//! The files `patchline apply -f` reads: YAML documents separated by `---`,
//! each with a `kind`. `kind: Baseline` carries the core baseline fields
//! plus an optional `default-for-family: true`; `kind: PatchGroup` carries
//! `name` and `baselines` (OS family → baseline name).

use patchline_api::groups::PatchGroup;
use patchline_core::baseline::Baseline;
use patchline_core::os::OsFamily;
use serde_yaml_ng::{Mapping, Value};

/// Where a document starts, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: String,
    /// 1-based document number within the source.
    pub document: usize,
    /// 1-based line of the document's first line.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: document {}",
            self.source, self.line, self.document
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{source_name}:{line}: invalid YAML: {reason}")]
    Yaml {
        source_name: String,
        line: usize,
        reason: String,
    },
    #[error("{origin}: {reason}")]
    Invalid { origin: Origin, reason: String },
    #[error("{second}: {kind} {name:?} is also defined at {first}")]
    Duplicate {
        kind: &'static str,
        name: String,
        first: Origin,
        second: Origin,
    },
    #[error("{second}: {family} already has a default baseline in this file ({first})")]
    TwoDefaults {
        family: OsFamily,
        first: Origin,
        second: Origin,
    },
}

/// A baseline as the file wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredBaseline {
    pub baseline: Baseline,
    /// `None`: the file does not say, so the server's flag is kept.
    pub default_for_family: Option<bool>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPatchGroup {
    pub group: PatchGroup,
    pub origin: Origin,
}

/// Every object of one or more files, checked for duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub baselines: Vec<DesiredBaseline>,
    pub patch_groups: Vec<DesiredPatchGroup>,
}

impl Manifest {
    pub fn len(&self) -> usize {
        self.baselines.len() + self.patch_groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the documents of one file (`source` names it in messages).
    pub fn add_source(&mut self, source: &str, text: &str) -> Result<(), ManifestError> {
        for (index, (line, chunk)) in split_documents(text).into_iter().enumerate() {
            let origin = Origin {
                source: source.to_string(),
                document: index + 1,
                line,
            };
            let value: Value =
                serde_yaml_ng::from_str(&chunk).map_err(|error| ManifestError::Yaml {
                    source_name: source.to_string(),
                    line: line + error.location().map_or(0, |at| at.line().saturating_sub(1)),
                    reason: error.to_string(),
                })?;
            match value {
                // Only comments (or nothing) between separators.
                Value::Null => continue,
                Value::Mapping(mapping) => self.add_document(mapping, origin)?,
                _ => {
                    return Err(ManifestError::Invalid {
                        origin,
                        reason: "a document must be a mapping with a `kind`".into(),
                    });
                }
            }
        }
        Ok(())
    }

    fn add_document(&mut self, mut mapping: Mapping, origin: Origin) -> Result<(), ManifestError> {
        let invalid = |origin: &Origin, reason: String| ManifestError::Invalid {
            origin: origin.clone(),
            reason,
        };
        let kind = match mapping.remove("kind") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err(invalid(&origin, "`kind` must be a string".into())),
            None => {
                return Err(invalid(
                    &origin,
                    "missing `kind` (Baseline or PatchGroup)".into(),
                ));
            }
        };
        match kind.as_str() {
            "Baseline" => {
                let default_for_family = match mapping.remove("default-for-family") {
                    None => None,
                    Some(Value::Bool(flag)) => Some(flag),
                    Some(_) => {
                        return Err(invalid(
                            &origin,
                            "`default-for-family` must be true or false".into(),
                        ));
                    }
                };
                let baseline: Baseline = serde_yaml_ng::from_value(Value::Mapping(mapping))
                    .map_err(|error| invalid(&origin, format!("not a valid Baseline: {error}")))?;
                let label = format!("Baseline {:?}", baseline.name);
                baseline
                    .validate()
                    .map_err(|error| invalid(&origin, format!("{label}: {error}")))?;
                self.push_baseline(DesiredBaseline {
                    baseline,
                    default_for_family,
                    origin,
                })
            }
            "PatchGroup" => {
                let group: PatchGroup = serde_yaml_ng::from_value(Value::Mapping(mapping))
                    .map_err(|error| {
                        invalid(&origin, format!("not a valid PatchGroup: {error}"))
                    })?;
                if group.name.trim().is_empty() {
                    return Err(invalid(&origin, "a PatchGroup needs a `name`".into()));
                }
                if let Some(first) = self
                    .patch_groups
                    .iter()
                    .find(|other| other.group.name == group.name)
                {
                    return Err(ManifestError::Duplicate {
                        kind: "PatchGroup",
                        name: group.name,
                        first: first.origin.clone(),
                        second: origin,
                    });
                }
                self.patch_groups.push(DesiredPatchGroup { group, origin });
                Ok(())
            }
            other => Err(invalid(
                &origin,
                format!("unknown kind {other:?} (Baseline or PatchGroup)"),
            )),
        }
    }

    fn push_baseline(&mut self, desired: DesiredBaseline) -> Result<(), ManifestError> {
        if let Some(first) = self
            .baselines
            .iter()
            .find(|other| other.baseline.name == desired.baseline.name)
        {
            return Err(ManifestError::Duplicate {
                kind: "Baseline",
                name: desired.baseline.name,
                first: first.origin.clone(),
                second: desired.origin,
            });
        }
        if desired.default_for_family == Some(true) {
            let family = desired.baseline.os_family;
            if let Some(first) = self.baselines.iter().find(|other| {
                other.default_for_family == Some(true) && other.baseline.os_family == family
            }) {
                return Err(ManifestError::TwoDefaults {
                    family,
                    first: first.origin.clone(),
                    second: desired.origin,
                });
            }
        }
        self.baselines.push(desired);
        Ok(())
    }
}

/// Splits a YAML stream into documents with the 1-based line each starts on.
/// A document separator is a line that is `---` (optionally followed by a
/// space and content) or the end marker `...`; inside a block scalar such a
/// line would have to be indented, so column 0 is always a boundary.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_end();
        let rest = if trimmed == "---" || trimmed == "..." {
            Some("")
        } else {
            trimmed.strip_prefix("--- ")
        };
        match rest {
            Some(rest) => {
                documents.push((start, std::mem::take(&mut current)));
                // A document starts on the separator line only when content
                // follows the marker there.
                if rest.is_empty() {
                    start = number + 1;
                } else {
                    start = number;
                    current.push_str(rest);
                    current.push('\n');
                }
            }
            None => {
                current.push_str(line);
                current.push('\n');
            }
        }
    }
    documents.push((start, current));
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# Production policy
kind: Baseline
name: prod-debian
os-family: debian
default-for-family: true
approval-rules:
  - approve-after-days: 7
    compliance-level: critical
    filters:
      classification: [security]
---
kind: PatchGroup
name: web
baselines:
  debian: prod-debian
---
# nothing here
---
kind: Baseline
name: prod-rocky
os-family: rhel-compatible
";

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut manifest = Manifest::default();
        manifest.add_source("policy.yaml", text)?;
        Ok(manifest)
    }

    #[test]
    fn reads_baselines_and_groups_with_their_origins() {
        let manifest = parse(FILE).unwrap();
        assert_eq!(manifest.len(), 3);
        let prod = &manifest.baselines[0];
        assert_eq!(prod.baseline.name, "prod-debian");
        assert_eq!(prod.default_for_family, Some(true));
        assert_eq!(prod.baseline.approval_rules.len(), 1);
        assert_eq!(prod.origin.line, 1);
        let rocky = &manifest.baselines[1];
        assert_eq!(rocky.default_for_family, None);
        assert_eq!(rocky.origin.document, 4);
        assert_eq!(rocky.origin.line, 19);
        let web = &manifest.patch_groups[0];
        assert_eq!(web.group.baselines[&OsFamily::Debian], "prod-debian");
        assert_eq!(web.origin.to_string(), "policy.yaml:12: document 2");
    }

    #[test]
    fn a_typo_names_the_document_and_the_field() {
        let text = "kind: PatchGroup\nname: a\n---\nkind: Baseline\nname: x\nos-family: debian\naproval-rules: []\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(
            error.contains("policy.yaml:4: document 2") && error.contains("aproval-rules"),
            "{error}"
        );
    }

    #[test]
    fn an_invalid_baseline_rule_is_refused_with_the_reason() {
        let text = "kind: Baseline\nname: x\nos-family: debian\napproval-rules:\n  - approve-after-days: 400\n    compliance-level: high\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("\"x\"") && error.contains("400"), "{error}");
    }

    #[test]
    fn broken_yaml_reports_the_line_in_the_file() {
        let text = "kind: PatchGroup\nname: a\n---\nkind: PatchGroup\nname: [b\n";
        let error = parse(text).unwrap_err();
        assert!(
            matches!(error, ManifestError::Yaml { line, .. } if line >= 4),
            "{error}"
        );
    }

    #[test]
    fn kinds_are_required_and_known() {
        assert!(
            parse("name: a\n")
                .unwrap_err()
                .to_string()
                .contains("missing `kind`")
        );
        assert!(
            parse("kind: Window\nname: a\n")
                .unwrap_err()
                .to_string()
                .contains("unknown kind \"Window\"")
        );
        assert!(
            parse("- a\n- b\n")
                .unwrap_err()
                .to_string()
                .contains("mapping")
        );
        assert!(
            parse("kind: Baseline\nname: a\nos-family: debian\ndefault-for-family: yes please\n")
                .unwrap_err()
                .to_string()
                .contains("default-for-family")
        );
    }

    #[test]
    fn duplicates_and_two_defaults_are_refused() {
        let twice = "kind: PatchGroup\nname: a\n---\nkind: PatchGroup\nname: a\n";
        let error = parse(twice).unwrap_err().to_string();
        assert!(
            error.contains("policy.yaml:4") && error.contains("policy.yaml:1"),
            "{error}"
        );
        let defaults = "kind: Baseline\nname: a\nos-family: debian\ndefault-for-family: true\n---\nkind: Baseline\nname: b\nos-family: debian\ndefault-for-family: true\n";
        assert!(matches!(
            parse(defaults).unwrap_err(),
            ManifestError::TwoDefaults {
                family: OsFamily::Debian,
                ..
            }
        ));
    }

    #[test]
    fn an_empty_file_has_no_objects() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("---\n# only a comment\n...\n").unwrap().is_empty());
    }
}
