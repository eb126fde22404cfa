//! Cron expressions: Quartz-style 6/7 fields with seconds, and classic 5-field
//! Unix cron; parsing, canonical rendering and matching of civil (wall) times.
//!
//! Written by hand rather than taken from a crate: the jiff-based crates either
//! lack `L`/`W`/`#` (jiff-cron) or use Unix-only numbering without a year field
//! and need a newer compiler (cronexpr), and none implements the DST policy of
//! [`super`] nor the field-naming errors we want. The matcher is small: each
//! field compiles to a bit set and the search walks days, not seconds.
//!
//! Semantics worth stating:
//! - 6 fields `sec min hour dom month dow`, 7 with `year` (1970-2199).
//!   Day-of-week numbers are Quartz/AWS: 1-7 = SUN-SAT.
//! - 5 fields are classic Unix cron `min hour dom month dow`: seconds are 0 and
//!   day-of-week numbers are 0-7 with 0 and 7 = Sunday. They are converted to
//!   the Quartz form, so `Display` always renders 6 or 7 fields.
//! - `*` and `?` both leave a field unrestricted; `?` is accepted only in the
//!   day fields and neither may appear inside a list. Ranges do not wrap.
//! - When both day-of-month and day-of-week are restricted (anything other than
//!   a bare `*`/`?`), a day matches if *either* matches (Vixie cron semantics).
//!   Unlike Vixie, `*/2` counts as restricted: the rule looks at the meaning of
//!   the field, not at its first character.
//! - `L` = last day of month, `L-3` = three days before it (at most `L-30`),
//!   `LW` = last weekday, `15W` = the weekday nearest the 15th within the same
//!   month (a `nW` with n beyond the month's length never matches).
//!   In day-of-week, `5L`/`THUL` = last Thursday, `6#3`/`FRI#3` = third Friday,
//!   and `L` alone = Saturday (Quartz).

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};

use super::cron_field::{FieldExpr, FieldSpec, ValueItem, fmt_list, parse_list};
use super::error::{CronField, ExpressionError, FieldProblem};
use super::value_set::ValueSet;

/// Latest year any search looks at; keeps never-matching expressions finite.
pub(crate) const LAST_SEARCHED_YEAR: i16 = 2199;
const YEAR_BASE: u16 = 1970;

/// How a wall-clock schedule treats local times that occur twice when clocks fall back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FoldPolicy {
    /// An appointment at a wall time: fire once, at the earlier instant.
    FirstPassOnly,
    /// A periodic schedule (several fires per hour, or every hour): fire at every
    /// instant whose wall time matches, so elapsed-time spacing continues through
    /// the repeated hour.
    EveryInstant,
}

/// One element of the day-of-month field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DayOfMonthItem {
    Value(ValueItem),
    /// `L` (offset 0) or `L-n`.
    Last {
        offset: u8,
    },
    /// `LW`.
    LastWeekday,
    /// `nW`.
    NearestWeekday(u8),
}

/// One element of the day-of-week field, weekdays numbered 1-7 = SUN-SAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DayOfWeekItem {
    Value(ValueItem),
    /// `5L`: the last such weekday of the month.
    Last(u8),
    /// `6#3`: the nth such weekday of the month.
    Nth {
        weekday: u8,
        nth: u8,
    },
}

/// Which numbering the day-of-week field was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Quartz,
    Unix,
}

/// A parsed cron expression. Equality compares the canonical syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpression {
    seconds: FieldExpr<ValueItem>,
    minutes: FieldExpr<ValueItem>,
    hours: FieldExpr<ValueItem>,
    day_of_month: FieldExpr<DayOfMonthItem>,
    month: FieldExpr<ValueItem>,
    day_of_week: FieldExpr<DayOfWeekItem>,
    /// `None` when absent or `*`.
    year: Option<FieldExpr<ValueItem>>,
    /// Boxed: the bit sets are large and expressions get moved around in enums.
    compiled: Box<Compiled>,
}

/// Bit-set form of the fields, derived from the syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Compiled {
    seconds: ValueSet,
    minutes: ValueSet,
    hours: ValueSet,
    months: ValueSet,
    /// Offsets from 1970; `None` = every year.
    years: Option<ValueSet>,
    dom_restricted: bool,
    dom_values: ValueSet,
    /// `n` for each `L-n`.
    dom_last_offsets: ValueSet,
    dom_last_weekday: bool,
    dom_nearest_weekday: ValueSet,
    dow_restricted: bool,
    dow_values: ValueSet,
    dow_last: ValueSet,
    /// `weekday * 8 + nth` for each `weekday#nth`.
    dow_nth: ValueSet,
}

impl CronExpression {
    /// Parses 5, 6 or 7 whitespace-separated fields, optionally wrapped in `cron(...)`.
    pub fn parse(text: &str) -> Result<CronExpression, ExpressionError> {
        let trimmed = text.trim();
        let body = match strip_call(trimmed, "cron") {
            Some(inner) => inner.ok_or(ExpressionError::Unclosed { kind: "cron" })?,
            None => trimmed,
        };
        let fields: Vec<&str> = body.split_whitespace().collect();
        match fields.as_slice() {
            [] => Err(ExpressionError::Empty),
            [min, hour, dom, month, dow] => {
                Self::from_fields(["0", min, hour, dom, month, dow], None, Dialect::Unix)
            }
            [sec, min, hour, dom, month, dow] => {
                Self::from_fields([sec, min, hour, dom, month, dow], None, Dialect::Quartz)
            }
            [sec, min, hour, dom, month, dow, year] => Self::from_fields(
                [sec, min, hour, dom, month, dow],
                Some(year),
                Dialect::Quartz,
            ),
            other => Err(ExpressionError::FieldCount { found: other.len() }),
        }
    }

    fn from_fields(
        [sec, min, hour, dom, month, dow]: [&str; 6],
        year: Option<&str>,
        dialect: Dialect,
    ) -> Result<CronExpression, ExpressionError> {
        let seconds = parse_values(sec, FieldSpec::SECONDS)?;
        let minutes = parse_values(min, FieldSpec::MINUTES)?;
        let hours = parse_values(hour, FieldSpec::HOURS)?;
        let day_of_month = with_field(CronField::DayOfMonth, dom, |text| {
            parse_list(text, CronField::DayOfMonth, parse_day_of_month_element)
        })?;
        let month = parse_values(month, FieldSpec::MONTH)?;
        let day_of_week = with_field(CronField::DayOfWeek, dow, |text| {
            parse_list(text, CronField::DayOfWeek, |element| {
                parse_day_of_week_element(element, dialect)
            })
        })?;
        let year = match year
            .map(|text| parse_values(text, FieldSpec::YEAR))
            .transpose()?
        {
            Some(FieldExpr::Any) | None => None,
            Some(list) => Some(list),
        };
        let compiled = Box::new(Compiled::new(
            [&seconds, &minutes, &hours, &month],
            &day_of_month,
            &day_of_week,
            year.as_ref(),
        ));
        Ok(CronExpression {
            seconds,
            minutes,
            hours,
            day_of_month,
            month,
            day_of_week,
            year,
            compiled,
        })
    }

    /// True when the civil date-time (whole seconds) matches every field.
    pub fn matches(&self, datetime: DateTime) -> bool {
        datetime.subsec_nanosecond() == 0
            && self.matches_date(datetime.date())
            && self.matches_time(datetime.time())
    }

    /// True when the date matches the year, month and day fields.
    pub fn matches_date(&self, date: Date) -> bool {
        let c = &self.compiled;
        c.year_allowed(date.year())
            && c.months.contains(date.month().unsigned_abs().into())
            && c.day_allowed(date)
    }

    fn matches_time(&self, time: Time) -> bool {
        let c = &self.compiled;
        c.hours.contains(time.hour().unsigned_abs().into())
            && c.minutes.contains(time.minute().unsigned_abs().into())
            && c.seconds.contains(time.second().unsigned_abs().into())
    }

    /// Periodic expressions (more than one fire per hour, or every hour of the
    /// day) fire at each instant of a repeated hour; the rest fire once.
    pub fn fold_policy(&self) -> FoldPolicy {
        let c = &self.compiled;
        if c.seconds.len() > 1 || c.minutes.len() > 1 || c.hours.len() == 24 {
            FoldPolicy::EveryInstant
        } else {
            FoldPolicy::FirstPassOnly
        }
    }

    /// The first civil date-time in `[from, until)` whose date, moved back by
    /// `shift_days`, matches the day fields and whose time matches the time
    /// fields. `from` must be a whole second. Never looks past [`LAST_SEARCHED_YEAR`].
    pub(crate) fn first_match_in(
        &self,
        from: DateTime,
        until: DateTime,
        shift_days: i8,
    ) -> Option<DateTime> {
        let c = &self.compiled;
        let mut match_date = from
            .date()
            .checked_sub(jiff::Span::new().days(shift_days))
            .ok()?;
        loop {
            if match_date.year() > LAST_SEARCHED_YEAR {
                return None;
            }
            let occurrence_date = match_date
                .checked_add(jiff::Span::new().days(shift_days))
                .ok()?;
            if occurrence_date > until.date() {
                return None;
            }
            if !c.year_allowed(match_date.year()) {
                match_date = c.first_day_of_next_allowed_year(match_date.year())?;
                continue;
            }
            let month = match_date.month().unsigned_abs().into();
            if !c.months.contains(month) {
                match_date = match c.months.first_at_or_after(month + 1) {
                    Some(next) if next <= 12 => first_of_month(match_date.year(), next)?,
                    _ => Date::new(match_date.year().checked_add(1)?, 1, 1).ok()?,
                };
                continue;
            }
            if c.day_allowed(match_date) {
                let earliest = if occurrence_date == from.date() {
                    from.time()
                } else {
                    Time::midnight()
                };
                if let Some(time) = c.first_time_at_or_after(earliest) {
                    let candidate = occurrence_date.to_datetime(time);
                    return (candidate < until).then_some(candidate);
                }
            }
            match_date = match_date.tomorrow().ok()?;
        }
    }
}

fn first_of_month(year: i16, month: u16) -> Option<Date> {
    Date::new(year, i8::try_from(month).ok()?, 1).ok()
}

impl Compiled {
    fn new(
        [seconds, minutes, hours, months]: [&FieldExpr<ValueItem>; 4],
        day_of_month: &FieldExpr<DayOfMonthItem>,
        day_of_week: &FieldExpr<DayOfWeekItem>,
        year: Option<&FieldExpr<ValueItem>>,
    ) -> Compiled {
        let mut compiled = Compiled {
            seconds: compile_values(seconds, FieldSpec::SECONDS, 0),
            minutes: compile_values(minutes, FieldSpec::MINUTES, 0),
            hours: compile_values(hours, FieldSpec::HOURS, 0),
            months: compile_values(months, FieldSpec::MONTH, 0),
            years: year.map(|expr| compile_values(expr, FieldSpec::YEAR, YEAR_BASE)),
            dom_restricted: day_of_month.is_restricted(),
            dom_values: ValueSet::default(),
            dom_last_offsets: ValueSet::default(),
            dom_last_weekday: false,
            dom_nearest_weekday: ValueSet::default(),
            dow_restricted: day_of_week.is_restricted(),
            dow_values: ValueSet::default(),
            dow_last: ValueSet::default(),
            dow_nth: ValueSet::default(),
        };
        if let FieldExpr::List(items) = day_of_month {
            for item in items {
                match *item {
                    DayOfMonthItem::Value(value) => value.add_to(&mut compiled.dom_values, 0),
                    DayOfMonthItem::Last { offset } => {
                        compiled.dom_last_offsets.insert(offset.into())
                    }
                    DayOfMonthItem::LastWeekday => compiled.dom_last_weekday = true,
                    DayOfMonthItem::NearestWeekday(day) => {
                        compiled.dom_nearest_weekday.insert(day.into());
                    }
                }
            }
        }
        if let FieldExpr::List(items) = day_of_week {
            for item in items {
                match *item {
                    DayOfWeekItem::Value(value) => value.add_to(&mut compiled.dow_values, 0),
                    DayOfWeekItem::Last(weekday) => compiled.dow_last.insert(weekday.into()),
                    DayOfWeekItem::Nth { weekday, nth } => {
                        compiled
                            .dow_nth
                            .insert(u16::from(weekday) * 8 + u16::from(nth));
                    }
                }
            }
        }
        compiled
    }

    fn year_allowed(&self, year: i16) -> bool {
        match &self.years {
            None => true,
            Some(years) => u16::try_from(year)
                .ok()
                .and_then(|y| y.checked_sub(YEAR_BASE))
                .is_some_and(|offset| years.contains(offset)),
        }
    }

    fn first_day_of_next_allowed_year(&self, year: i16) -> Option<Date> {
        let years = self.years.as_ref()?;
        let next_offset = u16::try_from(year.checked_add(1)?)
            .ok()
            .map_or(0, |y| y.saturating_sub(YEAR_BASE));
        let offset = years.first_at_or_after(next_offset)?;
        let next_year = i16::try_from(offset + YEAR_BASE).ok()?;
        Date::new(next_year, 1, 1).ok()
    }

    /// Day-of-month and day-of-week, combined with Vixie's "either" rule when
    /// both are restricted.
    fn day_allowed(&self, date: Date) -> bool {
        match (self.dom_restricted, self.dow_restricted) {
            (false, false) => true,
            (true, false) => self.day_of_month_matches(date),
            (false, true) => self.day_of_week_matches(date),
            (true, true) => self.day_of_month_matches(date) || self.day_of_week_matches(date),
        }
    }

    fn day_of_month_matches(&self, date: Date) -> bool {
        let day = date.day().unsigned_abs();
        let last = date.days_in_month().unsigned_abs();
        self.dom_values.contains(day.into())
            || self.dom_last_offsets.contains((last - day).into())
            || (self.dom_last_weekday && day == last_weekday_of_month(date))
            || (day.saturating_sub(2)..=day.saturating_add(2)).any(|target| {
                self.dom_nearest_weekday.contains(target.into())
                    && nearest_weekday(date, target) == Some(day)
            })
    }

    fn day_of_week_matches(&self, date: Date) -> bool {
        let weekday = sunday_one(date);
        let day = date.day().unsigned_abs();
        let last = date.days_in_month().unsigned_abs();
        let nth = (day - 1) / 7 + 1;
        self.dow_values.contains(weekday.into())
            || (day + 7 > last && self.dow_last.contains(weekday.into()))
            || self
                .dow_nth
                .contains(u16::from(weekday) * 8 + u16::from(nth))
    }

    /// The earliest time of day `>= earliest` matching hours, minutes and seconds.
    fn first_time_at_or_after(&self, earliest: Time) -> Option<Time> {
        let (h0, m0, s0) = (
            earliest.hour().unsigned_abs().into(),
            earliest.minute().unsigned_abs().into(),
            earliest.second().unsigned_abs().into(),
        );
        let mut hour = self.hours.first_at_or_after(h0)?;
        while hour <= 23 {
            let mut minute_from = if hour == h0 { m0 } else { 0 };
            while let Some(minute) = self.minutes.first_at_or_after(minute_from) {
                if minute > 59 {
                    break;
                }
                let second_from = if hour == h0 && minute == m0 { s0 } else { 0 };
                if let Some(second) = self
                    .seconds
                    .first_at_or_after(second_from)
                    .filter(|s| *s <= 59)
                {
                    return time_of(hour, minute, second);
                }
                minute_from = minute + 1;
            }
            hour = self.hours.first_at_or_after(hour + 1)?;
        }
        None
    }
}

fn time_of(hour: u16, minute: u16, second: u16) -> Option<Time> {
    Time::new(
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        0,
    )
    .ok()
}

/// Weekday numbered 1-7 = SUN-SAT.
fn sunday_one(date: Date) -> u8 {
    date.weekday().to_sunday_one_offset().unsigned_abs()
}

/// Weekday (1-7 = SUN-SAT) of day `day` in the month of `date`.
fn weekday_of_day(date: Date, day: u8) -> u8 {
    let shift = i16::from(day) - i16::from(date.day());
    // rem_euclid(7) is in 0..7, so the sum fits in u8.
    ((i16::from(sunday_one(date)) - 1 + shift).rem_euclid(7) + 1) as u8
}

/// Quartz `nW`: the weekday nearest day `target`, never leaving the month.
fn nearest_weekday(date: Date, target: u8) -> Option<u8> {
    let last = date.days_in_month().unsigned_abs();
    if target == 0 || target > last {
        return None;
    }
    Some(match weekday_of_day(date, target) {
        7 if target == 1 => 3,
        7 => target - 1,
        1 if target == last => target - 2,
        1 => target + 1,
        _ => target,
    })
}

fn last_weekday_of_month(date: Date) -> u8 {
    let last = date.days_in_month().unsigned_abs();
    match weekday_of_day(date, last) {
        7 => last - 1,
        1 => last - 2,
        _ => last,
    }
}

/// If `text` is `name(...)` (name case-insensitive), returns the inside, or
/// `Some(None)` when the closing parenthesis is missing.
pub(crate) fn strip_call<'a>(text: &'a str, name: &str) -> Option<Option<&'a str>> {
    let rest = text
        .get(..name.len())
        .filter(|prefix| prefix.eq_ignore_ascii_case(name))
        .and_then(|_| text.get(name.len()..))?
        .trim_start()
        .strip_prefix('(')?;
    Some(rest.trim_end().strip_suffix(')').map(str::trim))
}

fn with_field<T>(
    field: CronField,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, FieldProblem>,
) -> Result<T, ExpressionError> {
    parse(text).map_err(|problem| ExpressionError::Field {
        field,
        token: text.to_owned(),
        problem,
    })
}

fn parse_values(text: &str, spec: FieldSpec) -> Result<FieldExpr<ValueItem>, ExpressionError> {
    with_field(spec.field, text, |text| {
        parse_list(text, spec.field, |element| {
            Ok(vec![spec.parse_item(element)?])
        })
    })
}

fn compile_values(expr: &FieldExpr<ValueItem>, spec: FieldSpec, base: u16) -> ValueSet {
    let mut set = ValueSet::default();
    match expr {
        FieldExpr::Any => ValueItem::Step {
            first: spec.min,
            last: spec.max,
            step: 1,
        }
        .add_to(&mut set, base),
        FieldExpr::List(items) => {
            for item in items {
                let mut one = ValueSet::default();
                item.add_to(&mut one, base);
                set.union(&one);
            }
        }
    }
    set
}

fn parse_day_of_month_element(element: &str) -> Result<Vec<DayOfMonthItem>, FieldProblem> {
    let upper = element.to_ascii_uppercase();
    let item = if upper == "L" {
        DayOfMonthItem::Last { offset: 0 }
    } else if upper == "LW" {
        DayOfMonthItem::LastWeekday
    } else if let Some(offset) = upper.strip_prefix("L-") {
        let value = parse_small_number(offset)?;
        match u8::try_from(value) {
            Ok(offset) if offset <= 30 => DayOfMonthItem::Last { offset },
            _ => return Err(FieldProblem::LastOffsetOutOfRange(value)),
        }
    } else if let Some(day) = upper.strip_suffix('W') {
        let day = FieldSpec::DAY_OF_MONTH.parse_value(day)?;
        // Day values are 1-31, so they fit in u8.
        DayOfMonthItem::NearestWeekday(day as u8)
    } else {
        DayOfMonthItem::Value(FieldSpec::DAY_OF_MONTH.parse_item(element)?)
    };
    Ok(vec![item])
}

fn parse_day_of_week_element(
    element: &str,
    dialect: Dialect,
) -> Result<Vec<DayOfWeekItem>, FieldProblem> {
    let spec = match dialect {
        Dialect::Quartz => FieldSpec::DAY_OF_WEEK_QUARTZ,
        Dialect::Unix => FieldSpec::DAY_OF_WEEK_UNIX,
    };
    let weekday = |text: &str| {
        spec.parse_value(text)
            .map(|value| to_quartz_weekday(value, dialect))
    };
    let upper = element.to_ascii_uppercase();
    if let Some((day, nth)) = upper.split_once('#') {
        let weekday = weekday(day)?;
        let nth_value = parse_small_number(nth)?;
        return match u8::try_from(nth_value) {
            Ok(nth) if (1..=5).contains(&nth) => Ok(vec![DayOfWeekItem::Nth { weekday, nth }]),
            _ => Err(FieldProblem::NthOutOfRange(nth_value)),
        };
    }
    if upper == "L" {
        // Quartz: `L` alone in day-of-week is the last day of the week, Saturday.
        return Ok(vec![DayOfWeekItem::Value(ValueItem::Single(7))]);
    }
    if let Some(day) = upper.strip_suffix('L') {
        return Ok(vec![DayOfWeekItem::Last(weekday(day)?)]);
    }
    let item = spec.parse_item(element)?;
    Ok(match dialect {
        Dialect::Quartz => vec![DayOfWeekItem::Value(item)],
        Dialect::Unix => unix_item_to_quartz(item)
            .into_iter()
            .map(DayOfWeekItem::Value)
            .collect(),
    })
}

/// Unix weekday 0-7 (0 and 7 = SUN) → Quartz 1-7 (1 = SUN).
fn to_quartz_weekday(value: u16, dialect: Dialect) -> u8 {
    // Values were range-checked (at most 7) by the field spec.
    match dialect {
        Dialect::Quartz => value as u8,
        Dialect::Unix => (value % 7) as u8 + 1,
    }
}

/// Re-expresses a Unix day-of-week item in Quartz numbering with the same days.
/// Unix 7 (Sunday again) cannot stay inside a Quartz range, so it splits off.
fn unix_item_to_quartz(item: ValueItem) -> Vec<ValueItem> {
    let (first, last, step) = match item {
        ValueItem::Single(value) => return vec![ValueItem::Single(value % 7 + 1)],
        ValueItem::Range(first, last) => (first, last, 1),
        ValueItem::Step { first, last, step } => (first, last, step),
    };
    if last < 7 || first == 7 {
        let shifted = |value: u16| value % 7 + 1;
        return vec![match item {
            ValueItem::Step { .. } if first != 7 => ValueItem::Step {
                first: shifted(first),
                last: shifted(last),
                step,
            },
            ValueItem::Range(..) if first != 7 => ValueItem::Range(shifted(first), shifted(last)),
            _ => ValueItem::Single(1),
        }];
    }
    // last == 7: the values below 7 shift up by one; 7 itself is Sunday (1),
    // already present when the item starts at 0.
    let below = match item {
        ValueItem::Range(..) if first + 1 == 7 => ValueItem::Single(7),
        ValueItem::Range(..) => ValueItem::Range(first + 1, 7),
        _ => ValueItem::Step {
            first: first + 1,
            last: 7,
            step,
        },
    };
    let sunday_hit = (7 - first) % step == 0;
    if sunday_hit && first != 0 {
        vec![below, ValueItem::Single(1)]
    } else {
        vec![below]
    }
}

fn parse_small_number(text: &str) -> Result<u64, FieldProblem> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldProblem::NotANumber(text.to_owned()));
    }
    text.parse()
        .map_err(|_| FieldProblem::NotANumber(text.to_owned()))
}

impl FromStr for CronExpression {
    type Err = ExpressionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CronExpression::parse(text)
    }
}

/// Canonical form: 6 or 7 fields, single spaces, month and weekday names,
/// `?` in whichever day field is unrestricted (day-of-week when both are).
impl fmt::Display for CronExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = |spec: FieldSpec| {
            move |f: &mut fmt::Formatter<'_>, item: &ValueItem| write!(f, "{}", item.display(spec))
        };
        fmt_list(f, &self.seconds, "*", values(FieldSpec::SECONDS))?;
        f.write_str(" ")?;
        fmt_list(f, &self.minutes, "*", values(FieldSpec::MINUTES))?;
        f.write_str(" ")?;
        fmt_list(f, &self.hours, "*", values(FieldSpec::HOURS))?;
        f.write_str(" ")?;
        let dom_any = if self.day_of_week.is_restricted() {
            "?"
        } else {
            "*"
        };
        fmt_list(f, &self.day_of_month, dom_any, |f, item| match item {
            DayOfMonthItem::Value(value) => write!(f, "{}", value.display(FieldSpec::DAY_OF_MONTH)),
            DayOfMonthItem::Last { offset: 0 } => f.write_str("L"),
            DayOfMonthItem::Last { offset } => write!(f, "L-{offset}"),
            DayOfMonthItem::LastWeekday => f.write_str("LW"),
            DayOfMonthItem::NearestWeekday(day) => write!(f, "{day}W"),
        })?;
        f.write_str(" ")?;
        fmt_list(f, &self.month, "*", values(FieldSpec::MONTH))?;
        f.write_str(" ")?;
        let spec = FieldSpec::DAY_OF_WEEK_QUARTZ;
        fmt_list(f, &self.day_of_week, "?", |f, item| match item {
            DayOfWeekItem::Value(value) => write!(f, "{}", value.display(spec)),
            DayOfWeekItem::Last(weekday) => write!(f, "{}L", spec.render_value((*weekday).into())),
            DayOfWeekItem::Nth { weekday, nth } => {
                write!(f, "{}#{nth}", spec.render_value((*weekday).into()))
            }
        })?;
        if let Some(year) = &self.year {
            f.write_str(" ")?;
            fmt_list(f, year, "*", values(FieldSpec::YEAR))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn cron(text: &str) -> CronExpression {
        match CronExpression::parse(text) {
            Ok(expression) => expression,
            Err(error) => panic!("{text}: {error}"),
        }
    }

    fn error(text: &str) -> String {
        match CronExpression::parse(text) {
            Ok(expression) => panic!("{text} parsed as {expression}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn error_messages_name_field_and_reason() {
        assert_eq!(error("0 0 25 * * ?"), "hours: 25 is out of range 0-23");
        assert_eq!(
            error("0 0 0 ? * FUNDAY"),
            "day-of-week: unknown name 'FUNDAY'"
        );
        assert_eq!(error("0 0 0 *"), "cron: expected 5, 6 or 7 fields, found 4");
        assert_eq!(error("0 0 0 * *"), "day-of-month: 0 is out of range 1-31");
        assert_eq!(
            error("0 0 0 * * ? 2020 1"),
            "cron: expected 5, 6 or 7 fields, found 8"
        );
        assert_eq!(error("0 60 0 * * ?"), "minutes: 60 is out of range 0-59");
        assert_eq!(
            error("0 0 0 L-40 * ?"),
            "day-of-month: 'L-40' is out of range L-0 to L-30"
        );
        assert_eq!(
            error("0 0 0 ? * FRI#6"),
            "day-of-week: occurrence #6 is out of range 1-5"
        );
        assert_eq!(
            error("0 0 5L * * ?"),
            "hours: 'L' is only allowed in day-of-month and day-of-week"
        );
        assert_eq!(
            error("0 0 0 ? * 5W"),
            "day-of-week: 'W' is only allowed in day-of-month"
        );
        assert_eq!(
            error("0 0 0 1#2 * ?"),
            "day-of-month: '#' is only allowed in day-of-week"
        );
        assert_eq!(
            error("0 ? 0 * * ?"),
            "minutes: '?' is only allowed in day-of-month and day-of-week"
        );
        assert_eq!(error("0 0 0 * 13 ?"), "month: 13 is out of range 1-12");
        assert_eq!(error("0 0 0 * * 0"), "day-of-week: 0 is out of range 1-7");
        assert_eq!(
            error("0 0 0 * * ? 1969"),
            "year: 1969 is out of range 1970-2199"
        );
        assert_eq!(
            error("0 1,,2 0 * * ?"),
            "minutes: empty element in list '1,,2'"
        );
        assert_eq!(
            error("0 */0 0 * * ?"),
            "minutes: step 0 is out of range 1-60"
        );
        assert_eq!(
            error("0 50-10 0 * * ?"),
            "minutes: range 50-10 is reversed (start is after end)"
        );
        assert_eq!(
            error("0 *,5 0 * * ?"),
            "minutes: '*' must stand alone, not inside a list"
        );
        assert_eq!(error("0 x 0 * * ?"), "minutes: 'x' is not a number");
        assert_eq!(error("cron(0 0 0 * * ?"), "cron: missing closing ')'");
        assert_eq!(error("   "), "schedule expression is empty");
    }

    #[test]
    fn field_error_carries_token() {
        let parsed = CronExpression::parse("0 0 1-25 * * ?");
        assert!(matches!(
            parsed,
            Err(ExpressionError::Field { field: CronField::Hours, ref token, .. }) if token == "1-25"
        ));
    }

    #[test]
    fn canonical_rendering() {
        for (input, canonical) in [
            ("cron(0 30 2 * * ?)", "0 30 2 * * ?"),
            ("0 0/15 * ? * mon-fri", "0 */15 * ? * MON-FRI"),
            ("0 0 12 L-3 jan,jul ?", "0 0 12 L-3 JAN,JUL ?"),
            ("0 0 3 ? * 6#3", "0 0 3 ? * FRI#3"),
            ("0 0 3 ? * fril", "0 0 3 ? * FRIL"),
            ("0 0 3 LW,15W * ?", "0 0 3 LW,15W * ?"),
            ("0 0 3 * * ? *", "0 0 3 * * ?"),
            ("0 0 3 * * ? 2025-2030/2", "0 0 3 * * ? 2025-2030/2"),
            // 5-field Unix: seconds 0, weekday 0 and 7 are Sunday.
            ("30 2 * * 0", "0 30 2 ? * SUN"),
            ("30 2 * * 7", "0 30 2 ? * SUN"),
            ("*/5 * * * 1-5", "0 */5 * ? * MON-FRI"),
            ("0 4 * * 5-7", "0 0 4 ? * FRI-SAT,SUN"),
            ("0 4 * * */2", "0 0 4 ? * */2"),
            ("0 4 1 * 1", "0 0 4 1 * MON"),
            ("0 4 * * mon-fri", "0 0 4 ? * MON-FRI"),
            // Quartz: `L` alone in day-of-week is Saturday; Unix `5L` is the last Friday.
            ("0 0 0 ? * L", "0 0 0 ? * SAT"),
            ("0 4 * * 5L", "0 0 4 ? * FRIL"),
            ("0 4 * * 0#2", "0 0 4 ? * SUN#2"),
        ] {
            let expression = cron(input);
            assert_eq!(expression.to_string(), canonical, "{input}");
            assert_eq!(cron(canonical), expression, "round trip of {canonical}");
        }
    }

    #[test]
    fn unix_weekday_ranges_keep_their_days() {
        for (unix, quartz) in [
            ("0 0 * * 0-7", "0 0 0 ? * *"),
            ("0 0 * * 1-7/2", "0 0 0 ? * MON-SAT/2,SUN"),
            ("0 0 * * 5-7/2", "0 0 0 ? * FRI,SUN"),
            ("0 0 * * 6/1", "0 0 0 ? * SAT,SUN"),
            ("0 0 * * 7-7", "0 0 0 ? * SUN"),
        ] {
            let unix = cron(unix);
            let quartz = cron(quartz);
            let mut day = date(2024, 1, 1);
            for _ in 0..14 {
                assert_eq!(
                    unix.matches_date(day),
                    quartz.matches_date(day),
                    "{unix} vs {quartz} on {day}"
                );
                day = day.tomorrow().unwrap_or(day);
            }
        }
    }

    #[test]
    fn nearest_weekday_rules() {
        // June 2024: the 1st and 15th are Saturdays, the 30th a Sunday.
        let june = date(2024, 6, 10);
        assert_eq!(nearest_weekday(june, 1), Some(3));
        assert_eq!(nearest_weekday(june, 15), Some(14));
        assert_eq!(nearest_weekday(june, 16), Some(17));
        assert_eq!(nearest_weekday(june, 30), Some(28));
        assert_eq!(nearest_weekday(june, 31), None);
        assert_eq!(nearest_weekday(june, 12), Some(12));
        assert_eq!(last_weekday_of_month(june), 28);
    }

    #[test]
    fn fold_policy_distinguishes_periodic_from_appointments() {
        assert_eq!(
            cron("0 30 1 * * ?").fold_policy(),
            FoldPolicy::FirstPassOnly
        );
        assert_eq!(
            cron("0 0 */2 * * ?").fold_policy(),
            FoldPolicy::FirstPassOnly
        );
        assert_eq!(
            cron("0 */15 * * * ?").fold_policy(),
            FoldPolicy::EveryInstant
        );
        assert_eq!(
            cron("*/10 0 1 * * ?").fold_policy(),
            FoldPolicy::EveryInstant
        );
        assert_eq!(cron("0 0 * * * ?").fold_policy(), FoldPolicy::EveryInstant);
    }

    #[test]
    fn first_match_walks_days_and_times() {
        let expression = cron("0 30 2 L * ?");
        let from = date(2024, 2, 29).at(2, 30, 1, 0);
        let until = date(2025, 1, 1).at(0, 0, 0, 0);
        assert_eq!(
            expression.first_match_in(from, until, 0),
            Some(date(2024, 3, 31).at(2, 30, 0, 0))
        );
        // With a two-day offset, the match on the 31st fires on April 2nd.
        assert_eq!(
            expression.first_match_in(from, until, 2),
            Some(date(2024, 3, 2).at(2, 30, 0, 0))
        );
        assert_eq!(
            expression.first_match_in(from, date(2024, 3, 31).at(2, 30, 0, 0), 0),
            None
        );
    }
}
