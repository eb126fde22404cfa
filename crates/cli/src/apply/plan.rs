//! What `apply` would change: each desired object compared with the
//! server's, as create / update / unchanged, with a unified diff of their
//! canonical YAML. Equality is decided on the typed values, never on the
//! text, so comments and key order in the file do not count as changes.

use std::collections::BTreeMap;

use patchline_api::baselines::{BaselineView, PutBaselineRequest};
use patchline_api::governance::GovernanceSettings;
use patchline_api::groups::PatchGroup;
use patchline_api::windows::WindowSpec;
use patchline_core::baseline::{
    ApprovalRule, ApprovedPatches, Baseline, ComplianceLevel, RejectedPatches,
};
use patchline_core::compliance::ComplianceStatus;
use patchline_core::orchestration::TaggingRule;
use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};
use similar::TextDiff;

use super::manifest::Manifest;

/// The server's objects, by name. Windows, tagging rules and governance are
/// only fetched when the files have such documents.
#[derive(Debug, Clone, Default)]
pub struct CurrentState {
    pub baselines: BTreeMap<String, BaselineView>,
    pub patch_groups: BTreeMap<String, PatchGroup>,
    pub windows: BTreeMap<String, WindowSpec>,
    pub tagging_rules: BTreeMap<String, TaggingRule>,
    pub governance: GovernanceSettings,
}

impl CurrentState {
    pub fn new(baselines: Vec<BaselineView>, patch_groups: Vec<PatchGroup>) -> CurrentState {
        CurrentState {
            baselines: baselines
                .into_iter()
                .map(|view| (view.name.clone(), view))
                .collect(),
            patch_groups: patch_groups
                .into_iter()
                .map(|group| (group.name.clone(), group))
                .collect(),
            ..CurrentState::default()
        }
    }

    pub fn with_windows(mut self, windows: impl IntoIterator<Item = WindowSpec>) -> Self {
        self.windows = windows
            .into_iter()
            .map(|window| (window.name.clone(), window))
            .collect();
        self
    }

    pub fn with_tagging_rules(mut self, rules: impl IntoIterator<Item = TaggingRule>) -> Self {
        self.tagging_rules = rules
            .into_iter()
            .map(|rule| (rule.name.clone(), rule))
            .collect();
        self
    }

    pub fn with_governance(mut self, settings: GovernanceSettings) -> Self {
        self.governance = settings;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::Unchanged => "unchanged",
        }
    }
}

/// The PUT an object becomes.
#[derive(Debug, Clone)]
pub enum Put {
    Baseline(PutBaselineRequest),
    PatchGroup(PatchGroup),
    TaggingRule(TaggingRule),
    Window(WindowSpec),
    Governance(GovernanceSettings),
}

#[derive(Debug, Clone)]
pub struct PlannedObject {
    /// `baseline/prod-debian`, `patch-group/web`, `window/prod-zone-a`,
    /// `tagging-rule/web-hosts`, `governance`.
    pub label: String,
    pub change: Change,
    /// Unified diff from the server's YAML to the file's; empty when
    /// unchanged.
    pub diff: String,
    pub put: Put,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Baselines first, then patch groups (groups name baselines), tagging
    /// rules, windows (a task may name a baseline) and governance (it names
    /// a window and a group), each in file order.
    pub objects: Vec<PlannedObject>,
}

impl Plan {
    pub fn count(&self, change: Change) -> usize {
        self.objects
            .iter()
            .filter(|object| object.change == change)
            .count()
    }

    pub fn changes(&self) -> impl Iterator<Item = &PlannedObject> {
        self.objects
            .iter()
            .filter(|object| object.change != Change::Unchanged)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} to create, {} to update, {} unchanged",
            self.count(Change::Create),
            self.count(Change::Update),
            self.count(Change::Unchanged)
        )
    }
}

pub fn plan(manifest: &Manifest, current: &CurrentState) -> Plan {
    let mut objects = Vec::with_capacity(manifest.len());
    for desired in &manifest.baselines {
        let name = &desired.baseline.name;
        let existing = current.baselines.get(name);
        // Not saying is keeping: a file need not repeat which baseline is
        // the family default for the flag to survive an apply.
        let default_for_family = desired
            .default_for_family
            .unwrap_or_else(|| existing.is_some_and(|view| view.default_for_family));
        let new_text = baseline_yaml(&desired.baseline, default_for_family);
        let (change, old_text) = match existing {
            None => (Change::Create, String::new()),
            Some(view) => {
                let same = view.baseline == desired.baseline
                    && view.default_for_family == default_for_family;
                let change = if same {
                    Change::Unchanged
                } else {
                    Change::Update
                };
                (
                    change,
                    baseline_yaml(&view.baseline, view.default_for_family),
                )
            }
        };
        let label = format!("baseline/{name}");
        objects.push(PlannedObject {
            diff: diff_text(change, &label, &old_text, &new_text),
            label,
            change,
            put: Put::Baseline(PutBaselineRequest {
                baseline: desired.baseline.clone(),
                default_for_family,
            }),
        });
    }
    for desired in &manifest.patch_groups {
        let group = &desired.group;
        let new_text = group_yaml(group);
        let (change, old_text) = match current.patch_groups.get(&group.name) {
            None => (Change::Create, String::new()),
            Some(existing) if existing == group => (Change::Unchanged, new_text.clone()),
            Some(existing) => (Change::Update, group_yaml(existing)),
        };
        let label = format!("patch-group/{}", group.name);
        objects.push(PlannedObject {
            diff: diff_text(change, &label, &old_text, &new_text),
            label,
            change,
            put: Put::PatchGroup(group.clone()),
        });
    }
    for desired in &manifest.tagging_rules {
        let rule = &desired.rule;
        let existing = current.tagging_rules.get(&rule.name);
        objects.push(planned(
            format!("tagging-rule/{}", rule.name),
            existing.map(|existing| (existing == rule, yaml_document("TaggingRule", existing))),
            yaml_document("TaggingRule", rule),
            Put::TaggingRule(rule.clone()),
        ));
    }
    for desired in &manifest.windows {
        let mut window = desired.window.clone();
        let existing = current.windows.get(&window.name);
        // Not saying is keeping: the server sets the owner of a window an
        // app-team operator writes, and the file need not repeat it.
        if window.owner.is_none() {
            window.owner = existing.and_then(|existing| existing.owner.clone());
        }
        objects.push(planned(
            format!("window/{}", window.name),
            existing.map(|existing| (existing == &window, yaml_document("Window", existing))),
            yaml_document("Window", &window),
            Put::Window(window),
        ));
    }
    if let Some(desired) = &manifest.governance {
        // Governance always exists on the server: never a creation.
        let existing = &current.governance;
        objects.push(planned(
            "governance".to_string(),
            Some((
                existing == &desired.settings,
                yaml_document("Governance", existing),
            )),
            yaml_document("Governance", &desired.settings),
            Put::Governance(desired.settings.clone()),
        ));
    }
    Plan { objects }
}

/// An object compared with the server's: `existing` is whether it is the
/// same and the server's text, `None` when the server has none.
fn planned(
    label: String,
    existing: Option<(bool, String)>,
    new_text: String,
    put: Put,
) -> PlannedObject {
    let (change, old_text) = match existing {
        None => (Change::Create, String::new()),
        Some((true, old_text)) => (Change::Unchanged, old_text),
        Some((false, old_text)) => (Change::Update, old_text),
    };
    PlannedObject {
        diff: diff_text(change, &label, &old_text, &new_text),
        label,
        change,
        put,
    }
}

fn diff_text(change: Change, label: &str, old: &str, new: &str) -> String {
    if change == Change::Unchanged {
        return String::new();
    }
    let old_header = if change == Change::Create {
        "/dev/null".to_string()
    } else {
        format!("server: {label}")
    };
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&old_header, &format!("file: {label}"))
        .to_string()
}

/// The manifest form of a baseline: `kind`, the core fields in their
/// declared order, and `default-for-family` when set. Fields equal to their
/// serde default are left out, so the text reads like a hand-written file
/// and parses back to the same baseline.
pub fn baseline_yaml(baseline: &Baseline, default_for_family: bool) -> String {
    let mut document = Mapping::new();
    document.insert("kind".into(), "Baseline".into());
    if let Ok(Value::Mapping(mut fields)) = serde_yaml_ng::to_value(baseline) {
        prune_baseline_defaults(&mut fields);
        for (key, value) in fields {
            let after_family = key.as_str() == Some("os-family");
            document.insert(key, value);
            if after_family && default_for_family {
                document.insert("default-for-family".into(), true.into());
            }
        }
    }
    serde_yaml_ng::to_string(&document).unwrap_or_default()
}

/// Whether `value` is what serialising `T::default()` gives.
fn is_default<T: Default + Serialize>(value: &Value) -> bool {
    serde_yaml_ng::to_value(T::default()).is_ok_and(|default| &default == value)
}

/// Removes the `#[serde(default)]` fields of a serialised baseline (and of
/// its rules) that hold their default value.
fn prune_baseline_defaults(fields: &mut Mapping) {
    fields.retain(|key, value| match key.as_str() {
        Some("approval-rules") => !is_default::<Vec<ApprovalRule>>(value),
        Some("approved-patches") => !is_default::<ApprovedPatches>(value),
        Some("rejected-patches") => !is_default::<RejectedPatches>(value),
        Some("available-security-updates-compliance") => !is_default::<ComplianceStatus>(value),
        _ => true,
    });
    if let Some(Value::Sequence(rules)) = fields.get_mut("approval-rules") {
        for rule in rules {
            if let Value::Mapping(rule) = rule {
                rule.retain(|key, value| match key.as_str() {
                    Some("include-non-security") => !is_default::<bool>(value),
                    Some("compliance-level") => !is_default::<ComplianceLevel>(value),
                    _ => true,
                });
            }
        }
    }
}

pub fn group_yaml(group: &PatchGroup) -> String {
    let mut document = Mapping::new();
    document.insert("kind".into(), "PatchGroup".into());
    if let Ok(Value::Mapping(fields)) = serde_yaml_ng::to_value(group) {
        document.extend(fields);
    }
    serde_yaml_ng::to_string(&document).unwrap_or_default()
}

/// The manifest form of a window, tagging rule or governance document:
/// `kind` first, then the fields without the empty ones (descriptions,
/// target lists, maps), which all have serde defaults, so the text reads
/// like a hand-written file and parses back to the same value.
pub fn yaml_document<T: Serialize>(kind: &str, value: &T) -> String {
    let mut document = Mapping::new();
    document.insert("kind".into(), kind.into());
    if let Ok(Value::Mapping(fields)) = serde_yaml_ng::to_value(value) {
        let mut fields = Value::Mapping(fields);
        prune_empty(&mut fields);
        unquote_counts(&mut fields);
        if let Value::Mapping(fields) = fields {
            document.extend(fields);
        }
    }
    serde_yaml_ng::to_string(&document).unwrap_or_default()
}

/// Limits serialise as text (`"10%"`, `"1"`); a count reads better as the
/// bare number a person writes (`max_errors: 1`), which parses back the same.
fn unquote_counts(value: &mut Value) {
    match value {
        Value::Mapping(mapping) => {
            for (key, inner) in mapping.iter_mut() {
                let is_limit = matches!(
                    key.as_str(),
                    Some("max_concurrency" | "max_errors" | "disruption_budget")
                );
                match inner {
                    Value::String(text) if is_limit => {
                        if let Ok(count) = text.parse::<u64>() {
                            *inner = Value::Number(count.into());
                        }
                    }
                    _ => unquote_counts(inner),
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(unquote_counts),
        _ => {}
    }
}

/// Removes, in every mapping, the entries whose value is an empty string,
/// sequence or mapping (after pruning inside it).
fn prune_empty(value: &mut Value) {
    match value {
        Value::Mapping(mapping) => {
            for (_, inner) in mapping.iter_mut() {
                prune_empty(inner);
            }
            mapping.retain(|_, inner| !is_empty_value(inner));
        }
        Value::Sequence(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::String(text) => text.is_empty(),
        Value::Sequence(items) => items.is_empty(),
        Value::Mapping(mapping) => mapping.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::os::OsFamily;

    fn manifest(text: &str) -> Manifest {
        let mut manifest = Manifest::default();
        manifest.add_source("f.yaml", text).unwrap();
        manifest
    }

    fn view(baseline: Baseline, default_for_family: bool) -> BaselineView {
        BaselineView {
            name: baseline.name.clone(),
            os_family: baseline.os_family,
            version: 1,
            default_for_family,
            baseline,
            updated_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            updated_by: "user:admin".into(),
        }
    }

    const FILE: &str = "\
kind: PatchGroup
name: web
baselines: {debian: prod}
---
kind: Baseline
name: prod
os-family: debian
approval-rules:
  - approve-after-days: 7
    compliance-level: high
";

    #[test]
    fn everything_is_created_on_an_empty_server_baselines_first() {
        let plan = plan(&manifest(FILE), &CurrentState::default());
        let labels: Vec<_> = plan.objects.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(labels, ["baseline/prod", "patch-group/web"]);
        assert_eq!(plan.count(Change::Create), 2);
        let diff = &plan.objects[0].diff;
        assert!(
            diff.starts_with("--- /dev/null\n+++ file: baseline/prod\n"),
            "{diff}"
        );
        assert!(
            diff.contains("+approve-after-days: 7")
                || diff.contains("+  approve-after-days: 7")
                || diff.contains("+- approve-after-days: 7"),
            "{diff}"
        );
        assert!(
            !diff
                .lines()
                .any(|line| line.starts_with('-') && !line.starts_with("---")),
            "{diff}"
        );
        assert_eq!(plan.summary(), "2 to create, 0 to update, 0 unchanged");
    }

    #[test]
    fn identical_objects_are_unchanged_whatever_the_formatting() {
        let desired = manifest(FILE);
        let current = CurrentState::new(
            vec![view(desired.baselines[0].baseline.clone(), false)],
            vec![desired.patch_groups[0].group.clone()],
        );
        let plan = plan(&desired, &current);
        assert_eq!(plan.count(Change::Unchanged), 2);
        assert!(plan.objects.iter().all(|object| object.diff.is_empty()));
        assert_eq!(plan.changes().count(), 0);
    }

    #[test]
    fn an_update_shows_only_what_differs() {
        let desired = manifest(FILE);
        let mut old = desired.baselines[0].baseline.clone();
        old.approval_rules[0].approve_after_days = Some(14);
        let mut old_group = desired.patch_groups[0].group.clone();
        old_group
            .baselines
            .insert(OsFamily::RhelCompatible, "prod-rocky".into());
        let plan = plan(
            &desired,
            &CurrentState::new(vec![view(old, false)], vec![old_group]),
        );
        assert_eq!(plan.count(Change::Update), 2);
        let diff = &plan.objects[0].diff;
        assert!(diff.contains("--- server: baseline/prod"), "{diff}");
        let changed: Vec<_> = diff
            .lines()
            .filter(|line| {
                (line.starts_with('-') || line.starts_with('+'))
                    && !line.starts_with("---")
                    && !line.starts_with("+++")
            })
            .collect();
        assert_eq!(changed.len(), 2, "{diff}");
        assert!(
            changed[0].contains("14") && changed[1].contains('7'),
            "{diff}"
        );
        assert!(
            plan.objects[1]
                .diff
                .contains("-  rhel-compatible: prod-rocky"),
            "{}",
            plan.objects[1].diff
        );
    }

    #[test]
    fn canonical_yaml_leaves_out_defaults_and_parses_back_identically() {
        let examples =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/baselines");
        let mut baselines: Vec<Baseline> = OsFamily::ALL
            .into_iter()
            .flat_map(|family| [Baseline::default_for(family), Baseline::emergency(family)])
            .collect();
        for entry in std::fs::read_dir(examples).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            baselines.push(Baseline::from_yaml(&text).unwrap());
        }
        for baseline in baselines {
            for default_for_family in [false, true] {
                let text = baseline_yaml(&baseline, default_for_family);
                let mut manifest = Manifest::default();
                manifest.add_source("canonical", &text).unwrap();
                assert_eq!(manifest.baselines[0].baseline, baseline, "{text}");
                assert_eq!(
                    manifest.baselines[0].default_for_family,
                    default_for_family.then_some(true),
                    "{text}"
                );
            }
        }
        let minimal = manifest(FILE).baselines[0].baseline.clone();
        assert_eq!(
            baseline_yaml(&minimal, false),
            "kind: Baseline\nname: prod\nos-family: debian\napproval-rules:\n- approve-after-days: 7\n  compliance-level: high\n"
        );
    }

    const WINDOW_FILE: &str = "\
kind: TaggingRule
name: web
when: {hostname: web-*}
set: {Application: web}
---
kind: Window
name: prod-zone-a
schedule: cron(0 0 2 ? * SUN)
duration_hours: 5
cutoff_hours: 1
targets: {tags: {Zone: [zone-a]}}
tasks:
  - name: install
    action: {kind: patch, operation: install}
    max_concurrency: 10%
---
kind: Governance
default_window: prod-zone-a
";

    #[test]
    fn windows_rules_and_governance_come_after_policy() {
        let desired = manifest(&format!("{WINDOW_FILE}---\n{FILE}"));
        let plan = plan(&desired, &CurrentState::default());
        let labels: Vec<_> = plan.objects.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "baseline/prod",
                "patch-group/web",
                "tagging-rule/web",
                "window/prod-zone-a",
                "governance"
            ]
        );
        // Governance always exists: an update from the empty settings.
        assert_eq!(plan.objects[4].change, Change::Update);
        assert!(
            plan.objects[4]
                .diff
                .contains("+default_window: prod-zone-a"),
            "{}",
            plan.objects[4].diff
        );
        let window_diff = &plan.objects[3].diff;
        assert!(
            window_diff.contains("+kind: Window")
                && window_diff.contains("+  max_concurrency: 10%"),
            "{window_diff}"
        );
        assert!(!window_diff.contains("description"), "{window_diff}");
    }

    #[test]
    fn a_window_as_stored_is_unchanged_and_its_owner_is_kept() {
        let desired = manifest(WINDOW_FILE);
        let mut stored = desired.windows[0].window.clone();
        stored.owner = Some(patchline_api::auth::TagScope {
            key: "Application".into(),
            value: "payments".into(),
        });
        let current = CurrentState::default()
            .with_windows([stored.clone()])
            .with_tagging_rules([desired.tagging_rules[0].rule.clone()])
            .with_governance(desired.governance.clone().unwrap().settings);
        let plan = plan(&desired, &current);
        assert_eq!(plan.changes().count(), 0, "{:?}", plan.summary());
        match &plan.objects[1].put {
            Put::Window(window) => assert_eq!(window.owner, stored.owner),
            _ => panic!("the window is second"),
        }

        let longer = manifest(&WINDOW_FILE.replace("duration_hours: 5", "duration_hours: 6"));
        let plan = super::plan(&longer, &current);
        assert_eq!(plan.count(Change::Update), 1);
        let diff = &plan.objects[1].diff;
        assert!(
            diff.contains("-duration_hours: 5") && diff.contains("+duration_hours: 6"),
            "{diff}"
        );
    }

    #[test]
    fn window_documents_parse_back_to_the_same_window() {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let text = std::fs::read_to_string(examples.join("windows.yaml")).unwrap();
        let desired = manifest(&text);
        for window in &desired.windows {
            let document = yaml_document("Window", &window.window);
            assert_eq!(
                manifest(&document).windows[0].window,
                window.window,
                "{document}"
            );
        }
        let install = yaml_document("Window", &desired.windows[0].window);
        assert!(
            install.contains("  max_errors: 1\n") && install.contains("  max_concurrency: 10%\n"),
            "{install}"
        );
        let settings = &desired.governance.as_ref().unwrap().settings;
        let document = yaml_document("Governance", settings);
        assert_eq!(
            &manifest(&document).governance.unwrap().settings,
            settings,
            "{document}"
        );
    }

    #[test]
    fn an_unstated_default_flag_keeps_the_servers() {
        let desired = manifest(FILE);
        let current = CurrentState::new(
            vec![view(desired.baselines[0].baseline.clone(), true)],
            vec![],
        );
        let plan = plan(&desired, &current);
        assert_eq!(plan.objects[0].change, Change::Unchanged);
        match &plan.objects[0].put {
            Put::Baseline(request) => assert!(request.default_for_family),
            _ => panic!("baselines come first"),
        }
        // Saying false is a change.
        let explicit = manifest(&FILE.replace(
            "os-family: debian",
            "os-family: debian\ndefault-for-family: false",
        ));
        let plan = super::plan(&explicit, &current);
        assert_eq!(plan.objects[0].change, Change::Update);
        assert!(
            plan.objects[0].diff.contains("-default-for-family: true"),
            "{}",
            plan.objects[0].diff
        );
    }
}
