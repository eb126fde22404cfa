//! `patchline schedule next`: the next occurrences of a window schedule,
//! with the window's end and last task start when a duration is given.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use jiff::Timestamp;
use patchline_core::schedule::{ScheduleExpression, WindowSchedule, WindowTiming};

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Print the next occurrences of an expression such as
    /// `cron(0 0 2 ? * SUN)`, `rate(12 hours)` or `at(2026-12-24T22:00:00)`.
    Next {
        expression: String,
        /// IANA time zone the expression is read in.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// How many occurrences to print.
        #[arg(long, short = 'n', default_value_t = 5)]
        count: usize,
        /// Days after each cron match (0-6).
        #[arg(long, default_value_t = 0)]
        offset_days: u8,
        /// First instant the schedule may fire (RFC 3339).
        #[arg(long)]
        start: Option<Timestamp>,
        /// Last instant the schedule may fire (RFC 3339).
        #[arg(long)]
        end: Option<Timestamp>,
        /// Count from this instant instead of now (RFC 3339).
        #[arg(long)]
        after: Option<Timestamp>,
        /// Window duration in hours (1-24): also print end and cutoff.
        #[arg(long)]
        duration: Option<u8>,
        /// Window cutoff in hours (with --duration).
        #[arg(long, default_value_t = 1)]
        cutoff: u8,
    },
}

pub fn run(command: ScheduleCommand) -> Result<ExitCode> {
    let ScheduleCommand::Next {
        expression,
        tz,
        count,
        offset_days,
        start,
        end,
        after,
        duration,
        cutoff,
    } = command;
    let parsed = ScheduleExpression::parse(&expression)
        .with_context(|| format!("schedule expression {expression:?}"))?;
    let mut schedule = WindowSchedule::new(parsed, &tz)?.with_offset_days(offset_days)?;
    if let Some(start) = start {
        schedule = schedule.with_start(start)?;
    }
    if let Some(end) = end {
        schedule = schedule.with_end(end)?;
    }
    let timing = duration
        .map(|hours| WindowTiming::new(hours, cutoff))
        .transpose()?;
    let mut printed = 0;
    for occurrence in schedule
        .occurrences_after(after.unwrap_or_else(Timestamp::now))
        .take(count)
    {
        printed += 1;
        let local = occurrence.strftime("%Y-%m-%d %H:%M:%S %Z (%:z)");
        let utc = occurrence.timestamp();
        match &timing {
            Some(timing) => {
                let bounds = timing.bounds(&occurrence)?;
                outln!(
                    "{local}  = {utc}  ends {}  last task start {}",
                    bounds.end.strftime("%H:%M %Z"),
                    bounds.last_task_start.strftime("%H:%M %Z")
                );
            }
            None => outln!("{local}  = {utc}"),
        }
    }
    if printed == 0 {
        outln!("no occurrence: the schedule never fires in its bounds");
    }
    Ok(ExitCode::SUCCESS)
}
