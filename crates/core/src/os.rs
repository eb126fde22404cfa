//! Operating-system identity of a node: its [`OsFamily`] (which decides the
//! version ordering and which baseline applies) and its [`OsInfo`] (family,
//! os-release `ID` / `VERSION_ID`, and the *product* string matched by the
//! `product` filter of approval rules).
//!
//! Families are derived from `/etc/os-release`: `ID` first, then the words of
//! `ID_LIKE` in order, so derivatives (Linux Mint → Ubuntu, Raspbian →
//! Debian, CircleOS → RHEL-compatible) land in their parent's family.
//!
//! Product strings join a distribution name and `VERSION_ID` without a
//! separator, following the well-known cloud naming: `Debian12`,
//! `Ubuntu22.04`, `RedhatEnterpriseLinux9.3`, `RockyLinux9.3`,
//! `AlmaLinux9.3`, `CentOS7`, `OracleLinux8.9`, `Fedora40`,
//! `AmazonLinux2023`, `SLES15.5`, `OpenSUSELeap15.5`. A distribution known
//! only through `ID_LIKE` uses its raw `ID` (`linuxmint21.3`). A missing
//! `VERSION_ID` (Debian testing/sid) yields the bare name (`Debian`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::version::VersionScheme;

/// A family of distributions sharing package format, metadata and baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OsFamily {
    Debian,
    Ubuntu,
    /// RHEL and its rebuilds: Rocky, Alma, CentOS, Oracle Linux.
    RhelCompatible,
    Fedora,
    AmazonLinux,
    /// SLES and openSUSE.
    Suse,
}

impl OsFamily {
    /// Every family, in declaration order.
    pub const ALL: [OsFamily; 6] = [
        OsFamily::Debian,
        OsFamily::Ubuntu,
        OsFamily::RhelCompatible,
        OsFamily::Fedora,
        OsFamily::AmazonLinux,
        OsFamily::Suse,
    ];

    /// How this family orders package versions.
    pub fn version_scheme(self) -> VersionScheme {
        if self.is_debian_like() {
            VersionScheme::Deb
        } else {
            VersionScheme::Rpm
        }
    }

    /// Debian and Ubuntu: dpkg packages, with priority and section metadata.
    pub fn is_debian_like(self) -> bool {
        matches!(self, OsFamily::Debian | OsFamily::Ubuntu)
    }

    /// The kebab-case name used in YAML and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Debian => "debian",
            OsFamily::Ubuntu => "ubuntu",
            OsFamily::RhelCompatible => "rhel-compatible",
            OsFamily::Fedora => "fedora",
            OsFamily::AmazonLinux => "amazon-linux",
            OsFamily::Suse => "suse",
        }
    }
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A family name that is not one of [`OsFamily::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown OS family {0:?} (expected one of: debian, ubuntu, rhel-compatible, fedora, amazon-linux, suse)"
)]
pub struct UnknownOsFamily(pub String);

impl std::str::FromStr for OsFamily {
    type Err = UnknownOsFamily;

    /// Parses the kebab-case name ([`OsFamily::as_str`]).
    fn from_str(name: &str) -> Result<OsFamily, UnknownOsFamily> {
        OsFamily::ALL
            .into_iter()
            .find(|family| family.as_str() == name)
            .ok_or_else(|| UnknownOsFamily(name.to_owned()))
    }
}

/// The family and product name of a known os-release `ID`.
fn known_id(id: &str) -> Option<(OsFamily, &'static str)> {
    let known = match id {
        "debian" => (OsFamily::Debian, "Debian"),
        "ubuntu" => (OsFamily::Ubuntu, "Ubuntu"),
        "rhel" => (OsFamily::RhelCompatible, "RedhatEnterpriseLinux"),
        "rocky" => (OsFamily::RhelCompatible, "RockyLinux"),
        "almalinux" => (OsFamily::RhelCompatible, "AlmaLinux"),
        "centos" => (OsFamily::RhelCompatible, "CentOS"),
        "ol" => (OsFamily::RhelCompatible, "OracleLinux"),
        "fedora" => (OsFamily::Fedora, "Fedora"),
        "amzn" => (OsFamily::AmazonLinux, "AmazonLinux"),
        "sles" | "sles_sap" | "sled" => (OsFamily::Suse, "SLES"),
        "opensuse-leap" => (OsFamily::Suse, "OpenSUSELeap"),
        "opensuse-tumbleweed" => (OsFamily::Suse, "OpenSUSETumbleweed"),
        "opensuse" | "suse" => (OsFamily::Suse, "OpenSUSE"),
        _ => return None,
    };
    Some(known)
}

/// Why os-release values do not describe a supported system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsInfoError {
    #[error("os-release has no ID")]
    MissingId,
    #[error("os-release ID {id:?} (ID_LIKE {id_like:?}) is not a supported distribution family")]
    UnsupportedFamily { id: String, id_like: String },
    #[error("os-release line {line}: expected KEY=value, found {text:?}")]
    BadLine { line: usize, text: String },
}

/// What a node runs, as far as patching is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OsInfo {
    pub family: OsFamily,
    /// os-release `ID` (`debian`, `rocky`, `amzn`...).
    pub id: String,
    /// os-release `VERSION_ID` (`12`, `22.04`, `9.3`, `2023`); may be empty.
    pub version_id: String,
    /// The string matched by the `product` filter (`Debian12`, `RockyLinux9.3`).
    pub product: String,
}

impl OsInfo {
    /// Builds the info from os-release key/value pairs (values already
    /// unquoted). Only `ID`, `ID_LIKE` and `VERSION_ID` are read.
    pub fn from_os_release<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<OsInfo, OsInfoError> {
        let (mut id, mut id_like, mut version_id) = ("", "", "");
        for (key, value) in pairs {
            match key {
                "ID" => id = value,
                "ID_LIKE" => id_like = value,
                "VERSION_ID" => version_id = value,
                _ => {}
            }
        }
        let id = id.trim();
        if id.is_empty() {
            return Err(OsInfoError::MissingId);
        }
        let (family, name) = match known_id(id) {
            Some((family, name)) => (family, name),
            None => {
                let family = id_like
                    .split_whitespace()
                    .find_map(|like| known_id(like).map(|(family, _)| family))
                    .ok_or_else(|| OsInfoError::UnsupportedFamily {
                        id: id.to_owned(),
                        id_like: id_like.to_owned(),
                    })?;
                (family, id)
            }
        };
        let version_id = version_id.trim();
        Ok(OsInfo {
            family,
            id: id.to_owned(),
            version_id: version_id.to_owned(),
            product: format!("{name}{version_id}"),
        })
    }

    /// Parses the text of an os-release file (shell-like `KEY=value` lines,
    /// values optionally in single or double quotes, `#` comments) and builds
    /// the info from it.
    pub fn from_os_release_text(text: &str) -> Result<OsInfo, OsInfoError> {
        let mut pairs = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(OsInfoError::BadLine {
                    line: index + 1,
                    text: raw.to_owned(),
                });
            };
            pairs.push((key.trim(), unquote(value.trim())));
        }
        OsInfo::from_os_release(pairs.iter().map(|(k, v)| (*k, v.as_str())))
    }
}

/// Removes one level of shell quoting, as os-release(5) allows: double
/// quotes with `\"`, `\\`, `\$`, `` \` `` escapes, or single quotes verbatim.
fn unquote(value: &str) -> String {
    if let Some(inner) = value
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
    {
        return inner.to_owned();
    }
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('"' | '\\' | '$' | '`')) => out.push(escaped),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_round_trip() {
        for family in OsFamily::ALL {
            assert_eq!(family.as_str().parse::<OsFamily>(), Ok(family));
        }
        assert!("windows".parse::<OsFamily>().is_err());
    }

    fn info(id: &str, id_like: &str, version_id: &str) -> Result<OsInfo, OsInfoError> {
        OsInfo::from_os_release([("ID", id), ("ID_LIKE", id_like), ("VERSION_ID", version_id)])
    }

    #[test]
    fn known_distributions_map_to_family_and_product() {
        let cases = [
            ("debian", "", "12", OsFamily::Debian, "Debian12"),
            ("ubuntu", "debian", "22.04", OsFamily::Ubuntu, "Ubuntu22.04"),
            (
                "rhel",
                "fedora",
                "9.3",
                OsFamily::RhelCompatible,
                "RedhatEnterpriseLinux9.3",
            ),
            (
                "rocky",
                "rhel centos fedora",
                "9.3",
                OsFamily::RhelCompatible,
                "RockyLinux9.3",
            ),
            (
                "almalinux",
                "rhel centos fedora",
                "9.4",
                OsFamily::RhelCompatible,
                "AlmaLinux9.4",
            ),
            (
                "centos",
                "rhel fedora",
                "7",
                OsFamily::RhelCompatible,
                "CentOS7",
            ),
            (
                "ol",
                "fedora",
                "8.9",
                OsFamily::RhelCompatible,
                "OracleLinux8.9",
            ),
            ("fedora", "", "40", OsFamily::Fedora, "Fedora40"),
            (
                "amzn",
                "fedora",
                "2023",
                OsFamily::AmazonLinux,
                "AmazonLinux2023",
            ),
            (
                "amzn",
                "centos rhel fedora",
                "2",
                OsFamily::AmazonLinux,
                "AmazonLinux2",
            ),
            ("sles", "suse", "15.5", OsFamily::Suse, "SLES15.5"),
            (
                "opensuse-leap",
                "suse opensuse",
                "15.5",
                OsFamily::Suse,
                "OpenSUSELeap15.5",
            ),
            (
                "linuxmint",
                "ubuntu debian",
                "21.3",
                OsFamily::Ubuntu,
                "linuxmint21.3",
            ),
            ("raspbian", "debian", "12", OsFamily::Debian, "raspbian12"),
            ("debian", "", "", OsFamily::Debian, "Debian"),
        ];
        for (id, like, version, family, product) in cases {
            let got = info(id, like, version).unwrap();
            assert_eq!(
                (got.family, got.product.as_str()),
                (family, product),
                "{id}"
            );
            assert_eq!(got.id, id);
            assert_eq!(got.version_id, version);
        }
    }

    #[test]
    fn unsupported_and_missing_ids_are_errors() {
        assert_eq!(
            info("arch", "", ""),
            Err(OsInfoError::UnsupportedFamily {
                id: "arch".into(),
                id_like: String::new()
            })
        );
        assert_eq!(
            OsInfo::from_os_release([("VERSION_ID", "1")]),
            Err(OsInfoError::MissingId)
        );
    }

    #[test]
    fn os_release_text_is_unquoted() {
        let text = "# comment\nNAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE='rhel centos fedora'\n\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky \\\"Blue Onyx\\\"\"\n";
        let got = OsInfo::from_os_release_text(text).unwrap();
        assert_eq!(got.family, OsFamily::RhelCompatible);
        assert_eq!(got.product, "RockyLinux9.3");
        assert_eq!(unquote(r#""a \"b\" \\ \$x \n""#), r#"a "b" \ $x \n"#);
    }

    #[test]
    fn os_release_line_without_equals_names_the_line() {
        assert_eq!(
            OsInfo::from_os_release_text("ID=debian\ngarbage\n"),
            Err(OsInfoError::BadLine {
                line: 2,
                text: "garbage".into()
            })
        );
    }

    #[test]
    fn schemes_follow_package_format() {
        for family in OsFamily::ALL {
            let expected = if matches!(family, OsFamily::Debian | OsFamily::Ubuntu) {
                VersionScheme::Deb
            } else {
                VersionScheme::Rpm
            };
            assert_eq!(family.version_scheme(), expected, "{family}");
        }
    }
}
