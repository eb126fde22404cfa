//! Quotas on windows, tasks and executions. Exceeding one is refused with an
//! error naming the quota, its limit and the requested amount; nothing is
//! ever silently truncated to fit.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Configurable limits; the defaults are those of semantics.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    pub max_windows: usize,
    pub max_tasks_per_window: usize,
    /// Highest max-concurrency a task may resolve to.
    pub max_concurrency_per_task: usize,
    /// Window executions running at the same time; more wait their turn.
    pub max_concurrent_executions: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            max_windows: 50,
            max_tasks_per_window: 20,
            max_concurrency_per_task: 20,
            max_concurrent_executions: 5,
        }
    }
}

/// One of the [`Quotas`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quota {
    Windows,
    TasksPerWindow,
    ConcurrencyPerTask,
    ConcurrentExecutions,
}

impl Quota {
    /// The configuration key of this quota.
    pub fn as_str(self) -> &'static str {
        match self {
            Quota::Windows => "max_windows",
            Quota::TasksPerWindow => "max_tasks_per_window",
            Quota::ConcurrencyPerTask => "max_concurrency_per_task",
            Quota::ConcurrentExecutions => "max_concurrent_executions",
        }
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request beyond a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("quota {quota} is {limit}, and this would need {requested}")]
pub struct QuotaExceeded {
    pub quota: Quota,
    pub limit: usize,
    pub requested: usize,
}

impl Quotas {
    pub fn limit(&self, quota: Quota) -> usize {
        match quota {
            Quota::Windows => self.max_windows,
            Quota::TasksPerWindow => self.max_tasks_per_window,
            Quota::ConcurrencyPerTask => self.max_concurrency_per_task,
            Quota::ConcurrentExecutions => self.max_concurrent_executions,
        }
    }

    /// Ok when `requested` (the count after the change) is within the quota.
    pub fn check(&self, quota: Quota, requested: usize) -> Result<(), QuotaExceeded> {
        let limit = self.limit(quota);
        if requested > limit {
            return Err(QuotaExceeded {
                quota,
                limit,
                requested,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference() {
        let quotas = Quotas::default();
        assert_eq!(
            [
                Quota::Windows,
                Quota::TasksPerWindow,
                Quota::ConcurrencyPerTask,
                Quota::ConcurrentExecutions
            ]
            .map(|q| quotas.limit(q)),
            [50, 20, 20, 5]
        );
    }

    #[test]
    fn checks_refuse_beyond_the_limit_with_the_figures() {
        let quotas = Quotas::default();
        assert_eq!(quotas.check(Quota::Windows, 50), Ok(()));
        let refused = quotas.check(Quota::Windows, 51);
        assert_eq!(
            refused,
            Err(QuotaExceeded {
                quota: Quota::Windows,
                limit: 50,
                requested: 51
            })
        );
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err("quota max_windows is 50, and this would need 51".to_owned())
        );
    }

    #[test]
    fn serde_fills_defaults_and_rejects_unknown_keys() {
        let parsed: Result<Quotas, _> = serde_yaml_ng::from_str("max_windows: 3\n");
        assert_eq!(
            parsed.ok(),
            Some(Quotas {
                max_windows: 3,
                ..Quotas::default()
            })
        );
        assert!(serde_yaml_ng::from_str::<Quotas>("max_window: 3\n").is_err());
    }
}
