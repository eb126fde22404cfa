//! apt `Release` and `InRelease` files: which suite a repository serves and
//! the checksums of its indexes.
//!
//! Owns the typed view of the Release stanza, date parsing (RFC 2822 style,
//! via jiff), the checksum lists, and the rule that recognises a security
//! pocket (Debian family updates count as security updates when they come
//! from one).

use jiff::Timestamp;
use thiserror::Error;

use crate::deb822::{self, ClearsignError, Deb822Error, Field, Paragraphs, excerpt, field_is};

/// Why a Release file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReleaseError {
    /// The clearsign armour of an InRelease file is malformed.
    #[error(transparent)]
    Clearsign(#[from] ClearsignError),
    /// A syntax or field error, with its line.
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
    /// The file holds no stanza.
    #[error("the Release file is empty")]
    Empty,
    /// A second stanza follows the Release stanza.
    #[error("line {line}: unexpected second stanza in a Release file")]
    ExtraStanza {
        /// 1-based line where it starts.
        line: usize,
    },
    /// A checksum list line is not `<digest> <size> <path>`.
    #[error("line {line}: malformed {algorithm} entry: {reason}")]
    InvalidChecksumEntry {
        /// 1-based line of the entry.
        line: usize,
        /// The list (`SHA256`, …).
        algorithm: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A checksum list of a Release file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// `MD5Sum` (legacy; never trust for integrity).
    Md5,
    /// `SHA1` (legacy).
    Sha1,
    /// `SHA256`, what apt verifies against.
    Sha256,
    /// `SHA512`.
    Sha512,
}

impl ChecksumAlgorithm {
    /// The field name in the Release file.
    pub fn field_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Md5 => "MD5Sum",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
            ChecksumAlgorithm::Sha512 => "SHA512",
        }
    }

    /// Length of a digest in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Md5 => 32,
            ChecksumAlgorithm::Sha1 => 40,
            ChecksumAlgorithm::Sha256 => 64,
            ChecksumAlgorithm::Sha512 => 128,
        }
    }

    const ALL: [ChecksumAlgorithm; 4] = [
        ChecksumAlgorithm::Md5,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Sha512,
    ];
}

/// One line of a checksum list: an index file of the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChecksumEntry<'r> {
    /// Hex digest.
    pub digest: &'r str,
    /// Size in bytes.
    pub size: u64,
    /// Path relative to the Release file's directory (`main/binary-amd64/Packages.xz`).
    pub path: &'r str,
}

/// A parsed Release or InRelease file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `Origin` (`Debian`, `Ubuntu`, …).
    pub origin: Option<String>,
    /// `Label` (`Debian-Security`, …).
    pub label: Option<String>,
    /// `Suite` (`stable-security`, `jammy-security`, …).
    pub suite: Option<String>,
    /// `Codename` (`bookworm-security`, …).
    pub codename: Option<String>,
    /// `Version` (`12`, `22.04`, …).
    pub version: Option<String>,
    /// `Date`.
    pub date: Option<Timestamp>,
    /// `Valid-Until`: after it apt refuses the file as stale.
    pub valid_until: Option<Timestamp>,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components` (`main`, `updates/main`, …).
    pub components: Vec<String>,
    /// Whether the file was clearsigned (InRelease); the signature itself is
    /// not verified here.
    pub clearsigned: bool,
    checksum_lists: Vec<ChecksumList>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ChecksumList {
    algorithm: ChecksumAlgorithm,
    /// The continuation lines, joined by `\n`.
    lines: String,
    /// 1-based line of the field name; entries start on the next line.
    line: usize,
}

impl Release {
    /// Whether this Release file describes a security pocket: Debian's
    /// security archive (suite or codename ending `-security`, or label
    /// `Debian-Security`), Ubuntu's `*-security` pockets, or the older Debian
    /// `*/updates` security suites.
    pub fn is_security(&self) -> bool {
        let pocket = |name: &Option<String>| {
            name.as_deref()
                .is_some_and(|name| name.ends_with("-security") || name.ends_with("/updates"))
        };
        pocket(&self.suite)
            || pocket(&self.codename)
            || self.label.as_deref() == Some("Debian-Security")
    }

    /// The SHA256 entries (what apt verifies indexes against).
    pub fn sha256_entries(&self) -> ChecksumEntries<'_> {
        self.checksum_entries(ChecksumAlgorithm::Sha256)
    }

    /// The entries of one checksum list (empty when the list is absent).
    pub fn checksum_entries(&self, algorithm: ChecksumAlgorithm) -> ChecksumEntries<'_> {
        let list = self
            .checksum_lists
            .iter()
            .find(|list| list.algorithm == algorithm);
        ChecksumEntries {
            algorithm,
            lines: list.map_or("", |list| list.lines.as_str()).split('\n'),
            next_line: list.map_or(0, |list| list.line + 1),
        }
    }

    /// Which checksum lists the file carries.
    pub fn checksum_algorithms(&self) -> impl Iterator<Item = ChecksumAlgorithm> + '_ {
        self.checksum_lists.iter().map(|list| list.algorithm)
    }
}

/// Iterator over a checksum list; each item is an entry or an error naming
/// its line in the original file.
#[derive(Debug, Clone)]
pub struct ChecksumEntries<'r> {
    algorithm: ChecksumAlgorithm,
    lines: std::str::Split<'r, char>,
    next_line: usize,
}

impl<'r> Iterator for ChecksumEntries<'r> {
    type Item = Result<ChecksumEntry<'r>, ReleaseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = self.lines.next()?;
            let line = self.next_line;
            self.next_line += 1;
            if text.trim().is_empty() {
                continue;
            }
            return Some(parse_checksum_line(text, line, self.algorithm));
        }
    }
}

fn parse_checksum_line(
    text: &str,
    line: usize,
    algorithm: ChecksumAlgorithm,
) -> Result<ChecksumEntry<'_>, ReleaseError> {
    let invalid = |reason| ReleaseError::InvalidChecksumEntry {
        line,
        algorithm: algorithm.field_name(),
        reason,
    };
    let mut parts = text.split_ascii_whitespace();
    let (Some(digest), Some(size), Some(path), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("expected digest, size and path"));
    };
    if digest.len() != algorithm.hex_len() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("digest has the wrong length or is not hexadecimal"));
    }
    let size = size
        .parse()
        .map_err(|_| invalid("size is not a non-negative integer"))?;
    Ok(ChecksumEntry { digest, size, path })
}

/// Parses a Release or InRelease file (the clearsign armour, if any, is
/// removed first; line numbers in errors refer to the original file).
pub fn parse_release(bytes: &[u8]) -> Result<Release, ReleaseError> {
    let signed = deb822::strip_clearsign(bytes)?;
    let text: &str = &signed.text;
    let mut paragraphs = Paragraphs::new(text);
    let shift = |error: Deb822Error| shift_lines(error, signed.first_line - 1);
    let paragraph = paragraphs
        .next()
        .ok_or(ReleaseError::Empty)?
        .map_err(shift)?;
    if let Some(extra) = paragraphs.next() {
        let line = match extra {
            Ok(paragraph) => paragraph.line(),
            Err(error) => return Err(shift(error).into()),
        };
        return Err(ReleaseError::ExtraStanza {
            line: line + signed.first_line - 1,
        });
    }
    let offset = signed.first_line - 1;
    let mut release = Release {
        origin: None,
        label: None,
        suite: None,
        codename: None,
        version: None,
        date: None,
        valid_until: None,
        architectures: Vec::new(),
        components: Vec::new(),
        clearsigned: signed.clearsigned,
        checksum_lists: Vec::new(),
    };
    for field in paragraph.fields() {
        let key = field.name();
        let line = field.line() + offset;
        let single = |name| field.single_line(name).map_err(shift).map(str::to_owned);
        if field_is(key, "Origin") {
            release.origin = Some(single("Origin")?);
        } else if field_is(key, "Label") {
            release.label = Some(single("Label")?);
        } else if field_is(key, "Suite") {
            release.suite = Some(single("Suite")?);
        } else if field_is(key, "Codename") {
            release.codename = Some(single("Codename")?);
        } else if field_is(key, "Version") {
            release.version = Some(single("Version")?);
        } else if field_is(key, "Date") {
            release.date = Some(parse_date(&single("Date")?, "Date", line)?);
        } else if field_is(key, "Valid-Until") {
            release.valid_until = Some(parse_date(&single("Valid-Until")?, "Valid-Until", line)?);
        } else if field_is(key, "Architectures") {
            release.architectures = words(field);
        } else if field_is(key, "Components") {
            release.components = words(field);
        } else if let Some(algorithm) = ChecksumAlgorithm::ALL
            .into_iter()
            .find(|algorithm| field_is(key, algorithm.field_name()))
        {
            if !field.first_line().is_empty() {
                return Err(ReleaseError::InvalidChecksumEntry {
                    line,
                    algorithm: algorithm.field_name(),
                    reason: "the list must start on the line after the field name",
                });
            }
            let lines: Vec<&str> = field.continuation_lines().collect();
            release.checksum_lists.push(ChecksumList {
                algorithm,
                lines: lines.join("\n"),
                line,
            });
        }
    }
    Ok(release)
}

fn words(field: &Field<'_>) -> Vec<String> {
    field
        .folded()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Parses a Release date such as `Sat, 10 Aug 2024 09:43:26 UTC` (RFC 2822
/// with the `UTC` zone name apt writes).
pub fn parse_date(value: &str, field: &'static str, line: usize) -> Result<Timestamp, Deb822Error> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .map_err(|_| Deb822Error::InvalidValue {
            line,
            field,
            value: excerpt(value),
            reason: "expected an RFC 2822 date like 'Sat, 10 Aug 2024 09:43:26 UTC'",
        })
}

/// Moves the line numbers of an error in the signed text to the original
/// file's numbering.
fn shift_lines(error: Deb822Error, by: usize) -> Deb822Error {
    use Deb822Error as E;
    match error {
        E::InvalidUtf8 { line } => E::InvalidUtf8 { line: line + by },
        E::Comment { line } => E::Comment { line: line + by },
        E::MissingColon { line } => E::MissingColon { line: line + by },
        E::InvalidFieldName { line, name } => E::InvalidFieldName {
            line: line + by,
            name,
        },
        E::OrphanContinuation { line } => E::OrphanContinuation { line: line + by },
        E::DuplicateField {
            line,
            first_line,
            name,
        } => E::DuplicateField {
            line: line + by,
            first_line: first_line + by,
            name,
        },
        E::MissingField { stanza_line, field } => E::MissingField {
            stanza_line: stanza_line + by,
            field,
        },
        E::InvalidValue {
            line,
            field,
            value,
            reason,
        } => E::InvalidValue {
            line: line + by,
            field,
            value,
            reason,
        },
        E::MultilineValue { line, field } => E::MultilineValue {
            line: line + by,
            field,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN_RELEASE: &str = "-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Label: Debian-Security
Suite: stable-security
Version: 12
Codename: bookworm-security
Date: Sat, 10 Aug 2024 09:43:26 UTC
Valid-Until: Sat, 17 Aug 2024 09:43:26 UTC
Acquire-By-Hash: yes
Architectures: amd64 arm64 i386
Components: updates/main updates/contrib
Description: Debian 12 - Security Updates
MD5Sum:
 0e1e5e5f1b8a7f0b3bb1b2c1c2a8d0e1   123 main/binary-amd64/Packages
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 contrib/Contents-amd64
 f61f27bd17de546264aa58f40f3aafaac7021e0ef69c17f6b1b4cd7664a037ec       20 contrib/Contents-amd64.gz
-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEE
=AbCd
-----END PGP SIGNATURE-----
";

    #[test]
    fn parses_an_inrelease_file() {
        let release = parse_release(IN_RELEASE.as_bytes()).unwrap();
        assert!(release.clearsigned);
        assert_eq!(release.origin.as_deref(), Some("Debian"));
        assert_eq!(release.label.as_deref(), Some("Debian-Security"));
        assert_eq!(release.suite.as_deref(), Some("stable-security"));
        assert_eq!(release.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(release.version.as_deref(), Some("12"));
        assert_eq!(
            release.date,
            Some("2024-08-10T09:43:26Z".parse::<Timestamp>().unwrap())
        );
        assert_eq!(
            release.valid_until,
            Some("2024-08-17T09:43:26Z".parse::<Timestamp>().unwrap())
        );
        assert_eq!(release.architectures, ["amd64", "arm64", "i386"]);
        assert_eq!(release.components, ["updates/main", "updates/contrib"]);
        assert!(release.is_security());
        let entries: Vec<_> = release.sha256_entries().collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].size, 20);
        assert_eq!(entries[1].path, "contrib/Contents-amd64.gz");
        assert_eq!(release.checksum_entries(ChecksumAlgorithm::Md5).count(), 1);
        assert_eq!(
            release.checksum_entries(ChecksumAlgorithm::Sha512).count(),
            0
        );
    }

    fn release_with(fields: &str) -> Release {
        parse_release(fields.as_bytes()).unwrap()
    }

    #[test]
    fn recognises_security_pockets() {
        assert!(
            release_with("Origin: Ubuntu\nLabel: Ubuntu\nSuite: jammy-security\n").is_security()
        );
        assert!(release_with("Suite: oldoldstable\nCodename: buster/updates\n").is_security());
        assert!(release_with("Suite: stretch/updates\n").is_security());
        assert!(release_with("Label: Debian-Security\nSuite: oldstable\n").is_security());
        assert!(!release_with("Origin: Ubuntu\nSuite: jammy-updates\n").is_security());
        assert!(!release_with("Origin: Debian\nSuite: stable\nCodename: bookworm\n").is_security());
        assert!(!release_with("Suite: bookworm-updates\n").is_security());
    }

    #[test]
    fn accepts_numeric_offsets_and_single_digit_days() {
        let release = release_with("Date: Mon, 1 Jul 2024 01:02:03 +0000\n");
        assert_eq!(
            release.date,
            Some("2024-07-01T01:02:03Z".parse::<Timestamp>().unwrap())
        );
    }

    #[test]
    fn bad_date_names_the_original_line() {
        let input = IN_RELEASE.replace("Date: Sat, 10 Aug 2024 09:43:26 UTC", "Date: yesterday");
        assert!(matches!(
            parse_release(input.as_bytes()).unwrap_err(),
            ReleaseError::Syntax(Deb822Error::InvalidValue {
                line: 9,
                field: "Date",
                ..
            })
        ));
    }

    #[test]
    fn syntax_errors_name_the_original_line() {
        let input = IN_RELEASE.replace("Acquire-By-Hash: yes", "Acquire-By-Hash yes");
        assert_eq!(
            parse_release(input.as_bytes()).unwrap_err(),
            ReleaseError::Syntax(Deb822Error::MissingColon { line: 11 })
        );
    }

    #[test]
    fn malformed_checksum_entries_name_their_line() {
        let input = IN_RELEASE.replace("       20 contrib", "       xx contrib");
        let release = parse_release(input.as_bytes()).unwrap();
        let results: Vec<_> = release.sha256_entries().collect();
        assert!(results[0].is_ok());
        assert_eq!(
            results[1],
            Err(ReleaseError::InvalidChecksumEntry {
                line: 19,
                algorithm: "SHA256",
                reason: "size is not a non-negative integer"
            })
        );
        let short = IN_RELEASE.replace(" e3b0c44298fc1c149afbf4c8996fb924", " e3b0");
        let release = parse_release(short.as_bytes()).unwrap();
        assert!(matches!(
            release.sha256_entries().next(),
            Some(Err(ReleaseError::InvalidChecksumEntry { line: 18, .. }))
        ));
    }

    #[test]
    fn rejects_empty_and_multi_stanza_files() {
        assert_eq!(parse_release(b"\n\n").unwrap_err(), ReleaseError::Empty);
        assert_eq!(
            parse_release(b"Origin: a\n\nOrigin: b\n").unwrap_err(),
            ReleaseError::ExtraStanza { line: 3 }
        );
    }

    #[test]
    fn truncated_inrelease_is_reported() {
        let cut = &IN_RELEASE[..IN_RELEASE.find("-----BEGIN PGP SIGNATURE").unwrap()];
        assert_eq!(
            parse_release(cut.as_bytes()).unwrap_err(),
            ReleaseError::Clearsign(ClearsignError::MissingSignature)
        );
    }
}
