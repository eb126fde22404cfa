//! Explicit approved/rejected lists: `name` or `name=version` entries, where
//! either side may be a glob (`linux-image-*`, `openssl=3.0.*`,
//! `kernel*=*el9_3*`).
//!
//! Names match case-sensitively. A version without glob characters is
//! compared with the family's version ordering, so `openssl=1:3.0.7` also
//! matches `1:3.0.7-0` on Debian where dpkg calls them equal; a version glob
//! matches the version string as written.
//!
//! Entries without a version are compiled into one `GlobSet` (a single
//! lookup however many there are); versioned entries, usually few, are
//! checked one by one after their name matched.

use globset::{Candidate, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use super::{BaselineError, PatchList, PatternProblem};
use crate::version::VersionScheme;

enum VersionPattern {
    Exact(String),
    Glob(GlobMatcher),
}

/// A compiled approved or rejected list.
pub(crate) struct PatternList {
    /// The literal heads of every name glob (`telnet` for `telnet*`), when
    /// none is empty and there are few: a name starting with none of them
    /// matches no entry. This rules out most names with a bit test and a
    /// few byte comparisons, before `GlobSet` builds its candidate and runs
    /// its strategies (otherwise the bulk of evaluation time for a blocking
    /// list, which is matched against every installed package).
    name_heads: Option<NameHeads>,
    any_version: GlobSet,
    /// The names of `versioned`, as one set: a single lookup rules out
    /// most packages before any version is looked at.
    versioned_names: GlobSet,
    versioned: Vec<(GlobMatcher, VersionPattern)>,
}

fn has_glob_syntax(text: &str) -> bool {
    text.contains(['*', '?', '[', '{', '\\'])
}

/// The literal heads of a list's name globs, with the set of their first
/// bytes so that most names are ruled out by one bit test.
struct NameHeads {
    first_bytes: [u64; 4],
    heads: Vec<String>,
}

impl NameHeads {
    /// `None` when some glob has no literal head, or there are too many.
    fn new(mut heads: Vec<String>) -> Option<NameHeads> {
        heads.sort_unstable();
        heads.dedup();
        if heads.len() > MAX_NAME_HEADS || heads.iter().any(String::is_empty) {
            return None;
        }
        let mut first_bytes = [0u64; 4];
        for head in &heads {
            let byte = usize::from(head.as_bytes()[0]);
            first_bytes[byte / 64] |= 1 << (byte % 64);
        }
        Some(NameHeads { first_bytes, heads })
    }

    /// Whether `name` starts with one of the heads.
    #[inline]
    fn admits(&self, name: &str) -> bool {
        let Some(&byte) = name.as_bytes().first() else {
            return false;
        };
        let byte = usize::from(byte);
        self.first_bytes[byte / 64] & (1 << (byte % 64)) != 0
            && self
                .heads
                .iter()
                .any(|head| name.starts_with(head.as_str()))
    }
}

/// Beyond this many distinct heads, scanning them costs more than it saves.
const MAX_NAME_HEADS: usize = 32;

/// The part of a glob before its first special character.
fn literal_head(glob: &str) -> &str {
    glob.find(['*', '?', '[', '{', '\\'])
        .map_or(glob, |end| &glob[..end])
}

fn glob(text: &str) -> Result<globset::Glob, PatternProblem> {
    GlobBuilder::new(text)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map_err(PatternProblem::BadGlob)
}

impl PatternList {
    pub fn compile(list: PatchList, patterns: &[String]) -> Result<PatternList, BaselineError> {
        let mut any_version = GlobSetBuilder::new();
        let mut versioned_names = GlobSetBuilder::new();
        let mut versioned = Vec::new();
        let mut name_heads = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            let error = |problem| BaselineError::BadPattern {
                list,
                index,
                pattern: pattern.clone(),
                problem,
            };
            let (name, version) = match pattern.split_once('=') {
                Some((name, version)) => (name.trim(), Some(version.trim())),
                None => (pattern.trim(), None),
            };
            if name.is_empty() {
                return Err(error(PatternProblem::EmptyName));
            }
            let name_glob = glob(name).map_err(error)?;
            name_heads.push(literal_head(name).to_owned());
            match version {
                None => {
                    any_version.add(name_glob);
                }
                Some("") => return Err(error(PatternProblem::EmptyVersion)),
                Some(version) => {
                    let version = if has_glob_syntax(version) {
                        VersionPattern::Glob(glob(version).map_err(error)?.compile_matcher())
                    } else {
                        VersionPattern::Exact(version.to_owned())
                    };
                    versioned.push((name_glob.compile_matcher(), version));
                    versioned_names.add(name_glob);
                }
            }
        }
        // Each glob was built alone above, so building the sets cannot fail
        // for a glob's sake; report any residual error against entry 0.
        let set_error = |source| BaselineError::BadPattern {
            list,
            index: 0,
            pattern: patterns.first().cloned().unwrap_or_default(),
            problem: PatternProblem::BadGlob(source),
        };
        Ok(PatternList {
            name_heads: NameHeads::new(name_heads),
            any_version: any_version.build().map_err(set_error)?,
            versioned_names: versioned_names.build().map_err(set_error)?,
            versioned,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.any_version.is_empty() && self.versioned.is_empty()
    }

    /// Whether the list names this version of this package.
    #[inline]
    pub fn matches(&self, scheme: VersionScheme, name: &str, version: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        if self
            .name_heads
            .as_ref()
            .is_some_and(|heads| !heads.admits(name))
        {
            return false;
        }
        let candidate = Candidate::from_bytes(name.as_bytes());
        if self.any_version.is_match_candidate(&candidate) {
            return true;
        }
        if !self.versioned_names.is_match_candidate(&candidate) {
            return false;
        }
        self.versioned.iter().any(|(name_glob, version_pattern)| {
            name_glob.is_match_candidate(&candidate)
                && match version_pattern {
                    VersionPattern::Exact(exact) => scheme.compare(exact, version).is_eq(),
                    VersionPattern::Glob(glob) => {
                        glob.is_match_candidate(&Candidate::from_bytes(version.as_bytes()))
                    }
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> PatternList {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        PatternList::compile(PatchList::Approved, &patterns).unwrap()
    }

    #[test]
    fn names_versions_and_globs() {
        let deb = VersionScheme::Deb;
        let l = list(&[
            "openssl",
            "curl=7.88.1-10+deb12u5",
            "linux-image-*",
            "libc6=2.36-*",
        ]);
        let cases = [
            ("openssl", "3.0.11-1", true),
            ("openssl-dev", "3.0.11-1", false),
            ("curl", "7.88.1-10+deb12u5", true),
            ("curl", "7.88.1-10+deb12u6", false),
            ("linux-image-6.1.0-18-amd64", "6.1.76-1", true),
            ("libc6", "2.36-9+deb12u4", true),
            ("libc6", "2.37-1", false),
            ("Openssl", "3.0.11-1", false),
        ];
        for (name, version, expected) in cases {
            assert_eq!(l.matches(deb, name, version), expected, "{name}={version}");
        }
    }

    #[test]
    fn exact_versions_compare_by_ordering_not_text() {
        let l = list(&["bash=0:5.2-1"]);
        assert!(l.matches(VersionScheme::Deb, "bash", "5.2-1"));
        let l = list(&["kernel=5.14.0-362.el9"]);
        assert!(l.matches(VersionScheme::Rpm, "kernel", "0:5.14.0-362.el9"));
        assert!(!l.matches(VersionScheme::Rpm, "kernel", "1:5.14.0-362.el9"));
    }

    #[test]
    fn malformed_patterns_name_their_index() {
        let cases: [(&[&str], usize, PatternProblem); 3] = [
            (&["ok", "=1.0"], 1, PatternProblem::EmptyName),
            (&["foo="], 0, PatternProblem::EmptyVersion),
            (
                &["a", "b", "lib[x"],
                2,
                PatternProblem::BadGlob(globset::Glob::new("lib[x").unwrap_err()),
            ),
        ];
        for (patterns, want_index, want_problem) in cases {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            let err = PatternList::compile(PatchList::Rejected, &patterns)
                .err()
                .expect("must fail");
            match err {
                BaselineError::BadPattern {
                    list: PatchList::Rejected,
                    index,
                    problem,
                    ..
                } => {
                    assert_eq!((index, problem), (want_index, want_problem));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn heads_prefilter_only_when_every_glob_has_one() {
        assert_eq!(literal_head("telnet*"), "telnet");
        assert_eq!(literal_head("py{2,3}-x"), "py");
        assert_eq!(literal_head("*-debug"), "");
        let anchored = list(&["telnet*", "rsh", "rsh-*"]);
        assert!(anchored.name_heads.is_some());
        assert!(anchored.matches(VersionScheme::Deb, "telnetd", "1"));
        assert!(anchored.matches(VersionScheme::Deb, "rsh", "1"));
        assert!(!anchored.matches(VersionScheme::Deb, "rsync", "1"));
        assert!(!anchored.matches(VersionScheme::Deb, "", "1"));
        let unanchored = list(&["telnet*", "*-debuginfo"]);
        assert!(unanchored.name_heads.is_none());
        assert!(unanchored.matches(VersionScheme::Rpm, "kernel-debuginfo", "1"));
        assert!(!unanchored.matches(VersionScheme::Rpm, "kernel", "1"));
    }

    #[test]
    fn empty_list_matches_nothing() {
        let l = list(&[]);
        assert!(l.is_empty());
        assert!(!l.matches(VersionScheme::Rpm, "anything", "1"));
    }
}
