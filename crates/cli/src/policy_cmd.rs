//! `patchline baselines list|show|versions` and `patchline groups
//! list|show`: the policy stored on the server (change it with `apply`).

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use patchline_api::baselines::BaselineVersionView;
use patchline_api::groups::PatchGroup;
use patchline_api::routes;

use crate::apply::plan::{baseline_yaml, group_yaml};
use crate::output::{self, JsonArg, OutputArgs, Table};
use crate::session::Session;

#[derive(Debug, Subcommand)]
pub enum BaselinesCommand {
    /// Every baseline with its version and whether it is a family default.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A baseline as `apply` YAML (or JSON).
    Show {
        name: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// A baseline's past versions, newest first.
    Versions {
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Every patch group and its baseline per OS family.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A patch group as `apply` YAML (or JSON).
    Show {
        name: String,
        #[command(flatten)]
        json: JsonArg,
    },
}

pub async fn baselines(command: BaselinesCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    let client = &session.client;
    match command {
        BaselinesCommand::List { output } => {
            let views = session.check(client.baselines().await, "cannot list baselines")?;
            output::print(output.format(), &views, || {
                let mut table =
                    Table::new(["name", "os family", "version", "default", "updated", "by"])
                        .right_align([2]);
                for view in &views {
                    table.row([
                        view.name.as_str().into(),
                        view.os_family.to_string().into(),
                        view.version.into(),
                        if view.default_for_family { "yes" } else { "" }.into(),
                        output::timestamp(view.updated_at).into(),
                        view.updated_by.as_str().into(),
                    ]);
                }
                table
            })?;
        }
        BaselinesCommand::Show { name, json } => {
            let view = session.check(
                client.baseline(&name).await,
                format!("cannot read baseline {name}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                outln!(
                    "# version {}, updated {} by {}",
                    view.version,
                    output::timestamp(view.updated_at),
                    view.updated_by
                );
                out!("{}", baseline_yaml(&view.baseline, view.default_for_family));
            }
        }
        BaselinesCommand::Versions { name, output } => {
            let path = routes::fill(routes::BASELINE_VERSIONS, &[&name]);
            let versions: Vec<BaselineVersionView> = session.check(
                client.get(&path).await,
                format!("cannot list the versions of baseline {name}"),
            )?;
            output::print(output.format(), &versions, || {
                let mut table =
                    Table::new(["version", "created", "by", "rules", "approved", "rejected"])
                        .right_align([0, 3, 4, 5]);
                for version in &versions {
                    table.row([
                        version.version.into(),
                        output::timestamp(version.created_at).into(),
                        version.created_by.as_str().into(),
                        version.baseline.approval_rules.len().into(),
                        version.baseline.approved_patches.patches.len().into(),
                        version.baseline.rejected_patches.patches.len().into(),
                    ]);
                }
                table
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn groups(command: GroupsCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    let client = &session.client;
    match command {
        GroupsCommand::List { output } => {
            let groups = session.check(client.patch_groups().await, "cannot list patch groups")?;
            output::print(output.format(), &groups, || {
                let mut table = Table::new(["name", "baselines"]);
                for group in &groups {
                    let baselines = group
                        .baselines
                        .iter()
                        .map(|(family, baseline)| format!("{family}={baseline}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    table.row([group.name.as_str().into(), baselines.into()]);
                }
                table
            })?;
        }
        GroupsCommand::Show { name, json } => {
            let path = routes::fill(routes::PATCH_GROUP, &[&name]);
            let group: PatchGroup = session.check(
                client.get(&path).await,
                format!("cannot read patch group {name}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&group)?);
            } else {
                out!("{}", group_yaml(&group));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
