//! A bounded in-memory cache of evaluation results by [`EvaluationKey`]:
//! the summary a node row copies, so a check-in of a node identical to one
//! already evaluated today costs neither an evaluation nor a read. (Package
//! lines are not kept: ~1,500 per result would make the cache the largest
//! thing in the server; reports read them from the store.)

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;

use super::key::EvaluationKey;
use crate::store::compliance::ResultSummary;

/// Least-recently-used eviction beyond `capacity` entries.
pub struct ResultCache {
    entries: Mutex<LruCache<EvaluationKey, Arc<ResultSummary>>>,
}

impl ResultCache {
    pub fn new(capacity: NonZeroUsize) -> ResultCache {
        ResultCache {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    pub fn get(&self, key: &EvaluationKey) -> Option<Arc<ResultSummary>> {
        // A panic while holding the lock leaves a consistent LRU (every
        // operation is a single call), so a poisoned lock is still usable.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).cloned()
    }

    pub fn put(&self, key: EvaluationKey, result: Arc<ResultSummary>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.put(key, result);
    }

    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: &str) -> EvaluationKey {
        EvaluationKey {
            inventory_hash: hash.into(),
            baseline: "b".into(),
            baseline_version: 1,
            day: jiff::civil::date(2026, 1, 2),
        }
    }

    fn result() -> Arc<ResultSummary> {
        Arc::new(ResultSummary {
            status: Default::default(),
            severity: None,
            state_counts: Default::default(),
            level_counts: Default::default(),
            evaluated_at: jiff::Timestamp::UNIX_EPOCH,
        })
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted_beyond_capacity() {
        let cache = ResultCache::new(NonZeroUsize::new(2).unwrap());
        cache.put(key("a"), result());
        cache.put(key("b"), result());
        assert!(cache.get(&key("a")).is_some());
        cache.put(key("c"), result());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("b")).is_none());
        assert!(cache.get(&key("a")).is_some());
        assert!(cache.get(&key("c")).is_some());
    }
}
