//! A fixed 256-bit set of small integers: the compiled form of one cron field.
//!
//! Every cron field fits (seconds 0-59 … years stored as `year - 1970`), and a
//! bit set makes "is this value allowed" and "next allowed value" constant-time
//! word operations instead of list scans.

/// Set of values `0..=255`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct ValueSet {
    words: [u64; 4],
}

impl ValueSet {
    /// Adds `value`; values above 255 are ignored (callers validate ranges).
    pub(crate) fn insert(&mut self, value: u16) {
        if let Some(word) = self.words.get_mut(usize::from(value / 64)) {
            *word |= 1 << (value % 64);
        }
    }

    pub(crate) fn contains(&self, value: u16) -> bool {
        self.words
            .get(usize::from(value / 64))
            .is_some_and(|word| word & (1 << (value % 64)) != 0)
    }

    /// The smallest member `>= from`, if any.
    pub(crate) fn first_at_or_after(&self, from: u16) -> Option<u16> {
        let mut index = usize::from(from / 64);
        let mut word = *self.words.get(index)? & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                // index < 4 and trailing_zeros < 64, so this fits in u16.
                return Some((index as u16) * 64 + word.trailing_zeros() as u16);
            }
            index += 1;
            word = *self.words.get(index)?;
        }
    }

    pub(crate) fn len(&self) -> u32 {
        self.words.iter().map(|word| word.count_ones()).sum()
    }

    pub(crate) fn union(&mut self, other: &ValueSet) {
        for (mine, theirs) in self.words.iter_mut().zip(other.words) {
            *mine |= theirs;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_member_across_words() {
        let mut set = ValueSet::default();
        for value in [0, 63, 64, 130, 255] {
            set.insert(value);
        }
        assert_eq!(set.first_at_or_after(0), Some(0));
        assert_eq!(set.first_at_or_after(1), Some(63));
        assert_eq!(set.first_at_or_after(64), Some(64));
        assert_eq!(set.first_at_or_after(65), Some(130));
        assert_eq!(set.first_at_or_after(131), Some(255));
        assert_eq!(set.first_at_or_after(256), None);
        assert_eq!(set.len(), 5);
        assert!(set.contains(130) && !set.contains(129) && !set.contains(300));
    }

    #[test]
    fn empty_set_has_no_members() {
        let set = ValueSet::default();
        assert_eq!(set.first_at_or_after(0), None);
        assert_eq!(set.len(), 0);
    }
}
