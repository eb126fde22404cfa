//! `patchline nodes list|show|tag`: the enrolled nodes and their tags.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Subcommand;
use indicatif::ProgressBar;
use patchline_api::nodes::{NodeView, SetTagsRequest};
use patchline_api::routes;

use crate::compliance_cmd::{status_cell, summary_line};
use crate::output::{self, JsonArg, OutputArgs, Table};
use crate::session::Session;
use crate::values::{parse_key_value, query_value};

#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// List nodes (optionally only those with a tag).
    List {
        /// Only nodes whose tag KEY has VALUE.
        #[arg(long, value_parser = parse_key_value, value_name = "KEY=VALUE")]
        tag: Vec<(String, String)>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A node's facts, tags and compliance.
    Show {
        id: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Set (KEY=VALUE) or remove (--remove KEY) operator tags.
    Tag {
        id: String,
        #[arg(value_parser = parse_key_value, value_name = "KEY=VALUE")]
        set: Vec<(String, String)>,
        #[arg(long, value_name = "KEY")]
        remove: Vec<String>,
        #[command(flatten)]
        json: JsonArg,
    },
}

pub async fn run(command: NodesCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    match command {
        NodesCommand::List { tag, output } => {
            // A fleet listing can take a moment; the spinner is on stderr
            // and hidden when stderr is not a terminal.
            let spinner = ProgressBar::new_spinner().with_message("fetching nodes");
            spinner.enable_steady_tick(Duration::from_millis(100));
            // The server filters on the first tag (in SQL); any further
            // ones are applied here.
            let path = match tag.first() {
                Some((key, value)) => format!(
                    "{}?tag={}",
                    routes::NODES,
                    query_value(&format!("{key}={value}"))
                ),
                None => routes::NODES.to_string(),
            };
            let nodes: Result<Vec<NodeView>> =
                session.check(session.client.get(&path).await, "cannot list nodes");
            spinner.finish_and_clear();
            let nodes: Vec<NodeView> = nodes?
                .into_iter()
                .filter(|node| {
                    tag.iter()
                        .all(|(key, value)| node.tags.get(key) == Some(value))
                })
                .collect();
            output::print(output.format(), &nodes, || nodes_table(&nodes))?;
        }
        NodesCommand::Show { id, json } => {
            let node = session.check(
                session.client.node(&id).await,
                format!("cannot read node {id}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&node)?);
            } else {
                out!("{}", describe(&node));
            }
        }
        NodesCommand::Tag {
            id,
            set,
            remove,
            json,
        } => {
            if set.is_empty() && remove.is_empty() {
                bail!("nothing to change: give KEY=VALUE arguments and/or --remove KEY");
            }
            let mut tags: BTreeMap<String, Option<String>> = BTreeMap::new();
            for key in remove {
                tags.insert(key, None);
            }
            for (key, value) in set {
                if tags.contains_key(&key) {
                    bail!("tag {key:?} is both set and removed");
                }
                tags.insert(key, Some(value));
            }
            let node = session.check(
                session.client.set_tags(&id, &SetTagsRequest { tags }).await,
                format!("cannot tag node {id}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&node)?);
            } else {
                outln!("{}: {}", node.id, output::tags(&node.tags));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn os_text(node: &NodeView) -> String {
    let os = &node.facts.os;
    if os.version_id.is_empty() {
        os.id.clone()
    } else {
        format!("{} {}", os.id, os.version_id)
    }
}

pub fn nodes_table(nodes: &[NodeView]) -> Table {
    let mut table = Table::new([
        "id",
        "hostname",
        "os",
        "baseline",
        "status",
        "last check-in",
        "tags",
    ]);
    for node in nodes {
        table.row([
            node.id.as_str().into(),
            node.facts.hostname.as_str().into(),
            os_text(node).into(),
            node.baseline.as_deref().unwrap_or("-").into(),
            status_cell(node.compliance.as_ref()),
            output::optional_timestamp(node.last_checkin_at).into(),
            output::tags(&node.tags).into(),
        ]);
    }
    table
}

fn describe(node: &NodeView) -> String {
    let mut text = String::new();
    let mut line = |label: &str, value: String| {
        text.push_str(&format!("{label:<14} {value}\n"));
    };
    line("id", node.id.clone());
    line("hostname", node.facts.hostname.clone());
    line(
        "os",
        format!("{} ({})", os_text(node), node.facts.os.family),
    );
    line("arch", node.facts.arch.clone());
    line(
        "kernel",
        node.facts.kernel.clone().unwrap_or_else(|| "-".into()),
    );
    line(
        "reboot needed",
        if node.facts.reboot_required {
            "yes"
        } else {
            "no"
        }
        .into(),
    );
    line("agent", node.facts.agent_version.clone());
    line("enrolled", output::timestamp(node.enrolled_at));
    line(
        "last check-in",
        output::optional_timestamp(node.last_checkin_at),
    );
    line(
        "patch group",
        node.patch_group.clone().unwrap_or_else(|| "-".into()),
    );
    line(
        "baseline",
        node.baseline.clone().unwrap_or_else(|| "-".into()),
    );
    line(
        "compliance",
        node.compliance
            .as_ref()
            .map_or_else(|| "unreported".to_string(), summary_line),
    );
    line(
        "tags",
        if node.tags.is_empty() {
            "-".into()
        } else {
            String::new()
        },
    );
    for (key, value) in &node.tags {
        text.push_str(&format!("  {key}={value}\n"));
    }
    text
}
