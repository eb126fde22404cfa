//! Which baseline (name and version) a node is evaluated against: its
//! `Patch Group` tag (or, without one, the governance default patch group)
//! → that patch group → the group's baseline for the node's OS family →
//! else the family's default baseline.

use std::collections::{BTreeMap, HashMap};

use patchline_core::os::OsFamily;

/// A baseline as resolution sees it: its family and current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineVersion {
    pub family: OsFamily,
    pub version: i64,
}

/// Everything resolution reads, loaded once per fleet re-evaluation.
#[derive(Debug, Clone, Default)]
pub struct BaselineCatalog {
    baselines: HashMap<String, BaselineVersion>,
    defaults: HashMap<OsFamily, String>,
    groups: HashMap<String, BTreeMap<OsFamily, String>>,
    /// The governance default patch group: that of nodes without the tag.
    default_patch_group: Option<String>,
}

/// The baseline a node resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub baseline: &'a str,
    pub version: i64,
}

impl BaselineCatalog {
    /// Records a baseline and whether it is its family's default.
    pub fn add_baseline(&mut self, name: &str, family: OsFamily, version: i64, is_default: bool) {
        self.baselines
            .insert(name.to_owned(), BaselineVersion { family, version });
        if is_default {
            self.defaults.insert(family, name.to_owned());
        }
    }

    /// Records a patch group's baseline per family.
    pub fn add_patch_group(&mut self, name: &str, baselines: BTreeMap<OsFamily, String>) {
        self.groups.insert(name.to_owned(), baselines);
    }

    /// Sets the patch group of nodes without a `Patch Group` tag.
    pub fn set_default_patch_group(&mut self, name: Option<String>) {
        self.default_patch_group = name;
    }

    /// The baseline for a node of `family` whose `Patch Group` tag is
    /// `patch_group` (`None`: the default patch group, if any); `None` when
    /// the family has no default baseline.
    ///
    /// A group that names a baseline which no longer exists, or one of
    /// another family, falls back to the default rather than leaving the
    /// node unevaluated (the store refuses such groups; this guards a race).
    pub fn resolve(&self, patch_group: Option<&str>, family: OsFamily) -> Option<Resolved<'_>> {
        let from_group = patch_group
            .or(self.default_patch_group.as_deref())
            .and_then(|group| self.groups.get(group))
            .and_then(|baselines| baselines.get(&family))
            .and_then(|name| self.lookup(name, family));
        from_group.or_else(|| {
            self.defaults
                .get(&family)
                .and_then(|name| self.lookup(name, family))
        })
    }

    /// The patch group a node with this `Patch Group` tag is reported
    /// under: the tag, else the default patch group while it exists.
    pub fn effective_patch_group<'a>(&'a self, tagged: Option<&'a str>) -> Option<&'a str> {
        tagged.or_else(|| {
            self.default_patch_group
                .as_deref()
                .filter(|group| self.groups.contains_key(*group))
        })
    }

    /// Whether a patch group of this name exists.
    pub fn has_patch_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    fn lookup<'a>(&'a self, name: &'a str, family: OsFamily) -> Option<Resolved<'a>> {
        let (name, found) = self.baselines.get_key_value(name)?;
        (found.family == family).then_some(Resolved {
            baseline: name,
            version: found.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> BaselineCatalog {
        let mut catalog = BaselineCatalog::default();
        catalog.add_baseline("debian-default", OsFamily::Debian, 1, true);
        catalog.add_baseline("rhel-default", OsFamily::RhelCompatible, 2, true);
        catalog.add_baseline("prod-debian", OsFamily::Debian, 5, false);
        catalog.add_patch_group(
            "prod",
            BTreeMap::from([(OsFamily::Debian, "prod-debian".to_owned())]),
        );
        catalog.add_patch_group(
            "stale",
            BTreeMap::from([(OsFamily::Debian, "deleted".to_owned())]),
        );
        catalog
    }

    #[test]
    fn the_patch_group_tag_selects_the_groups_baseline_for_the_family() {
        let catalog = catalog();
        assert_eq!(
            catalog.resolve(Some("prod"), OsFamily::Debian),
            Some(Resolved {
                baseline: "prod-debian",
                version: 5
            })
        );
    }

    #[test]
    fn a_group_without_the_family_an_unknown_group_or_no_tag_use_the_default() {
        let catalog = catalog();
        let rhel_default = Some(Resolved {
            baseline: "rhel-default",
            version: 2,
        });
        assert_eq!(
            catalog.resolve(Some("prod"), OsFamily::RhelCompatible),
            rhel_default
        );
        assert_eq!(
            catalog.resolve(Some("nope"), OsFamily::RhelCompatible),
            rhel_default
        );
        assert_eq!(
            catalog.resolve(None, OsFamily::RhelCompatible),
            rhel_default
        );
        assert_eq!(
            catalog
                .resolve(Some("stale"), OsFamily::Debian)
                .map(|r| r.baseline),
            Some("debian-default")
        );
    }

    #[test]
    fn the_default_patch_group_serves_nodes_without_the_tag_only() {
        let mut catalog = catalog();
        catalog.set_default_patch_group(Some("prod".into()));
        let resolved = |group| catalog.resolve(group, OsFamily::Debian).map(|r| r.baseline);
        assert_eq!(resolved(None), Some("prod-debian"));
        // A tagged node keeps its own group, even one that does not exist.
        assert_eq!(resolved(Some("stale")), Some("debian-default"));
        assert_eq!(resolved(Some("nope")), Some("debian-default"));
        assert_eq!(
            catalog
                .resolve(None, OsFamily::RhelCompatible)
                .map(|r| r.baseline),
            Some("rhel-default")
        );
    }

    #[test]
    fn the_effective_patch_group_is_the_tag_else_an_existing_default() {
        let mut catalog = catalog();
        assert_eq!(catalog.effective_patch_group(None), None);
        catalog.set_default_patch_group(Some("prod".into()));
        assert_eq!(catalog.effective_patch_group(None), Some("prod"));
        assert_eq!(catalog.effective_patch_group(Some("web")), Some("web"));
        catalog.set_default_patch_group(Some("deleted".into()));
        assert_eq!(catalog.effective_patch_group(None), None);
    }

    #[test]
    fn a_family_without_a_default_resolves_to_nothing() {
        assert_eq!(catalog().resolve(None, OsFamily::Suse), None);
    }
}
