//! `patchline version compare`: exact dpkg / rpm ordering from the shell.

use std::cmp::Ordering;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use patchline_core::version::{VersionScheme, deb};

#[derive(Clone, Copy, ValueEnum)]
pub enum Scheme {
    Deb,
    Rpm,
}

#[derive(Subcommand)]
pub enum VersionCommand {
    /// Print `<`, `=` or `>` for A compared with B.
    Compare {
        #[arg(long, value_enum, default_value = "deb")]
        scheme: Scheme,
        a: String,
        b: String,
    },
}

pub fn run(command: VersionCommand) -> Result<ExitCode> {
    let VersionCommand::Compare { scheme, a, b } = command;
    let scheme = match scheme {
        Scheme::Deb => {
            for version in [&a, &b] {
                if let Err(error) = deb::validate(version) {
                    bail!("{version:?} is not a valid Debian version: {error}");
                }
            }
            VersionScheme::Deb
        }
        Scheme::Rpm => VersionScheme::Rpm,
    };
    let symbol = match scheme.compare(&a, &b) {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    };
    outln!("{a} {symbol} {b}");
    Ok(ExitCode::SUCCESS)
}
