//! The files `patchline apply -f` reads: YAML documents separated by `---`,
//! each with a `kind`. `kind: Baseline` carries the core baseline fields
//! plus an optional `default-for-family: true`; `kind: PatchGroup` carries
//! `name` and `baselines` (OS family → baseline name); `kind: Window` is the
//! API's window spec (a window without `owner` keeps the server's), `kind:
//! TaggingRule` a tagging rule and `kind: Governance` the whole governance
//! settings (at most one per apply; a default left out is cleared).

use patchline_api::governance::GovernanceSettings;
use patchline_api::groups::PatchGroup;
use patchline_api::windows::WindowSpec;
use patchline_core::baseline::Baseline;
use patchline_core::orchestration::TaggingRule;
use patchline_core::os::OsFamily;
use patchline_core::schedule::{ScheduleExpression, WindowSchedule, WindowTiming};
use serde_yaml_ng::{Mapping, Value};

/// The kinds a document may have, for messages.
const KINDS: &str = "Baseline, PatchGroup, Window, TaggingRule or Governance";

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredWindow {
    pub window: WindowSpec,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct DesiredTaggingRule {
    pub rule: TaggingRule,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGovernance {
    pub settings: GovernanceSettings,
    pub origin: Origin,
}

/// Every object of one or more files, checked for duplicates.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub baselines: Vec<DesiredBaseline>,
    pub patch_groups: Vec<DesiredPatchGroup>,
    pub windows: Vec<DesiredWindow>,
    pub tagging_rules: Vec<DesiredTaggingRule>,
    pub governance: Option<DesiredGovernance>,
}

impl Manifest {
    pub fn len(&self) -> usize {
        self.baselines.len()
            + self.patch_groups.len()
            + self.windows.len()
            + self.tagging_rules.len()
            + usize::from(self.governance.is_some())
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
                return Err(invalid(&origin, format!("missing `kind` ({KINDS})")));
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
            "Window" => {
                let window: WindowSpec = serde_yaml_ng::from_value(Value::Mapping(mapping))
                    .map_err(|error| invalid(&origin, format!("not a valid Window: {error}")))?;
                check_window(&window).map_err(|reason| {
                    invalid(&origin, format!("Window {:?}: {reason}", window.name))
                })?;
                if let Some(first) = self
                    .windows
                    .iter()
                    .find(|other| other.window.name == window.name)
                {
                    return Err(ManifestError::Duplicate {
                        kind: "Window",
                        name: window.name,
                        first: first.origin.clone(),
                        second: origin,
                    });
                }
                self.windows.push(DesiredWindow { window, origin });
                Ok(())
            }
            "TaggingRule" => {
                let rule: TaggingRule = serde_yaml_ng::from_value(Value::Mapping(mapping))
                    .map_err(|error| {
                        invalid(&origin, format!("not a valid TaggingRule: {error}"))
                    })?;
                // The error names the rule itself.
                rule.validate()
                    .map_err(|error| invalid(&origin, error.to_string()))?;
                if let Some(first) = self
                    .tagging_rules
                    .iter()
                    .find(|other| other.rule.name == rule.name)
                {
                    return Err(ManifestError::Duplicate {
                        kind: "TaggingRule",
                        name: rule.name,
                        first: first.origin.clone(),
                        second: origin,
                    });
                }
                self.tagging_rules.push(DesiredTaggingRule { rule, origin });
                Ok(())
            }
            "Governance" => {
                let settings: GovernanceSettings =
                    serde_yaml_ng::from_value(Value::Mapping(mapping)).map_err(|error| {
                        invalid(&origin, format!("not a valid Governance: {error}"))
                    })?;
                if let Some(first) = &self.governance {
                    return Err(ManifestError::Duplicate {
                        kind: "Governance",
                        name: "settings".into(),
                        first: first.origin.clone(),
                        second: origin,
                    });
                }
                self.governance = Some(DesiredGovernance { settings, origin });
                Ok(())
            }
            other => Err(invalid(
                &origin,
                format!("unknown kind {other:?} ({KINDS})"),
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

/// The checks that need no server (the server repeats them and more): a
/// name, a schedule that parses in its time zone, a duration and cutoff in
/// range, task names unique and concurrency limits above zero. Caught here,
/// the error names the file and document.
fn check_window(window: &WindowSpec) -> Result<(), String> {
    if window.name.trim().is_empty() {
        return Err("a Window needs a `name`".into());
    }
    let expression = ScheduleExpression::parse(&window.schedule)
        .map_err(|error| format!("schedule: {error}"))?;
    let mut schedule = WindowSchedule::new(expression, &window.time_zone)
        .and_then(|schedule| schedule.with_offset_days(window.offset_days))
        .map_err(|error| format!("schedule: {error}"))?;
    if let Some(start) = window.start {
        schedule = schedule
            .with_start(start)
            .map_err(|error| format!("start: {error}"))?;
    }
    if let Some(end) = window.end {
        schedule
            .with_end(end)
            .map_err(|error| format!("end: {error}"))?;
    }
    WindowTiming::new(window.duration_hours, window.cutoff_hours)
        .map_err(|error| format!("duration/cutoff: {error}"))?;
    window
        .targets
        .validate()
        .map_err(|error| error.to_string())?;
    for (index, task) in window.tasks.iter().enumerate() {
        if task.name.trim().is_empty() {
            return Err(format!("task {} needs a `name`", index + 1));
        }
        if window.tasks[..index]
            .iter()
            .any(|earlier| earlier.name == task.name)
        {
            return Err(format!("two tasks are named {:?}", task.name));
        }
        task.max_concurrency
            .check_concurrency()
            .map_err(|error| format!("task {:?}: max_concurrency: {error}", task.name))?;
    }
    Ok(())
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
            parse("kind: Gadget\nname: a\n")
                .unwrap_err()
                .to_string()
                .contains("unknown kind \"Gadget\"")
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

    const WINDOW: &str = "\
kind: Window
name: prod-zone-a
schedule: cron(0 0 2 ? * SUN)
time_zone: Europe/Paris
duration_hours: 5
cutoff_hours: 1
targets:
  tags:
    Zone: [zone-a]
tasks:
  - name: install
    priority: 1
    action: {kind: patch, operation: install}
    max_concurrency: 10%
    max_errors: 1
";

    #[test]
    fn reads_windows_tagging_rules_and_governance() {
        let text = format!(
            "{WINDOW}---\nkind: TaggingRule\nname: web\nwhen:\n  hostname: web-*\nset:\n  Application: web\n---\nkind: Governance\ndefault_window: prod-zone-a\n"
        );
        let manifest = parse(&text).unwrap();
        assert_eq!(manifest.len(), 3);
        let window = &manifest.windows[0].window;
        assert_eq!(window.time_zone, "Europe/Paris");
        assert!(window.enabled, "enabled by default");
        assert_eq!(window.tasks[0].max_concurrency.to_string(), "10%");
        assert_eq!(manifest.tagging_rules[0].rule.set["Application"], "web");
        assert_eq!(manifest.tagging_rules[0].origin.document, 2);
        let governance = manifest.governance.as_ref().unwrap();
        assert_eq!(
            governance.settings.default_window.as_deref(),
            Some("prod-zone-a")
        );
    }

    #[test]
    fn a_window_is_checked_before_any_server_sees_it() {
        for (change, expected) in [
            (("cron(0 0 2 ? * SUN)", "cron(0 0 25 ? * SUN)"), "schedule"),
            (("Europe/Paris", "Mars/Olympus"), "schedule"),
            (("cutoff_hours: 1", "cutoff_hours: 5"), "duration/cutoff"),
            (
                ("max_concurrency: 10%", "max_concurrency: 0"),
                "max_concurrency",
            ),
            (("Zone: [zone-a]", "Zone: []"), "targets"),
            (("priority: 1", "priority: 1\n    colour: red"), "colour"),
        ] {
            let text = WINDOW.replace(change.0, change.1);
            let error = parse(&text).unwrap_err().to_string();
            assert!(
                error.contains("policy.yaml:1: document 1") && error.contains(expected),
                "{change:?}: {error}"
            );
        }
        let twice = format!("{WINDOW}---\n{WINDOW}");
        assert!(matches!(
            parse(&twice).unwrap_err(),
            ManifestError::Duplicate { kind: "Window", .. }
        ));
        let two_tasks = WINDOW.replace(
            "tasks:\n",
            "tasks:\n  - name: install\n    action: {kind: snapshot}\n",
        );
        assert!(
            parse(&two_tasks)
                .unwrap_err()
                .to_string()
                .contains("two tasks are named \"install\"")
        );
    }

    #[test]
    fn one_governance_document_and_valid_rules_only() {
        let twice = "kind: Governance\n---\nkind: Governance\ndefault_patch_group: web\n";
        assert!(matches!(
            parse(twice).unwrap_err(),
            ManifestError::Duplicate {
                kind: "Governance",
                ..
            }
        ));
        let bad_network =
            "kind: TaggingRule\nname: lan\nwhen:\n  network: 10.0.0.0/33\nset:\n  Zone: lan\n";
        let error = parse(bad_network).unwrap_err().to_string();
        assert!(
            error.contains("policy.yaml:1") && error.contains("tagging rule \"lan\""),
            "{error}"
        );
    }

    #[test]
    fn the_example_files_parse() {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut manifest = Manifest::default();
        for name in ["policy.yaml", "windows.yaml"] {
            let text = std::fs::read_to_string(examples.join(name)).unwrap();
            manifest.add_source(name, &text).unwrap();
        }
        assert_eq!(manifest.windows.len(), 3);
        let zone_a = &manifest.windows[0].window;
        assert_eq!(zone_a.duration_hours, 5);
        assert_eq!(zone_a.tasks.len(), 3);
        assert!(manifest.governance.is_some());
    }

    #[test]
    fn an_empty_file_has_no_objects() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("---\n# only a comment\n...\n").unwrap().is_empty());
    }
}
