//! RPM version ordering, as rpm 4.18's `rpmvercmp` and `rpm.vercmp`.
//!
//! `rpm.vercmp` (rpm's `rpmverCmp`) compares epoch, version, then release;
//! a missing release sorts below any release, even an empty one, which
//! keeps the order total. (Dependency matching, `rpmverOverlap`, instead
//! lets a missing release match any: that is a range rule, not an order.)
//!
//! Segments are maximal runs of ASCII digits or ASCII letters; everything
//! else separates. Digits beat letters, numbers compare numerically, `~`
//! sorts before anything (even the end), `^` sorts after the end but before
//! any further segment.

use std::cmp::Ordering;

use super::prefix;

/// The parts of an `[epoch:]version[-release]` string, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evr<'a> {
    /// `None` when the string has no epoch (compared as `0`).
    pub epoch: Option<&'a str>,
    pub version: &'a str,
    /// `None` when absent, which sorts below every release.
    pub release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    /// Splits like rpm's `parseEVR`: the epoch is the leading digits when a
    /// `:` follows them; the release follows the last `-`.
    pub fn split(evr: &'a str) -> Self {
        let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
        let after_digits = &evr[digits..];
        let release_at = after_digits.rfind('-').map(|i| i + digits);
        let (epoch, version_start) = if after_digits.starts_with(':') {
            let epoch = &evr[..digits];
            (Some(if epoch.is_empty() { "0" } else { epoch }), digits + 1)
        } else {
            (None, 0)
        };
        match release_at {
            Some(r) => Evr {
                epoch,
                version: &evr[version_start..r],
                release: Some(&evr[r + 1..]),
            },
            None => Evr {
                epoch,
                version: &evr[version_start..],
                release: None,
            },
        }
    }
}

/// Compares two `[epoch:]version[-release]` strings like `rpm.vercmp`.
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    let (a_bytes, b_bytes) = (a.as_bytes(), b.as_bytes());
    let shared = prefix::common_len(a_bytes, b_bytes);
    if shared == a_bytes.len() && shared == b_bytes.len() {
        return Ordering::Equal;
    }
    let (tail_a, tail_b) = (
        prefix::scan_tail(&a_bytes[shared..]),
        prefix::scan_tail(&b_bytes[shared..]),
    );
    // With no `:` after the shared prefix both sides have the same epoch
    // (or none): an epoch's `:` would be in the prefix, and a leading digit
    // run that reaches past the prefix ends in something else. rpmvercmp
    // carries no state across a non-alphanumeric byte, so it can restart
    // at the start of the segment the prefix ends in; a `:` or `-` before
    // that point is such a byte, so the restart stays in the right part.
    if !tail_a.has_colon && !tail_b.has_colon {
        let restart = prefix::back_off(a_bytes, shared, |c| c.is_ascii_alphanumeric());
        match (tail_a.last_dash, tail_b.last_dash) {
            // Every `-` is in the prefix: the same version/release split.
            (None, None) => return segments_cmp(&a_bytes[restart..], &b_bytes[restart..]),
            // Both releases start after the prefix: versions share it.
            (Some(dash_a), Some(dash_b)) => {
                let (dash_a, dash_b) = (shared + dash_a, shared + dash_b);
                return segments_cmp(&a_bytes[restart..dash_a], &b_bytes[restart..dash_b])
                    .then_with(|| segments_cmp(&a_bytes[dash_a + 1..], &b_bytes[dash_b + 1..]));
            }
            _ => {}
        }
    }
    compare_parts(&Evr::split(a), &Evr::split(b))
}

/// Compares split EVRs: epoch, then version, then release (absent first).
pub fn compare_parts(a: &Evr<'_>, b: &Evr<'_>) -> Ordering {
    // Straight rpmvercmp on each part, without the prefix fast path: this
    // is the reference the fast path is tested against.
    let parts = |x: &str, y: &str| segments_cmp(x.as_bytes(), y.as_bytes());
    parts(a.epoch.unwrap_or("0"), b.epoch.unwrap_or("0"))
        .then_with(|| parts(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(ra), Some(rb)) => parts(ra, rb),
            (ra, rb) => ra.is_some().cmp(&rb.is_some()),
        })
}

/// rpm's `rpmvercmp` on one version or release string.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let shared = prefix::common_len(a, b);
    if shared == a.len() && shared == b.len() {
        return Ordering::Equal;
    }
    // Same restart rule as in `compare_evr`.
    let restart = prefix::back_off(a, shared, |c| c.is_ascii_alphanumeric());
    segments_cmp(&a[restart..], &b[restart..])
}

/// The body of `rpmvercmp`, on bytes.
fn segments_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && is_sep(a[i]) {
            i += 1;
        }
        while j < b.len() && is_sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca.is_none() && cb.is_none() {
            return Ordering::Equal;
        }
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            // One ran out: whichever still has characters wins.
            return if ca.is_none() {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|c| class(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| class(c)).count();
        if end_b == j {
            // Different segment types: numeric is newer than alpha.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut seg_a, mut seg_b) = (&a[i..end_a], &b[j..end_b]);
        if numeric {
            seg_a = &seg_a[seg_a.iter().take_while(|&&c| c == b'0').count()..];
            seg_b = &seg_b[seg_b.iter().take_while(|&&c| c == b'0').count()..];
            match seg_a.len().cmp(&seg_b.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match seg_a.cmp(seg_b) {
            Ordering::Equal => {}
            other => return other,
        }
        i = end_a;
        j = end_b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn rpmvercmp_table() {
        // Cases from rpm's own test suite (tests/rpmvercmp.at).
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1a", Less),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("1b.fc17", "1.fc17", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0.", "1.0", Equal),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("a+", "a_", Equal),
            ("+a", "_a", Equal),
            ("+", "_", Equal),
            ("1.0.", "1.0", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn evr() {
        assert_eq!(compare_evr("1:1.0-1", "2.0-1"), Greater);
        // Shared prefixes that end inside a segment or an epoch.
        assert_eq!(compare_evr("1.0-10.el9", "1.0-9.el9"), Greater);
        assert_eq!(compare_evr("2:1.0-1", "10:1.0-1"), Less);
        assert_eq!(compare_evr("1.0abc-1", "1.0abd-1"), Less);
        assert_eq!(compare_evr("1.0a-1", "1.0a1-1"), Less);
        assert_eq!(compare_evr("12-1", "12:1"), Less);
        // rpm 4.18 rpm.vercmp: no release < empty release < any release.
        assert_eq!(compare_evr("1.0", "1.0-5"), Less);
        assert_eq!(compare_evr("1.0", "1.0-"), Less);
        assert_eq!(compare_evr("1.0-", "1.0-0"), Less);
        assert_eq!(compare_evr("0:1.0-1", "1.0-1"), Equal);
        assert_eq!(compare_evr("1.0-1.el9", "1.0-1.el9_2"), Less);
        assert_eq!(
            Evr::split("2:1.2-3.fc40"),
            Evr {
                epoch: Some("2"),
                version: "1.2",
                release: Some("3.fc40")
            }
        );
    }
}
