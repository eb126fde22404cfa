//! apt `Packages` indexes, plain or compressed (gz, xz, lz4, zst).
//!
//! Owns the typed view of an index entry: what a repository offers, with
//! the fields patch evaluation needs (candidate versions, priority, section,
//! download location and checksum). Relationship fields stay raw strings.
//!
//! Two ways in: [`PackagesIndex`] decompresses once and lends zero-copy
//! entries (fast; filter before copying), and [`read_packages`] /
//! [`read_packages_named`] return owned entries in one call.

use std::borrow::Cow;

use thiserror::Error;

use crate::compression::{self, DecompressError};
use crate::deb822::{Deb822Error, Paragraph, Paragraphs, SourceRef, field_is};
use crate::dpkg_status::{MultiArch, owned, parse_number};

/// Why an index could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PackagesError {
    /// The compression layer failed.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    /// A syntax or field error in the decompressed text, with its line.
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
}

/// One entry of a Packages index.
///
/// A repository may list the same package several times (several versions,
/// or — in broken repositories — the same version twice); entries are kept
/// in file order, duplicates included, as apt does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry<'a> {
    /// `Package`.
    pub package: Cow<'a, str>,
    /// `Version`.
    pub version: Cow<'a, str>,
    /// `Architecture`.
    pub architecture: Cow<'a, str>,
    /// `Source`, when it differs from the package name or version.
    pub source: Option<SourceRef<'a>>,
    /// `Priority`.
    pub priority: Option<Cow<'a, str>>,
    /// `Section`.
    pub section: Option<Cow<'a, str>>,
    /// `Multi-Arch`.
    pub multi_arch: Option<MultiArch>,
    /// `Filename`: path of the .deb relative to the archive root.
    pub filename: Option<Cow<'a, str>>,
    /// `Size` of the .deb in bytes.
    pub size: Option<u64>,
    /// `SHA256` of the .deb (hex).
    pub sha256: Option<Cow<'a, str>>,
    /// `Depends`, raw.
    pub depends: Option<Cow<'a, str>>,
    /// `Pre-Depends`, raw.
    pub pre_depends: Option<Cow<'a, str>>,
    /// `Provides`, raw.
    pub provides: Option<Cow<'a, str>>,
    /// 1-based line (in the decompressed text) where the entry starts.
    pub line: usize,
}

impl<'a> PackageEntry<'a> {
    /// Builds the typed entry from a parsed stanza.
    pub fn from_paragraph(paragraph: &Paragraph<'a>) -> Result<Self, Deb822Error> {
        let mut package = None;
        let mut version = None;
        let mut architecture = None;
        let mut entry = PackageEntry {
            package: Cow::Borrowed(""),
            version: Cow::Borrowed(""),
            architecture: Cow::Borrowed(""),
            source: None,
            priority: None,
            section: None,
            multi_arch: None,
            filename: None,
            size: None,
            sha256: None,
            depends: None,
            pre_depends: None,
            provides: None,
            line: paragraph.line(),
        };
        for field in paragraph.fields() {
            let key = field.name();
            // Dispatch on length first: most of a stanza's fields (Maintainer,
            // Description, MD5sum, …) are skipped after one comparison.
            match key.len() {
                4 if field_is(key, "Size") => entry.size = Some(parse_number(field, "Size")?),
                6 if field_is(key, "SHA256") => {
                    let value = field.single_line("SHA256")?;
                    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(Deb822Error::InvalidValue {
                            line: field.line(),
                            field: "SHA256",
                            value: crate::deb822::excerpt(value),
                            reason: "expected 64 hexadecimal digits",
                        });
                    }
                    entry.sha256 = Some(Cow::Borrowed(value));
                }
                6 if field_is(key, "Source") => {
                    entry.source = Some(SourceRef::parse(
                        field.single_line("Source")?,
                        field.line(),
                    )?)
                }
                7 if field_is(key, "Package") => package = Some(field.single_line("Package")?),
                7 if field_is(key, "Version") => version = Some(field.single_line("Version")?),
                7 if field_is(key, "Section") => {
                    entry.section = Some(Cow::Borrowed(field.single_line("Section")?))
                }
                7 if field_is(key, "Depends") => entry.depends = Some(field.folded()),
                8 if field_is(key, "Priority") => {
                    entry.priority = Some(Cow::Borrowed(field.single_line("Priority")?))
                }
                8 if field_is(key, "Filename") => {
                    entry.filename = Some(Cow::Borrowed(field.single_line("Filename")?))
                }
                8 if field_is(key, "Provides") => entry.provides = Some(field.folded()),
                10 if field_is(key, "Multi-Arch") => {
                    entry.multi_arch = Some(MultiArch::parse(
                        field.single_line("Multi-Arch")?,
                        field.line(),
                    )?)
                }
                11 if field_is(key, "Pre-Depends") => entry.pre_depends = Some(field.folded()),
                12 if field_is(key, "Architecture") => {
                    architecture = Some(field.single_line("Architecture")?)
                }
                _ => {}
            }
        }
        let required = |value: Option<&'a str>, field| match value {
            Some(value) if !value.is_empty() => Ok(Cow::Borrowed(value)),
            _ => Err(Deb822Error::MissingField {
                stanza_line: paragraph.line(),
                field,
            }),
        };
        entry.package = required(package, "Package")?;
        entry.version = required(version, "Version")?;
        entry.architecture = required(architecture, "Architecture")?;
        Ok(entry)
    }

    /// The source package name (the `Source` field, else the package name).
    pub fn source_name(&self) -> &str {
        self.source
            .as_ref()
            .map_or(&self.package, |source| &source.name)
    }

    /// The source version (from `Source: name (version)`, else the version).
    pub fn source_version(&self) -> &str {
        self.source
            .as_ref()
            .and_then(|source| source.version.as_deref())
            .unwrap_or(&self.version)
    }

    /// Detaches from the index text.
    pub fn into_owned(self) -> PackageEntry<'static> {
        PackageEntry {
            package: owned(self.package),
            version: owned(self.version),
            architecture: owned(self.architecture),
            source: self.source.map(SourceRef::into_owned),
            priority: self.priority.map(owned),
            section: self.section.map(owned),
            multi_arch: self.multi_arch,
            filename: self.filename.map(owned),
            size: self.size,
            sha256: self.sha256.map(owned),
            depends: self.depends.map(owned),
            pre_depends: self.pre_depends.map(owned),
            provides: self.provides.map(owned),
            line: self.line,
        }
    }
}

/// A decompressed Packages index whose entries borrow from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagesIndex {
    text: String,
}

impl PackagesIndex {
    /// Decompresses (format from magic bytes) and checks UTF-8; invalid
    /// UTF-8 is replaced rather than rejected so one odd Description does
    /// not hide a whole repository.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackagesError> {
        Self::from_bytes_with_limit(bytes, compression::DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// Like [`from_bytes`](Self::from_bytes), refusing to decompress more
    /// than `limit` bytes.
    pub fn from_bytes_with_limit(bytes: &[u8], limit: u64) -> Result<Self, PackagesError> {
        let plain = compression::decompress_with_limit(bytes, limit)?;
        let text = match plain {
            Cow::Owned(buffer) => String::from_utf8(buffer)
                .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
            Cow::Borrowed(slice) => String::from_utf8_lossy(slice).into_owned(),
        };
        Ok(PackagesIndex { text })
    }

    /// Like [`from_bytes`](Self::from_bytes), cross-checking the file name
    /// (`…_Packages.lz4`, `Packages.xz`) against the content's signature.
    pub fn from_named(file_name: &str, bytes: &[u8]) -> Result<Self, PackagesError> {
        compression::check_name(file_name, bytes)?;
        Self::from_bytes(bytes)
    }

    /// Wraps already decompressed text.
    pub fn from_text(text: String) -> Self {
        PackagesIndex { text }
    }

    /// The decompressed text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Iterates over the entries, zero-copy; stops after the first error.
    pub fn entries(&self) -> PackageEntries<'_> {
        entries(&self.text)
    }

    /// All entries, or the first error.
    pub fn parse_all(&self) -> Result<Vec<PackageEntry<'_>>, Deb822Error> {
        self.entries().collect()
    }
}

/// Iterator over the entries of Packages text; see [`entries`].
#[derive(Debug, Clone)]
pub struct PackageEntries<'a> {
    paragraphs: Paragraphs<'a>,
}

impl<'a> Iterator for PackageEntries<'a> {
    type Item = Result<PackageEntry<'a>, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let paragraph = self.paragraphs.next()?;
        Some(paragraph.and_then(|paragraph| PackageEntry::from_paragraph(&paragraph)))
    }
}

/// Iterates over the entries of uncompressed Packages text.
pub fn entries(text: &str) -> PackageEntries<'_> {
    PackageEntries {
        paragraphs: Paragraphs::new(text),
    }
}

/// Reads a Packages index (plain or compressed, detected by magic bytes)
/// into owned entries.
pub fn read_packages(bytes: &[u8]) -> Result<Vec<PackageEntry<'static>>, PackagesError> {
    owned_entries(&compression::decompress(bytes)?)
}

/// Like [`read_packages`], cross-checking the file name hint.
pub fn read_packages_named(
    file_name: &str,
    bytes: &[u8],
) -> Result<Vec<PackageEntry<'static>>, PackagesError> {
    owned_entries(&compression::decompress_named(file_name, bytes)?)
}

/// Parses straight from the decompressed bytes (no copy of the text when it
/// is valid UTF-8) and detaches each entry.
fn owned_entries(plain: &[u8]) -> Result<Vec<PackageEntry<'static>>, PackagesError> {
    let lossy;
    let text = match std::str::from_utf8(plain) {
        Ok(text) => text,
        Err(_) => {
            lossy = String::from_utf8_lossy(plain);
            &lossy
        }
    };
    entries(text)
        .map(|entry| {
            entry
                .map(PackageEntry::into_owned)
                .map_err(PackagesError::from)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const INDEX: &str = "\
Package: openssl
Version: 3.0.15-1~deb12u1
Installed-Size: 2291
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Depends: libc6 (>= 2.34), libssl3 (>= 3.0.9)
Suggests: ca-certificates
Description: Secure Sockets Layer toolkit - cryptographic utility
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols.
Description-md5: 9b6de2bb6e1d9016aeb0f00bcf6617bd
Multi-Arch: foreign
Section: utils
Priority: optional
Filename: pool/updates/main/o/openssl/openssl_3.0.15-1~deb12u1_amd64.deb
Size: 1427432
SHA256: 8f0b8dc3e3ab6cd77b3bde0bd95b9e2a5f28eb7f11f8fe7e3c1e9c8f5f9a8f0e

Package: libssl3
Source: openssl (3.0.15-1~deb12u1)
Version: 3.0.15-1~deb12u1+b1
Architecture: amd64
Pre-Depends: libc6 (>= 2.34)
Provides: libssl3t64
Filename: pool/updates/main/o/openssl/libssl3_3.0.15-1~deb12u1+b1_amd64.deb
Size: 2025720
";

    #[test]
    fn parses_entries() {
        let index = PackagesIndex::from_bytes(INDEX.as_bytes()).unwrap();
        let entries = index.parse_all().unwrap();
        assert_eq!(entries.len(), 2);
        let openssl = &entries[0];
        assert_eq!(openssl.package, "openssl");
        assert_eq!(openssl.version, "3.0.15-1~deb12u1");
        assert_eq!(openssl.architecture, "amd64");
        assert_eq!(openssl.section.as_deref(), Some("utils"));
        assert_eq!(openssl.priority.as_deref(), Some("optional"));
        assert_eq!(openssl.size, Some(1427432));
        assert_eq!(openssl.multi_arch, Some(MultiArch::Foreign));
        assert_eq!(openssl.source_name(), "openssl");
        assert_eq!(
            openssl.filename.as_deref(),
            Some("pool/updates/main/o/openssl/openssl_3.0.15-1~deb12u1_amd64.deb")
        );
        assert_eq!(openssl.sha256.as_deref().map(str::len), Some(64));
        assert_eq!(
            openssl.depends.as_deref(),
            Some("libc6 (>= 2.34), libssl3 (>= 3.0.9)")
        );
        let libssl = &entries[1];
        assert_eq!(libssl.source_name(), "openssl");
        assert_eq!(libssl.source_version(), "3.0.15-1~deb12u1");
        assert_eq!(libssl.pre_depends.as_deref(), Some("libc6 (>= 2.34)"));
        assert_eq!(libssl.provides.as_deref(), Some("libssl3t64"));
        assert_eq!(libssl.sha256, None);
        assert_eq!(libssl.line, 19);
    }

    #[test]
    fn every_compression_gives_the_same_entries() {
        let plain = read_packages(INDEX.as_bytes()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(INDEX.as_bytes()).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(INDEX.as_bytes()).unwrap();
        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(INDEX.as_bytes()).unwrap();
        let compressed = [
            ("Packages.gz", gz.finish().unwrap()),
            ("Packages.xz", xz.finish().unwrap()),
            ("x_Packages.lz4", lz4.finish().unwrap()),
            (
                "Packages.zst",
                zstd::stream::encode_all(INDEX.as_bytes(), 3).unwrap(),
            ),
        ];
        for (name, bytes) in compressed {
            assert_eq!(read_packages(&bytes).unwrap(), plain, "{name}");
            assert_eq!(read_packages_named(name, &bytes).unwrap(), plain, "{name}");
        }
    }

    #[test]
    fn truncated_gzip_names_the_layer() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(INDEX.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let error = read_packages(&bytes[..bytes.len() / 2]).unwrap_err();
        assert!(
            matches!(
                error,
                PackagesError::Decompress(DecompressError::Corrupt {
                    layer: compression::Compression::Gzip,
                    ..
                })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn missing_required_field_names_the_stanza() {
        let text = INDEX.replace("Version: 3.0.15-1~deb12u1+b1\n", "");
        assert_eq!(
            read_packages(text.as_bytes()).unwrap_err(),
            PackagesError::Syntax(Deb822Error::MissingField {
                stanza_line: 19,
                field: "Version"
            })
        );
    }

    #[test]
    fn bad_values_name_the_line() {
        let text = INDEX.replace("Size: 2025720", "Size: big");
        assert!(matches!(
            read_packages(text.as_bytes()).unwrap_err(),
            PackagesError::Syntax(Deb822Error::InvalidValue {
                line: 26,
                field: "Size",
                ..
            })
        ));
        let text = INDEX.replace("SHA256: 8f0b", "SHA256: zz0b");
        assert!(matches!(
            read_packages(text.as_bytes()).unwrap_err(),
            PackagesError::Syntax(Deb822Error::InvalidValue {
                line: 17,
                field: "SHA256",
                ..
            })
        ));
    }

    #[test]
    fn field_without_colon_names_the_line() {
        let text = INDEX.replace("Suggests: ca-certificates", "Suggests ca-certificates");
        assert_eq!(
            read_packages(text.as_bytes()).unwrap_err(),
            PackagesError::Syntax(Deb822Error::MissingColon { line: 7 })
        );
    }

    #[test]
    fn duplicate_entries_are_kept_in_order() {
        let first_stanza = INDEX.split("\n\n").next().unwrap();
        let doubled = format!("{first_stanza}\n\n{first_stanza}\n");
        let entries = read_packages(doubled.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].package, entries[1].package);
        assert_eq!(entries[1].line, 19);
    }
}
