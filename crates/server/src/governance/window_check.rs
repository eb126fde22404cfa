//! Everything a window must satisfy before it is stored, each refusal
//! naming the field (`tasks[2].max_concurrency: ...`): the schedule parses
//! in a known time zone, duration 1–24 h, cutoff shorter than the duration,
//! valid targets and rollout, unique task names, valid limits and timeouts,
//! existing override baselines, and the per-window quotas (tasks per
//! window, absolute max-concurrency per task). Who may own the window is
//! the HTTP layer's check (it depends on the caller).

use std::collections::BTreeSet;

use patchline_api::windows::{TaskAction, TaskSpec, WindowSpec};
use patchline_core::orchestration::{Limit, Quota, QuotaExceeded, Quotas};
use patchline_core::schedule::{ScheduleExpression, WindowSchedule, WindowTiming};

/// Longest window, task or tag name accepted.
const MAX_NAME_CHARS: usize = 128;
/// Longest description accepted.
const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Longest time limit of one invocation: a day.
const MAX_TIMEOUT_SECONDS: u32 = 24 * 3600;

/// Why a window is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowRefusal {
    /// A field is invalid (a 400).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A quota would be exceeded (a 409): the message names the quota and
    /// the server option that raises it.
    #[error("{field}: {exceeded}; {}", raise_hint(exceeded.quota))]
    Quota {
        field: String,
        exceeded: QuotaExceeded,
    },
}

/// How an operator raises a quota: the `patchline server` option of the
/// same name.
pub fn raise_hint(quota: Quota) -> String {
    format!(
        "raise it with `patchline server --{}`",
        quota.as_str().replace('_', "-")
    )
}

/// A window that passed every check, with its parsed schedule and timing.
#[derive(Debug, Clone)]
pub struct CheckedWindow {
    pub schedule: WindowSchedule,
    pub timing: WindowTiming,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> WindowRefusal {
    let field = field.into();
    let reason = reason.into();
    // Some core errors name the field already (`targets: ...`).
    let reason = match reason.strip_prefix(&format!("{field}: ")) {
        Some(rest) => rest.to_owned(),
        None => reason,
    };
    WindowRefusal::Invalid { field, reason }
}

/// Checks a window; `baselines` are the names of the stored baselines
/// (for task overrides).
pub fn check_window(
    spec: &WindowSpec,
    quotas: &Quotas,
    baselines: &BTreeSet<String>,
) -> Result<CheckedWindow, WindowRefusal> {
    check_name("name", &spec.name)?;
    if spec.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            "description",
            format!("longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let schedule = window_schedule(spec)?;
    let timing = WindowTiming::new(spec.duration_hours, spec.cutoff_hours).map_err(|error| {
        let field = if (1..=24).contains(&spec.duration_hours) {
            "cutoff_hours"
        } else {
            "duration_hours"
        };
        invalid(field, error.to_string())
    })?;
    spec.targets
        .validate()
        .map_err(|error| invalid("targets", error.to_string()))?;
    if let Some(owner) = &spec.owner
        && (owner.key.trim().is_empty() || owner.value.is_empty())
    {
        return Err(invalid("owner", "the owner scope needs a key and a value"));
    }
    if let Some(rollout) = &spec.rollout {
        if rollout.zone_tag.trim().is_empty() {
            return Err(invalid("rollout.zone_tag", "must not be empty"));
        }
        check_limit("rollout.disruption_budget", rollout.disruption_budget, true)?;
    }
    if let Err(exceeded) = quotas.check(Quota::TasksPerWindow, spec.tasks.len()) {
        return Err(WindowRefusal::Quota {
            field: "tasks".into(),
            exceeded,
        });
    }
    let mut names = BTreeSet::new();
    for (index, task) in spec.tasks.iter().enumerate() {
        let field = |name: &str| format!("tasks[{index}].{name}");
        check_name(&field("name"), &task.name)?;
        if !names.insert(task.name.as_str()) {
            return Err(invalid(
                field("name"),
                format!("another task is named {:?} already", task.name),
            ));
        }
        check_task(task, quotas, baselines, &field)?;
    }
    Ok(CheckedWindow { schedule, timing })
}

/// The window's schedule, each failure naming its field.
pub fn window_schedule(spec: &WindowSpec) -> Result<WindowSchedule, WindowRefusal> {
    let expression = ScheduleExpression::parse(&spec.schedule)
        .map_err(|error| invalid("schedule", format!("{:?}: {error}", spec.schedule)))?;
    let mut schedule = WindowSchedule::new(expression, &spec.time_zone)
        .map_err(|error| invalid("time_zone", error.to_string()))?
        .with_offset_days(spec.offset_days)
        .map_err(|error| invalid("offset_days", error.to_string()))?;
    if let Some(start) = spec.start {
        schedule = schedule
            .with_start(start)
            .map_err(|error| invalid("start", error.to_string()))?;
    }
    if let Some(end) = spec.end {
        schedule = schedule
            .with_end(end)
            .map_err(|error| invalid("end", error.to_string()))?;
    }
    Ok(schedule)
}

fn check_task(
    task: &TaskSpec,
    quotas: &Quotas,
    baselines: &BTreeSet<String>,
    field: &dyn Fn(&str) -> String,
) -> Result<(), WindowRefusal> {
    check_limit(&field("max_concurrency"), task.max_concurrency, true)?;
    check_limit(&field("max_errors"), task.max_errors, false)?;
    if let Limit::Count(count) = task.max_concurrency {
        let requested = usize::try_from(count).unwrap_or(usize::MAX);
        if let Err(exceeded) = quotas.check(Quota::ConcurrencyPerTask, requested) {
            return Err(WindowRefusal::Quota {
                field: field("max_concurrency"),
                exceeded,
            });
        }
    }
    if let Some(timeout) = task.timeout_seconds
        && !(1..=MAX_TIMEOUT_SECONDS).contains(&timeout)
    {
        return Err(invalid(
            field("timeout_seconds"),
            format!("{timeout} is outside 1-{MAX_TIMEOUT_SECONDS}"),
        ));
    }
    match &task.action {
        TaskAction::Patch {
            baseline: Some(baseline),
            ..
        } if !baselines.contains(baseline) => Err(invalid(
            field("action.baseline"),
            format!("baseline {baseline:?} does not exist"),
        )),
        TaskAction::Command { command } if command.trim().is_empty() => {
            Err(invalid(field("action.command"), "must not be empty"))
        }
        TaskAction::Snapshot {
            command: Some(command),
        } if command.trim().is_empty() => Err(invalid(
            field("action.command"),
            "must not be empty (leave it out to run the agent's snapshot hook)",
        )),
        _ => Ok(()),
    }
}

/// A limit's range; `concurrency` refuses `0` and `0%`.
fn check_limit(field: &str, limit: Limit, concurrency: bool) -> Result<(), WindowRefusal> {
    if let Limit::Percent(percent) = limit
        && percent > 100
    {
        return Err(invalid(field, format!("{limit} is more than 100%")));
    }
    if concurrency {
        limit
            .check_concurrency()
            .map_err(|error| invalid(field, error.to_string()))?;
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), WindowRefusal> {
    if name.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, format!("{name:?} holds control characters")));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use patchline_api::windows::{PatchOperation, Reboot};
    use patchline_core::orchestration::{TargetQuery, ZoneRollout};

    use super::*;

    fn task(name: &str) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            priority: 0,
            action: TaskAction::Patch {
                operation: PatchOperation::Install,
                reboot: Reboot::NoReboot,
                baseline: None,
            },
            max_concurrency: Limit::Count(2),
            max_errors: Limit::Count(0),
            timeout_seconds: None,
        }
    }

    fn window() -> WindowSpec {
        WindowSpec {
            name: "prod-a".into(),
            description: String::new(),
            schedule: "cron(0 0 2 ? * SUN *)".into(),
            time_zone: "Europe/Berlin".into(),
            offset_days: 0,
            start: None,
            end: None,
            duration_hours: 4,
            cutoff_hours: 1,
            cutoff_behavior: Default::default(),
            enabled: true,
            targets: TargetQuery::default(),
            owner: None,
            rollout: None,
            tasks: vec![task("install")],
        }
    }

    fn refusal(spec: &WindowSpec) -> String {
        let baselines = BTreeSet::from(["prod-debian".to_owned()]);
        match check_window(spec, &Quotas::default(), &baselines) {
            Ok(_) => panic!("{spec:?} passed"),
            Err(refusal) => refusal.to_string(),
        }
    }

    fn starts_with(text: String, prefix: &str) {
        assert!(
            text.starts_with(prefix),
            "{text:?} does not start with {prefix:?}"
        );
    }

    #[test]
    fn a_sound_window_passes() {
        let baselines = BTreeSet::new();
        assert!(check_window(&window(), &Quotas::default(), &baselines).is_ok());
    }

    #[test]
    fn each_refusal_names_its_field() {
        type Change = Box<dyn Fn(&mut WindowSpec)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|w| w.name = " ".into()), "name:"),
            (
                Box::new(|w| w.schedule = "every sunday".into()),
                "schedule:",
            ),
            (
                Box::new(|w| w.time_zone = "Mars/Olympus".into()),
                "time_zone:",
            ),
            (
                Box::new(|w| {
                    w.schedule = "rate(1 day)".into();
                    w.offset_days = 2;
                }),
                "offset_days:",
            ),
            (
                Box::new(|w| {
                    w.start = Some(jiff::Timestamp::from_second(2_000_000_000).unwrap_or_default());
                    w.end = Some(jiff::Timestamp::from_second(1_000_000_000).unwrap_or_default());
                }),
                "end:",
            ),
            (Box::new(|w| w.duration_hours = 0), "duration_hours:"),
            (Box::new(|w| w.duration_hours = 25), "duration_hours:"),
            (Box::new(|w| w.cutoff_hours = 4), "cutoff_hours:"),
            (
                Box::new(|w| {
                    w.targets.tags = BTreeMap::from([("Environment".to_owned(), Vec::new())]);
                }),
                "targets:",
            ),
            (
                Box::new(|w| {
                    w.rollout = Some(ZoneRollout {
                        zone_tag: "Zone".into(),
                        disruption_budget: Limit::Percent(0),
                    });
                }),
                "rollout.disruption_budget:",
            ),
            (
                Box::new(|w| w.tasks.push(task("install"))),
                "tasks[1].name:",
            ),
            (
                Box::new(|w| w.tasks[0].max_concurrency = Limit::Count(0)),
                "tasks[0].max_concurrency:",
            ),
            (
                Box::new(|w| w.tasks[0].max_errors = Limit::Percent(101)),
                "tasks[0].max_errors:",
            ),
            (
                Box::new(|w| w.tasks[0].timeout_seconds = Some(0)),
                "tasks[0].timeout_seconds:",
            ),
            (
                Box::new(|w| {
                    w.tasks[0].action = TaskAction::Patch {
                        operation: PatchOperation::Install,
                        reboot: Reboot::NoReboot,
                        baseline: Some("nope".into()),
                    }
                }),
                "tasks[0].action.baseline:",
            ),
            (
                Box::new(|w| {
                    w.tasks[0].action = TaskAction::Command {
                        command: " ".into(),
                    }
                }),
                "tasks[0].action.command:",
            ),
        ];
        for (change, prefix) in cases {
            let mut spec = window();
            change(&mut spec);
            starts_with(refusal(&spec), prefix);
        }
    }

    #[test]
    fn quotas_are_refusals_naming_the_option_that_raises_them() {
        let mut spec = window();
        spec.tasks = (0..21).map(|index| task(&format!("t{index}"))).collect();
        let text = refusal(&spec);
        assert_eq!(
            text,
            "tasks: quota max_tasks_per_window is 20, and this would need 21; raise it with \
             `patchline server --max-tasks-per-window`"
        );
        let mut spec = window();
        spec.tasks[0].max_concurrency = Limit::Count(21);
        starts_with(
            refusal(&spec),
            "tasks[0].max_concurrency: quota max_concurrency_per_task is 20",
        );
        // A percentage resolves at run time, within the quota then.
        spec.tasks[0].max_concurrency = Limit::Percent(100);
        assert!(check_window(&spec, &Quotas::default(), &BTreeSet::new()).is_ok());
        let baselines = BTreeSet::new();
        let many = Quotas {
            max_tasks_per_window: 30,
            ..Quotas::default()
        };
        let mut spec = window();
        spec.tasks = (0..21).map(|index| task(&format!("t{index}"))).collect();
        assert!(check_window(&spec, &many, &baselines).is_ok());
    }
}
