//! A task's max-concurrency and max-errors: a count (`5`) or a percentage of
//! the task's targets (`25%`), and how each resolves to a number of nodes.
//!
//! The two resolve differently on purpose (semantics.md): a concurrency
//! percentage rounds UP and is at least 1, so a task always makes progress;
//! an error percentage rounds DOWN, so "10%" of 5 targets is 0 errors allowed
//! and the task stops after its first failure rather than tolerating more
//! failures than asked for.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A number of nodes, absolute or relative to a task's target count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// That many nodes.
    Count(u32),
    /// That percentage (0-100) of the targets; `0%` is only meaningful as max-errors.
    Percent(u8),
}

/// Why a limit text is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LimitError {
    #[error("limit is empty (expected a number such as 5 or a percentage such as 25%)")]
    Empty,
    #[error("limit {0:?} is not a number such as 5 or a percentage such as 25%")]
    NotANumber(String),
    #[error("limit {0:?} is out of range (a percentage must be 0%-100%)")]
    PercentOutOfRange(String),
    #[error("max concurrency {0} would never start anything (expected at least 1 or 1%)")]
    ZeroConcurrency(Limit),
}

impl Limit {
    /// Rejects `0` and `0%`, which are valid max-errors but not a max-concurrency.
    pub fn check_concurrency(self) -> Result<Limit, LimitError> {
        match self {
            Limit::Count(0) | Limit::Percent(0) => Err(LimitError::ZeroConcurrency(self)),
            _ => Ok(self),
        }
    }

    /// How many invocations may be in flight for `targets` nodes: a
    /// percentage rounded up, and never less than 1.
    pub fn concurrency_for(self, targets: usize) -> usize {
        let nodes = match self {
            Limit::Count(count) => usize::try_from(count).unwrap_or(usize::MAX),
            Limit::Percent(percent) => percent_of(targets, percent).div_ceil(100),
        };
        nodes.max(1)
    }

    /// How many failed invocations are tolerated for `targets` nodes: a
    /// percentage rounded down (possibly 0: stop at the first failure).
    pub fn errors_for(self, targets: usize) -> usize {
        match self {
            Limit::Count(count) => usize::try_from(count).unwrap_or(usize::MAX),
            Limit::Percent(percent) => percent_of(targets, percent) / 100,
        }
    }
}

/// `targets * percent`, saturating (only reachable with absurd target counts).
fn percent_of(targets: usize, percent: u8) -> usize {
    targets.saturating_mul(usize::from(percent.min(100)))
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(count) => write!(f, "{count}"),
            Limit::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

impl FromStr for Limit {
    type Err = LimitError;

    fn from_str(text: &str) -> Result<Limit, LimitError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(LimitError::Empty);
        }
        let not_a_number = || LimitError::NotANumber(text.to_owned());
        // `u32::from_str` accepts a leading '+'; a limit has digits only.
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match trimmed.strip_suffix('%') {
            Some(number) => {
                let number = number.trim_end();
                if !digits(number) {
                    return Err(not_a_number());
                }
                match number.parse::<u8>() {
                    Ok(percent) if percent <= 100 => Ok(Limit::Percent(percent)),
                    _ => Err(LimitError::PercentOutOfRange(text.to_owned())),
                }
            }
            None if digits(trimmed) => trimmed
                .parse::<u32>()
                .map(Limit::Count)
                .map_err(|_| not_a_number()),
            None => Err(not_a_number()),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Accepts the string form and also a bare integer (`max_errors: 0` in YAML).
impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Limit, D::Error> {
        struct LimitVisitor;

        impl Visitor<'_> for LimitVisitor {
            type Value = Limit;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number such as 5 or a percentage such as \"25%\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Limit, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Limit, E> {
                u32::try_from(value)
                    .map(Limit::Count)
                    .map_err(|_| E::custom(LimitError::NotANumber(value.to_string())))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Limit, E> {
                u32::try_from(value)
                    .map(Limit::Count)
                    .map_err(|_| E::custom(LimitError::NotANumber(value.to_string())))
            }
        }

        deserializer.deserialize_any(LimitVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> Limit {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn parses_and_displays_counts_and_percentages() {
        assert_eq!(limit("5"), Limit::Count(5));
        assert_eq!(limit(" 25% "), Limit::Percent(25));
        assert_eq!(limit("0"), Limit::Count(0));
        assert_eq!(limit("100%"), Limit::Percent(100));
        for text in ["5", "25%", "0%", "100%"] {
            assert_eq!(limit(text).to_string(), text);
        }
    }

    #[test]
    fn rejects_bad_text_naming_it() {
        assert_eq!("".parse::<Limit>(), Err(LimitError::Empty));
        assert_eq!(
            "101%".parse::<Limit>(),
            Err(LimitError::PercentOutOfRange("101%".to_owned()))
        );
        for bad in ["-1", "+3", "five", "5.5", "%", "5 %x", "99999999999"] {
            assert_eq!(
                bad.parse::<Limit>(),
                Err(LimitError::NotANumber(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            Limit::Percent(0)
                .check_concurrency()
                .map_err(|e| e.to_string()),
            Err("max concurrency 0% would never start anything (expected at least 1 or 1%)".into())
        );
        assert_eq!(
            Limit::Count(0).check_concurrency(),
            Err(LimitError::ZeroConcurrency(Limit::Count(0)))
        );
        assert_eq!(Limit::Count(1).check_concurrency(), Ok(Limit::Count(1)));
    }

    #[test]
    fn concurrency_rounds_up_and_is_at_least_one() {
        assert_eq!(Limit::Percent(10).concurrency_for(5), 1); // 0.5 → 1
        assert_eq!(Limit::Percent(25).concurrency_for(10), 3); // 2.5 → 3
        assert_eq!(Limit::Percent(50).concurrency_for(10), 5); // exact
        assert_eq!(Limit::Percent(1).concurrency_for(101), 2); // 1.01 → 2
        assert_eq!(Limit::Percent(100).concurrency_for(7), 7);
        assert_eq!(Limit::Percent(50).concurrency_for(0), 1);
        assert_eq!(Limit::Count(0).concurrency_for(10), 1);
        assert_eq!(Limit::Count(4).concurrency_for(2), 4);
    }

    #[test]
    fn errors_round_down() {
        assert_eq!(Limit::Percent(10).errors_for(5), 0); // 0.5 → 0: stop at first failure
        assert_eq!(Limit::Percent(25).errors_for(10), 2); // 2.5 → 2
        assert_eq!(Limit::Percent(50).errors_for(10), 5);
        assert_eq!(Limit::Percent(99).errors_for(100), 99);
        assert_eq!(Limit::Percent(0).errors_for(1000), 0);
        assert_eq!(Limit::Count(0).errors_for(10), 0);
        assert_eq!(Limit::Count(3).errors_for(1), 3);
    }

    #[test]
    fn serde_uses_the_text_form_and_accepts_integers() {
        assert_eq!(
            serde_json::to_string(&Limit::Percent(25)).ok().as_deref(),
            Some("\"25%\"")
        );
        assert_eq!(
            serde_json::to_string(&Limit::Count(5)).ok().as_deref(),
            Some("\"5\"")
        );
        assert_eq!(
            serde_json::from_str::<Limit>("\"10%\"").ok(),
            Some(Limit::Percent(10))
        );
        assert_eq!(
            serde_json::from_str::<Limit>("3").ok(),
            Some(Limit::Count(3))
        );
        assert_eq!(
            serde_yaml_ng::from_str::<Limit>("7").ok(),
            Some(Limit::Count(7))
        );
        let error = serde_json::from_str::<Limit>("\"150%\"")
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("\"150%\" is out of range")));
        assert!(serde_json::from_str::<Limit>("-2").is_err());
    }
}
