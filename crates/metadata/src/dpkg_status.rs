//! The dpkg status database (`/var/lib/dpkg/status`): what is installed, in
//! which state.
//!
//! Owns the typed view of a status stanza, in particular the `Status:`
//! triple (want, error flag, state) so the agent can tell a package that is
//! fully installed from one an interrupted dpkg run left half-done.
//! Relationship fields are kept as raw strings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use crate::deb822::{Deb822Error, Field, Paragraph, Paragraphs, SourceRef, excerpt, field_is};

/// Why a status file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StatusError {
    /// A syntax or field error, with its line.
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
    /// Two stanzas describe the same package and architecture.
    #[error(
        "line {line}: package {name}:{architecture} already described by the stanza at line {first_line}"
    )]
    DuplicatePackage {
        /// 1-based line of the second stanza.
        line: usize,
        /// 1-based line of the first stanza.
        first_line: usize,
        /// Package name.
        name: String,
        /// Architecture (empty when absent).
        architecture: String,
    },
}

/// What the administrator asked dpkg to do with the package (first word of
/// `Status:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Want {
    /// No selection made.
    Unknown,
    /// Selected for installation.
    Install,
    /// Held at its current version.
    Hold,
    /// Selected for removal (configuration kept).
    Deinstall,
    /// Selected for removal including configuration.
    Purge,
}

/// The error flag (second word of `Status:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorFlag {
    /// No problem recorded.
    Ok,
    /// The package is broken and must be reinstalled (`reinstreq`).
    ReinstallRequired,
}

/// The package's state on disk (third word of `Status:`), with every state
/// dpkg knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageState {
    /// Not installed and no configuration files left.
    NotInstalled,
    /// Removed, only configuration files left.
    ConfigFiles,
    /// Installation or removal started and did not finish.
    HalfInstalled,
    /// Unpacked but not configured.
    Unpacked,
    /// Configuration started and did not finish.
    HalfConfigured,
    /// Waiting for another package's trigger processing.
    TriggersAwaited,
    /// Triggers were activated and have not been processed.
    TriggersPending,
    /// Fully installed and configured.
    Installed,
}

impl PackageState {
    /// The state's name as dpkg writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageState::NotInstalled => "not-installed",
            PackageState::ConfigFiles => "config-files",
            PackageState::HalfInstalled => "half-installed",
            PackageState::Unpacked => "unpacked",
            PackageState::HalfConfigured => "half-configured",
            PackageState::TriggersAwaited => "triggers-awaited",
            PackageState::TriggersPending => "triggers-pending",
            PackageState::Installed => "installed",
        }
    }

    /// Whether the package's files are on disk (everything from `unpacked`
    /// on, plus `half-installed` whose files are partly there).
    pub fn has_files(self) -> bool {
        !matches!(self, PackageState::NotInstalled | PackageState::ConfigFiles)
    }
}

impl fmt::Display for PackageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `Status:` triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackageStatus {
    /// Selection.
    pub want: Want,
    /// Error flag.
    pub error: ErrorFlag,
    /// State.
    pub state: PackageState,
}

impl PackageStatus {
    /// Parses `want flag state` as dpkg writes it. Also accepts the obsolete
    /// spellings dpkg itself still reads (`hold`/`hold-reinstreq` flags,
    /// `post-inst-failed` and `removal-failed` states).
    pub fn parse(value: &str, line: usize) -> Result<Self, Deb822Error> {
        let invalid = |reason| Deb822Error::InvalidValue {
            line,
            field: "Status",
            value: excerpt(value),
            reason,
        };
        let mut words = value.split_ascii_whitespace();
        let (Some(want), Some(error), Some(state), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(invalid("expected three words: want, error flag, state"));
        };
        let want = match want {
            "unknown" => Want::Unknown,
            "install" => Want::Install,
            "hold" => Want::Hold,
            "deinstall" => Want::Deinstall,
            "purge" => Want::Purge,
            _ => return Err(invalid("unknown selection (want)")),
        };
        let error = match error {
            "ok" | "hold" => ErrorFlag::Ok,
            "reinstreq" | "hold-reinstreq" => ErrorFlag::ReinstallRequired,
            _ => return Err(invalid("unknown error flag")),
        };
        let state = match state {
            "not-installed" => PackageState::NotInstalled,
            "config-files" => PackageState::ConfigFiles,
            "half-installed" | "removal-failed" => PackageState::HalfInstalled,
            "unpacked" => PackageState::Unpacked,
            "half-configured" | "post-inst-failed" => PackageState::HalfConfigured,
            "triggers-awaited" => PackageState::TriggersAwaited,
            "triggers-pending" => PackageState::TriggersPending,
            "installed" => PackageState::Installed,
            _ => return Err(invalid("unknown package state")),
        };
        Ok(PackageStatus { want, error, state })
    }

    /// Whether the package is fully installed and configured with no error.
    pub fn is_installed_ok(self) -> bool {
        self.state == PackageState::Installed && self.error == ErrorFlag::Ok
    }

    /// Whether a dpkg run left this package mid-operation and `dpkg
    /// --configure -a` (or a reinstall) is needed: a reinstall-required flag,
    /// or a state between "not installed" and "installed" — half-installed,
    /// unpacked, half-configured, or waiting on triggers.
    pub fn is_interrupted(self) -> bool {
        self.error == ErrorFlag::ReinstallRequired
            || matches!(
                self.state,
                PackageState::HalfInstalled
                    | PackageState::Unpacked
                    | PackageState::HalfConfigured
                    | PackageState::TriggersAwaited
                    | PackageState::TriggersPending
            )
    }
}

/// The `Multi-Arch:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MultiArch {
    /// `no` (the default when absent).
    No,
    /// `same`: co-installable across architectures.
    Same,
    /// `foreign`: satisfies dependencies of other architectures.
    Foreign,
    /// `allowed`: dependents may ask for `:any`.
    Allowed,
}

impl MultiArch {
    /// Parses the field value; unknown values are rejected as dpkg does.
    pub fn parse(value: &str, line: usize) -> Result<Self, Deb822Error> {
        match value {
            "no" => Ok(MultiArch::No),
            "same" => Ok(MultiArch::Same),
            "foreign" => Ok(MultiArch::Foreign),
            "allowed" => Ok(MultiArch::Allowed),
            _ => Err(Deb822Error::InvalidValue {
                line,
                field: "Multi-Arch",
                value: excerpt(value),
                reason: "expected no, same, foreign or allowed",
            }),
        }
    }
}

/// One package stanza of the status database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage<'a> {
    /// `Package`.
    pub name: Cow<'a, str>,
    /// `Version`; absent only for packages that are not installed.
    pub version: Option<Cow<'a, str>>,
    /// `Architecture` (`amd64`, `all`, …).
    pub architecture: Option<Cow<'a, str>>,
    /// `Source`, when it differs from the package name or version.
    pub source: Option<SourceRef<'a>>,
    /// `Status`.
    pub status: PackageStatus,
    /// `Multi-Arch`.
    pub multi_arch: Option<MultiArch>,
    /// `Priority` (`required`, `important`, `standard`, `optional`, `extra`).
    pub priority: Option<Cow<'a, str>>,
    /// `Section`.
    pub section: Option<Cow<'a, str>>,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Installed-Size` in KiB.
    pub installed_size: Option<u64>,
    /// `Provides`, raw.
    pub provides: Option<Cow<'a, str>>,
    /// `Depends`, raw.
    pub depends: Option<Cow<'a, str>>,
    /// `Pre-Depends`, raw.
    pub pre_depends: Option<Cow<'a, str>>,
    /// 1-based line where the stanza starts.
    pub line: usize,
}

impl<'a> InstalledPackage<'a> {
    /// Builds the typed package from a parsed stanza.
    pub fn from_paragraph(paragraph: &Paragraph<'a>) -> Result<Self, Deb822Error> {
        let mut name = None;
        let mut version = None;
        let mut architecture = None;
        let mut source = None;
        let mut status = None;
        let mut multi_arch = None;
        let mut priority = None;
        let mut section = None;
        let mut essential = false;
        let mut installed_size = None;
        let mut provides = None;
        let mut depends = None;
        let mut pre_depends = None;
        for field in paragraph.fields() {
            let key = field.name();
            if field_is(key, "Package") {
                name = Some(field.single_line("Package")?);
            } else if field_is(key, "Status") {
                status = Some(PackageStatus::parse(
                    field.single_line("Status")?,
                    field.line(),
                )?);
            } else if field_is(key, "Version") {
                version = Some(Cow::Borrowed(field.single_line("Version")?));
            } else if field_is(key, "Architecture") {
                architecture = Some(Cow::Borrowed(field.single_line("Architecture")?));
            } else if field_is(key, "Source") {
                source = Some(SourceRef::parse(
                    field.single_line("Source")?,
                    field.line(),
                )?);
            } else if field_is(key, "Multi-Arch") {
                multi_arch = Some(MultiArch::parse(
                    field.single_line("Multi-Arch")?,
                    field.line(),
                )?);
            } else if field_is(key, "Priority") {
                priority = Some(Cow::Borrowed(field.single_line("Priority")?));
            } else if field_is(key, "Section") {
                section = Some(Cow::Borrowed(field.single_line("Section")?));
            } else if field_is(key, "Essential") {
                essential = parse_yes_no(field, "Essential")?;
            } else if field_is(key, "Installed-Size") {
                installed_size = Some(parse_number(field, "Installed-Size")?);
            } else if field_is(key, "Provides") {
                provides = Some(field.folded());
            } else if field_is(key, "Depends") {
                depends = Some(field.folded());
            } else if field_is(key, "Pre-Depends") {
                pre_depends = Some(field.folded());
            }
        }
        let missing = |field| Deb822Error::MissingField {
            stanza_line: paragraph.line(),
            field,
        };
        let name = name.ok_or_else(|| missing("Package"))?;
        if name.is_empty() {
            return Err(Deb822Error::InvalidValue {
                line: paragraph.line(),
                field: "Package",
                value: String::new(),
                reason: "empty package name",
            });
        }
        let status = status.ok_or_else(|| missing("Status"))?;
        // dpkg requires a version for anything beyond not-installed.
        if version.is_none() && status.state != PackageState::NotInstalled {
            return Err(missing("Version"));
        }
        Ok(InstalledPackage {
            name: Cow::Borrowed(name),
            version,
            architecture,
            source,
            status,
            multi_arch,
            priority,
            section,
            essential,
            installed_size,
            provides,
            depends,
            pre_depends,
            line: paragraph.line(),
        })
    }

    /// The source package name (the `Source` field, else the package name).
    pub fn source_name(&self) -> &str {
        self.source
            .as_ref()
            .map_or(&self.name, |source| &source.name)
    }

    /// The source version (from `Source: name (version)`, else the package
    /// version).
    pub fn source_version(&self) -> Option<&str> {
        self.source
            .as_ref()
            .and_then(|source| source.version.as_deref())
            .or(self.version.as_deref())
    }

    /// Detaches from the input text.
    pub fn into_owned(self) -> InstalledPackage<'static> {
        InstalledPackage {
            name: owned(self.name),
            version: self.version.map(owned),
            architecture: self.architecture.map(owned),
            source: self.source.map(SourceRef::into_owned),
            status: self.status,
            multi_arch: self.multi_arch,
            priority: self.priority.map(owned),
            section: self.section.map(owned),
            essential: self.essential,
            installed_size: self.installed_size,
            provides: self.provides.map(owned),
            depends: self.depends.map(owned),
            pre_depends: self.pre_depends.map(owned),
            line: self.line,
        }
    }
}

pub(crate) fn owned(text: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(text.into_owned())
}

pub(crate) fn parse_number(field: &Field<'_>, name: &'static str) -> Result<u64, Deb822Error> {
    let value = field.single_line(name)?;
    value.parse().map_err(|_| Deb822Error::InvalidValue {
        line: field.line(),
        field: name,
        value: excerpt(value),
        reason: "expected a non-negative integer",
    })
}

fn parse_yes_no(field: &Field<'_>, name: &'static str) -> Result<bool, Deb822Error> {
    match field.single_line(name)? {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(Deb822Error::InvalidValue {
            line: field.line(),
            field: name,
            value: excerpt(other),
            reason: "expected yes or no",
        }),
    }
}

/// Parses a whole status file. Invalid UTF-8 (a stray Latin-1 maintainer
/// name in an old database) is replaced rather than rejected, since the
/// typed fields are ASCII in practice.
pub fn parse_status(bytes: &[u8]) -> Result<Vec<InstalledPackage<'_>>, StatusError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_status_text(text),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            Ok(parse_status_text(&text)?
                .into_iter()
                .map(InstalledPackage::into_owned)
                .collect())
        }
    }
}

/// Parses status text, rejecting two stanzas for the same package and
/// architecture (a corrupt database).
pub fn parse_status_text(text: &str) -> Result<Vec<InstalledPackage<'_>>, StatusError> {
    let mut packages: Vec<InstalledPackage<'_>> = Vec::new();
    let mut first_seen: HashMap<(&str, &str), usize> = HashMap::new();
    for paragraph in Paragraphs::new(text) {
        let paragraph = paragraph?;
        let package = InstalledPackage::from_paragraph(&paragraph)?;
        // Borrow the key from the text itself: the typed fields are
        // borrowed straight from it.
        let name = paragraph.value("Package").unwrap_or_default();
        let architecture = paragraph.value("Architecture").unwrap_or_default();
        if let Some(&first_line) = first_seen.get(&(name, architecture)) {
            return Err(StatusError::DuplicatePackage {
                line: package.line,
                first_line,
                name: excerpt(name),
                architecture: excerpt(architecture),
            });
        }
        first_seen.insert((name, architecture), package.line);
        packages.push(package);
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12987
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u7
Replaces: libc6-amd64
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Conffiles:
 /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: dash
Essential: yes
Status: install reinstreq half-configured
Priority: required
Section: shells
Installed-Size: 212
Architecture: amd64
Multi-Arch: foreign
Version: 0.5.12-2
Pre-Depends: libc6 (>= 2.34),
 debianutils (>= 5.6-0.1)
Description: POSIX-compliant shell

Package: oldpkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0-1

Package: gone
Status: purge ok not-installed
Architecture: amd64
";

    #[test]
    fn parses_packages_with_status_triples() {
        let packages = parse_status(STATUS.as_bytes()).unwrap();
        assert_eq!(packages.len(), 4);
        let libc = &packages[0];
        assert_eq!(libc.name, "libc6");
        assert_eq!(libc.version.as_deref(), Some("2.36-9+deb12u7"));
        assert_eq!(libc.architecture.as_deref(), Some("amd64"));
        assert_eq!(libc.source_name(), "glibc");
        assert_eq!(libc.source_version(), Some("2.36-9+deb12u7"));
        assert_eq!(libc.multi_arch, Some(MultiArch::Same));
        assert_eq!(libc.priority.as_deref(), Some("optional"));
        assert_eq!(libc.section.as_deref(), Some("libs"));
        assert_eq!(libc.installed_size, Some(12987));
        assert_eq!(libc.depends.as_deref(), Some("libgcc-s1"));
        assert!(libc.status.is_installed_ok());
        assert!(!libc.status.is_interrupted());

        let dash = &packages[1];
        assert!(dash.essential);
        assert_eq!(dash.status.error, ErrorFlag::ReinstallRequired);
        assert_eq!(dash.status.state, PackageState::HalfConfigured);
        assert!(dash.status.is_interrupted());
        assert_eq!(
            dash.pre_depends.as_deref(),
            Some("libc6 (>= 2.34), debianutils (>= 5.6-0.1)")
        );
        assert_eq!(dash.line, 20);

        assert_eq!(packages[2].status.state, PackageState::ConfigFiles);
        assert_eq!(packages[2].status.want, Want::Deinstall);
        assert_eq!(packages[3].version, None);
        assert_eq!(packages[3].status.want, Want::Purge);
    }

    #[test]
    fn every_dpkg_state_parses() {
        let states = [
            ("not-installed", PackageState::NotInstalled, false),
            ("config-files", PackageState::ConfigFiles, false),
            ("half-installed", PackageState::HalfInstalled, true),
            ("unpacked", PackageState::Unpacked, true),
            ("half-configured", PackageState::HalfConfigured, true),
            ("triggers-awaited", PackageState::TriggersAwaited, true),
            ("triggers-pending", PackageState::TriggersPending, true),
            ("installed", PackageState::Installed, false),
        ];
        for (word, state, interrupted) in states {
            let status = PackageStatus::parse(&format!("install ok {word}"), 1).unwrap();
            assert_eq!(status.state, state);
            assert_eq!(status.state.as_str(), word);
            assert_eq!(status.is_interrupted(), interrupted, "{word}");
        }
        assert_eq!(
            PackageStatus::parse("hold ok post-inst-failed", 1)
                .unwrap()
                .state,
            PackageState::HalfConfigured
        );
    }

    #[test]
    fn rejects_bad_status() {
        for bad in [
            "install ok",
            "install ok installed extra",
            "install ok broken",
            "want ok installed",
        ] {
            assert!(
                matches!(
                    PackageStatus::parse(bad, 3),
                    Err(Deb822Error::InvalidValue {
                        line: 3,
                        field: "Status",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_required_fields_are_named() {
        let no_status = "Package: a\nVersion: 1\n";
        assert_eq!(
            parse_status(no_status.as_bytes()).unwrap_err(),
            StatusError::Syntax(Deb822Error::MissingField {
                stanza_line: 1,
                field: "Status"
            })
        );
        let no_version = "\nPackage: a\nStatus: install ok installed\n";
        assert_eq!(
            parse_status(no_version.as_bytes()).unwrap_err(),
            StatusError::Syntax(Deb822Error::MissingField {
                stanza_line: 2,
                field: "Version"
            })
        );
        assert!(matches!(
            parse_status(b"Version: 1\nStatus: install ok installed\n").unwrap_err(),
            StatusError::Syntax(Deb822Error::MissingField {
                field: "Package",
                ..
            })
        ));
    }

    #[test]
    fn duplicate_package_stanzas_are_rejected() {
        let text = "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\n\
                    Package: a\nStatus: install ok installed\nVersion: 2\nArchitecture: amd64\n";
        assert_eq!(
            parse_status(text.as_bytes()).unwrap_err(),
            StatusError::DuplicatePackage {
                line: 6,
                first_line: 1,
                name: "a".into(),
                architecture: "amd64".into()
            }
        );
        // The same name for another architecture is multi-arch, not a duplicate.
        let multiarch = text.replacen("amd64", "i386", 1);
        assert_eq!(parse_status(multiarch.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn invalid_values_name_the_line() {
        let text = "Package: a\nStatus: install ok installed\nVersion: 1\nInstalled-Size: lots\n";
        assert!(matches!(
            parse_status(text.as_bytes()).unwrap_err(),
            StatusError::Syntax(Deb822Error::InvalidValue {
                line: 4,
                field: "Installed-Size",
                ..
            })
        ));
        let text = "Package: a\nStatus: install ok installed\nVersion: 1\nMulti-Arch: maybe\n";
        assert!(matches!(
            parse_status(text.as_bytes()).unwrap_err(),
            StatusError::Syntax(Deb822Error::InvalidValue {
                line: 4,
                field: "Multi-Arch",
                ..
            })
        ));
    }

    #[test]
    fn latin1_bytes_are_tolerated() {
        let text = b"Package: a\nStatus: install ok installed\nVersion: 1\nMaintainer: Jos\xe9\n";
        let packages = parse_status(text).unwrap();
        assert_eq!(packages[0].name, "a");
    }

    #[test]
    fn into_owned_keeps_every_field() {
        let packages = parse_status(STATUS.as_bytes()).unwrap();
        let owned: Vec<InstalledPackage<'static>> = packages
            .iter()
            .cloned()
            .map(InstalledPackage::into_owned)
            .collect();
        assert_eq!(owned, packages);
    }
}
