//! Debian version ordering, byte for byte as dpkg's `verrevcmp`.
//!
//! A version is `[epoch:]upstream[-revision]`: the epoch ends at the first
//! `:`, the revision starts after the last `-`. A missing revision compares
//! equal to `0`. Within upstream and revision, non-digit runs compare by a
//! modified ASCII order (`~` before end-of-string before letters before
//! other characters), digit runs compare numerically.

use std::cmp::Ordering;

/// The three parts of a Debian version, borrowed from the original string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebVersion<'a> {
    /// Epoch digits (empty when absent, which means 0).
    pub epoch: &'a str,
    pub upstream: &'a str,
    /// Revision (empty when absent, which compares as `0`).
    pub revision: &'a str,
}

impl<'a> DebVersion<'a> {
    /// Splits a version string into its parts. Never fails: validation of
    /// the characters is the job of [`validate`].
    pub fn split(version: &'a str) -> Self {
        let (epoch, rest) = match version.find(':') {
            Some(i) => (&version[..i], &version[i + 1..]),
            None => ("", version),
        };
        let (upstream, revision) = match rest.rfind('-') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        DebVersion {
            epoch,
            upstream,
            revision,
        }
    }
}

/// Why a string is not a valid Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDebVersion {
    #[error("version string is empty")]
    Empty,
    #[error("epoch {0:?} is not a number")]
    BadEpoch(String),
    #[error("epoch {0:?} is larger than dpkg's limit of 2147483647")]
    EpochTooBig(String),
    #[error("upstream version is empty")]
    EmptyUpstream,
    #[error("revision is empty after '-'")]
    EmptyRevision,
    #[error("invalid character {0:?} in version")]
    BadChar(char),
}

/// Checks a version string the way dpkg's `parseversion` does (errors, not
/// warnings: dpkg accepts an upstream not starting with a digit).
pub fn validate(version: &str) -> Result<DebVersion<'_>, InvalidDebVersion> {
    if version.is_empty() {
        return Err(InvalidDebVersion::Empty);
    }
    let parts = DebVersion::split(version);
    if version.contains(':')
        && (parts.epoch.is_empty() || !parts.epoch.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(InvalidDebVersion::BadEpoch(parts.epoch.to_owned()));
    }
    // dpkg parses the epoch into a C int and rejects anything larger.
    if compare_numeric(parts.epoch.as_bytes(), b"2147483647") == Ordering::Greater {
        return Err(InvalidDebVersion::EpochTooBig(parts.epoch.to_owned()));
    }
    if parts.upstream.is_empty() {
        return Err(InvalidDebVersion::EmptyUpstream);
    }
    if version.contains('-') && parts.revision.is_empty() {
        return Err(InvalidDebVersion::EmptyRevision);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".+-~:".contains(c);
    if let Some(c) = parts.upstream.chars().find(|&c| !allowed(c)) {
        return Err(InvalidDebVersion::BadChar(c));
    }
    if let Some(c) = parts
        .revision
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || ".+~".contains(c)))
    {
        return Err(InvalidDebVersion::BadChar(c));
    }
    Ok(parts)
}

/// Compares two Debian versions as `dpkg --compare-versions` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (DebVersion::split(a), DebVersion::split(b));
    compare_parts(&a, &b)
}

/// Compares two already split versions.
pub fn compare_parts(a: &DebVersion<'_>, b: &DebVersion<'_>) -> Ordering {
    compare_numeric(a.epoch.as_bytes(), b.epoch.as_bytes())
        .then_with(|| verrevcmp(a.upstream.as_bytes(), b.upstream.as_bytes()))
        .then_with(|| verrevcmp(a.revision.as_bytes(), b.revision.as_bytes()))
}

/// Compares two digit strings as numbers of any length.
fn compare_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_leading_zeros(s: &[u8]) -> &[u8] {
    let zeros = s.iter().take_while(|&&c| c == b'0').count();
    &s[zeros..]
}

/// dpkg's character weight in non-digit runs; 0 stands for end of string
/// and for a digit (which ends the run).
#[inline]
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        // Non-digit run.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Digit run, compared as a number.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && j < b.len() && a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn table() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0-0", "1.0", Equal),
            ("0:1.0", "1.0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0+", Less),
            ("1.0+", "1.0.", Less),
            ("1:0.1", "2.0", Greater),
            ("1.10", "1.9", Greater),
            ("1.010", "1.10", Equal),
            ("2.36-9+deb12u14", "2.36-9+deb12u9", Greater),
            ("1.2.3-1ubuntu1", "1.2.3-1", Greater),
            ("1-2-3", "1-2", Greater),
            ("10:1", "9:2", Greater),
            ("00010:1", "10:1", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn validation() {
        assert!(validate("1:2.3-4").is_ok());
        assert!(validate("").is_err());
        assert!(validate("a:1").is_err());
        assert!(validate("1.0-").is_err());
        assert!(validate(":1").is_err());
        assert!(validate("1.0 beta").is_err());
        assert!(validate("0002147483647:1").is_ok());
        assert!(validate("2147483648:1").is_err());
    }
}
