//! `rate(N unit)` expressions: every N minutes or hours as exact elapsed time
//! from an anchor instant, or every N calendar days at the anchor's local wall time.

use std::fmt;
use std::str::FromStr;

use jiff::civil::DateTime;
use jiff::{SignedDuration, Span, Timestamp};

use super::cron::strip_call;
use super::error::{ExpressionError, RateProblem};

/// The unit of a `rate(...)` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateUnit {
    /// Exact 60-second periods.
    Minutes,
    /// Exact 3600-second periods; daylight-saving changes do not move them.
    Hours,
    /// Calendar days: the local wall time is kept across daylight-saving changes.
    Days,
}

impl RateUnit {
    fn name(self, amount: u32) -> &'static str {
        match (self, amount) {
            (RateUnit::Minutes, 1) => "minute",
            (RateUnit::Minutes, _) => "minutes",
            (RateUnit::Hours, 1) => "hour",
            (RateUnit::Hours, _) => "hours",
            (RateUnit::Days, 1) => "day",
            (RateUnit::Days, _) => "days",
        }
    }
}

/// A parsed `rate(N unit)`; N is 1 to [`Rate::MAX_AMOUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    amount: u32,
    unit: RateUnit,
}

impl Rate {
    /// Largest accepted N: keeps every period well inside jiff's ranges.
    pub const MAX_AMOUNT: u32 = 100_000;

    pub fn new(amount: u32, unit: RateUnit) -> Result<Rate, ExpressionError> {
        if (1..=Self::MAX_AMOUNT).contains(&amount) {
            Ok(Rate { amount, unit })
        } else {
            Err(ExpressionError::Rate(RateProblem::Amount(
                amount.to_string(),
            )))
        }
    }

    pub fn amount(&self) -> u32 {
        self.amount
    }

    pub fn unit(&self) -> RateUnit {
        self.unit
    }

    /// Parses `rate(N unit)` (the wrapper is required; units are case-insensitive
    /// and singular or plural).
    pub fn parse(text: &str) -> Result<Rate, ExpressionError> {
        let trimmed = text.trim();
        match strip_call(trimmed, "rate") {
            Some(Some(body)) => Self::parse_body(body),
            Some(None) => Err(ExpressionError::Unclosed { kind: "rate" }),
            None => Err(ExpressionError::Rate(RateProblem::Shape(
                trimmed.to_owned(),
            ))),
        }
    }

    /// Parses the inside of `rate(...)`: `N unit`.
    pub(crate) fn parse_body(body: &str) -> Result<Rate, ExpressionError> {
        let shape_error = || ExpressionError::Rate(RateProblem::Shape(format!("rate({body})")));
        let mut words = body.split_whitespace();
        let (Some(amount_text), Some(unit_text), None) = (words.next(), words.next(), words.next())
        else {
            return Err(shape_error());
        };
        let amount_error = || ExpressionError::Rate(RateProblem::Amount(amount_text.to_owned()));
        if !amount_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(amount_error());
        }
        let amount: u32 = amount_text.parse().map_err(|_| amount_error())?;
        let unit = match unit_text.to_ascii_lowercase().as_str() {
            "minute" | "minutes" => RateUnit::Minutes,
            "hour" | "hours" => RateUnit::Hours,
            "day" | "days" => RateUnit::Days,
            _ => {
                return Err(ExpressionError::Rate(RateProblem::Unit(
                    unit_text.to_owned(),
                )));
            }
        };
        Rate::new(amount, unit).map_err(|_| amount_error())
    }

    /// The exact period of a minutes/hours rate; `None` for calendar days.
    pub fn fixed_period(&self) -> Option<SignedDuration> {
        let amount = i64::from(self.amount);
        match self.unit {
            RateUnit::Minutes => Some(SignedDuration::from_mins(amount)),
            RateUnit::Hours => Some(SignedDuration::from_hours(amount)),
            RateUnit::Days => None,
        }
    }

    /// First `anchor + k * period` (k >= 0) strictly after `after`, for
    /// minutes/hours rates. `None` for day rates or beyond jiff's range.
    pub(crate) fn next_fixed_after(
        &self,
        anchor: Timestamp,
        after: Timestamp,
    ) -> Option<Timestamp> {
        let period = self.fixed_period()?.as_secs();
        if after < anchor {
            return Some(anchor);
        }
        let elapsed = after.duration_since(anchor).as_secs();
        let periods = elapsed / period + 1;
        anchor
            .checked_add(SignedDuration::from_secs(periods.checked_mul(period)?))
            .ok()
    }

    /// First civil `anchor + k * N days` (k >= 0) in `[from, until)`, for day rates.
    pub(crate) fn first_day_in(
        &self,
        anchor: DateTime,
        from: DateTime,
        until: DateTime,
    ) -> Option<DateTime> {
        if self.unit != RateUnit::Days {
            return None;
        }
        let step = i64::from(self.amount);
        let days_to_from = i64::from(anchor.date().until(from.date()).ok()?.get_days());
        let mut periods = if days_to_from <= 0 {
            0
        } else {
            // Ceiling division: the first period on or after `from`'s date.
            (days_to_from + step - 1) / step
        };
        loop {
            let days = Span::new().try_days(periods.checked_mul(step)?).ok()?;
            let candidate = anchor.checked_add(days).ok()?;
            if candidate >= until {
                return None;
            }
            if candidate >= from {
                return Some(candidate);
            }
            periods += 1;
        }
    }
}

impl FromStr for Rate {
    type Err = ExpressionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Rate::parse(text)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate({} {})", self.amount, self.unit.name(self.amount))
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn parses_units_and_renders_canonically() {
        for (input, canonical) in [
            ("rate(1 minute)", "rate(1 minute)"),
            ("rate(1 minutes)", "rate(1 minute)"),
            ("RATE( 15 Minutes )", "rate(15 minutes)"),
            ("rate(2 hour)", "rate(2 hours)"),
            ("rate(3 days)", "rate(3 days)"),
        ] {
            let rate = Rate::parse(input);
            assert_eq!(
                rate.as_ref().map(ToString::to_string).ok(),
                Some(canonical.to_owned()),
                "{input}"
            );
            assert_eq!(Rate::parse(canonical), rate);
        }
    }

    #[test]
    fn rejects_with_precise_messages() {
        let message = |text: &str| Rate::parse(text).err().map(|e| e.to_string());
        assert_eq!(
            message("rate(2 weeks)").as_deref(),
            Some("rate: unit 'weeks' not supported (minutes, hours, days)")
        );
        assert_eq!(
            message("rate(0 minutes)").as_deref(),
            Some("rate: amount '0' is not a whole number from 1 to 100000")
        );
        assert_eq!(
            message("rate(-5 minutes)").as_deref(),
            Some("rate: amount '-5' is not a whole number from 1 to 100000")
        );
        assert_eq!(
            message("rate(5)").as_deref(),
            Some("rate: expected 'rate(N unit)', got 'rate(5)'")
        );
        assert_eq!(
            message("rate(5 minutes").as_deref(),
            Some("rate: missing closing ')'")
        );
    }

    #[test]
    fn fixed_rates_step_from_the_anchor() {
        let rate = Rate::new(90, RateUnit::Minutes).ok();
        let anchor: Timestamp = "2024-01-01T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let next = |after: &str| {
            let after: Timestamp = after.parse().unwrap_or(Timestamp::UNIX_EPOCH);
            rate.and_then(|r| r.next_fixed_after(anchor, after))
                .map(|t| t.to_string())
        };
        assert_eq!(
            next("2023-12-31T00:00:00Z").as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            next("2024-01-01T00:00:00Z").as_deref(),
            Some("2024-01-01T01:30:00Z")
        );
        assert_eq!(
            next("2024-01-01T01:29:59.9Z").as_deref(),
            Some("2024-01-01T01:30:00Z")
        );
        assert_eq!(
            next("2024-01-01T01:30:00Z").as_deref(),
            Some("2024-01-01T03:00:00Z")
        );
    }

    #[test]
    fn day_rates_keep_the_anchor_wall_time() {
        let rate = Rate::new(3, RateUnit::Days).ok();
        let anchor = date(2024, 1, 1).at(2, 30, 0, 0);
        let until = date(2030, 1, 1).at(0, 0, 0, 0);
        let first = |from| rate.and_then(|r| r.first_day_in(anchor, from, until));
        assert_eq!(first(date(2023, 6, 1).at(0, 0, 0, 0)), Some(anchor));
        assert_eq!(
            first(date(2024, 1, 1).at(2, 30, 0, 1)),
            Some(date(2024, 1, 4).at(2, 30, 0, 0))
        );
        assert_eq!(
            first(date(2024, 1, 4).at(2, 30, 0, 0)),
            Some(date(2024, 1, 4).at(2, 30, 0, 0))
        );
        assert_eq!(
            first(date(2024, 1, 5).at(0, 0, 0, 0)),
            Some(date(2024, 1, 7).at(2, 30, 0, 0))
        );
    }
}
