//! Known versions of installed packages, gathered from every source a node
//! lists, deduplicated by (name, arch, version).

use patchline_core::package::{Classification, Update};

/// Versions deduplicated by (name, arch, version). A version listed by
/// several sources stays a security update if any of them says so (a Debian
/// security fix copied into the main suite at a point release; RPM
/// advisories are already matched across repositories) and is dated by its
/// earliest listing.
///
/// Collected as listed and merged once after a stable sort (the order the
/// result is given in anyway): no key strings copied and hashed per listing.
#[derive(Default)]
pub(crate) struct KnownVersions {
    listed: Vec<Update>,
}

impl KnownVersions {
    pub(crate) fn add(&mut self, update: Update) {
        self.listed.push(update);
    }

    /// The versions, sorted by name, arch and version text.
    pub(crate) fn into_updates(mut self) -> Vec<Update> {
        // Stable: listings of one version stay in the order they were
        // added, so the first listing's fields are kept.
        self.listed
            .sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
        let mut updates: Vec<Update> = Vec::with_capacity(self.listed.len());
        for update in self.listed {
            match updates.last_mut() {
                Some(known)
                    if known.name == update.name
                        && known.arch == update.arch
                        && known.version == update.version =>
                {
                    if update.classification == Classification::Security
                        && known.classification != Classification::Security
                    {
                        known.classification = Classification::Security;
                        known.repository = update.repository;
                    }
                    known.release_date = known.release_date.min(update.release_date);
                }
                _ => updates.push(update),
            }
        }
        updates
    }
}
