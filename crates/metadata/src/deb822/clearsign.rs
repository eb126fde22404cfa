//! Removal of the OpenPGP clearsign armour (RFC 4880 §7) around InRelease
//! files, leaving the signed deb822 text.
//!
//! This does not verify the signature (that is gpgv's job, run by apt before
//! the file lands in /var/lib/apt/lists); it only extracts the text. Like apt
//! it is strict about the framing — nothing but blank lines before the
//! armour, nothing after it — so unsigned text cannot ride along with a
//! signed file.

use std::borrow::Cow;

use thiserror::Error;

use super::line_of_offset;

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// A malformed clearsign wrapper, naming the line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClearsignError {
    /// The input is not valid UTF-8.
    #[error("line {line}: invalid UTF-8")]
    InvalidUtf8 {
        /// 1-based line.
        line: usize,
    },
    /// The armour headers (`Hash: …`) are not followed by a blank line.
    #[error("line {line}: armour headers are not followed by a blank line")]
    UnterminatedHeaders {
        /// 1-based line where the headers ran out.
        line: usize,
    },
    /// The signed text is not followed by a signature block.
    #[error("no '{BEGIN_SIGNATURE}' line after the signed text")]
    MissingSignature,
    /// The signature block is not closed.
    #[error("line {line}: signature block is not closed by '{END_SIGNATURE}'")]
    UnterminatedSignature {
        /// 1-based line where the signature block starts.
        line: usize,
    },
    /// A line of signed text starts with `-` without dash-escaping.
    #[error("line {line}: line starting with '-' is not dash-escaped")]
    BadDashEscape {
        /// 1-based line.
        line: usize,
    },
    /// Text before the armour or after the signature.
    #[error("line {line}: text outside the signed message")]
    TextOutsideMessage {
        /// 1-based line.
        line: usize,
    },
}

/// The text inside a clearsigned file, or the whole input if it is not
/// clearsigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedText<'a> {
    /// The message, each line ending with `\n` (dash-escaping undone, so
    /// owned only when a line was escaped).
    pub text: Cow<'a, str>,
    /// Whether a clearsign armour was present (and removed).
    pub clearsigned: bool,
    /// 1-based line of the input where `text` starts, so parse errors in the
    /// message can name lines of the original file.
    pub first_line: usize,
}

/// Strips a clearsign armour if present; plain text passes through borrowed.
pub fn strip_clearsign(bytes: &[u8]) -> Result<SignedText<'_>, ClearsignError> {
    let input = std::str::from_utf8(bytes).map_err(|error| ClearsignError::InvalidUtf8 {
        line: line_of_offset(bytes, error.valid_up_to()),
    })?;
    let mut lines = numbered_lines(input).peekable();
    // Find the armour start, allowing only blank lines before it.
    let mut armour_found = false;
    // Anything else first means a plain (not clearsigned) file.
    while let Some(&(_, line, _)) = lines.peek() {
        if line.trim().is_empty() {
            lines.next();
            continue;
        }
        if line.trim_end() == BEGIN_MESSAGE {
            lines.next();
            armour_found = true;
        }
        break;
    }
    if !armour_found {
        return Ok(SignedText {
            text: Cow::Borrowed(input),
            clearsigned: false,
            first_line: 1,
        });
    }

    // Armour headers ("Hash: SHA512") up to a blank line.
    let mut last_line = 1;
    loop {
        let Some((number, line, _)) = lines.next() else {
            return Err(ClearsignError::UnterminatedHeaders {
                line: last_line + 1,
            });
        };
        last_line = number;
        if line.trim().is_empty() {
            break;
        }
        if !line.contains(':') {
            return Err(ClearsignError::UnterminatedHeaders { line: number });
        }
    }

    // The message, up to the signature marker.
    let first_line = last_line + 1;
    let mut message_start = None;
    let mut message_end = 0;
    let mut unescaped: Option<String> = None;
    let mut signature_line = None;
    for (number, line, offset) in lines.by_ref() {
        let content = line.trim_end_matches(['\r', '\n']);
        if content.trim_end() == BEGIN_SIGNATURE {
            signature_line = Some(number);
            break;
        }
        let start = *message_start.get_or_insert(offset);
        if let Some(rest) = content.strip_prefix('-') {
            let Some(escaped) = rest.strip_prefix(' ') else {
                return Err(ClearsignError::BadDashEscape { line: number });
            };
            let text = unescaped.get_or_insert_with(|| input[start..offset].to_owned());
            text.push_str(escaped);
            text.push('\n');
        } else if let Some(text) = unescaped.as_mut() {
            text.push_str(content);
            text.push('\n');
        }
        message_end = offset + line.len();
    }
    let Some(signature_line) = signature_line else {
        return Err(ClearsignError::MissingSignature);
    };
    let mut closed = false;
    for (number, line, _) in lines {
        if closed {
            if !line.trim().is_empty() {
                return Err(ClearsignError::TextOutsideMessage { line: number });
            }
        } else if line.trim_end() == END_SIGNATURE {
            closed = true;
        }
    }
    if !closed {
        return Err(ClearsignError::UnterminatedSignature {
            line: signature_line,
        });
    }
    let text = match unescaped {
        Some(text) => Cow::Owned(text),
        None => Cow::Borrowed(message_start.map_or("", |start| &input[start..message_end])),
    };
    Ok(SignedText {
        text,
        clearsigned: true,
        first_line,
    })
}

/// Lines with their 1-based number, text (terminator included) and byte
/// offset.
fn numbered_lines(input: &str) -> impl Iterator<Item = (usize, &str, usize)> {
    input
        .split_inclusive('\n')
        .scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len();
            Some((line, start))
        })
        .enumerate()
        .map(|(index, (line, start))| (index + 1, line, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n\
        Origin: Debian\nSuite: stable\n\
        -----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n=abcd\n\
        -----END PGP SIGNATURE-----\n";

    #[test]
    fn strips_the_armour_and_keeps_line_numbers() {
        let signed = strip_clearsign(SIGNED.as_bytes()).unwrap();
        assert!(signed.clearsigned);
        assert_eq!(signed.text, "Origin: Debian\nSuite: stable\n");
        assert!(matches!(signed.text, Cow::Borrowed(_)));
        assert_eq!(signed.first_line, 4);
    }

    #[test]
    fn plain_text_passes_through() {
        let signed = strip_clearsign(b"Origin: Debian\n").unwrap();
        assert!(!signed.clearsigned);
        assert_eq!(signed.text, "Origin: Debian\n");
    }

    #[test]
    fn undoes_dash_escaping() {
        let input = SIGNED.replace("Suite: stable\n", "- -Weird: x\nSuite: stable\n");
        let signed = strip_clearsign(input.as_bytes()).unwrap();
        assert_eq!(signed.text, "Origin: Debian\n-Weird: x\nSuite: stable\n");
    }

    #[test]
    fn crlf_armour_is_accepted() {
        let input = SIGNED.replace('\n', "\r\n");
        let signed = strip_clearsign(input.as_bytes()).unwrap();
        assert_eq!(signed.text, "Origin: Debian\r\nSuite: stable\r\n");
    }

    #[test]
    fn rejects_missing_signature() {
        let input = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\n";
        assert_eq!(
            strip_clearsign(input.as_bytes()).unwrap_err(),
            ClearsignError::MissingSignature
        );
    }

    #[test]
    fn rejects_unterminated_signature() {
        let input = SIGNED.replace("-----END PGP SIGNATURE-----\n", "");
        assert_eq!(
            strip_clearsign(input.as_bytes()).unwrap_err(),
            ClearsignError::UnterminatedSignature { line: 6 }
        );
    }

    #[test]
    fn rejects_text_after_the_signature() {
        let input = format!("{SIGNED}Origin: Evil\n");
        assert_eq!(
            strip_clearsign(input.as_bytes()).unwrap_err(),
            ClearsignError::TextOutsideMessage { line: 11 }
        );
    }

    #[test]
    fn rejects_unescaped_dash_line() {
        let input = SIGNED.replace("Suite: stable\n", "-bad\n");
        assert_eq!(
            strip_clearsign(input.as_bytes()).unwrap_err(),
            ClearsignError::BadDashEscape { line: 5 }
        );
    }

    #[test]
    fn rejects_headers_without_blank_line() {
        assert_eq!(
            strip_clearsign(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n").unwrap_err(),
            ClearsignError::UnterminatedHeaders { line: 3 }
        );
    }
}
