//! One node's candidate updates grouped by package name.
//!
//! Built per evaluation as a counting sort over a hash of names (FxHash:
//! short keys, no need for DoS resistance on data the caller supplies for
//! its own node): two passes over the updates, no string comparisons for
//! ordering. Sorting the candidates by name instead was the largest single
//! cost of an evaluation.

use rustc_hash::FxHashMap;

use crate::package::Update;

pub(super) struct CandidateIndex<'a> {
    group_of_name: FxHashMap<&'a str, usize>,
    /// Group `g` is `members[starts[g]..starts[g + 1]]`.
    starts: Vec<usize>,
    /// Update indices, grouped by name; input order within a group.
    members: Vec<usize>,
}

impl<'a> CandidateIndex<'a> {
    pub fn build(updates: &'a [Update]) -> CandidateIndex<'a> {
        let mut group_of_name =
            FxHashMap::with_capacity_and_hasher(updates.len(), Default::default());
        let mut group_of_update = Vec::with_capacity(updates.len());
        let mut sizes: Vec<usize> = Vec::new();
        for update in updates {
            let next = sizes.len();
            let group = *group_of_name.entry(update.name.as_str()).or_insert(next);
            if group == next {
                sizes.push(0);
            }
            sizes[group] += 1;
            group_of_update.push(group);
        }
        let mut starts = Vec::with_capacity(sizes.len() + 1);
        let mut total = 0;
        starts.push(0);
        for size in &mut sizes {
            // `sizes` becomes each group's fill cursor.
            let start = total;
            total += *size;
            *size = start;
            starts.push(total);
        }
        let mut members = vec![0; updates.len()];
        for (update, &group) in group_of_update.iter().enumerate() {
            members[sizes[group]] = update;
            sizes[group] += 1;
        }
        CandidateIndex {
            group_of_name,
            starts,
            members,
        }
    }

    pub fn group_count(&self) -> usize {
        self.starts.len() - 1
    }

    /// The group of the updates named `name`.
    #[inline]
    pub fn group(&self, name: &str) -> Option<usize> {
        self.group_of_name.get(name).copied()
    }

    /// The update indices of a group.
    #[inline]
    pub fn members(&self, group: usize) -> &[usize] {
        &self.members[self.starts[group]..self.starts[group + 1]]
    }

    /// Every group, in the order its name first appears among the updates.
    pub fn groups(&self) -> impl Iterator<Item = &[usize]> {
        self.starts
            .windows(2)
            .map(|bounds| &self.members[bounds[0]..bounds[1]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{Classification, Severity};

    fn named(name: &str) -> Update {
        Update {
            name: name.into(),
            arch: "amd64".into(),
            version: "1".into(),
            classification: Classification::Other,
            severity: Severity::Unspecified,
            release_date: jiff::civil::date(2025, 1, 1),
            advisory_id: None,
            cves: Vec::new(),
            repository: None,
            priority: None,
            section: None,
            reboot_suggested: false,
        }
    }

    #[test]
    fn groups_by_name_in_first_appearance_order() {
        let updates: Vec<Update> = ["b", "a", "b", "c", "a", "b"]
            .into_iter()
            .map(named)
            .collect();
        let index = CandidateIndex::build(&updates);
        assert_eq!(index.group_count(), 3);
        let groups: Vec<&[usize]> = index.groups().collect();
        assert_eq!(groups, [&[0, 2, 5][..], &[1, 4][..], &[3][..]]);
        assert_eq!(
            index.group("a").map(|g| index.members(g)),
            Some(&[1, 4][..])
        );
        assert_eq!(index.group("z"), None);
        assert_eq!(CandidateIndex::build(&[]).groups().count(), 0);
    }
}
