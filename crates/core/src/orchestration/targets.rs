//! Which nodes a window targets: explicit node ids, or a tag query.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The value that matches any value of a tag (the node must still have the tag).
pub const ANY_VALUE: &str = "*";

/// A window's targets: a node matches when its id is listed, or when the
/// tag query is non-empty and, for every key, the node has that tag with one
/// of the listed values (`*` = any value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetQuery {
    pub tags: BTreeMap<String, Vec<String>>,
    pub node_ids: Vec<String>,
}

/// Why a target query is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetQueryError {
    #[error("targets: tag key is empty")]
    EmptyTagKey,
    #[error("targets: tag {key:?} lists no values (use \"*\" for any value)")]
    NoValues { key: String },
    #[error("targets: node id at index {index} is empty")]
    EmptyNodeId { index: usize },
}

impl TargetQuery {
    /// Targets nothing: no node id and no tag.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.node_ids.is_empty()
    }

    /// Rejects queries that can only be mistakes: empty keys, keys without values, empty ids.
    pub fn validate(&self) -> Result<(), TargetQueryError> {
        for (key, values) in &self.tags {
            if key.is_empty() {
                return Err(TargetQueryError::EmptyTagKey);
            }
            if values.is_empty() {
                return Err(TargetQueryError::NoValues { key: key.clone() });
            }
        }
        match self.node_ids.iter().position(String::is_empty) {
            Some(index) => Err(TargetQueryError::EmptyNodeId { index }),
            None => Ok(()),
        }
    }

    /// Whether the node `node_id` with tags `node_tags` is a target.
    pub fn matches(&self, node_id: &str, node_tags: &BTreeMap<String, String>) -> bool {
        if self.node_ids.iter().any(|id| id == node_id) {
            return true;
        }
        !self.tags.is_empty()
            && self.tags.iter().all(|(key, wanted)| {
                node_tags.get(key).is_some_and(|value| {
                    wanted
                        .iter()
                        .any(|candidate| candidate == ANY_VALUE || candidate == value)
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn query(pairs: &[(&str, &[&str])], ids: &[&str]) -> TargetQuery {
        TargetQuery {
            tags: pairs
                .iter()
                .map(|(k, vs)| {
                    (
                        (*k).to_owned(),
                        vs.iter().map(|v| (*v).to_owned()).collect(),
                    )
                })
                .collect(),
            node_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
        }
    }

    #[test]
    fn every_tag_key_must_match_one_listed_value() {
        let prod_web = query(&[("env", &["prod", "staging"]), ("role", &["web"])], &[]);
        assert!(prod_web.matches("n1", &tags(&[("env", "prod"), ("role", "web"), ("x", "y")])));
        assert!(prod_web.matches("n1", &tags(&[("env", "staging"), ("role", "web")])));
        assert!(!prod_web.matches("n1", &tags(&[("env", "prod"), ("role", "db")])));
        assert!(!prod_web.matches("n1", &tags(&[("env", "prod")])));
        assert!(!prod_web.matches("n1", &tags(&[])));
        // Values are exact: no case folding, no prefix.
        assert!(!prod_web.matches("n1", &tags(&[("env", "Prod"), ("role", "web")])));
    }

    #[test]
    fn star_needs_the_tag_with_any_value() {
        let windowed = query(&[("Maintenance Window", &["*"])], &[]);
        assert!(windowed.matches("n1", &tags(&[("Maintenance Window", "sunday")])));
        assert!(!windowed.matches("n1", &tags(&[("env", "prod")])));
    }

    #[test]
    fn listed_ids_match_whatever_the_tags() {
        let mixed = query(&[("env", &["prod"])], &["n7"]);
        assert!(mixed.matches("n7", &tags(&[("env", "dev")])));
        assert!(mixed.matches("n8", &tags(&[("env", "prod")])));
        assert!(!mixed.matches("n8", &tags(&[("env", "dev")])));
        let ids_only = query(&[], &["n7"]);
        assert!(!ids_only.matches("n8", &tags(&[("env", "prod")])));
        let empty = TargetQuery::default();
        assert!(empty.is_empty() && !ids_only.is_empty());
        assert!(!empty.matches("n1", &tags(&[("env", "prod")])));
    }

    #[test]
    fn validates_and_parses_with_defaults() {
        assert_eq!(query(&[("env", &["prod"])], &["n1"]).validate(), Ok(()));
        assert_eq!(
            query(&[("env", &[])], &[]).validate(),
            Err(TargetQueryError::NoValues {
                key: "env".to_owned()
            })
        );
        assert_eq!(
            query(&[("", &["x"])], &[]).validate(),
            Err(TargetQueryError::EmptyTagKey)
        );
        assert_eq!(
            query(&[], &["n1", ""]).validate(),
            Err(TargetQueryError::EmptyNodeId { index: 1 })
        );
        let parsed: Result<TargetQuery, _> = serde_yaml_ng::from_str("tags:\n  env: [prod]\n");
        assert_eq!(parsed.ok(), Some(query(&[("env", &["prod"])], &[])));
        let unknown = serde_yaml_ng::from_str::<TargetQuery>("nodes: [n1]\n");
        assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `nodes`")));
    }
}
