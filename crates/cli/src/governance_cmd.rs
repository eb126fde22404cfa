//! `patchline tagging-rules`, `patchline governance` and `patchline quotas`:
//! the opt-out governance of the fleet (automatic tags, the default window
//! and patch group) and the quotas the server enforces.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use patchline_api::governance::{GovernanceSettings, TaggingRuleView};
use patchline_core::orchestration::{Quotas, RuleMatch};

use crate::output::{self, JsonArg, OutputArgs, Table};
use crate::session::Session;
use crate::values::wire_name;

#[derive(Debug, Subcommand)]
pub enum TaggingRulesCommand {
    /// Every rule (in the order they apply), what it matches and sets.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete a rule (the tags it set are recomputed from the others).
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum GovernanceCommand {
    /// The default window and patch group.
    Show {
        #[command(flatten)]
        json: JsonArg,
    },
    /// Change the defaults (an empty value clears one; an option not given
    /// is kept).
    Set {
        /// The window of every node without a `Maintenance Window` tag.
        #[arg(long, value_name = "WINDOW")]
        default_window: Option<String>,
        /// The patch group of every node without a `Patch Group` tag.
        #[arg(long, value_name = "GROUP")]
        default_patch_group: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
}

pub async fn tagging_rules(command: TaggingRulesCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    match command {
        TaggingRulesCommand::List { output } => {
            let rules = session.check(
                session.client.tagging_rules().await,
                "cannot list tagging rules",
            )?;
            output::print(output.format(), &rules, || rules_table(&rules))?;
        }
        TaggingRulesCommand::Delete { name } => {
            session.check(
                session.client.delete_tagging_rule(&name).await,
                format!("cannot delete tagging rule {name}"),
            )?;
            outln!("Deleted tagging rule {name}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rules_table(rules: &[TaggingRuleView]) -> Table {
    let mut table = Table::new(["name", "when", "set", "matching nodes"]).right_align([3]);
    for view in rules {
        table.row([
            view.rule.name.as_str().into(),
            conditions(&view.rule.when).into(),
            output::tags(&view.rule.set).into(),
            view.matching_nodes.into(),
        ]);
    }
    table
}

/// `hostname=web-*, os-family=debian`, or `every node`.
fn conditions(when: &RuleMatch) -> String {
    let mut parts = Vec::new();
    let mut add = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            parts.push(format!("{name}={value}"));
        }
    };
    add("hostname", when.hostname.clone());
    add("os-family", when.os_family.as_ref().map(wire_name));
    add("os-id", when.os_id.clone());
    add("os-version", when.os_version.clone());
    add("arch", when.arch.clone());
    add("network", when.network.clone());
    if parts.is_empty() {
        "every node".to_string()
    } else {
        parts.join(", ")
    }
}

pub async fn governance(command: GovernanceCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    let client = &session.client;
    let (settings, json) = match command {
        GovernanceCommand::Show { json } => (
            session.check(
                client.governance().await,
                "cannot read the governance settings",
            )?,
            json.json,
        ),
        GovernanceCommand::Set {
            default_window,
            default_patch_group,
            json,
        } => {
            let current = session.check(
                client.governance().await,
                "cannot read the governance settings",
            )?;
            let wanted = changed_settings(current, default_window, default_patch_group);
            let stored = session.check(
                client.put_governance(&wanted).await,
                "cannot change the governance settings",
            )?;
            (stored, json.json)
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&settings)?);
    } else {
        out!("{}", settings_text(&settings));
    }
    Ok(ExitCode::SUCCESS)
}

/// The settings with the given options applied: `Some("")` clears,
/// `None` keeps.
fn changed_settings(
    mut settings: GovernanceSettings,
    default_window: Option<String>,
    default_patch_group: Option<String>,
) -> GovernanceSettings {
    let apply = |slot: &mut Option<String>, value: Option<String>| {
        if let Some(value) = value {
            *slot = Some(value).filter(|value| !value.is_empty());
        }
    };
    apply(&mut settings.default_window, default_window);
    apply(&mut settings.default_patch_group, default_patch_group);
    settings
}

fn settings_text(settings: &GovernanceSettings) -> String {
    let or_none = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".into());
    format!(
        "Default window: {}\nDefault patch group: {}\n",
        or_none(&settings.default_window),
        or_none(&settings.default_patch_group)
    )
}

pub async fn quotas(output: OutputArgs) -> Result<ExitCode> {
    let session = Session::open()?;
    let view = session.check(session.client.quotas().await, "cannot read the quotas")?;
    output::print(output.format(), &view, || quotas_table(&view.quotas))?;
    Ok(ExitCode::SUCCESS)
}

fn quotas_table(quotas: &Quotas) -> Table {
    let mut table = Table::new(["quota", "limit"]).right_align([1]);
    for (name, limit) in [
        ("windows", quotas.max_windows),
        ("tasks per window", quotas.max_tasks_per_window),
        ("concurrency per task", quotas.max_concurrency_per_task),
        ("concurrent executions", quotas.max_concurrent_executions),
    ] {
        table.row([name.into(), limit.into()]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::os::OsFamily;

    #[test]
    fn set_keeps_what_is_not_given_and_clears_on_empty() {
        let current = GovernanceSettings {
            default_window: Some("prod-a".into()),
            default_patch_group: Some("prod".into()),
        };
        let changed = changed_settings(current.clone(), Some("prod-b".into()), None);
        assert_eq!(changed.default_window.as_deref(), Some("prod-b"));
        assert_eq!(changed.default_patch_group.as_deref(), Some("prod"));
        let cleared = changed_settings(current, None, Some(String::new()));
        assert_eq!(cleared.default_patch_group, None);
        assert_eq!(
            settings_text(&cleared),
            "Default window: prod-a\nDefault patch group: (none)\n"
        );
    }

    #[test]
    fn rule_conditions_read_plainly() {
        assert_eq!(conditions(&RuleMatch::default()), "every node");
        let when = RuleMatch {
            hostname: Some("web-*".into()),
            os_family: Some(OsFamily::RhelCompatible),
            network: Some("10.0.0.0/8".into()),
            ..RuleMatch::default()
        };
        assert_eq!(
            conditions(&when),
            "hostname=web-*, os-family=rhel-compatible, network=10.0.0.0/8"
        );
    }

    #[test]
    fn quotas_list_every_limit() {
        let text = quotas_table(&Quotas::default()).render_csv().unwrap();
        assert_eq!(
            text,
            "quota,limit\nwindows,50\ntasks per window,20\nconcurrency per task,20\nconcurrent executions,5\n"
        );
    }
}
