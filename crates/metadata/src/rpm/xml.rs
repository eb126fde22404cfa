//! A small streaming cursor over quick-xml shared by the repodata readers.
//!
//! Owns what the three readers would otherwise repeat: element-path tracking
//! for error messages, text collection (entities, character references,
//! CDATA), attribute decoding, skipping unknown subtrees, and turning
//! quick-xml and decompression failures into [`RepodataError`]s. Nothing is
//! built into a tree: callers pull one element at a time, so memory stays
//! flat however large primary.xml is.

use std::borrow::Cow;
use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};

use super::RepodataError;
use crate::compression::layer_failure;

/// What the next step of the document is, with the borrow of the event
/// buffer already released (attributes are copied out by the caller's
/// closure while the start tag is alive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<T> {
    /// A start tag; `T` is what the caller extracted from it.
    Start(T),
    /// The end of the element the caller is inside.
    End,
    /// End of input.
    Eof,
}

pub(crate) struct XmlCursor<R: BufRead> {
    reader: quick_xml::Reader<R>,
    buffer: Vec<u8>,
    /// `/a/b/c` of the currently open elements.
    path: String,
    /// Where each open element's segment starts in `path`.
    segment_starts: Vec<usize>,
}

impl<R: BufRead> XmlCursor<R> {
    pub(crate) fn new(input: R) -> Self {
        let mut reader = quick_xml::Reader::from_reader(input);
        let config = reader.config_mut();
        // `<a/>` becomes start + end, so callers handle one shape.
        config.expand_empty_elements = true;
        config.check_end_names = true;
        XmlCursor {
            reader,
            buffer: Vec::with_capacity(4096),
            path: String::with_capacity(128),
            segment_starts: Vec::with_capacity(16),
        }
    }

    /// The current element path, e.g. `/metadata/package/format`.
    pub(crate) fn path(&self) -> String {
        display_path(&self.path)
    }

    /// Byte offset into the (decompressed) document.
    pub(crate) fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    pub(crate) fn depth(&self) -> usize {
        self.segment_starts.len()
    }

    /// Advances to the next start tag, end tag of the current element, or
    /// end of input, skipping text, comments and processing instructions.
    /// `on_start` sees the start tag (to read its local name and attributes)
    /// before the element is entered.
    pub(crate) fn next<T>(
        &mut self,
        on_start: impl FnOnce(&BytesStart<'_>, &ElementContext) -> Result<T, RepodataError>,
    ) -> Result<Step<T>, RepodataError> {
        loop {
            self.buffer.clear();
            let event = self
                .reader
                .read_event_into(&mut self.buffer)
                .map_err(|error| xml_error(error, &self.path, self.reader.error_position()))?;
            match event {
                Event::Start(start) => {
                    self.segment_starts.push(self.path.len());
                    self.path.push('/');
                    self.path
                        .push_str(&String::from_utf8_lossy(start.name().as_ref()));
                    let context = ElementContext {
                        path: &self.path,
                        position: self.reader.buffer_position(),
                    };
                    return Ok(Step::Start(on_start(&start, &context)?));
                }
                Event::End(_) => {
                    let start = self.segment_starts.pop().unwrap_or(0);
                    self.path.truncate(start);
                    return Ok(Step::End);
                }
                Event::Eof => {
                    if !self.segment_starts.is_empty() {
                        return Err(RepodataError::Truncated {
                            path: self.path(),
                            position: self.position(),
                        });
                    }
                    return Ok(Step::Eof);
                }
                Event::Text(_)
                | Event::CData(_)
                | Event::GeneralRef(_)
                | Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_)
                | Event::DocType(_)
                | Event::Empty(_) => {}
            }
        }
    }

    /// Collects the text of the element just entered, up to its end tag;
    /// nested elements are an error (these elements hold text only).
    pub(crate) fn read_text(&mut self) -> Result<String, RepodataError> {
        let mut text = String::new();
        loop {
            self.buffer.clear();
            let event = self
                .reader
                .read_event_into(&mut self.buffer)
                .map_err(|error| xml_error(error, &self.path, self.reader.error_position()))?;
            match event {
                Event::Text(content) => {
                    let decoded = content.xml_content().map_err(|error| RepodataError::Xml {
                        path: display_path(&self.path),
                        position: self.reader.buffer_position(),
                        message: error.to_string(),
                    })?;
                    text.push_str(&decoded);
                }
                Event::CData(content) => {
                    let decoded = content.decode().map_err(|error| RepodataError::Xml {
                        path: display_path(&self.path),
                        position: self.reader.buffer_position(),
                        message: error.to_string(),
                    })?;
                    text.push_str(&decoded);
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(character)) => Some(character),
                        Ok(None) => None,
                        Err(error) => {
                            return Err(RepodataError::Xml {
                                path: display_path(&self.path),
                                position: self.reader.buffer_position(),
                                message: error.to_string(),
                            });
                        }
                    };
                    match resolved {
                        Some(character) => text.push(character),
                        None => {
                            let name = String::from_utf8_lossy(&reference);
                            let Some(value) = quick_xml::escape::resolve_xml_entity(&name) else {
                                return Err(RepodataError::Xml {
                                    path: display_path(&self.path),
                                    position: self.reader.buffer_position(),
                                    message: format!("unknown entity &{name};"),
                                });
                            };
                            text.push_str(value);
                        }
                    }
                }
                Event::End(_) => {
                    let start = self.segment_starts.pop().unwrap_or(0);
                    self.path.truncate(start);
                    return Ok(text);
                }
                Event::Start(start) => {
                    return Err(RepodataError::Xml {
                        path: display_path(&self.path),
                        position: self.reader.buffer_position(),
                        message: format!(
                            "unexpected element <{}> inside a text element",
                            String::from_utf8_lossy(start.name().as_ref())
                        ),
                    });
                }
                Event::Eof => {
                    return Err(RepodataError::Truncated {
                        path: display_path(&self.path),
                        position: self.position(),
                    });
                }
                Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_)
                | Event::DocType(_)
                | Event::Empty(_) => {}
            }
        }
    }

    /// Enters the document's root element, checking its local name.
    pub(crate) fn enter_root(&mut self, expected: &'static str) -> Result<(), RepodataError> {
        let found = self.next(|start, _| {
            Ok(String::from_utf8_lossy(start.local_name().as_ref()).into_owned())
        })?;
        match found {
            Step::Start(name) if name == expected => Ok(()),
            Step::Start(name) => Err(RepodataError::UnexpectedRoot {
                expected,
                found: crate::deb822::excerpt(&name),
            }),
            Step::End | Step::Eof => Err(RepodataError::UnexpectedRoot {
                expected,
                found: "nothing".to_owned(),
            }),
        }
    }

    /// Skips the rest of the element just entered, whatever it contains.
    pub(crate) fn skip_element(&mut self) -> Result<(), RepodataError> {
        let target = self.depth();
        loop {
            match self.next(|_, _| Ok(()))? {
                Step::Start(()) => {}
                Step::End if self.depth() < target => return Ok(()),
                Step::End => {}
                Step::Eof => {
                    return Err(RepodataError::Truncated {
                        path: self.path(),
                        position: self.position(),
                    });
                }
            }
        }
    }

    /// Reads a whole element's text and trims it.
    pub(crate) fn read_trimmed(&mut self) -> Result<String, RepodataError> {
        let mut text = self.read_text()?;
        let trimmed = text.trim();
        if trimmed.len() != text.len() {
            text = trimmed.to_owned();
        }
        Ok(text)
    }
}

/// Where a start tag is, for errors raised while reading its attributes.
pub(crate) struct ElementContext<'p> {
    pub(crate) path: &'p str,
    pub(crate) position: u64,
}

impl ElementContext<'_> {
    pub(crate) fn invalid(
        &self,
        what: &'static str,
        value: &str,
        reason: &'static str,
    ) -> RepodataError {
        RepodataError::InvalidValue {
            path: self.path.to_owned(),
            position: self.position,
            what,
            value: crate::deb822::excerpt(value),
            reason,
        }
    }

    pub(crate) fn missing(&self, what: &'static str) -> RepodataError {
        RepodataError::Missing {
            path: self.path.to_owned(),
            position: self.position,
            what,
        }
    }
}

/// The attributes of a start tag, decoded and unescaped (borrowed unless
/// an entity had to be replaced), by local name.
pub(crate) fn for_each_attribute(
    start: &BytesStart<'_>,
    context: &ElementContext<'_>,
    mut visit: impl FnMut(&[u8], Cow<'_, str>) -> Result<(), RepodataError>,
) -> Result<(), RepodataError> {
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|error| RepodataError::Xml {
            path: context.path.to_owned(),
            position: context.position,
            message: error.to_string(),
        })?;
        let value = attribute
            .unescape_value()
            .map_err(|error| RepodataError::Xml {
                path: context.path.to_owned(),
                position: context.position,
                message: error.to_string(),
            })?;
        visit(attribute.key.local_name().as_ref(), value)?;
    }
    Ok(())
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

fn xml_error(error: quick_xml::Error, path: &str, position: u64) -> RepodataError {
    if let quick_xml::Error::Io(io) = &error
        && let Some(failure) = layer_failure(io)
    {
        return RepodataError::Decompress(failure);
    }
    RepodataError::Xml {
        path: display_path(path),
        position,
        message: error.to_string(),
    }
}

/// Parses an integer attribute or text, allowing the fractional seconds old
/// yum wrote into timestamps (`1700000000.52`); the fraction is dropped.
pub(crate) fn parse_integer(
    value: &str,
    what: &'static str,
    path: &str,
    position: u64,
) -> Result<u64, RepodataError> {
    let value = value.trim();
    let whole = match value.split_once('.') {
        Some((whole, fraction)) if fraction.bytes().all(|b| b.is_ascii_digit()) => whole,
        _ => value,
    };
    whole.parse().map_err(|_| RepodataError::InvalidValue {
        path: path.to_owned(),
        position,
        what,
        value: crate::deb822::excerpt(value),
        reason: "expected a non-negative integer",
    })
}

/// An rpm epoch: empty or missing means 0 (as dnf and zypper read it).
pub(crate) fn parse_epoch(value: &str, context: &ElementContext<'_>) -> Result<u64, RepodataError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(0);
    }
    value
        .parse()
        .map_err(|_| context.invalid("epoch", value, "expected a non-negative integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(xml: &str) -> XmlCursor<&[u8]> {
        XmlCursor::new(xml.as_bytes())
    }

    #[test]
    fn reads_text_with_entities_and_cdata() {
        let mut xml = cursor("<a>x &amp; y &#x41;&#66; <![CDATA[<raw>]]> &lt;</a>");
        assert_eq!(xml.next(|_, _| Ok(())).unwrap(), Step::Start(()));
        assert_eq!(xml.read_text().unwrap(), "x & y AB <raw> <");
        assert_eq!(xml.next(|_, _| Ok(())).unwrap(), Step::Eof);
    }

    #[test]
    fn tracks_the_element_path_in_errors() {
        let mut xml = cursor("<root><pkg><name>a</pkg></root>");
        let error = loop {
            match xml.next(|_, _| Ok(())) {
                Ok(Step::Eof) => panic!("mismatched tags must fail"),
                Ok(_) => {}
                Err(error) => break error,
            }
        };
        match error {
            RepodataError::Xml { path, .. } => assert_eq!(path, "/root/pkg/name"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unclosed_document_is_truncated() {
        let mut xml = cursor("<root><pkg>");
        assert!(xml.next(|_, _| Ok(())).is_ok());
        assert!(xml.next(|_, _| Ok(())).is_ok());
        assert!(matches!(
            xml.next(|_, _| Ok(())),
            Err(RepodataError::Truncated { path, .. }) if path == "/root/pkg"
        ));
    }

    #[test]
    fn skip_element_leaves_the_cursor_after_it() {
        let mut xml = cursor("<r><skip><a><b/></a>t</skip><keep>k</keep></r>");
        xml.next(|_, _| Ok(())).unwrap();
        xml.next(|_, _| Ok(())).unwrap();
        xml.skip_element().unwrap();
        xml.next(|_, _| Ok(())).unwrap();
        assert_eq!(xml.path(), "/r/keep");
        assert_eq!(xml.read_text().unwrap(), "k");
    }

    #[test]
    fn unknown_entity_is_an_error() {
        let mut xml = cursor("<a>&nbsp;</a>");
        xml.next(|_, _| Ok(())).unwrap();
        assert!(matches!(xml.read_text(), Err(RepodataError::Xml { .. })));
    }

    #[test]
    fn integers_accept_old_yum_fractions() {
        assert_eq!(
            parse_integer("1700000000.52", "t", "/", 0).unwrap(),
            1_700_000_000
        );
        assert!(parse_integer("12x", "t", "/", 0).is_err());
        assert!(parse_integer("-1", "t", "/", 0).is_err());
    }
}
