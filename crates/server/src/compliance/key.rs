//! The unit of evaluation: one distinct (inventory, baseline version, UTC
//! day). Nodes sharing a key share one evaluation, so the engine's cost
//! grows with distinct keys, not with nodes.

use std::collections::HashMap;
use std::hash::Hash;

use jiff::civil::Date;

/// What an evaluation result depends on. The day is part of it because
/// approve-after-days approves more updates as days pass.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EvaluationKey {
    pub inventory_hash: String,
    pub baseline: String,
    pub baseline_version: i64,
    pub day: Date,
}

/// Groups items (nodes) by their key, keeping first-seen key order so the
/// work order is deterministic.
pub fn group_by_key<K: Clone + Eq + Hash, T>(
    items: impl IntoIterator<Item = (K, T)>,
) -> Vec<(K, Vec<T>)> {
    let mut position: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    for (key, item) in items {
        match position.get(&key) {
            Some(&at) => groups[at].1.push(item),
            None => {
                position.insert(key.clone(), groups.len());
                groups.push((key, vec![item]));
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: &str, version: i64) -> EvaluationKey {
        EvaluationKey {
            inventory_hash: hash.into(),
            baseline: "b".into(),
            baseline_version: version,
            day: jiff::civil::date(2026, 1, 2),
        }
    }

    #[test]
    fn nodes_with_the_same_inventory_baseline_version_and_day_share_a_group() {
        let groups = group_by_key([
            (key("a", 1), "n1"),
            (key("b", 1), "n2"),
            (key("a", 1), "n3"),
            (key("a", 2), "n4"),
        ]);
        assert_eq!(
            groups,
            vec![
                (key("a", 1), vec!["n1", "n3"]),
                (key("b", 1), vec!["n2"]),
                (key("a", 2), vec!["n4"]),
            ]
        );
    }
}
