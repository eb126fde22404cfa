//! The RPM-family inventory (RHEL and rebuilds, Fedora, Amazon Linux, SUSE):
//! installed packages from the root's rpm database (read directly when it is
//! SQLite, else with `rpm`, see [`rpmdb`]), known versions from the repository metadata dnf or zypper
//! last fetched into the root (see [`repo_cache`]), read with our rpm-md
//! readers, no subprocess.
//!
//! Every version the `primary` lists of an installed package name (and a
//! compatible arch) is a known version. Its classification, severity,
//! advisory id, CVEs, release date and `reboot_suggested` come from the
//! advisory whose package list holds that exact name, epoch:version-release
//! and arch, looked up across all cached repositories (as dnf does). When
//! several advisories list the same build, the strongest wins: security
//! before bugfix before enhancement, then the higher severity, then the
//! earlier `issued`. SUSE's `recommended` patches are bugfixes and its
//! `feature` patches enhancements; other kinds are `other`.
//!
//! Release date: the advisory's `issued` day (UTC). A version without an
//! advisory is `other`, dated by the primary's `time file` (when the file
//! entered the repository: the closest the metadata gets to "published"),
//! else by the cached `repomd.xml`'s modification time. A version listed
//! by several repositories is kept once, dated by its earliest listing.

pub mod reboot;
pub mod repo_cache;
pub mod rpmdb;
pub mod rpmdb_sqlite;

use std::collections::HashSet;

use rustc_hash::{FxHashMap, FxHashSet};
use std::fs;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;
use patchline_core::package::{
    Classification, InstalledPackage, Severity, Update, arches_compatible,
};
use patchline_metadata::rpm::RepodataError;
use patchline_metadata::rpm::primary_scan::{PackageVersion, scan_primary};
use patchline_metadata::rpm::repomd::{RepoMd, parse_repomd};
use patchline_metadata::rpm::updateinfo::{Advisory, AdvisoryKind, UpdateinfoReader};

use crate::known_versions::KnownVersions;
use crate::root::{NodeRoot, ReadError};
use crate::source::{PackageManager, Source};
use repo_cache::{CacheKind, CachedRepo, ListError};
use rpmdb::{RpmdbEntry, RpmdbError, evr_string};

/// Why the RPM-family inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RpmInventoryError {
    #[error(transparent)]
    Rpmdb(#[from] RpmdbError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    List(#[from] ListError),
    #[error("{path}: {source}")]
    Repodata {
        path: PathBuf,
        #[source]
        source: RepodataError,
    },
    #[error("{repomd} lists no `{data_type}` file; refresh the repository cache")]
    NoPrimary {
        repomd: PathBuf,
        data_type: &'static str,
    },
}

/// Everything the RPM-family scan needs from the node.
#[derive(Debug, Clone, Default)]
pub struct RpmInventory {
    pub installed: Vec<InstalledPackage>,
    /// `INSTALLTIME` per installed package, index-aligned with `installed`.
    pub install_times: Vec<Option<i64>>,
    /// Every listed version of an installed package (also older ones).
    pub updates: Vec<Update>,
    pub sources: Vec<Source>,
    /// Installed builds whose advisory suggests a reboot: (name, arch, version).
    pub reboot_suggested: HashSet<(String, String, String)>,
}

/// Reads installed packages and known versions under `root`.
pub fn read_inventory(root: &NodeRoot) -> Result<RpmInventory, RpmInventoryError> {
    // The rpm database and the repositories' advisories are independent
    // reads: on two cores the rpmdb read runs beside the updateinfo parse.
    let (entries, repositories) = std::thread::scope(|scope| {
        let installed = scope.spawn(|| rpmdb::read_installed(root));
        let repositories = read_repositories(root);
        let entries = installed
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (entries, repositories)
    });
    let entries = entries?;
    let repositories = repositories?;
    let names: FxHashSet<&str> = entries.iter().map(|e| e.package.name.as_str()).collect();

    let mut advisories = AdvisoryIndex::default();
    let mut repos = Vec::with_capacity(repositories.len());
    let mut repomds = Vec::with_capacity(repositories.len());
    for repository in repositories {
        let count = repository
            .advisories
            .map(|list| advisories.add(&list, &names));
        repos.push(repository.repo);
        repomds.push((repository.repomd, count));
    }

    let installed_arches = installed_arches(&entries);
    let mut known = KnownVersions::default();
    let mut sources = Vec::with_capacity(repos.len());
    for (repo, (repomd, count)) in repos.iter().zip(&repomds) {
        let data = repomd
            .get("primary")
            .ok_or_else(|| RpmInventoryError::NoPrimary {
                repomd: repo.repomd(),
                data_type: "primary",
            })?;
        let fallback_day = utc_day(modified(&repo.repomd())?);
        let primary = repo.data_file(&data.location_href);
        read_primary(&primary, &installed_arches, |package, version| {
            let advisory = advisories.get(&package.name, &package.arch, &version);
            let release_date = advisory
                .and_then(|a| a.issued)
                .or_else(|| package.time_file.and_then(timestamp_of).map(utc_day))
                .unwrap_or(fallback_day);
            known.add(Update {
                name: package.name,
                arch: package.arch,
                version,
                classification: advisory.map_or(Classification::Other, |a| a.classification),
                severity: advisory.map_or(Severity::Unspecified, |a| a.severity),
                release_date,
                advisory_id: advisory.map(|a| a.id.clone()),
                cves: advisory.map(|a| a.cves.clone()).unwrap_or_default(),
                repository: Some(repo.id.clone()),
                priority: None,
                section: None,
                reboot_suggested: advisory.is_some_and(|a| a.reboot_suggested),
            });
        })?;
        sources.push(Source {
            manager: match repo.kind {
                CacheKind::Dnf => PackageManager::Dnf,
                CacheKind::Zypper => PackageManager::Zypper,
            },
            name: repo.id.clone(),
            security: count.is_some_and(|c| c.security > 0),
            date: data.timestamp.and_then(timestamp_of),
            indexes: 1,
            advisories: count.map(|c| c.total),
        });
    }

    let reboot_suggested = entries
        .iter()
        .map(|e| &e.package)
        .filter(|p| {
            advisories
                .get(&p.name, &p.arch, &p.version)
                .is_some_and(|a| a.reboot_suggested)
        })
        .map(|p| (p.name.clone(), p.arch.clone(), p.version.clone()))
        .collect();
    Ok(RpmInventory {
        install_times: entries.iter().map(|e| e.install_time).collect(),
        installed: entries.into_iter().map(|e| e.package).collect(),
        updates: known.into_updates(),
        sources,
        reboot_suggested,
    })
}

/// A cached repository's index and advisories.
struct RepositoryMetadata {
    repo: CachedRepo,
    repomd: RepoMd,
    /// `None` when the repository has no updateinfo.
    advisories: Option<Vec<Advisory>>,
}

fn read_repositories(root: &NodeRoot) -> Result<Vec<RepositoryMetadata>, RpmInventoryError> {
    let mut repositories = Vec::new();
    for repo in repo_cache::discover(root)? {
        let repomd = read_repomd(&repo)?;
        let advisories = match repomd.get("updateinfo") {
            Some(data) => Some(read_updateinfo(&repo.data_file(&data.location_href))?),
            None => None,
        };
        repositories.push(RepositoryMetadata {
            repo,
            repomd,
            advisories,
        });
    }
    Ok(repositories)
}

fn read_updateinfo(path: &Path) -> Result<Vec<Advisory>, RpmInventoryError> {
    let bytes = read_file(path)?;
    let repodata_error = |source| RpmInventoryError::Repodata {
        path: path.to_owned(),
        source,
    };
    UpdateinfoReader::from_bytes(&bytes)
        .map_err(repodata_error)?
        .collect::<Result<_, _>>()
        .map_err(repodata_error)
}

fn installed_arches(entries: &[RpmdbEntry]) -> FxHashMap<&str, Vec<&str>> {
    let mut arches: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
    for entry in entries {
        arches
            .entry(entry.package.name.as_str())
            .or_default()
            .push(entry.package.arch.as_str());
    }
    arches
}

fn read_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    fs::read(path).map_err(|source| ReadError {
        path: path.to_owned(),
        source,
    })
}

fn read_repomd(repo: &CachedRepo) -> Result<RepoMd, RpmInventoryError> {
    let path = repo.repomd();
    parse_repomd(&read_file(&path)?).map_err(|source| RpmInventoryError::Repodata { path, source })
}

/// Reads a primary, calling `found(package, evr)` for each binary package
/// of an installed name with a compatible arch; errors in packages of other
/// names, and in the parts of a package a scan does not read, are not seen
/// (see [`scan_primary`]).
fn read_primary(
    path: &Path,
    installed_arches: &FxHashMap<&str, Vec<&str>>,
    mut found: impl FnMut(PackageVersion, String),
) -> Result<(), RpmInventoryError> {
    let bytes = read_file(path)?;
    let repodata_error = |source| RpmInventoryError::Repodata {
        path: path.to_owned(),
        source,
    };
    // Only the versions of installed names are read (most of a primary is
    // other packages, and provides and requires no scan looks at).
    let packages =
        scan_primary(&bytes, |name| installed_arches.contains_key(name)).map_err(repodata_error)?;
    for package in packages {
        if is_source_arch(&package.arch) {
            continue;
        }
        let applies = installed_arches
            .get(package.name.as_str())
            .is_some_and(|arches| arches.iter().any(|a| arches_compatible(a, &package.arch)));
        if applies {
            let evr = evr_string(package.epoch, &package.version, &package.release);
            found(package, evr);
        }
    }
    Ok(())
}

/// Source packages share names with binaries but are never installed.
fn is_source_arch(arch: &str) -> bool {
    arch == "src" || arch == "nosrc"
}

fn timestamp_of(seconds: u64) -> Option<Timestamp> {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
}

fn utc_day(instant: Timestamp) -> Date {
    instant.to_zoned(jiff::tz::TimeZone::UTC).date()
}

fn modified(path: &Path) -> Result<Timestamp, ReadError> {
    let read_error = |source| ReadError {
        path: path.to_owned(),
        source,
    };
    let time = fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(read_error)?;
    Timestamp::try_from(time).map_err(|error| read_error(std::io::Error::other(error.to_string())))
}

/// What an advisory says about one build.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AdvisoryFacts {
    id: String,
    classification: Classification,
    severity: Severity,
    issued: Option<Date>,
    cves: Vec<String>,
    reboot_suggested: bool,
}

impl AdvisoryFacts {
    /// Orders advisories for the same build: the greater one wins.
    fn strength(&self) -> (u8, Severity, std::cmp::Reverse<Option<Date>>) {
        let class_rank = match self.classification {
            Classification::Security => 4,
            Classification::Bugfix => 3,
            Classification::Enhancement => 2,
            Classification::NewPackage => 1,
            Classification::Other => 0,
        };
        (class_rank, self.severity, std::cmp::Reverse(self.issued))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct AdvisoryCount {
    total: usize,
    security: usize,
}

/// Advisory facts per (name, arch, evr), over every repository's updateinfo.
/// Keyed by name alone so a lookup borrows (no key is built per package);
/// a name has a handful of advised builds at most.
#[derive(Default)]
struct AdvisoryIndex {
    by_name: FxHashMap<String, Vec<AdvisedBuild>>,
}

/// One (arch, evr) of a name with its strongest advisory.
struct AdvisedBuild {
    arch: String,
    evr: String,
    facts: AdvisoryFacts,
}

impl AdvisoryIndex {
    fn get(&self, name: &str, arch: &str, evr: &str) -> Option<&AdvisoryFacts> {
        self.by_name
            .get(name)?
            .iter()
            .find(|build| build.arch == arch && build.evr == evr)
            .map(|build| &build.facts)
    }

    /// Keeps `facts` for the build unless a stronger advisory is known.
    fn offer(&mut self, name: &str, arch: &str, evr: String, facts: &AdvisoryFacts) {
        let builds = match self.by_name.get_mut(name) {
            Some(builds) => builds,
            None => self.by_name.entry(name.to_owned()).or_default(),
        };
        match builds
            .iter_mut()
            .find(|build| build.arch == arch && build.evr == evr)
        {
            Some(known) if known.facts.strength() >= facts.strength() => {}
            Some(known) => known.facts = facts.clone(),
            None => builds.push(AdvisedBuild {
                arch: arch.to_owned(),
                evr,
                facts: facts.clone(),
            }),
        }
    }

    /// Indexes one updateinfo's advisories, keeping the builds of `names` only.
    fn add(&mut self, advisories: &[Advisory], names: &FxHashSet<&str>) -> AdvisoryCount {
        let mut count = AdvisoryCount::default();
        for advisory in advisories {
            count.total += 1;
            let mut facts = advisory_facts(advisory);
            if facts.classification == Classification::Security {
                count.security += 1;
            }
            for package in advisory.packages() {
                if !names.contains(package.name.as_str()) {
                    continue;
                }
                let evr = evr_string(package.epoch, &package.version, &package.release);
                facts.reboot_suggested = package.reboot_suggested;
                self.offer(&package.name, &package.arch, evr, &facts);
            }
        }
        count
    }
}

fn advisory_facts(advisory: &Advisory) -> AdvisoryFacts {
    AdvisoryFacts {
        id: advisory.id.clone(),
        classification: classification(&advisory.kind),
        severity: advisory
            .severity
            .as_deref()
            .map_or(Severity::Unspecified, Severity::from_vendor_label),
        issued: advisory.issued.map(utc_day),
        cves: advisory.cves().map(str::to_owned).collect(),
        reboot_suggested: advisory.reboot_suggested(),
    }
}

fn classification(kind: &AdvisoryKind) -> Classification {
    match kind {
        AdvisoryKind::Security => Classification::Security,
        AdvisoryKind::Bugfix => Classification::Bugfix,
        AdvisoryKind::Enhancement => Classification::Enhancement,
        AdvisoryKind::NewPackage => Classification::NewPackage,
        AdvisoryKind::Other(kind) if kind.eq_ignore_ascii_case("recommended") => {
            Classification::Bugfix
        }
        AdvisoryKind::Other(kind) if kind.eq_ignore_ascii_case("feature") => {
            Classification::Enhancement
        }
        AdvisoryKind::Other(_) => Classification::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suse_patch_kinds_map_to_the_core_classifications() {
        let other = |kind: &str| classification(&AdvisoryKind::Other(kind.to_owned()));
        assert_eq!(other("recommended"), Classification::Bugfix);
        assert_eq!(other("feature"), Classification::Enhancement);
        assert_eq!(other("optional"), Classification::Other);
        assert_eq!(
            classification(&AdvisoryKind::Security),
            Classification::Security
        );
    }

    #[test]
    fn the_strongest_advisory_for_a_build_wins() {
        let facts = |classification, severity, day: &str| AdvisoryFacts {
            id: String::new(),
            classification,
            severity,
            issued: Some(day.parse().unwrap()),
            cves: Vec::new(),
            reboot_suggested: false,
        };
        let bugfix = facts(Classification::Bugfix, Severity::Critical, "2024-01-01");
        let low = facts(Classification::Security, Severity::Low, "2024-01-01");
        let high = facts(Classification::Security, Severity::Important, "2024-02-01");
        let high_earlier = facts(Classification::Security, Severity::Important, "2024-01-15");
        assert!(low.strength() > bugfix.strength());
        assert!(high.strength() > low.strength());
        assert!(high_earlier.strength() > high.strength());
    }
}
