//! Approval-rule filters: the keys, and their values compiled once into
//! fast matchers.
//!
//! Every value is a glob (`*`, `?`, `[...]`, `{a,b}`; `\` escapes).
//! - `classification`, `severity`, `priority` have a closed set of values:
//!   each glob is expanded at compile time against that set (case-
//!   insensitively) into a bit mask, so matching an update is one AND. A
//!   value that matches no member is an error (it is almost surely a typo).
//! - `product` and `section` match case-insensitively, `name` (the binary
//!   package name) case-sensitively, since RPM names are (`NetworkManager`).
//! - `section` matches either the whole section (`non-free/libs`) or the part
//!   after its archive area (`libs`).
//! - A field the update does not carry (no priority, no section) counts as
//!   the empty string: only a value like `*` matches it, so `priority: ["*"]`
//!   means "any priority, or none".
//!
//! `priority` and `section` exist only in Debian-family metadata; using them
//! in another family's baseline is an error.

use std::collections::BTreeMap;
use std::fmt;

use globset::{Candidate, Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::BaselineError;
use crate::os::OsFamily;
use crate::package::{Classification, DebPriority, Severity};

/// The attribute of an update (or of the node, for `product`) a filter
/// tests. Values are globs (`*`, `?`, `[...]`, `{a,b}`, `\` escapes):
/// `classification`, `severity` and `priority` globs must select at least
/// one known value (case-insensitive); `product` and `section` match
/// case-insensitively, `name` case-sensitively; `section` matches the whole
/// section (`non-free/libs`) or the part after its area (`libs`). An update
/// without priority or section matches only globs that match the empty
/// string (`*`). `priority` and `section` are Debian-family only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilterKey {
    /// The node's product string (`Debian12`, `RockyLinux9.3`).
    Product,
    Classification,
    Severity,
    /// Debian family only.
    Priority,
    /// Debian family only.
    Section,
    /// The binary package name.
    Name,
}

impl FilterKey {
    pub fn as_str(self) -> &'static str {
        match self {
            FilterKey::Product => "product",
            FilterKey::Classification => "classification",
            FilterKey::Severity => "severity",
            FilterKey::Priority => "priority",
            FilterKey::Section => "section",
            FilterKey::Name => "name",
        }
    }

    /// Whether the family's metadata carries this attribute.
    pub fn applies_to(self, family: OsFamily) -> bool {
        match self {
            FilterKey::Priority | FilterKey::Section => family.is_debian_like(),
            FilterKey::Product
            | FilterKey::Classification
            | FilterKey::Severity
            | FilterKey::Name => true,
        }
    }
}

impl fmt::Display for FilterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a rule's `filters` map, refusing a key given twice.
pub(crate) fn deserialize_unique_filters<'de, D>(
    deserializer: D,
) -> Result<BTreeMap<FilterKey, Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct UniqueKeys;

    impl<'de> Visitor<'de> for UniqueKeys {
        type Value = BTreeMap<FilterKey, Vec<String>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map from filter key to a list of values")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut filters = BTreeMap::new();
            while let Some((key, values)) = map.next_entry::<FilterKey, Vec<String>>()? {
                if filters.insert(key, values).is_some() {
                    return Err(de::Error::custom(format_args!(
                        "duplicate filter key `{key}`"
                    )));
                }
            }
            Ok(filters)
        }
    }

    deserializer.deserialize_map(UniqueKeys)
}

/// A closed set of values a filter can select from (at most 8 members).
pub(crate) trait FilterValue: Copy + 'static {
    const MEMBERS: &'static [Self];
    fn name(self) -> &'static str;
    /// A distinct bit per member.
    fn bit(self) -> u8;
}

impl FilterValue for Classification {
    const MEMBERS: &'static [Self] = &Classification::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn bit(self) -> u8 {
        // Direct mapping: this sits on the hot path of every rule check.
        match self {
            Classification::Security => 1,
            Classification::Bugfix => 2,
            Classification::Enhancement => 4,
            Classification::NewPackage => 8,
            Classification::Other => 16,
        }
    }
}

impl FilterValue for Severity {
    const MEMBERS: &'static [Self] = &Severity::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn bit(self) -> u8 {
        // Variants are declared in the order of `ALL`, so the discriminant
        // is the position.
        1 << (self as u8)
    }
}

impl FilterValue for DebPriority {
    const MEMBERS: &'static [Self] = &DebPriority::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn bit(self) -> u8 {
        // Variants are declared in the order of `ALL`, so the discriminant
        // is the position.
        1 << (self as u8)
    }
}

/// Where a filter sits, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct FilterPlace {
    pub rule: usize,
    pub key: FilterKey,
}

fn build_glob(
    place: FilterPlace,
    index: usize,
    value: &str,
    case_insensitive: bool,
) -> Result<Glob, BaselineError> {
    GlobBuilder::new(value)
        .case_insensitive(case_insensitive)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map_err(|source| BaselineError::BadFilterGlob {
            rule: place.rule,
            key: place.key,
            index,
            value: value.to_owned(),
            source,
        })
}

/// A filter over a closed set of values, as a bit mask.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnumFilter {
    mask: u8,
    matches_missing: bool,
}

impl EnumFilter {
    pub fn compile<T: FilterValue>(
        place: FilterPlace,
        values: &[String],
    ) -> Result<EnumFilter, BaselineError> {
        let mut filter = EnumFilter {
            mask: 0,
            matches_missing: false,
        };
        for (index, value) in values.iter().enumerate() {
            let matcher = build_glob(place, index, value, true)?.compile_matcher();
            let mut matched_any = false;
            for &member in T::MEMBERS {
                if matcher.is_match(member.name()) {
                    filter.mask |= member.bit();
                    matched_any = true;
                }
            }
            if matcher.is_match("") {
                filter.matches_missing = true;
            }
            if !matched_any {
                let expected: Vec<&str> = T::MEMBERS.iter().map(|m| m.name()).collect();
                return Err(BaselineError::UnknownFilterValue {
                    rule: place.rule,
                    key: place.key,
                    index,
                    value: value.clone(),
                    expected: expected.join(", "),
                });
            }
        }
        Ok(filter)
    }

    #[inline]
    pub fn matches<T: FilterValue>(&self, value: T) -> bool {
        self.mask & value.bit() != 0
    }

    #[inline]
    pub fn matches_option<T: FilterValue>(&self, value: Option<T>) -> bool {
        match value {
            Some(value) => self.matches(value),
            None => self.matches_missing,
        }
    }
}

/// A filter over free text, as one glob set.
#[derive(Debug, Clone)]
pub(crate) struct TextFilter {
    globs: GlobSet,
    matches_missing: bool,
}

impl TextFilter {
    pub fn compile(
        place: FilterPlace,
        values: &[String],
        case_insensitive: bool,
    ) -> Result<TextFilter, BaselineError> {
        let mut builder = GlobSetBuilder::new();
        for (index, value) in values.iter().enumerate() {
            builder.add(build_glob(place, index, value, case_insensitive)?);
        }
        // Each glob built alone above, so the combined set cannot fail for a
        // glob's sake; report any residual error against the first value.
        let globs = builder
            .build()
            .map_err(|source| BaselineError::BadFilterGlob {
                rule: place.rule,
                key: place.key,
                index: 0,
                value: values.first().cloned().unwrap_or_default(),
                source,
            })?;
        let matches_missing = globs.is_match_candidate(&Candidate::from_bytes(b""));
        Ok(TextFilter {
            globs,
            matches_missing,
        })
    }

    #[inline]
    pub fn matches(&self, text: &str) -> bool {
        self.globs
            .is_match_candidate(&Candidate::from_bytes(text.as_bytes()))
    }

    /// A Debian section matches whole or without its archive area.
    #[inline]
    pub fn matches_section(&self, section: Option<&str>) -> bool {
        match section {
            Some(section) => {
                self.matches(section)
                    || section
                        .rsplit_once('/')
                        .is_some_and(|(_, bare)| self.matches(bare))
            }
            None => self.matches_missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: FilterPlace = FilterPlace {
        rule: 3,
        key: FilterKey::Severity,
    };

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn enum_globs_expand_to_members() {
        let filter = EnumFilter::compile::<Severity>(PLACE, &strings(&["Crit*", "low"])).unwrap();
        assert!(filter.matches(Severity::Critical));
        assert!(filter.matches(Severity::Low));
        assert!(!filter.matches(Severity::Important));
        assert!(!filter.matches_option::<Severity>(None));
        let any = EnumFilter::compile::<DebPriority>(PLACE, &strings(&["*"])).unwrap();
        assert!(DebPriority::ALL.iter().all(|&p| any.matches(p)));
        assert!(any.matches_option::<DebPriority>(None));
    }

    #[test]
    fn unknown_enum_value_names_the_place() {
        let err =
            EnumFilter::compile::<Severity>(PLACE, &strings(&["high", "severe"])).unwrap_err();
        match err {
            BaselineError::UnknownFilterValue {
                rule: 3,
                key: FilterKey::Severity,
                index: 0,
                value,
                expected,
            } => {
                assert_eq!(value, "high");
                assert!(expected.contains("important"), "{expected}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_glob_is_reported() {
        let err = TextFilter::compile(PLACE, &strings(&["ok", "lib[abc"]), false).unwrap_err();
        assert!(
            matches!(err, BaselineError::BadFilterGlob { index: 1, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("approval-rules[3].filters.severity[1]"),
            "{err}"
        );
    }

    #[test]
    fn sections_match_with_or_without_area() {
        let filter = TextFilter::compile(PLACE, &strings(&["libs"]), true).unwrap();
        assert!(filter.matches_section(Some("libs")));
        assert!(filter.matches_section(Some("non-free/libs")));
        assert!(filter.matches_section(Some("LIBS")));
        assert!(!filter.matches_section(Some("libdevel")));
        assert!(!filter.matches_section(None));
        let area = TextFilter::compile(PLACE, &strings(&["contrib/*"]), true).unwrap();
        assert!(area.matches_section(Some("contrib/net")));
        assert!(!area.matches_section(Some("net")));
    }

    #[test]
    fn bits_are_distinct() {
        let bits: Vec<u8> = Classification::ALL.iter().map(|c| c.bit()).collect();
        assert_eq!(bits, [1, 2, 4, 8, 16]);
        let bits: Vec<u8> = Severity::ALL.iter().map(|c| c.bit()).collect();
        assert_eq!(bits, [1, 2, 4, 8, 16]);
        let bits: Vec<u8> = DebPriority::ALL.iter().map(|c| c.bit()).collect();
        assert_eq!(bits, [1, 2, 4, 8, 16]);
    }
}
