//! Typed parse errors for schedule expressions, naming the field, the token and why.

use std::fmt;

use thiserror::Error;

/// A field of a cron expression, named as in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CronField {
    Seconds,
    Minutes,
    Hours,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl CronField {
    /// The name used in messages and documentation.
    pub fn name(self) -> &'static str {
        match self {
            CronField::Seconds => "seconds",
            CronField::Minutes => "minutes",
            CronField::Hours => "hours",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
            CronField::Year => "year",
        }
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why one element of a cron field was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldProblem {
    #[error("{value} is out of range {min}-{max}")]
    OutOfRange { value: u64, min: u16, max: u16 },
    #[error("step {step} is out of range 1-{max}")]
    StepOutOfRange { step: u64, max: u16 },
    #[error("unknown name '{0}'")]
    UnknownName(String),
    #[error("'{0}' is not a number")]
    NotANumber(String),
    #[error("range {start}-{end} is reversed (start is after end)")]
    ReversedRange { start: u16, end: u16 },
    #[error("empty element in list '{0}'")]
    EmptyElement(String),
    #[error("'{0}' must stand alone, not inside a list")]
    WildcardInList(String),
    #[error("'{text}' is only allowed in {allowed_in}")]
    NotAllowedHere {
        text: String,
        allowed_in: &'static str,
    },
    #[error("occurrence #{0} is out of range 1-5")]
    NthOutOfRange(u64),
    #[error("'L-{0}' is out of range L-0 to L-30")]
    LastOffsetOutOfRange(u64),
    #[error("'{0}' is not a valid element")]
    Malformed(String),
}

/// Why a `rate(...)` expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RateProblem {
    #[error("expected 'rate(N unit)', got '{0}'")]
    Shape(String),
    #[error("amount '{0}' is not a whole number from 1 to 100000")]
    Amount(String),
    #[error("unit '{0}' not supported (minutes, hours, days)")]
    Unit(String),
}

/// A schedule expression that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpressionError {
    #[error("schedule expression is empty")]
    Empty,
    #[error("unknown expression kind '{0}' (expected cron(...), rate(...) or at(...))")]
    UnknownKind(String),
    #[error("{kind}: missing closing ')'")]
    Unclosed { kind: &'static str },
    #[error("cron: expected 5, 6 or 7 fields, found {found}")]
    FieldCount { found: usize },
    /// `token` is the whole comma-separated field text the problem was found in.
    #[error("{field}: {problem}")]
    Field {
        field: CronField,
        token: String,
        problem: FieldProblem,
    },
    #[error("rate: {0}")]
    Rate(RateProblem),
    #[error("at: '{0}' is not a valid date/time")]
    AtInvalid(String),
    #[error("at: '{0}' is not in the form yyyy-mm-ddThh:mm:ss")]
    AtShape(String),
}
