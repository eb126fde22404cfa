//! The schedule expression of a maintenance window: `cron(...)`, `rate(...)` or
//! `at(...)`, with a canonical string form used for `Display`, `FromStr` and serde.

use std::fmt;
use std::str::FromStr;

use jiff::civil::DateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::cron::{CronExpression, strip_call};
use super::error::ExpressionError;
use super::rate::Rate;

/// When a window opens, before time zones and bounds are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpression {
    /// `cron(sec min hour dom month dow [year])`, or the bare fields, or 5-field Unix cron.
    Cron(CronExpression),
    /// `rate(N minutes|hours|days)`.
    Rate(Rate),
    /// `at(yyyy-mm-ddThh:mm:ss)`: once, at that wall time in the window's zone.
    At(DateTime),
}

impl ScheduleExpression {
    /// Parses any of the accepted forms; the keyword is case-insensitive.
    pub fn parse(text: &str) -> Result<ScheduleExpression, ExpressionError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ExpressionError::Empty);
        }
        if strip_call(trimmed, "rate").is_some() {
            return Rate::parse(trimmed).map(ScheduleExpression::Rate);
        }
        if let Some(body) = strip_call(trimmed, "at") {
            let body = body.ok_or(ExpressionError::Unclosed { kind: "at" })?;
            return parse_at(body).map(ScheduleExpression::At);
        }
        if let Some((kind, _)) = trimmed.split_once('(') {
            let kind = kind.trim();
            if !kind.eq_ignore_ascii_case("cron") {
                return Err(ExpressionError::UnknownKind(kind.to_owned()));
            }
        }
        CronExpression::parse(trimmed).map(ScheduleExpression::Cron)
    }

    /// The keyword of this expression: `cron`, `rate` or `at`.
    pub fn kind(&self) -> &'static str {
        match self {
            ScheduleExpression::Cron(_) => "cron",
            ScheduleExpression::Rate(_) => "rate",
            ScheduleExpression::At(_) => "at",
        }
    }
}

/// Accepts exactly `yyyy-mm-ddThh:mm:ss` (jiff's own parser is more lenient:
/// it takes dates alone, fractions and spaces, which would make the canonical
/// form ambiguous).
fn parse_at(text: &str) -> Result<DateTime, ExpressionError> {
    let shape_error = || ExpressionError::AtShape(text.to_owned());
    let bytes = text.as_bytes();
    let layout_ok = bytes.len() == 19
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => byte.eq_ignore_ascii_case(&b'T'),
            13 | 16 => *byte == b':',
            _ => byte.is_ascii_digit(),
        });
    if !layout_ok {
        return Err(shape_error());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i16, ExpressionError> {
        text.get(range)
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(shape_error)
    };
    let narrow =
        |value: i16| i8::try_from(value).map_err(|_| ExpressionError::AtInvalid(text.to_owned()));
    DateTime::new(
        number(0..4)?,
        narrow(number(5..7)?)?,
        narrow(number(8..10)?)?,
        narrow(number(11..13)?)?,
        narrow(number(14..16)?)?,
        narrow(number(17..19)?)?,
        0,
    )
    .map_err(|_| ExpressionError::AtInvalid(text.to_owned()))
}

impl FromStr for ScheduleExpression {
    type Err = ExpressionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ScheduleExpression::parse(text)
    }
}

/// Canonical form: `cron(...)` with canonical fields, `rate(N unit)`, `at(...)`.
impl fmt::Display for ScheduleExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleExpression::Cron(cron) => write!(f, "cron({cron})"),
            ScheduleExpression::Rate(rate) => write!(f, "{rate}"),
            ScheduleExpression::At(at) => write!(f, "at({})", at.strftime("%Y-%m-%dT%H:%M:%S")),
        }
    }
}

impl From<CronExpression> for ScheduleExpression {
    fn from(cron: CronExpression) -> Self {
        ScheduleExpression::Cron(cron)
    }
}

impl From<Rate> for ScheduleExpression {
    fn from(rate: Rate) -> Self {
        ScheduleExpression::Rate(rate)
    }
}

impl Serialize for ScheduleExpression {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScheduleExpression {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ScheduleExpression::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> Option<String> {
        ScheduleExpression::parse(text).err().map(|e| e.to_string())
    }

    #[test]
    fn parses_each_kind_and_round_trips() {
        for (input, canonical) in [
            ("cron(0 30 2 ? * SUN)", "cron(0 30 2 ? * SUN)"),
            ("0 30 2 ? * 1", "cron(0 30 2 ? * SUN)"),
            ("CRON( 0 30 2 ? * 1 )", "cron(0 30 2 ? * SUN)"),
            ("30 2 * * 0", "cron(0 30 2 ? * SUN)"),
            ("rate(15 minutes)", "rate(15 minutes)"),
            ("at(2024-03-10T02:30:00)", "at(2024-03-10T02:30:00)"),
            ("  AT(2024-03-10t02:30:00) ", "at(2024-03-10T02:30:00)"),
        ] {
            let parsed = ScheduleExpression::parse(input);
            assert_eq!(
                parsed.as_ref().map(ToString::to_string).ok().as_deref(),
                Some(canonical),
                "{input}"
            );
            assert_eq!(ScheduleExpression::parse(canonical), parsed);
        }
    }

    #[test]
    fn at_errors_are_precise() {
        assert_eq!(
            message("at(2024-02-30T00:00:00)").as_deref(),
            Some("at: '2024-02-30T00:00:00' is not a valid date/time")
        );
        assert_eq!(
            message("at(2024-01-01T24:00:00)").as_deref(),
            Some("at: '2024-01-01T24:00:00' is not a valid date/time")
        );
        assert_eq!(
            message("at(2024-01-01)").as_deref(),
            Some("at: '2024-01-01' is not in the form yyyy-mm-ddThh:mm:ss")
        );
        assert_eq!(
            message("at(2024-01-01T00:00:00").as_deref(),
            Some("at: missing closing ')'")
        );
    }

    #[test]
    fn unknown_kinds_and_empty_input_are_named() {
        assert_eq!(
            message("every(5 minutes)").as_deref(),
            Some("unknown expression kind 'every' (expected cron(...), rate(...) or at(...))")
        );
        assert_eq!(message("").as_deref(), Some("schedule expression is empty"));
        assert_eq!(
            message("cron()").as_deref(),
            Some("schedule expression is empty")
        );
    }

    #[test]
    fn serde_uses_the_canonical_string() {
        let parsed = ScheduleExpression::parse("0 0/30 * * * ?");
        let json = parsed
            .as_ref()
            .ok()
            .and_then(|e| serde_json::to_string(e).ok());
        assert_eq!(json.as_deref(), Some("\"cron(0 */30 * * * ?)\""));
        let back: Result<ScheduleExpression, _> =
            serde_json::from_str(json.as_deref().unwrap_or(""));
        assert_eq!(back.ok(), parsed.ok());
        let bad: Result<ScheduleExpression, _> = serde_json::from_str("\"rate(1 fortnight)\"");
        assert!(bad.is_err_and(|e| e.to_string().contains("unit 'fortnight' not supported")));
    }
}
