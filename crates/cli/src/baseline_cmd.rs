//! `patchline baseline`: check baseline files, print the built-in ones.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use patchline_core::baseline::Baseline;
use patchline_core::os::OsFamily;

#[derive(Subcommand)]
pub enum BaselineCommand {
    /// Validate baseline YAML files; exit 1 if any is invalid.
    Check { files: Vec<PathBuf> },
    /// Print a built-in baseline as YAML (a starting point for your own).
    Show {
        /// debian, ubuntu, rhel-compatible, fedora, amazon-linux or suse.
        family: OsFamily,
        /// The emergency (approve everything now) baseline used by Patch Now.
        #[arg(long)]
        emergency: bool,
    },
}

pub fn run(command: BaselineCommand) -> Result<ExitCode> {
    match command {
        BaselineCommand::Check { files } => {
            let mut invalid = 0;
            for path in &files {
                match check(path) {
                    Ok(summary) => outln!("ok       {}: {summary}", path.display()),
                    Err(error) => {
                        invalid += 1;
                        outln!("invalid  {}: {error:#}", path.display());
                    }
                }
            }
            Ok(if invalid > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        BaselineCommand::Show { family, emergency } => {
            let baseline = if emergency {
                Baseline::emergency(family)
            } else {
                Baseline::default_for(family)
            };
            out!("{}", serde_yaml_ng::to_string(&baseline)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(path: &PathBuf) -> Result<String> {
    let text = std::fs::read_to_string(path).context("cannot read")?;
    let baseline = Baseline::from_yaml(&text)?;
    baseline.evaluator()?;
    Ok(format!(
        "{} ({}), {} approval rules, {} approved and {} rejected patterns",
        baseline.name,
        baseline.os_family,
        baseline.approval_rules.len(),
        baseline.approved_patches.patches.len(),
        baseline.rejected_patches.patches.len()
    ))
}
