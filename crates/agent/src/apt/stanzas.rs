//! A cheap pre-filter over a Packages index: the stanzas of the package
//! names a scan wants, found without parsing (or UTF-8-checking) the rest,
//! read in blocks so a list of tens of megabytes is never held whole.
//!
//! A scan wants the few thousand names installed on the node out of lists
//! of tens of thousands of entries, so most stanzas are skipped after
//! reading their first line. This relies on the shape every archive tool
//! (dak, `apt-ftparchive`, reprepro, aptly) writes and apt keeps in its
//! lists: stanzas separated by empty lines, each starting with its
//! `Package:` field (capitalized so). On text of any other shape the filter
//! gives up and the caller parses the whole file: a stanza not starting
//! with `Package:`, or a `Package:` line not preceded by an empty line
//! (stanzas separated by a whitespace-only line, which deb822 allows).
//! What it cannot see: a paragraph without any `Package:` line after a
//! skipped stanza, an error the full parser would report; entries of
//! names the node does not have are not checked.

use std::io::{self, Read};

use memchr::memmem;

/// Bytes read at a time; grows for a stanza longer than this.
const BLOCK: usize = 256 * 1024;

/// Whether the filter saw the whole text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filtered {
    /// Every stanza of a wanted name went to the callback.
    Complete,
    /// The text (or the callback) asked for the full parser.
    GaveUp,
}

/// Reads Packages text from `reader` and hands `each` every stanza (with
/// its trailing newline) whose `Package` name `wanted` accepts; `each`
/// returns `false` to give up (e.g. on a stanza it cannot parse).
pub(crate) fn for_each_wanted_stanza(
    mut reader: impl Read,
    mut wanted: impl FnMut(&str) -> bool,
    mut each: impl FnMut(&[u8]) -> bool,
) -> io::Result<Filtered> {
    let next_package_line = memmem::Finder::new(NEXT_PACKAGE_LINE);
    let mut buffer = vec![0; BLOCK];
    let (mut start, mut filled, mut at_end) = (0, 0, false);
    loop {
        if let Some(filtered) = complete_stanzas(
            &next_package_line,
            &buffer[..filled],
            &mut start,
            at_end,
            &mut wanted,
            &mut each,
        ) {
            return Ok(filtered);
        }
        // Keep the incomplete stanza, then read more after it.
        buffer.copy_within(start..filled, 0);
        filled -= start;
        start = 0;
        if filled == buffer.len() {
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = loop {
            match reader.read(&mut buffer[filled..]) {
                Ok(read) => break read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        };
        filled += read;
        at_end = read == 0;
    }
}

/// The same filter over text already in memory (a mapped list file): no
/// block reads, so the kernel copies nothing.
pub(crate) fn for_each_wanted_stanza_in(
    text: &[u8],
    mut wanted: impl FnMut(&str) -> bool,
    mut each: impl FnMut(&[u8]) -> bool,
) -> Filtered {
    let next_package_line = memmem::Finder::new(NEXT_PACKAGE_LINE);
    let mut start = 0;
    complete_stanzas(
        &next_package_line,
        text,
        &mut start,
        true,
        &mut wanted,
        &mut each,
    )
    .unwrap_or(Filtered::Complete)
}

/// One pass: the next stanza starts at the next `Package:` line, which
/// must follow an empty line.
const NEXT_PACKAGE_LINE: &[u8] = b"\nPackage:";

/// Hands `each` every complete wanted stanza of `text[*start..]`, moving
/// `start` past them. `None`: more text is needed (only when not
/// `at_end`); otherwise the filter's verdict.
fn complete_stanzas(
    next_package_line: &memmem::Finder<'_>,
    text: &[u8],
    start: &mut usize,
    at_end: bool,
    wanted: &mut impl FnMut(&str) -> bool,
    each: &mut impl FnMut(&[u8]) -> bool,
) -> Option<Filtered> {
    loop {
        while *start < text.len() && text[*start] == b'\n' {
            *start += 1;
        }
        let pending = &text[*start..];
        let end = match next_package_line.find(pending) {
            Some(at) if pending[at - 1] != b'\n' => return Some(Filtered::GaveUp),
            Some(at) => at,
            None if at_end => pending.len(),
            None => return None,
        };
        if end == 0 {
            return Some(Filtered::Complete);
        }
        let mut stanza = &pending[..end];
        while let Some(shorter) = stanza.strip_suffix(b"\n\n") {
            stanza = &stanza[..shorter.len() + 1];
        }
        let Some(name) = package_name(stanza) else {
            return Some(Filtered::GaveUp);
        };
        if wanted(name) && !each(stanza) {
            return Some(Filtered::GaveUp);
        }
        *start += end;
    }
}

/// The value of the `Package:` field a stanza starts with; `None` when it
/// starts with anything else (or the name is not UTF-8, which the full
/// parser reports better).
fn package_name(stanza: &[u8]) -> Option<&str> {
    let value = stanza.strip_prefix(b"Package:")?;
    let line_end = memchr::memchr(b'\n', value).unwrap_or(value.len());
    std::str::from_utf8(&value[..line_end])
        .ok()
        .map(|name| name.trim_matches([' ', '\t', '\r']))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wanted stanzas of `text` read `chunk` bytes at a time.
    fn stanzas(text: &str, wanted: &[&str], chunk: usize) -> Option<Vec<String>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut found = Vec::new();
        let filtered = for_each_wanted_stanza(
            Trickle(text.as_bytes(), chunk),
            |name| wanted.contains(&name),
            |stanza| {
                found.push(String::from_utf8_lossy(stanza).into_owned());
                true
            },
        )
        .unwrap();
        (filtered == Filtered::Complete).then_some(found)
    }

    const TEXT: &str = "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\nDescription: x\n more\n\n\nPackage: c\nVersion: 3";

    #[test]
    fn keeps_only_the_wanted_stanzas_whole_whatever_the_read_sizes() {
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(
                stanzas(TEXT, &["b", "c"], chunk).unwrap(),
                [
                    "Package: b\nVersion: 2\nDescription: x\n more\n",
                    "Package: c\nVersion: 3"
                ],
                "{chunk}"
            );
            assert_eq!(stanzas(TEXT, &[], chunk).unwrap(), Vec::<String>::new());
        }
    }

    #[test]
    fn a_stanza_longer_than_a_block_is_kept_whole() {
        let long = format!("Package: big\nDescription: x\n {}\n", "y".repeat(BLOCK * 2));
        let text = format!("Package: a\nVersion: 1\n\n{long}\nPackage: z\nVersion: 2\n");
        assert_eq!(stanzas(&text, &["big"], BLOCK).unwrap(), [long]);
    }

    #[test]
    fn blank_lines_around_and_empty_text_are_fine() {
        let text = "\n\nPackage:  a \nVersion: 1\n\n\n";
        assert_eq!(
            stanzas(text, &["a"], 4).unwrap(),
            ["Package:  a \nVersion: 1\n"]
        );
        assert_eq!(stanzas("", &["a"], 4).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn any_other_shape_gives_up() {
        for text in [
            "Version: 1\nPackage: b\n",
            "Package: a\n \nPackage: b\n",
            "Package: a\n\n# comment\nPackage: b\n",
        ] {
            assert_eq!(stanzas(text, &["b"], 3), None, "{text:?}");
        }
        assert_eq!(stanzas("Package: a\n \nPackage: b\n", &["a"], 3), None);
    }

    #[test]
    fn the_callback_can_give_up() {
        let filtered = for_each_wanted_stanza(TEXT.as_bytes(), |_| true, |_| false).unwrap();
        assert_eq!(filtered, Filtered::GaveUp);
    }
}
