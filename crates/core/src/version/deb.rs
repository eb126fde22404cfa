//! Debian version ordering, byte for byte as dpkg's `verrevcmp`.
//!
//! A version is `[epoch:]upstream[-revision]`: the epoch ends at the first
//! `:`, the revision starts after the last `-`. A missing revision compares
//! equal to `0`. Within upstream and revision, non-digit runs compare by a
//! modified ASCII order (`~` before end-of-string before letters before
//! other characters), digit runs compare numerically.

use std::cmp::Ordering;

use super::prefix;

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
    let (a_str, b_str) = (a, b);
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let shared = prefix::common_len(a, b);
    if shared == a.len() && shared == b.len() {
        return Ordering::Equal;
    }
    let (tail_a, tail_b) = (
        prefix::scan_tail(&a[shared..]),
        prefix::scan_tail(&b[shared..]),
    );
    // With no `:` after the shared prefix, any epoch lies inside it and is
    // the same for both. verrevcmp carries no state across a non-digit, so
    // it can restart at the start of the digit run the prefix ends in; a
    // `:` or `-` before that point is a non-digit too, so the restart never
    // leaves the part (upstream or revision) that holds the first difference.
    if !tail_a.has_colon && !tail_b.has_colon {
        let restart = prefix::back_off(a, shared, |c| c.is_ascii_digit());
        match (tail_a.last_dash, tail_b.last_dash) {
            // Every `-` is in the prefix: the same upstream/revision split.
            (None, None) => return verrevcmp(&a[restart..], &b[restart..]),
            // Both revisions start after the prefix: upstreams share it.
            (Some(dash_a), Some(dash_b)) => {
                let (dash_a, dash_b) = (shared + dash_a, shared + dash_b);
                return verrevcmp(&a[restart..dash_a], &b[restart..dash_b])
                    .then_with(|| verrevcmp(&a[dash_a + 1..], &b[dash_b + 1..]));
            }
            _ => {}
        }
    }
    compare_parts(&DebVersion::split(a_str), &DebVersion::split(b_str))
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

/// dpkg's `order()`: the weight of a character in a non-digit run. Digits
/// weigh 0 like the end of the string, because both end the run.
const WEIGHTS: [i16; 256] = {
    let mut weights = [0i16; 256];
    let mut c = 0;
    while c < 256 {
        let byte = c as u8;
        weights[c] = if byte.is_ascii_digit() {
            0
        } else if byte.is_ascii_alphabetic() {
            byte as i16
        } else if byte == b'~' {
            -1
        } else {
            byte as i16 + 256
        };
        c += 1;
    }
    weights
};

#[inline]
fn weight(s: &[u8], at: usize) -> i16 {
    s.get(at).map_or(0, |&c| WEIGHTS[usize::from(c)])
}

fn digit_run_end(s: &[u8], from: usize) -> usize {
    from + s[from.min(s.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count()
}

fn zeros_end(s: &[u8], from: usize) -> usize {
    from + s[from.min(s.len())..]
        .iter()
        .take_while(|&&c| c == b'0')
        .count()
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    loop {
        // Non-digit run, character by character; ends when both sides sit
        // on a digit or at their end (both weigh 0, no other byte does).
        loop {
            let (wa, wb) = (weight(a, i), weight(b, j));
            if wa != wb {
                return wa.cmp(&wb);
            }
            if wa == 0 {
                break;
            }
            i += 1;
            j += 1;
        }
        // Digit run, compared as a number of any length.
        i = zeros_end(a, i);
        j = zeros_end(b, j);
        let (end_a, end_b) = (digit_run_end(a, i), digit_run_end(b, j));
        if end_a - i != end_b - j {
            return (end_a - i).cmp(&(end_b - j));
        }
        // A plain loop: the runs are a few digits, too short for memcmp.
        for (x, y) in a[i..end_a].iter().zip(&b[j..end_b]) {
            if x != y {
                return x.cmp(y);
            }
        }
        (i, j) = (end_a, end_b);
        if i >= a.len() && j >= b.len() {
            return Ordering::Equal;
        }
    }
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
            // Shared prefixes that end inside a digit run or part.
            ("1.0-10", "1.0-9", Greater),
            ("1.2.009", "1.2.9", Equal),
            ("1.2.10", "1.2.9", Greater),
            ("1.0", "1.0-1", Less),
            ("2:1.0", "10:1.0", Less),
            ("1.0-1", "1.0-1-1", Less),
            ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1", Less),
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
