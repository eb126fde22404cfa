//! Readers for package-manager metadata (pure parsers over bytes).
//!
//! The caller reads files; every function here takes bytes and returns typed
//! values or a typed error naming the place (line of the stanza or field for
//! deb822 files, element path and byte position for XML, the compression
//! layer for compressed input). Nothing panics on malformed input.
//!
//! | file | entry point |
//! | --- | --- |
//! | `/var/lib/dpkg/status` | [`dpkg_status::parse_status`] |
//! | apt `Packages[.gz/.xz/.lz4/.zst]` | [`apt_packages::read_packages`], [`apt_packages::PackagesIndex`] |
//! | apt `Release` / `InRelease` | [`apt_release::parse_release`] |
//! | rpm-md `repomd.xml` | [`rpm::repomd::parse_repomd`] |
//! | rpm-md `primary.xml[.gz/.xz/.zst]` | [`rpm::primary::parse_primary`], [`rpm::primary::PrimaryReader`] |
//! | rpm-md `updateinfo.xml[.gz/.xz/.zst]` | [`rpm::updateinfo::parse_updateinfo`], [`rpm::updateinfo::UpdateinfoReader`] |
//!
//! Any other deb822 file can be read with [`deb822::Paragraphs`], and any
//! compressed file opened with [`compression::decompress`] or
//! [`compression::open`].

pub mod apt_packages;
pub mod apt_release;
pub mod compression;
pub mod deb822;
pub mod dpkg_status;
pub mod rpm;
#[cfg(any(test, feature = "testdata"))]
pub mod testdata;
