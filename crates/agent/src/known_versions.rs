//! Known versions of installed packages, gathered from every source a node
//! lists, deduplicated by (name, arch, version).

use std::collections::HashMap;

use patchline_core::package::{Classification, Update};

/// Versions deduplicated by (name, arch, version). A version listed by
/// several sources stays a security update if any of them says so (a Debian
/// security fix copied into the main suite at a point release; RPM
/// advisories are already matched across repositories) and is dated by its
/// earliest listing.
#[derive(Default)]
pub(crate) struct KnownVersions {
    by_key: HashMap<(String, String, String), Update>,
}

impl KnownVersions {
    pub(crate) fn add(&mut self, update: Update) {
        let key = (
            update.name.clone(),
            update.arch.clone(),
            update.version.clone(),
        );
        match self.by_key.get_mut(&key) {
            None => {
                self.by_key.insert(key, update);
            }
            Some(known) => {
                if update.classification == Classification::Security
                    && known.classification != Classification::Security
                {
                    known.classification = Classification::Security;
                    known.repository = update.repository;
                }
                known.release_date = known.release_date.min(update.release_date);
            }
        }
    }

    /// The versions, sorted by name, arch and version text.
    pub(crate) fn into_updates(self) -> Vec<Update> {
        let mut updates: Vec<Update> = self.by_key.into_values().collect();
        updates.sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
        updates
    }
}
