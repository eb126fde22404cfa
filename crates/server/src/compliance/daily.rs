//! The day-change task: approve-after-days approves more updates as UTC
//! days pass, so the whole fleet is re-evaluated just after each UTC
//! midnight even when nothing else changed.

use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use tokio::task::JoinHandle;

use super::engine::ComplianceEngine;

/// Margin after midnight, so the re-evaluation's clock is surely in the new day.
const AFTER_MIDNIGHT: Duration = Duration::from_secs(1);

/// How long from `now` until just after the next UTC midnight.
pub fn until_next_utc_midnight(now: Timestamp) -> Duration {
    let today = patchline_core::compliance::utc_day(now);
    let next_midnight = today
        .checked_add(1.day())
        .ok()
        .and_then(|tomorrow| tomorrow.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|zoned| zoned.timestamp());
    match next_midnight {
        Some(midnight) => {
            let left = midnight
                .as_millisecond()
                .saturating_sub(now.as_millisecond());
            Duration::from_millis(u64::try_from(left).unwrap_or(0)) + AFTER_MIDNIGHT
        }
        // The last representable day: nothing to wait for; check hourly.
        None => Duration::from_secs(3600),
    }
}

/// Spawns the task re-evaluating the fleet after each UTC midnight. It runs
/// until aborted (the server aborts it on shutdown); a failed pass is
/// logged and retried at the next midnight.
pub fn spawn_daily_reevaluation(engine: ComplianceEngine) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(until_next_utc_midnight(Timestamp::now())).await;
            if let Err(error) = engine.reevaluate_fleet(Timestamp::now()).await {
                tracing::error!(%error, "the daily compliance re-evaluation failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_ends_just_after_the_next_utc_midnight() {
        let now: Timestamp = "2026-03-01T23:59:00Z".parse().unwrap();
        assert_eq!(until_next_utc_midnight(now), Duration::from_secs(61));
        let midnight: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            until_next_utc_midnight(midnight),
            Duration::from_secs(24 * 3600 + 1)
        );
    }
}
