//! Automatic tagging rules (opt-out governance): each rule matches a node's
//! facts (hostname glob, OS, architecture, network) and sets tags. Rules
//! apply in order, so a later, more specific rule overrides what an earlier,
//! broader one set for the same key.

use std::collections::BTreeMap;
use std::net::IpAddr;

use globset::{GlobBuilder, GlobMatcher};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::os::{OsFamily, OsInfo};

/// A named rule: when every given condition matches, set these tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaggingRule {
    pub name: String,
    #[serde(default)]
    pub when: RuleMatch,
    pub set: BTreeMap<String, String>,
}

/// Conditions on a node's facts; all given ones must match, and an empty
/// match (no condition) matches every node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleMatch {
    /// Glob on the hostname, case-insensitive (`web-*`, `db-[0-9]*.prod.*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_family: Option<OsFamily>,
    /// os-release `ID`, exact (`rocky`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_id: Option<String>,
    /// os-release `VERSION_ID`, exact (`9.3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Machine architecture, exact (`x86_64`, `aarch64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// CIDR, IPv4 or IPv6 (`10.1.0.0/16`, `fd00::/8`): any node address inside matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// The facts rules match against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFacts {
    pub hostname: String,
    pub os: OsInfo,
    pub arch: String,
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// Why a tagging rule is invalid; names the rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TaggingRuleError {
    #[error("tagging rule has an empty name")]
    EmptyName,
    #[error("tagging rule {rule:?} sets no tag")]
    NothingToSet { rule: String },
    #[error("tagging rule {rule:?} sets a tag with an empty key")]
    EmptyTagKey { rule: String },
    #[error("tagging rule {rule:?}: hostname glob {glob:?} is invalid: {source}")]
    BadHostnameGlob {
        rule: String,
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error(
        "tagging rule {rule:?}: network {network:?} is not a CIDR such as 10.0.0.0/8 or fd00::/8: {source}"
    )]
    BadNetwork {
        rule: String,
        network: String,
        #[source]
        source: ipnet::AddrParseError,
    },
}

/// A rule's conditions, compiled once for matching.
struct CompiledMatch<'a> {
    rule: &'a RuleMatch,
    hostname: Option<GlobMatcher>,
    network: Option<IpNet>,
}

impl TaggingRule {
    /// Checks the name, the tags and that the glob and CIDR parse.
    pub fn validate(&self) -> Result<(), TaggingRuleError> {
        if self.name.trim().is_empty() {
            return Err(TaggingRuleError::EmptyName);
        }
        if self.set.is_empty() {
            return Err(TaggingRuleError::NothingToSet {
                rule: self.name.clone(),
            });
        }
        if self.set.keys().any(|key| key.trim().is_empty()) {
            return Err(TaggingRuleError::EmptyTagKey {
                rule: self.name.clone(),
            });
        }
        self.compile().map(|_| ())
    }

    fn compile(&self) -> Result<CompiledMatch<'_>, TaggingRuleError> {
        let hostname = match &self.when.hostname {
            None => None,
            Some(glob) => Some(
                GlobBuilder::new(glob)
                    .case_insensitive(true)
                    .literal_separator(false)
                    .build()
                    .map_err(|source| TaggingRuleError::BadHostnameGlob {
                        rule: self.name.clone(),
                        glob: glob.clone(),
                        source,
                    })?
                    .compile_matcher(),
            ),
        };
        let network = match &self.when.network {
            None => None,
            Some(network) => Some(network.trim().parse::<IpNet>().map_err(|source| {
                TaggingRuleError::BadNetwork {
                    rule: self.name.clone(),
                    network: network.clone(),
                    source,
                }
            })?),
        };
        Ok(CompiledMatch {
            rule: &self.when,
            hostname,
            network,
        })
    }

    /// Whether the rule applies to a node with these facts. A rule that does
    /// not validate matches nothing (it is refused when saved; this keeps a
    /// stored bad rule from tagging every node).
    pub fn matches(&self, facts: &RuleFacts) -> bool {
        self.compile().is_ok_and(|compiled| compiled.matches(facts))
    }
}

impl CompiledMatch<'_> {
    fn matches(&self, facts: &RuleFacts) -> bool {
        let exact = |wanted: &Option<String>, actual: &str| {
            wanted.as_deref().is_none_or(|wanted| wanted == actual)
        };
        self.hostname
            .as_ref()
            .is_none_or(|glob| glob.is_match(&facts.hostname))
            && self
                .rule
                .os_family
                .is_none_or(|family| family == facts.os.family)
            && exact(&self.rule.os_id, &facts.os.id)
            && exact(&self.rule.os_version, &facts.os.version_id)
            && exact(&self.rule.arch, &facts.arch)
            && self.network.is_none_or(|network| {
                facts
                    .addresses
                    .iter()
                    .any(|address| network.contains(&canonical(*address)))
            })
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is the IPv4 address it carries.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The tags the rules set for a node: rules in order, a later rule's value
/// replacing an earlier one's for the same key.
pub fn rule_tags(rules: &[TaggingRule], facts: &RuleFacts) -> BTreeMap<String, String> {
    CompiledRules::new(rules).tags(facts)
}

/// Rules with their globs and networks compiled once, for tagging many
/// nodes (a whole fleet after a rule change) without rebuilding a glob
/// per node. A rule that does not validate is left out: it matches nothing.
pub struct CompiledRules<'a> {
    rules: Vec<(CompiledMatch<'a>, &'a BTreeMap<String, String>)>,
}

impl<'a> CompiledRules<'a> {
    pub fn new(rules: &'a [TaggingRule]) -> CompiledRules<'a> {
        CompiledRules {
            rules: rules
                .iter()
                .filter_map(|rule| Some((rule.compile().ok()?, &rule.set)))
                .collect(),
        }
    }

    /// Whether any of the rules applies to a node with these facts.
    pub fn match_any(&self, facts: &RuleFacts) -> bool {
        self.rules
            .iter()
            .any(|(conditions, _)| conditions.matches(facts))
    }

    /// [`rule_tags`] of one node.
    pub fn tags(&self, facts: &RuleFacts) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::new();
        for (conditions, set) in &self.rules {
            if conditions.matches(facts) {
                tags.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(hostname: &str, addresses: &[&str]) -> RuleFacts {
        RuleFacts {
            hostname: hostname.to_owned(),
            os: OsInfo {
                family: OsFamily::RhelCompatible,
                id: "rocky".to_owned(),
                version_id: "9.3".to_owned(),
                product: "RockyLinux9.3".to_owned(),
            },
            arch: "x86_64".to_owned(),
            addresses: addresses.iter().filter_map(|a| a.parse().ok()).collect(),
        }
    }

    fn rule(name: &str, when: RuleMatch, set: &[(&str, &str)]) -> TaggingRule {
        TaggingRule {
            name: name.to_owned(),
            when,
            set: set
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn hostname(glob: &str) -> RuleMatch {
        RuleMatch {
            hostname: Some(glob.to_owned()),
            ..RuleMatch::default()
        }
    }

    fn network(cidr: &str) -> RuleMatch {
        RuleMatch {
            network: Some(cidr.to_owned()),
            ..RuleMatch::default()
        }
    }

    #[test]
    fn hostname_glob_is_case_insensitive_and_whole_name() {
        let web = rule("web", hostname("web-*"), &[("role", "web")]);
        assert!(web.matches(&facts("web-01", &[])));
        assert!(web.matches(&facts("WEB-01.prod.example.com", &[])));
        assert!(!web.matches(&facts("db-01", &[])));
        assert!(!web.matches(&facts("old-web-01", &[])));
        let numbered = rule("db", hostname("db-[0-9][0-9]"), &[("role", "db")]);
        assert!(numbered.matches(&facts("db-07", &[])));
        assert!(!numbered.matches(&facts("db-x7", &[])));
    }

    #[test]
    fn network_matches_v4_and_v6_cidrs() {
        let office = rule("office", network("10.1.0.0/16"), &[("site", "office")]);
        assert!(office.matches(&facts("h", &["192.168.1.5", "10.1.200.3"])));
        assert!(office.matches(&facts("h", &["::ffff:10.1.0.9"])));
        assert!(!office.matches(&facts("h", &["10.2.0.1"])));
        assert!(!office.matches(&facts("h", &[])));
        let ula = rule("ula", network("fd00:1234::/32"), &[("site", "lab")]);
        assert!(ula.matches(&facts("h", &["10.1.0.1", "fd00:1234:5::1"])));
        assert!(!ula.matches(&facts("h", &["fd00:1235::1"])));
    }

    #[test]
    fn os_and_arch_conditions_all_must_match() {
        let rocky_arm = RuleMatch {
            os_family: Some(OsFamily::RhelCompatible),
            os_id: Some("rocky".to_owned()),
            os_version: Some("9.3".to_owned()),
            arch: Some("aarch64".to_owned()),
            ..RuleMatch::default()
        };
        let arm = rule("arm", rocky_arm.clone(), &[("arch", "arm")]);
        assert!(!arm.matches(&facts("h", &[])));
        let x86 = rule(
            "x86",
            RuleMatch {
                arch: Some("x86_64".to_owned()),
                ..rocky_arm
            },
            &[("arch", "x86")],
        );
        assert!(x86.matches(&facts("h", &[])));
        let debian = rule(
            "debian",
            RuleMatch {
                os_family: Some(OsFamily::Debian),
                ..RuleMatch::default()
            },
            &[("os", "debian")],
        );
        assert!(!debian.matches(&facts("h", &[])));
    }

    #[test]
    fn later_rules_override_and_empty_match_applies_to_all() {
        let rules = [
            rule(
                "default",
                RuleMatch::default(),
                &[("env", "dev"), ("owner", "ops")],
            ),
            rule("prod hosts", hostname("*.prod.*"), &[("env", "prod")]),
            rule("lab net", network("fd00::/8"), &[("site", "lab")]),
        ];
        let tags = rule_tags(&rules, &facts("web-1.prod.example.com", &["10.0.0.1"]));
        let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("env", "prod"), ("owner", "ops")]);
        let tags = rule_tags(&rules, &facts("laptop", &["fd00::2"]));
        let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("env", "dev"), ("owner", "ops"), ("site", "lab")]);
        assert!(rule_tags(&[], &facts("laptop", &[])).is_empty());
    }

    #[test]
    fn compiled_rules_skip_invalid_ones_and_tell_whether_any_applies() {
        let rules = [
            rule("broken", network("not-a-cidr"), &[("site", "x")]),
            rule("prod hosts", hostname("*.prod.*"), &[("env", "prod")]),
        ];
        let compiled = CompiledRules::new(&rules);
        assert!(compiled.match_any(&facts("db.prod.example", &[])));
        assert!(!compiled.match_any(&facts("laptop", &["10.0.0.1"])));
        assert_eq!(
            compiled.tags(&facts("db.prod.example", &["10.0.0.1"])),
            rule_tags(&rules, &facts("db.prod.example", &["10.0.0.1"]))
        );
        assert!(!CompiledRules::new(&rules[..1]).match_any(&facts("x", &["10.0.0.1"])));
    }

    #[test]
    fn validate_names_the_rule_and_the_bad_value() {
        assert_eq!(
            rule("ok", hostname("web-*"), &[("role", "web")]).validate(),
            Ok(())
        );
        let bad_glob = rule("web", hostname("web-[x"), &[("role", "web")]);
        let message = bad_glob.validate().map_err(|e| e.to_string());
        assert!(
            message.as_ref().is_err_and(
                |m| m.starts_with("tagging rule \"web\": hostname glob \"web-[x\" is invalid")
            ),
            "{message:?}"
        );
        assert!(!bad_glob.matches(&facts("web-[x", &[])));
        let bad_net = rule("net", network("10.0.0.0/33"), &[("a", "b")]);
        assert!(matches!(
            bad_net.validate(),
            Err(TaggingRuleError::BadNetwork { ref rule, ref network, .. })
                if rule == "net" && network == "10.0.0.0/33"
        ));
        assert!(matches!(
            rule("net", network("10.0.0.1"), &[("a", "b")]).validate(),
            Err(TaggingRuleError::BadNetwork { .. })
        ));
        assert_eq!(
            rule(" ", RuleMatch::default(), &[("a", "b")]).validate(),
            Err(TaggingRuleError::EmptyName)
        );
        assert_eq!(
            rule("r", RuleMatch::default(), &[]).validate(),
            Err(TaggingRuleError::NothingToSet { rule: "r".into() })
        );
        assert_eq!(
            rule("r", RuleMatch::default(), &[("", "b")]).validate(),
            Err(TaggingRuleError::EmptyTagKey { rule: "r".into() })
        );
    }

    #[test]
    fn serde_reads_yaml_rules() {
        let yaml = "name: lab\nwhen:\n  hostname: 'lab-*'\n  os_family: rhel-compatible\n  network: 10.9.0.0/16\nset:\n  env: lab\n";
        let parsed: Result<TaggingRule, _> = serde_yaml_ng::from_str(yaml);
        let expected = rule(
            "lab",
            RuleMatch {
                hostname: Some("lab-*".to_owned()),
                os_family: Some(OsFamily::RhelCompatible),
                network: Some("10.9.0.0/16".to_owned()),
                ..RuleMatch::default()
            },
            &[("env", "lab")],
        );
        assert_eq!(parsed.ok(), Some(expected));
        let unknown =
            serde_yaml_ng::from_str::<TaggingRule>("name: x\nwhen: {host: a}\nset: {a: b}\n");
        assert!(unknown.is_err());
    }
}
