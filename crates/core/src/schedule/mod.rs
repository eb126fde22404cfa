//! Schedule expressions of maintenance windows: cron with seconds, rate(), at(); time zones and DST.
//!
//! A [`WindowSchedule`] pairs a [`ScheduleExpression`] with an IANA zone (looked
//! up in the database bundled into the binary, see [`zone`]), an optional day
//! offset and optional start/end instants, and yields occurrences as
//! [`jiff::Zoned`] values. [`WindowTiming`] turns an occurrence into the
//! window's end and last task start.
//!
//! # Expressions
//! - `cron(sec min hour dom month dow [year])`, the bare fields, or 5-field
//!   Unix cron; see [`cron`] for the field syntax and semantics.
//! - `rate(N minutes|hours)`: exact elapsed periods from an anchor, the
//!   schedule's `start` (or 1970-01-01T00:00:00Z without one). Unaffected by DST.
//! - `rate(N days)`: every N calendar days at the anchor's local wall time
//!   (the wall time of `start` in the zone, or midnight of 1970-01-01).
//! - `at(yyyy-mm-ddThh:mm:ss)`: once, at that wall time in the zone.
//!
//! # Daylight saving time
//! Cron, day rates and `at()` are wall-clock schedules: they are matched
//! against the zone's local time, and these rules decide the instants:
//! - **Gap** (spring forward, e.g. 02:00→03:00): a wall time that does not exist
//!   fires once, at the first valid instant after the gap (03:00 local), not at
//!   the "compatible" shifted time (03:30). Several missing wall times collapse
//!   into that single instant, which is also where a periodic schedule resumes,
//!   so the sequence stays strictly increasing without reordering, nothing
//!   fires twice, and a daily window still opens that day — as early as the
//!   clock allows, which keeps the most of its duration.
//! - **Fold** (fall back, e.g. 02:00→01:00): an appointment ([`FoldPolicy::FirstPassOnly`])
//!   fires once, at the earlier instant. A periodic cron schedule — more than
//!   one value in the seconds or minutes field, or every hour of the day
//!   ([`FoldPolicy::EveryInstant`]) — fires at every instant whose wall time
//!   matches, so `0 */15 * * * ?` keeps firing every 15 real minutes through
//!   the repeated hour. Each instant is emitted once, in increasing order.
//! - Day rates and `at()` are appointments. `offset_days` moves the wall time
//!   first, then these rules apply to the moved wall time.
//!
//! Searches never look beyond the year 2199, so expressions that can never
//! match (`0 0 0 30 FEB ?`) end with `None` after a bounded amount of work.

pub mod cron;
mod cron_field;
pub mod error;
pub mod expression;
pub mod rate;
pub mod timing;
mod value_set;
mod wall_clock;
pub mod window;
pub mod zone;

pub use cron::{CronExpression, FoldPolicy};
pub use error::{CronField, ExpressionError, FieldProblem, RateProblem};
pub use expression::ScheduleExpression;
pub use rate::{Rate, RateUnit};
pub use timing::{WindowBounds, WindowTiming, WindowTimingError};
pub use window::{Occurrences, WindowSchedule, WindowScheduleError, WindowScheduleSpec};
pub use zone::{UnknownTimeZone, time_zone};
