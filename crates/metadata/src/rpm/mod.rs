//! rpm-md repository metadata (the `repodata/` of dnf, yum and zypper
//! repositories): `repomd.xml`, `primary.xml` and `updateinfo.xml`.
//!
//! Owns the shared error type and the small value types the three readers
//! share. All readers stream with quick-xml (no DOM): primary.xml of a large
//! repository is hundreds of megabytes once decompressed.

mod package_header;
pub mod primary;
pub mod primary_filter;
pub mod primary_scan;
pub mod repomd;
pub mod updateinfo;
mod xml;

use thiserror::Error;

use crate::compression::DecompressError;

/// Why repodata could not be read; names the element path and the byte
/// position in the decompressed document, or the compression layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RepodataError {
    /// The compression layer failed.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    /// The document is not well-formed XML.
    #[error("{path} (byte {position}): malformed XML: {message}")]
    Xml {
        /// Element path, e.g. `/metadata/package/format`.
        path: String,
        /// Byte offset in the decompressed document.
        position: u64,
        /// The XML parser's description.
        message: String,
    },
    /// The document ends inside an element.
    #[error("{path} (byte {position}): document ends before the element is closed")]
    Truncated {
        /// The innermost open element.
        path: String,
        /// Byte offset in the decompressed document.
        position: u64,
    },
    /// The root element is not the one this reader expects.
    #[error("root element is <{found}>, expected <{expected}>")]
    UnexpectedRoot {
        /// What the reader expects.
        expected: &'static str,
        /// What the document has.
        found: String,
    },
    /// A required element or attribute is missing.
    #[error("{path} (byte {position}): missing {what}")]
    Missing {
        /// Path of the element that lacks it.
        path: String,
        /// Byte offset in the decompressed document.
        position: u64,
        /// What is missing (`<name>`, `ver attribute`, …).
        what: &'static str,
    },
    /// A value that does not parse.
    #[error("{path} (byte {position}): invalid {what} {value:?}: {reason}")]
    InvalidValue {
        /// Element path.
        path: String,
        /// Byte offset in the decompressed document.
        position: u64,
        /// Which value (`epoch`, `date`, …).
        what: &'static str,
        /// The value (truncated).
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

/// A checksum with its algorithm name as written (`sha256`, `sha512`,
/// `sha`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum {
    /// Algorithm (`type` attribute).
    pub algorithm: String,
    /// Hex digest.
    pub value: String,
}
