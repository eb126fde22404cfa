//! Compression detection and decompression of repository metadata files.
//!
//! Owns the mapping from magic bytes (and, as a cross-check, file names) to
//! the formats repositories and apt's local lists use: gzip, xz, lz4 frames
//! (apt stores `/var/lib/apt/lists/*.lz4`) and zstd. Everything is read from
//! memory; the output is capped so a hostile or corrupt file cannot exhaust
//! memory, and every failure names the compression layer that failed and how
//! far it got.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use thiserror::Error;

/// Largest decompressed size accepted by default (4 GiB): well above any
/// real Packages index or primary.xml, well below what would hurt an agent.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

/// A compression format of a metadata file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (`.gz`), possibly several concatenated members.
    Gzip,
    /// xz (`.xz`), possibly several concatenated streams.
    Xz,
    /// LZ4 frame format (`.lz4`), as apt writes its local lists.
    Lz4,
    /// Zstandard (`.zst`).
    Zstd,
    /// bzip2 (`.bz2`): recognised so it can be reported, not decoded.
    Bzip2,
}

impl Compression {
    /// Detects the format from the leading magic bytes; anything without a
    /// known signature is taken as uncompressed.
    pub fn detect(bytes: &[u8]) -> Compression {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if bytes.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            Compression::Lz4
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if bytes.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    /// The format a file name's extension announces (`Packages.xz`,
    /// `…_Packages.lz4`, `primary.xml.zst`); `None` for an unknown extension.
    pub fn from_file_name(file_name: &str) -> Option<Compression> {
        let extension = file_name.rsplit_once('.').map(|(_, ext)| ext)?;
        match extension.to_ascii_lowercase().as_str() {
            "gz" | "gzip" => Some(Compression::Gzip),
            "xz" => Some(Compression::Xz),
            "lz4" => Some(Compression::Lz4),
            "zst" | "zstd" => Some(Compression::Zstd),
            "bz2" => Some(Compression::Bzip2),
            _ => None,
        }
    }

    /// Short lowercase name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why decompression failed; always names the layer (format) that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecompressError {
    /// The compressed stream is corrupt or truncated.
    #[error("{layer} layer failed after {decompressed_bytes} decompressed bytes: {message}")]
    Corrupt {
        /// The format whose decoder failed.
        layer: Compression,
        /// How many bytes had been produced before the failure.
        decompressed_bytes: u64,
        /// The decoder's own description of the failure.
        message: String,
    },
    /// Decompressing would exceed the configured output limit.
    #[error("{layer} layer: decompressed output exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The format being decoded.
        layer: Compression,
        /// The limit that was hit.
        limit: u64,
    },
    /// The format is recognised but not supported.
    #[error("{layer} compression is recognised but not supported")]
    Unsupported {
        /// The unsupported format.
        layer: Compression,
    },
    /// The file name announces compression but the content has no such
    /// signature (typically a truncated download or a wrong file).
    #[error(
        "file {file_name:?} should be {expected} but its content starts with no {expected} signature"
    )]
    NameMismatch {
        /// The file name hint given by the caller.
        file_name: String,
        /// The format the file name announces.
        expected: Compression,
    },
}

/// Decompresses `bytes` according to their magic bytes; uncompressed input
/// is returned borrowed.
pub fn decompress(bytes: &[u8]) -> Result<Cow<'_, [u8]>, DecompressError> {
    decompress_with_limit(bytes, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// Like [`decompress`], with an explicit cap on the decompressed size.
pub fn decompress_with_limit(bytes: &[u8], limit: u64) -> Result<Cow<'_, [u8]>, DecompressError> {
    let layer = Compression::detect(bytes);
    if layer == Compression::None {
        if bytes.len() as u64 > limit {
            return Err(DecompressError::TooLarge { layer, limit });
        }
        return Ok(Cow::Borrowed(bytes));
    }
    let mut reader = open_with_limit(bytes, limit)?;
    let mut output = Vec::with_capacity(initial_capacity(bytes, limit));
    match reader.read_to_end(&mut output) {
        Ok(_) => Ok(Cow::Owned(output)),
        Err(error) => Err(
            layer_failure(&error).unwrap_or_else(|| DecompressError::Corrupt {
                layer,
                decompressed_bytes: output.len() as u64,
                message: error.to_string(),
            }),
        ),
    }
}

/// Decompresses `bytes`, cross-checking the caller's file name: magic bytes
/// decide the format, but a name ending in `.gz`/`.xz`/`.lz4`/`.zst` whose
/// content carries no signature at all is reported instead of being parsed
/// as text.
pub fn decompress_named<'a>(
    file_name: &str,
    bytes: &'a [u8],
) -> Result<Cow<'a, [u8]>, DecompressError> {
    check_name(file_name, bytes)?;
    decompress(bytes)
}

/// Checks a file name hint against the content's signature (see
/// [`decompress_named`]).
pub fn check_name(file_name: &str, bytes: &[u8]) -> Result<(), DecompressError> {
    match Compression::from_file_name(file_name) {
        Some(expected) if Compression::detect(bytes) == Compression::None => {
            Err(DecompressError::NameMismatch {
                file_name: file_name.to_owned(),
                expected,
            })
        }
        _ => Ok(()),
    }
}

/// Opens a streaming decompressor over `bytes` (format from magic bytes),
/// for parsers that must not hold the whole decompressed file, such as
/// primary.xml readers. Uses [`DEFAULT_MAX_DECOMPRESSED_BYTES`].
pub fn open(bytes: &[u8]) -> Result<DecompressingReader<'_>, DecompressError> {
    open_with_limit(bytes, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// Like [`open`], with an explicit cap on the decompressed size.
pub fn open_with_limit(
    bytes: &[u8],
    limit: u64,
) -> Result<DecompressingReader<'_>, DecompressError> {
    let layer = Compression::detect(bytes);
    let decoder: Box<dyn Read + '_> = match layer {
        Compression::None => Box::new(bytes),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(bytes)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(bytes)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(bytes).map_err(
            |error| DecompressError::Corrupt {
                layer,
                decompressed_bytes: 0,
                message: error.to_string(),
            },
        )?),
        Compression::Bzip2 => return Err(DecompressError::Unsupported { layer }),
    };
    Ok(DecompressingReader {
        inner: BufReader::with_capacity(
            64 * 1024,
            LimitedDecoder {
                decoder,
                layer,
                produced: 0,
                limit,
            },
        ),
        layer,
    })
}

/// A buffered reader of decompressed bytes. Its I/O errors carry a
/// [`DecompressError`] that [`layer_failure`] recovers, so parsers stacked on
/// top can report which compression layer failed.
pub struct DecompressingReader<'a> {
    inner: BufReader<LimitedDecoder<'a>>,
    layer: Compression,
}

impl DecompressingReader<'_> {
    /// The detected compression format.
    pub fn compression(&self) -> Compression {
        self.layer
    }
}

impl fmt::Debug for DecompressingReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecompressingReader")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl Read for DecompressingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl BufRead for DecompressingReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount)
    }
}

/// Extracts the [`DecompressError`] a [`DecompressingReader`] wrapped into an
/// I/O error, if this error came from one.
pub fn layer_failure(error: &io::Error) -> Option<DecompressError> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<DecompressError>())
        .cloned()
}

/// Counts output, enforces the limit and tags decoder errors with the layer.
struct LimitedDecoder<'a> {
    decoder: Box<dyn Read + 'a>,
    layer: Compression,
    produced: u64,
    limit: u64,
}

impl Read for LimitedDecoder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = loop {
            match self.decoder.read(buf) {
                Ok(read) => break read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(io::Error::other(DecompressError::Corrupt {
                        layer: self.layer,
                        decompressed_bytes: self.produced,
                        message: error.to_string(),
                    }));
                }
            }
        };
        self.produced += read as u64;
        if self.produced > self.limit {
            return Err(io::Error::other(DecompressError::TooLarge {
                layer: self.layer,
                limit: self.limit,
            }));
        }
        Ok(read)
    }
}

/// A first guess at the output size so large indexes are not re-grown from
/// scratch: gzip records the size (mod 2^32) in its trailer; otherwise
/// assume a typical text compression ratio.
fn initial_capacity(bytes: &[u8], limit: u64) -> usize {
    let guess = match Compression::detect(bytes) {
        Compression::Gzip if bytes.len() >= 18 => {
            let trailer = &bytes[bytes.len() - 4..];
            u64::from(u32::from_le_bytes([
                trailer[0], trailer[1], trailer[2], trailer[3],
            ]))
        }
        _ => bytes.len() as u64 * 4,
    };
    // Never trust the input for more than 256 MiB up front.
    guess.min(limit).min(256 << 20) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"Package: hello\nVersion: 2.10-3\n\nPackage: bye\nVersion: 1\n";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn lz4(data: &[u8]) -> Vec<u8> {
        let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 1).unwrap()
    }

    #[test]
    fn every_format_round_trips_and_is_detected() {
        let cases = [
            (Compression::Gzip, gzip(TEXT)),
            (Compression::Xz, xz(TEXT)),
            (Compression::Lz4, lz4(TEXT)),
            (Compression::Zstd, zstd(TEXT)),
        ];
        for (format, compressed) in cases {
            assert_eq!(Compression::detect(&compressed), format);
            assert_eq!(decompress(&compressed).unwrap().as_ref(), TEXT, "{format}");
        }
    }

    #[test]
    fn plain_input_is_borrowed() {
        assert!(matches!(decompress(TEXT).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn truncated_streams_name_the_failing_layer() {
        let cases = [
            (Compression::Gzip, gzip(TEXT)),
            (Compression::Xz, xz(TEXT)),
            (Compression::Lz4, lz4(TEXT)),
            (Compression::Zstd, zstd(TEXT)),
        ];
        for (format, compressed) in cases {
            let truncated = &compressed[..compressed.len() - 6];
            match decompress(truncated) {
                Err(DecompressError::Corrupt { layer, .. }) => assert_eq!(layer, format),
                other => panic!("{format}: expected a corrupt-layer error, got {other:?}"),
            }
        }
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let mut both = gzip(b"Package: a\n\n");
        both.extend(gzip(b"Package: b\n"));
        assert_eq!(
            decompress(&both).unwrap().as_ref(),
            b"Package: a\n\nPackage: b\n"
        );
    }

    #[test]
    fn output_limit_is_enforced() {
        let big = vec![b'x'; 100_000];
        let error = decompress_with_limit(&zstd(&big), 1000).unwrap_err();
        assert_eq!(
            error,
            DecompressError::TooLarge {
                layer: Compression::Zstd,
                limit: 1000
            }
        );
    }

    #[test]
    fn file_name_hint_catches_uncompressed_content() {
        let error = decompress_named("foo_Packages.lz4", TEXT).unwrap_err();
        assert!(matches!(
            error,
            DecompressError::NameMismatch {
                expected: Compression::Lz4,
                ..
            }
        ));
        // Magic bytes win over a wrong extension.
        assert_eq!(
            decompress_named("Packages.gz", &xz(TEXT)).unwrap().as_ref(),
            TEXT
        );
        assert_eq!(decompress_named("Packages", TEXT).unwrap().as_ref(), TEXT);
    }

    #[test]
    fn bzip2_is_reported_unsupported() {
        assert_eq!(
            decompress(b"BZh91AY&SY").unwrap_err(),
            DecompressError::Unsupported {
                layer: Compression::Bzip2
            }
        );
    }

    #[test]
    fn streaming_reader_tags_errors_with_the_layer() {
        let compressed = gzip(TEXT);
        let mut reader = open(&compressed[..compressed.len() - 3]).unwrap();
        let mut sink = Vec::new();
        let error = reader.read_to_end(&mut sink).unwrap_err();
        assert!(matches!(
            layer_failure(&error),
            Some(DecompressError::Corrupt {
                layer: Compression::Gzip,
                ..
            })
        ));
    }
}
