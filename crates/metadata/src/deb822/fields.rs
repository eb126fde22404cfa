//! Field-level helpers shared by the Debian readers: case-insensitive field
//! names and the `Source: name (version)` syntax.

use std::borrow::Cow;

use super::{Deb822Error, excerpt};

/// Whether a field name equals `canonical`, ignoring ASCII case (deb822
/// field names are case-insensitive).
#[inline]
pub fn field_is(name: &str, canonical: &str) -> bool {
    name.len() == canonical.len() && name.eq_ignore_ascii_case(canonical)
}

/// The `Source` field of a binary package: the source package name and, when
/// it differs from the binary's, the source version in parentheses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceRef<'a> {
    /// Source package name.
    pub name: Cow<'a, str>,
    /// Source version, present only when it differs from the binary version.
    pub version: Option<Cow<'a, str>>,
}

impl<'a> SourceRef<'a> {
    /// Parses `name` or `name (version)`.
    pub fn parse(value: &'a str, line: usize) -> Result<Self, Deb822Error> {
        let invalid = |reason| Deb822Error::InvalidValue {
            line,
            field: "Source",
            value: excerpt(value),
            reason,
        };
        let value = value.trim();
        let (name, version) = match value.split_once('(') {
            None => (value, None),
            Some((name, rest)) => {
                let version = rest
                    .trim_end()
                    .strip_suffix(')')
                    .ok_or_else(|| invalid("missing ')' after the source version"))?
                    .trim();
                if version.is_empty() || version.contains(char::is_whitespace) {
                    return Err(invalid("malformed source version"));
                }
                (name.trim_end(), Some(Cow::Borrowed(version)))
            }
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(invalid("malformed source name"));
        }
        Ok(SourceRef {
            name: Cow::Borrowed(name),
            version,
        })
    }

    /// Detaches from the input text.
    pub fn into_owned(self) -> SourceRef<'static> {
        SourceRef {
            name: Cow::Owned(self.name.into_owned()),
            version: self.version.map(|v| Cow::Owned(v.into_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_with_and_without_version() {
        let plain = SourceRef::parse("openssl", 1).unwrap();
        assert_eq!(plain.name, "openssl");
        assert_eq!(plain.version, None);
        let versioned = SourceRef::parse("glibc (2.36-9+deb12u4)", 1).unwrap();
        assert_eq!(versioned.name, "glibc");
        assert_eq!(versioned.version.as_deref(), Some("2.36-9+deb12u4"));
    }

    #[test]
    fn rejects_malformed_source() {
        for bad in ["glibc (2.36", "glibc ()", "two names", "(1.0)", "x (1 2)"] {
            assert!(
                matches!(
                    SourceRef::parse(bad, 7),
                    Err(Deb822Error::InvalidValue { line: 7, .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn field_names_compare_case_insensitively() {
        assert!(field_is("pre-depends", "Pre-Depends"));
        assert!(!field_is("Depends", "Pre-Depends"));
    }
}
