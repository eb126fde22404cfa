//! The deb822 paragraph reader shared by dpkg status, apt Packages indexes
//! and Release files.
//!
//! Owns the syntax only: stanzas ("paragraphs") of `Name: value` fields,
//! continuation lines starting with a space or tab, blank-line separation,
//! CRLF tolerance, and the PGP clearsign wrapper of InRelease files
//! ([`strip_clearsign`]). Comment lines are rejected because dpkg and apt do
//! not allow them in these files.
//!
//! Hand-written rather than built on a general parser crate for speed: a
//! 60,000-entry Packages index (~60 MB) must parse well under a second, so
//! the reader scans lines with `memchr` and hands out slices of the input
//! (zero-copy) instead of allocating per field.

mod clearsign;
mod fields;

pub use clearsign::{ClearsignError, strip_clearsign};
pub use fields::{SourceRef, field_is};

use std::borrow::Cow;

use thiserror::Error;

/// A deb822 syntax error or a field-level error, naming the line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Deb822Error {
    /// The input is not valid UTF-8.
    #[error("line {line}: invalid UTF-8")]
    InvalidUtf8 {
        /// 1-based line of the first invalid byte.
        line: usize,
    },
    /// A `#` comment line, which these files do not allow.
    #[error("line {line}: comment lines are not allowed in this file")]
    Comment {
        /// 1-based line.
        line: usize,
    },
    /// A line that is neither a continuation nor `Name: value`.
    #[error("line {line}: field line without ':'")]
    MissingColon {
        /// 1-based line.
        line: usize,
    },
    /// A field name that is empty or contains characters deb822 forbids.
    #[error("line {line}: invalid field name {name:?}")]
    InvalidFieldName {
        /// 1-based line.
        line: usize,
        /// The offending name (truncated).
        name: String,
    },
    /// A continuation line with no field before it in the stanza.
    #[error("line {line}: continuation line outside a field")]
    OrphanContinuation {
        /// 1-based line.
        line: usize,
    },
    /// The same field twice in one stanza.
    #[error("line {line}: field {name:?} repeated in the stanza (first at line {first_line})")]
    DuplicateField {
        /// 1-based line of the repetition.
        line: usize,
        /// 1-based line of the first occurrence.
        first_line: usize,
        /// The field name.
        name: String,
    },
    /// A stanza lacks a field its file format requires.
    #[error("stanza at line {stanza_line}: required field {field:?} is missing")]
    MissingField {
        /// 1-based line where the stanza starts.
        stanza_line: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A field value that does not parse.
    #[error("line {line}: field {field:?}: {reason}: {value:?}")]
    InvalidValue {
        /// 1-based line of the field.
        line: usize,
        /// The field name.
        field: &'static str,
        /// The offending value (truncated).
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// A single-line field continued onto further lines.
    #[error("line {line}: field {field:?} must fit on one line")]
    MultilineValue {
        /// 1-based line of the field.
        line: usize,
        /// The field name.
        field: &'static str,
    },
}

/// Shortens untrusted text quoted in error messages.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// One `Name: value` field, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    name: &'a str,
    raw: &'a str,
    line: usize,
    multiline: bool,
}

impl<'a> Field<'a> {
    /// The field name as written (compare with [`field_is`]: names are
    /// case-insensitive).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// 1-based line of the field's first line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Whether continuation lines follow the first line.
    pub fn is_multiline(&self) -> bool {
        self.multiline
    }

    /// The value exactly as written from after the colon's whitespace to the
    /// end of the last continuation line (line breaks and indentation kept,
    /// trailing whitespace dropped).
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The text on the field's first line (the synopsis of a Description,
    /// empty for list fields such as `SHA256:`).
    pub fn first_line(&self) -> &'a str {
        match memchr::memchr(b'\n', self.raw.as_bytes()) {
            Some(end) => self.raw[..end].trim_end(),
            None => self.raw,
        }
    }

    /// The continuation lines with their leading space or tab removed and
    /// trailing whitespace trimmed (a lone `.` is kept as written).
    pub fn continuation_lines(&self) -> impl Iterator<Item = &'a str> + 'a {
        let rest = match memchr::memchr(b'\n', self.raw.as_bytes()) {
            Some(end) => &self.raw[end + 1..],
            None => "",
        };
        rest.split('\n').filter(|_| !rest.is_empty()).map(|line| {
            let line = line.strip_prefix([' ', '\t']).unwrap_or(line);
            line.trim_end()
        })
    }

    /// The value with lines folded into one: continuation lines are joined
    /// with single spaces (how relationship fields may be wrapped). Borrowed
    /// when the field is a single line.
    pub fn folded(&self) -> Cow<'a, str> {
        if !self.multiline {
            return Cow::Borrowed(self.raw);
        }
        let mut folded = String::with_capacity(self.raw.len());
        for piece in self
            .raw
            .split('\n')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if !folded.is_empty() {
                folded.push(' ');
            }
            folded.push_str(piece);
        }
        Cow::Owned(folded)
    }

    /// The value of a field that must be a single line.
    pub fn single_line(&self, field: &'static str) -> Result<&'a str, Deb822Error> {
        if self.multiline {
            return Err(Deb822Error::MultilineValue {
                line: self.line,
                field,
            });
        }
        Ok(self.raw)
    }
}

/// One stanza: its fields in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    fields: Vec<Field<'a>>,
    line: usize,
}

impl<'a> Paragraph<'a> {
    /// 1-based line where the stanza starts.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The fields in file order.
    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// The field with this name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|field| field_is(field.name, name))
    }

    /// The raw value of the field with this name (case-insensitive).
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).map(|field| field.raw)
    }
}

/// Iterates over the stanzas of deb822 text, yielding each or the first
/// syntax error (after which it stops).
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    text: &'a str,
    position: usize,
    next_line: usize,
    failed: bool,
}

impl<'a> Paragraphs<'a> {
    /// Reads stanzas from text.
    pub fn new(text: &'a str) -> Self {
        Paragraphs {
            text,
            position: 0,
            next_line: 1,
            failed: false,
        }
    }

    /// Reads stanzas from bytes, which must be UTF-8.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Deb822Error> {
        Ok(Paragraphs::new(utf8(bytes)?))
    }

    /// The next line without its terminator (and without a trailing `\r`),
    /// plus the offset just past the line's end in `text`.
    fn take_line(&mut self) -> Option<(&'a str, usize, usize)> {
        let bytes = self.text.as_bytes();
        if self.position >= bytes.len() {
            return None;
        }
        let start = self.position;
        let end = match memchr::memchr(b'\n', &bytes[start..]) {
            Some(offset) => start + offset,
            None => bytes.len(),
        };
        self.position = end + 1;
        let line_number = self.next_line;
        self.next_line += 1;
        let mut line = &self.text[start..end];
        if let Some(stripped) = line.strip_suffix('\r') {
            line = stripped;
        }
        Some((line, start, line_number))
    }

    fn read_paragraph(&mut self) -> Result<Option<Paragraph<'a>>, Deb822Error> {
        let mut fields: Vec<Field<'a>> = Vec::with_capacity(24);
        // Which (length, first letter) buckets hold a field name already, so
        // the duplicate check only scans on a likely repeat.
        let mut seen_buckets: u64 = 0;
        let mut paragraph_line = 0;
        // Byte range of the value of the field being built.
        let mut value_start = 0;
        let mut value_end = 0;
        while let Some((line, line_start, line_number)) = self.take_line() {
            let first = line.as_bytes().first().copied();
            if is_blank(line) {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            match first {
                Some(b' ' | b'\t') => {
                    if fields.is_empty() {
                        return Err(Deb822Error::OrphanContinuation { line: line_number });
                    }
                    value_end = line_start + line.trim_end().len();
                    if let Some(last) = fields.last_mut() {
                        last.multiline = true;
                    }
                }
                Some(b'#') => return Err(Deb822Error::Comment { line: line_number }),
                _ => {
                    if let Some(last) = fields.last_mut() {
                        last.raw = self.text[value_start..value_end.max(value_start)].trim_end();
                    }
                    let Some(colon) = memchr::memchr(b':', line.as_bytes()) else {
                        return Err(Deb822Error::MissingColon { line: line_number });
                    };
                    let name = &line[..colon];
                    if !is_valid_field_name(name) {
                        return Err(Deb822Error::InvalidFieldName {
                            line: line_number,
                            name: excerpt(name),
                        });
                    }
                    let bucket =
                        1u64 << ((name.len() * 7 + usize::from(name.as_bytes()[0] | 0x20)) % 64);
                    if seen_buckets & bucket != 0
                        && let Some(previous) = fields.iter().find(|f| field_is(f.name, name))
                    {
                        return Err(Deb822Error::DuplicateField {
                            line: line_number,
                            first_line: previous.line,
                            name: excerpt(name),
                        });
                    }
                    seen_buckets |= bucket;
                    let value = line[colon + 1..].trim_start_matches([' ', '\t']);
                    value_start = line_start + (line.len() - value.len());
                    value_end = value_start + value.trim_end().len();
                    if fields.is_empty() {
                        paragraph_line = line_number;
                    }
                    fields.push(Field {
                        name,
                        raw: "",
                        line: line_number,
                        multiline: false,
                    });
                }
            }
        }
        let Some(last) = fields.last_mut() else {
            return Ok(None);
        };
        last.raw = self.text[value_start..value_end.max(value_start)].trim_end();
        Ok(Some(Paragraph {
            fields,
            line: paragraph_line,
        }))
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.read_paragraph() {
            Ok(paragraph) => paragraph.map(Ok),
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

/// Checks UTF-8, reporting the line of the first invalid byte.
pub fn utf8(bytes: &[u8]) -> Result<&str, Deb822Error> {
    std::str::from_utf8(bytes).map_err(|error| Deb822Error::InvalidUtf8 {
        line: line_of_offset(bytes, error.valid_up_to()),
    })
}

/// 1-based line number of a byte offset.
pub(crate) fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &bytes[..offset.min(bytes.len())]).count() + 1
}

/// Whitespace-only lines separate stanzas like empty ones (Debian Policy
/// §5.1 lets parsers accept them, and apt and dpkg do).
fn is_blank(line: &str) -> bool {
    line.bytes().all(|b| b == b' ' || b == b'\t')
}

/// deb822 field names: printable US-ASCII except `:`, not starting with `#`
/// or `-` (Debian Policy §5.1).
fn is_valid_field_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        None | Some(b'-' | b'#') => false,
        Some(_) => bytes.iter().all(|&b| (0x21..=0x7e).contains(&b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Paragraph<'_>>, Deb822Error> {
        Paragraphs::new(text).collect()
    }

    #[test]
    fn reads_fields_and_continuations() {
        let text = "Package: hello\nVersion: 2.10-3\nDescription: example package\n \
                    first line of long text\n .\n  indented\n\n\nPackage: bye\n";
        let paragraphs = parse(text).unwrap();
        assert_eq!(paragraphs.len(), 2);
        let hello = &paragraphs[0];
        assert_eq!(hello.line(), 1);
        assert_eq!(hello.value("package"), Some("hello"));
        let description = hello.get("Description").unwrap();
        assert!(description.is_multiline());
        assert_eq!(description.first_line(), "example package");
        assert_eq!(
            description.continuation_lines().collect::<Vec<_>>(),
            ["first line of long text", ".", " indented"]
        );
        assert_eq!(paragraphs[1].line(), 9);
        assert_eq!(paragraphs[1].value("Package"), Some("bye"));
    }

    #[test]
    fn tolerates_crlf_and_whitespace_only_separators() {
        let text = "Package: a\r\nDepends: x,\r\n y\r\n \t \r\nPackage: b\r\n";
        let paragraphs = parse(text).unwrap();
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(paragraphs[0].value("Package"), Some("a"));
        assert_eq!(paragraphs[0].get("Depends").unwrap().folded(), "x, y");
        assert_eq!(paragraphs[1].value("Package"), Some("b"));
    }

    #[test]
    fn empty_values_and_list_fields() {
        let text = "SHA256:\n abc 1 main/x\n def 2 main/y\nEmpty:\n";
        let paragraph = &parse(text).unwrap()[0];
        let list = paragraph.get("SHA256").unwrap();
        assert_eq!(list.first_line(), "");
        assert_eq!(list.continuation_lines().count(), 2);
        assert_eq!(paragraph.value("Empty"), Some(""));
        assert_eq!(
            paragraph.get("Empty").unwrap().continuation_lines().count(),
            0
        );
    }

    #[test]
    fn rejects_line_without_colon() {
        assert_eq!(
            parse("Package: a\nthis is junk\n").unwrap_err(),
            Deb822Error::MissingColon { line: 2 }
        );
    }

    #[test]
    fn rejects_comments() {
        assert_eq!(
            parse("Package: a\n# note: hi\n").unwrap_err(),
            Deb822Error::Comment { line: 2 }
        );
    }

    #[test]
    fn rejects_orphan_continuation() {
        assert_eq!(
            parse("\n continued\n").unwrap_err(),
            Deb822Error::OrphanContinuation { line: 2 }
        );
    }

    #[test]
    fn rejects_duplicate_fields_case_insensitively() {
        assert_eq!(
            parse("Package: a\nVersion: 1\npackage: b\n").unwrap_err(),
            Deb822Error::DuplicateField {
                line: 3,
                first_line: 1,
                name: "package".into()
            }
        );
    }

    #[test]
    fn rejects_bad_field_names() {
        assert!(matches!(
            parse(": value\n").unwrap_err(),
            Deb822Error::InvalidFieldName { line: 1, .. }
        ));
        assert!(matches!(
            parse("Bad Name: value\n").unwrap_err(),
            Deb822Error::InvalidFieldName { line: 1, .. }
        ));
    }

    #[test]
    fn reports_line_of_invalid_utf8() {
        let bytes = b"Package: a\n\nPackage: \xff\n";
        assert_eq!(
            Paragraphs::from_bytes(bytes).unwrap_err(),
            Deb822Error::InvalidUtf8 { line: 3 }
        );
    }

    #[test]
    fn stops_after_the_first_error() {
        let mut paragraphs = Paragraphs::new("junk\n\nPackage: a\n");
        assert!(paragraphs.next().unwrap().is_err());
        assert!(paragraphs.next().is_none());
    }

    #[test]
    fn input_without_trailing_newline_and_empty_input() {
        assert_eq!(parse("").unwrap().len(), 0);
        assert_eq!(parse("\n\n \n").unwrap().len(), 0);
        assert_eq!(parse("A: b").unwrap()[0].value("A"), Some("b"));
    }

    #[test]
    fn single_line_rejects_continuations() {
        let paragraph = &parse("Version: 1\n 2\n").unwrap()[0];
        assert_eq!(
            paragraph.get("Version").unwrap().single_line("Version"),
            Err(Deb822Error::MultilineValue {
                line: 1,
                field: "Version"
            })
        );
    }

    #[test]
    fn excerpt_cuts_long_text_on_char_boundaries() {
        let long = "é".repeat(200);
        assert_eq!(excerpt(&long).chars().count(), 81);
    }
}
