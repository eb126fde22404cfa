//! Byte helpers for the shared-prefix fast paths of both schemes.
//!
//! Real update checks compare an installed version with a candidate of the
//! same package, so the two strings usually differ only in their last few
//! bytes. Finding that point eight bytes at a time and scanning only the
//! short tails is what makes a comparison cost a few nanoseconds.

/// Length of the longest common prefix of `a` and `b`.
#[inline]
pub(crate) fn common_len(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut at = 0;
    while let (Some(wa), Some(wb)) = (a[at..].first_chunk::<8>(), b[at..].first_chunk::<8>()) {
        let diff = u64::from_le_bytes(*wa) ^ u64::from_le_bytes(*wb);
        if diff != 0 {
            return at + (diff.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    if len >= 8 {
        // Re-read the last eight bytes (overlapping checked ones, which are
        // equal) instead of looping over the 0..8 left.
        let (Some(wa), Some(wb)) = (a.last_chunk::<8>(), b.last_chunk::<8>()) else {
            return at;
        };
        let diff = u64::from_le_bytes(*wa) ^ u64::from_le_bytes(*wb);
        return if diff == 0 {
            len
        } else {
            len - 8 + (diff.trailing_zeros() / 8) as usize
        };
    }
    at + a[at..]
        .iter()
        .zip(&b[at..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// What the fast paths need to know about the bytes after the common
/// prefix: whether an epoch `:` hides there and where the last `-` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tail {
    pub(crate) has_colon: bool,
    /// Offset of the last `-` within the tail.
    pub(crate) last_dash: Option<usize>,
}

#[inline]
pub(crate) fn scan_tail(tail: &[u8]) -> Tail {
    let mut scan = Tail {
        has_colon: false,
        last_dash: None,
    };
    for (i, &c) in tail.iter().enumerate() {
        match c {
            b':' => scan.has_colon = true,
            b'-' => scan.last_dash = Some(i),
            _ => {}
        }
    }
    scan
}

/// Moves `at` back over the bytes of `s` that satisfy `inside`, so that a
/// comparison restarted there never starts in the middle of a run.
#[inline]
pub(crate) fn back_off(s: &[u8], mut at: usize, inside: impl Fn(u8) -> bool) -> usize {
    while let Some(&c) = s[..at].last() {
        if !inside(c) {
            break;
        }
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_len_at_every_position() {
        let base = b"0123456789abcdefghijklmnopqrstuv";
        for len in 0..base.len() {
            for diff in 0..=len {
                let a = &base[..len];
                let mut b = a.to_vec();
                if diff < len {
                    b[diff] = b'#';
                }
                assert_eq!(common_len(a, &b), diff, "len {len} diff {diff}");
                assert_eq!(common_len(&b, a), diff);
                // One string a prefix of the other.
                assert_eq!(common_len(&a[..diff], a), diff);
            }
        }
    }

    #[test]
    fn tail_and_back_off() {
        assert_eq!(
            scan_tail(b"1-2:3-4"),
            Tail {
                has_colon: true,
                last_dash: Some(5)
            }
        );
        assert_eq!(scan_tail(b"").last_dash, None);
        assert_eq!(back_off(b"1.234", 5, |c| c.is_ascii_digit()), 2);
        assert_eq!(back_off(b"1.234", 2, |c| c.is_ascii_digit()), 2);
        assert_eq!(back_off(b"123", 3, |c| c.is_ascii_digit()), 0);
    }
}
