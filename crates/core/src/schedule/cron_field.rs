//! One cron field: its syntax tree (kept for the canonical `Display`), parsing of
//! its comma-separated elements, and compilation into a [`ValueSet`].
//!
//! Month and day-of-week values are rendered as names (JAN, MON) in the
//! canonical form, because names mean the same thing in the Quartz (1-7 = SUN-SAT)
//! and Unix (0-7, 0 and 7 = SUN) numberings, so a canonical string never depends
//! on the dialect it was parsed from.

use std::fmt;

use super::error::{CronField, FieldProblem};
use super::value_set::ValueSet;

pub(crate) const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
pub(crate) const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Bounds, names and rendering of one field's plain values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpec {
    pub(crate) field: CronField,
    pub(crate) min: u16,
    pub(crate) max: u16,
    /// Names accepted for values; `names[i]` is the value `name_base + i`.
    names: &'static [&'static str],
    name_base: u16,
}

impl FieldSpec {
    pub(crate) const SECONDS: FieldSpec = FieldSpec::numeric(CronField::Seconds, 0, 59);
    pub(crate) const MINUTES: FieldSpec = FieldSpec::numeric(CronField::Minutes, 0, 59);
    pub(crate) const HOURS: FieldSpec = FieldSpec::numeric(CronField::Hours, 0, 23);
    pub(crate) const DAY_OF_MONTH: FieldSpec = FieldSpec::numeric(CronField::DayOfMonth, 1, 31);
    pub(crate) const YEAR: FieldSpec = FieldSpec::numeric(CronField::Year, 1970, 2199);
    pub(crate) const MONTH: FieldSpec = FieldSpec {
        field: CronField::Month,
        min: 1,
        max: 12,
        names: &MONTH_NAMES,
        name_base: 1,
    };
    /// Quartz numbering: 1-7 = SUN-SAT.
    pub(crate) const DAY_OF_WEEK_QUARTZ: FieldSpec = FieldSpec {
        field: CronField::DayOfWeek,
        min: 1,
        max: 7,
        names: &DAY_NAMES,
        name_base: 1,
    };
    /// Unix numbering: 0-7, where 0 and 7 are both Sunday.
    pub(crate) const DAY_OF_WEEK_UNIX: FieldSpec = FieldSpec {
        field: CronField::DayOfWeek,
        min: 0,
        max: 7,
        names: &DAY_NAMES,
        name_base: 0,
    };

    const fn numeric(field: CronField, min: u16, max: u16) -> FieldSpec {
        FieldSpec {
            field,
            min,
            max,
            names: &[],
            name_base: 0,
        }
    }

    /// Parses one number or name, checking the field's range.
    pub(crate) fn parse_value(&self, text: &str) -> Result<u16, FieldProblem> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let value: u64 = text
                .parse()
                .map_err(|_| FieldProblem::NotANumber(text.to_owned()))?;
            return match u16::try_from(value) {
                Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
                _ => Err(FieldProblem::OutOfRange {
                    value,
                    min: self.min,
                    max: self.max,
                }),
            };
        }
        if !self.names.is_empty()
            && !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return self
                .names
                .iter()
                .position(|name| name.eq_ignore_ascii_case(text))
                // A name list has at most 12 entries, so the index fits in u16.
                .map(|index| self.name_base + index as u16)
                .ok_or_else(|| FieldProblem::UnknownName(text.to_owned()));
        }
        Err(FieldProblem::NotANumber(text.to_owned()))
    }

    /// Parses `a`, `a-b`, `*/s`, `a/s` or `a-b/s`.
    pub(crate) fn parse_item(&self, text: &str) -> Result<ValueItem, FieldProblem> {
        let (base, step) = match text.split_once('/') {
            Some((base, step)) => (base, Some(self.parse_step(step)?)),
            None => (text, None),
        };
        let (first, last) = if base == "*" {
            (self.min, self.max)
        } else if let Some((start, end)) = base.split_once('-') {
            let (start, end) = (self.parse_value(start)?, self.parse_value(end)?);
            if start > end {
                return Err(FieldProblem::ReversedRange { start, end });
            }
            (start, end)
        } else {
            let value = self.parse_value(base)?;
            match step {
                // `a/s` runs from a to the end of the field.
                Some(_) => (value, self.max),
                None => return Ok(ValueItem::Single(value)),
            }
        };
        match step {
            Some(step) => Ok(ValueItem::Step { first, last, step }),
            None if first == last => Ok(ValueItem::Single(first)),
            None if base == "*" => Err(FieldProblem::WildcardInList(text.to_owned())),
            None => Ok(ValueItem::Range(first, last)),
        }
    }

    fn parse_step(&self, text: &str) -> Result<u16, FieldProblem> {
        let span = self.max - self.min + 1;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldProblem::NotANumber(text.to_owned()));
        }
        let step: u64 = text
            .parse()
            .map_err(|_| FieldProblem::NotANumber(text.to_owned()))?;
        match u16::try_from(step) {
            Ok(s) if (1..=span).contains(&s) => Ok(s),
            _ => Err(FieldProblem::StepOutOfRange { step, max: span }),
        }
    }

    /// Renders a value as a name when the field has names, else as a number.
    pub(crate) fn render_value(&self, value: u16) -> ValueDisplay {
        let name = value
            .checked_sub(self.name_base)
            .and_then(|index| self.names.get(usize::from(index)))
            .copied();
        ValueDisplay { value, name }
    }
}

/// A value rendered as its name (if any) or number.
pub(crate) struct ValueDisplay {
    value: u16,
    name: Option<&'static str>,
}

impl fmt::Display for ValueDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.value),
        }
    }
}

/// One plain element of a field: `5`, `1-5`, `*/15`, `10/5`, `10-50/10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ValueItem {
    Single(u16),
    Range(u16, u16),
    /// Every `step`-th value from `first` up to and including `last` at most.
    Step {
        first: u16,
        last: u16,
        step: u16,
    },
}

impl ValueItem {
    /// Adds this item's values, shifted down by `base`, to `set`.
    pub(crate) fn add_to(self, set: &mut ValueSet, base: u16) {
        let (first, last, step) = match self {
            ValueItem::Single(v) => (v, v, 1),
            ValueItem::Range(a, b) => (a, b, 1),
            ValueItem::Step { first, last, step } => (first, last, step.max(1)),
        };
        let mut value = first;
        while value <= last {
            set.insert(value.saturating_sub(base));
            match value.checked_add(step) {
                Some(next) => value = next,
                None => break,
            }
        }
    }

    pub(crate) fn display(self, spec: FieldSpec) -> impl fmt::Display {
        ItemDisplay { item: self, spec }
    }
}

struct ItemDisplay {
    item: ValueItem,
    spec: FieldSpec,
}

impl fmt::Display for ItemDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.spec;
        match self.item {
            ValueItem::Single(v) => write!(f, "{}", spec.render_value(v)),
            ValueItem::Range(a, b) => {
                write!(f, "{}-{}", spec.render_value(a), spec.render_value(b))
            }
            ValueItem::Step { first, last, step } if first == spec.min && last == spec.max => {
                write!(f, "*/{step}")
            }
            ValueItem::Step { first, last, step } if last == spec.max => {
                write!(f, "{}/{step}", spec.render_value(first))
            }
            ValueItem::Step { first, last, step } => write!(
                f,
                "{}-{}/{step}",
                spec.render_value(first),
                spec.render_value(last)
            ),
        }
    }
}

/// A whole field: unrestricted (`*`, or `?` where allowed) or a list of elements.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FieldExpr<I> {
    Any,
    List(Vec<I>),
}

impl<I> FieldExpr<I> {
    pub(crate) fn is_restricted(&self) -> bool {
        matches!(self, FieldExpr::List(_))
    }
}

/// Splits a field on commas and parses each element with `parse_element`,
/// which may expand one element into several items.
pub(crate) fn parse_list<I>(
    text: &str,
    field: CronField,
    mut parse_element: impl FnMut(&str) -> Result<Vec<I>, FieldProblem>,
) -> Result<FieldExpr<I>, FieldProblem> {
    let question_allowed = matches!(field, CronField::DayOfMonth | CronField::DayOfWeek);
    match text {
        "*" => return Ok(FieldExpr::Any),
        "?" if question_allowed => return Ok(FieldExpr::Any),
        _ => {}
    }
    let mut items = Vec::new();
    for element in text.split(',') {
        match element {
            "" => return Err(FieldProblem::EmptyElement(text.to_owned())),
            "*" => return Err(FieldProblem::WildcardInList(element.to_owned())),
            "?" if question_allowed => {
                return Err(FieldProblem::WildcardInList(element.to_owned()));
            }
            _ => {}
        }
        reject_misplaced_specials(element, field)?;
        items.extend(parse_element(element)?);
    }
    Ok(FieldExpr::List(items))
}

/// Gives a precise message for Quartz specials used in a field that lacks them,
/// instead of a generic "not a number".
fn reject_misplaced_specials(element: &str, field: CronField) -> Result<(), FieldProblem> {
    let upper = element.to_ascii_uppercase();
    let misplaced = |text: &str, allowed_in: &'static str| {
        Err(FieldProblem::NotAllowedHere {
            text: text.to_owned(),
            allowed_in,
        })
    };
    let digits_then = |suffix: char| {
        upper
            .strip_suffix(suffix)
            .is_some_and(|prefix| !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()))
    };
    let is_dom = field == CronField::DayOfMonth;
    let is_dow = field == CronField::DayOfWeek;
    if element == "?" && !is_dom && !is_dow {
        return misplaced("?", "day-of-month and day-of-week");
    }
    if upper.contains('#') && !is_dow {
        return misplaced("#", "day-of-week");
    }
    let uses_last = upper == "L" || upper.starts_with("L-") || upper == "LW" || digits_then('L');
    if uses_last && !is_dom && !is_dow {
        return misplaced("L", "day-of-month and day-of-week");
    }
    if (upper == "LW" || digits_then('W')) && !is_dom {
        return misplaced("W", "day-of-month");
    }
    Ok(())
}

/// Renders a list field, or `*` for an unrestricted one.
pub(crate) fn fmt_list<I>(
    f: &mut fmt::Formatter<'_>,
    expr: &FieldExpr<I>,
    any: &str,
    mut render: impl FnMut(&mut fmt::Formatter<'_>, &I) -> fmt::Result,
) -> fmt::Result {
    match expr {
        FieldExpr::Any => f.write_str(any),
        FieldExpr::List(items) => {
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    f.write_str(",")?;
                }
                render(f, item)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_items() {
        let spec = FieldSpec::MINUTES;
        assert_eq!(spec.parse_item("5"), Ok(ValueItem::Single(5)));
        assert_eq!(spec.parse_item("5-5"), Ok(ValueItem::Single(5)));
        assert_eq!(spec.parse_item("1-5"), Ok(ValueItem::Range(1, 5)));
        assert_eq!(
            spec.parse_item("*/15"),
            Ok(ValueItem::Step {
                first: 0,
                last: 59,
                step: 15
            })
        );
        assert_eq!(
            spec.parse_item("10-50/10"),
            Ok(ValueItem::Step {
                first: 10,
                last: 50,
                step: 10
            })
        );
    }

    #[test]
    fn rejects_bad_items_precisely() {
        let spec = FieldSpec::HOURS;
        assert_eq!(
            spec.parse_item("25"),
            Err(FieldProblem::OutOfRange {
                value: 25,
                min: 0,
                max: 23
            })
        );
        assert_eq!(
            spec.parse_item("5-2"),
            Err(FieldProblem::ReversedRange { start: 5, end: 2 })
        );
        assert_eq!(
            spec.parse_item("*/0"),
            Err(FieldProblem::StepOutOfRange { step: 0, max: 24 })
        );
        assert_eq!(
            FieldSpec::MONTH.parse_item("JANUARY"),
            Err(FieldProblem::UnknownName("JANUARY".into()))
        );
        assert_eq!(
            spec.parse_item("x"),
            Err(FieldProblem::NotANumber("x".into()))
        );
    }

    #[test]
    fn names_are_case_insensitive_and_render_upper() {
        let spec = FieldSpec::DAY_OF_WEEK_QUARTZ;
        assert_eq!(spec.parse_item("mon-Fri"), Ok(ValueItem::Range(2, 6)));
        assert_eq!(ValueItem::Range(2, 6).display(spec).to_string(), "MON-FRI");
    }

    #[test]
    fn step_rendering_is_canonical() {
        let spec = FieldSpec::MINUTES;
        for (input, canonical) in [
            ("0/15", "*/15"),
            ("5/15", "5/15"),
            ("5-59/15", "5/15"),
            ("5-40/15", "5-40/15"),
        ] {
            let item = spec.parse_item(input).unwrap_or(ValueItem::Single(99));
            assert_eq!(item.display(spec).to_string(), canonical, "{input}");
        }
    }
}
