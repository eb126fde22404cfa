//! Readers for package-manager metadata (pure parsers over bytes).
//!
//! The caller reads files; every function here takes bytes and returns typed
//! values or a typed error naming the place (line of the stanza or field for
//! deb822 files, element path and byte position for XML, the compression
//! layer for compressed input). Nothing panics on malformed input.

pub mod apt_packages;
pub mod apt_release;
pub mod compression;
pub mod deb822;
pub mod dpkg_status;
pub mod rpm;
#[cfg(any(test, feature = "testdata"))]
pub mod testdata;
