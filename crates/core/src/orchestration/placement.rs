//! The high-availability rule for window placement: a service spread over
//! several zones must not have all its zones in one window, or one window
//! run can take the whole service down. The seed's layout avoids it with one
//! window per zone per environment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Where one node stands: its service, environment, zone and the windows targeting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePlacement {
    pub node_id: String,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub zone: Option<String>,
    /// Names of the windows whose targets include the node.
    pub windows: Vec<String>,
}

/// One window covers a service's nodes in every zone it runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedWindowWarning {
    pub service: String,
    pub environment: Option<String>,
    pub window: String,
    /// Every zone of the service (in that environment), sorted.
    pub zones: Vec<String>,
}

impl fmt::Display for SharedWindowWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service {:?}", self.service)?;
        if let Some(environment) = &self.environment {
            write!(f, " in environment {environment:?}")?;
        }
        write!(
            f,
            " runs in zones {} and window {:?} covers all of them: one run can take the whole \
             service down; use one window per zone",
            self.zones.join(", "),
            self.window
        )
    }
}

/// Warnings for every (service, environment) with nodes in at least two
/// zones where one window targets nodes of all those zones. Nodes without a
/// service are ignored; nodes without a zone do not add a zone. Sorted by
/// service, environment, window.
pub fn shared_window_warnings(nodes: &[NodePlacement]) -> Vec<SharedWindowWarning> {
    /// Zones of a service, and for each window the zones it covers.
    #[derive(Default)]
    struct Service<'a> {
        zones: BTreeSet<&'a str>,
        windows: BTreeMap<&'a str, BTreeSet<&'a str>>,
    }
    let mut services: BTreeMap<(&str, Option<&str>), Service<'_>> = BTreeMap::new();
    for node in nodes {
        let (Some(service), Some(zone)) = (&node.service, &node.zone) else {
            continue;
        };
        let entry = services
            .entry((service.as_str(), node.environment.as_deref()))
            .or_default();
        entry.zones.insert(zone);
        for window in &node.windows {
            entry.windows.entry(window).or_default().insert(zone);
        }
    }
    let mut warnings = Vec::new();
    for ((service, environment), found) in services {
        if found.zones.len() < 2 {
            continue;
        }
        for (window, covered) in found.windows {
            if covered == found.zones {
                warnings.push(SharedWindowWarning {
                    service: service.to_owned(),
                    environment: environment.map(str::to_owned),
                    window: window.to_owned(),
                    zones: found.zones.iter().map(|zone| (*zone).to_owned()).collect(),
                });
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(
        id: &str,
        service: &str,
        environment: &str,
        zone: &str,
        windows: &[&str],
    ) -> NodePlacement {
        let optional = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        NodePlacement {
            node_id: id.to_owned(),
            service: optional(service),
            environment: optional(environment),
            zone: optional(zone),
            windows: windows.iter().map(|w| (*w).to_owned()).collect(),
        }
    }

    #[test]
    fn one_window_over_all_zones_of_a_service_warns() {
        let warnings = shared_window_warnings(&[
            node("web-1", "web", "prod", "zone-a", &["prod-nightly"]),
            node("web-2", "web", "prod", "zone-b", &["prod-nightly"]),
            node("web-3", "web", "prod", "zone-b", &["prod-nightly", "extra"]),
        ]);
        assert_eq!(
            warnings,
            [SharedWindowWarning {
                service: "web".to_owned(),
                environment: Some("prod".to_owned()),
                window: "prod-nightly".to_owned(),
                zones: vec!["zone-a".to_owned(), "zone-b".to_owned()],
            }]
        );
        assert_eq!(
            warnings[0].to_string(),
            "service \"web\" in environment \"prod\" runs in zones zone-a, zone-b and window \
             \"prod-nightly\" covers all of them: one run can take the whole service down; \
             use one window per zone"
        );
    }

    #[test]
    fn one_window_per_zone_does_not_warn() {
        let nodes = [
            node("web-1", "web", "prod", "zone-a", &["prod-a"]),
            node("web-2", "web", "prod", "zone-b", &["prod-b"]),
            node("web-3", "web", "prod", "zone-c", &["prod-c", "prod-b"]),
            // Same window name in another environment: a different service group.
            node("web-4", "web", "test", "zone-a", &["prod-a"]),
            // A single-zone service cannot be protected by zones.
            node("db-1", "db", "prod", "zone-a", &["prod-a"]),
            node("db-2", "db", "prod", "zone-a", &["prod-a"]),
            // No service or no zone: not part of the rule.
            node("misc", "", "prod", "zone-b", &["prod-a"]),
            node("web-5", "web", "prod", "", &["prod-a"]),
        ];
        assert!(shared_window_warnings(&nodes).is_empty());
    }

    #[test]
    fn environments_are_checked_separately() {
        let warnings = shared_window_warnings(&[
            node("t1", "api", "test", "zone-a", &["test-all"]),
            node("t2", "api", "test", "zone-b", &["test-all"]),
            node("p1", "api", "prod", "zone-a", &["prod-a"]),
            node("p2", "api", "prod", "zone-b", &["prod-b"]),
            node("n1", "api", "", "zone-a", &["any"]),
            node("n2", "api", "", "zone-b", &["any"]),
        ]);
        let found: Vec<(Option<&str>, &str)> = warnings
            .iter()
            .map(|w| (w.environment.as_deref(), w.window.as_str()))
            .collect();
        assert_eq!(found, [(None, "any"), (Some("test"), "test-all")]);
        assert!(
            warnings[0]
                .to_string()
                .starts_with("service \"api\" runs in zones")
        );
    }
}
