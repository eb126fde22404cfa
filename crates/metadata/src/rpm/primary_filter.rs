//! A filtered primary.xml read: only the packages whose `<name>` a caller
//! wants are parsed; the others are skipped after a few `memmem` passes.
//!
//! A scan wants the installed names out of repositories of thousands of
//! packages, and the full parse of a package is dominated by its `<format>`
//! block (provides, requires, files). Hand-scanning is done for speed; the
//! wanted `<package>` blocks still go, verbatim, to [`PrimaryReader`], so
//! they are read exactly as the full parser reads them.
//!
//! The scan relies on the shape createrepo_c and every other rpm-md tool
//! writes: `<metadata …>` (unprefixed), then `<package …>` … `</package>`
//! blocks separated by whitespace, then `</metadata>`; one unprefixed
//! `<name>` per package holding plain text. On anything else — comments,
//! CDATA, processing instructions or a DOCTYPE, entities or markup in a
//! name, namespace prefixes on these elements, nested or self-closing
//! packages, other elements between packages, a truncated document or a
//! decompression error — it gives up and the whole document goes through
//! the full parser, which also reports any error with its exact place.
//! What it cannot see: a malformed package whose name is not wanted.

use std::io::{self, Read};

use memchr::memmem;

use super::RepodataError;
use super::primary::{PrimaryReader, RpmPackage, parse_primary};
use crate::compression;

/// Bytes read at a time; grows for a package longer than this.
const BLOCK: usize = 256 * 1024;

const PACKAGE_START: &[u8] = b"<package";
const PACKAGE_END: &[u8] = b"</package>";
const ROOT_START: &[u8] = b"<metadata";
const ROOT_END: &[u8] = b"</metadata>";

/// Reads every package of a primary.xml (plain or compressed) whose name
/// `wanted` accepts, in document order: the same packages, equal field by
/// field, as [`parse_primary`] followed by that filter. Errors are the
/// full parser's; only errors inside packages of unwanted names go unseen.
pub fn parse_primary_filtered(
    bytes: &[u8],
    mut wanted: impl FnMut(&str) -> bool,
) -> Result<Vec<RpmPackage>, RepodataError> {
    if let Some(packages) = filtered_read(bytes, &mut wanted) {
        return Ok(packages);
    }
    let mut packages = parse_primary(bytes)?;
    packages.retain(|package| wanted(&package.name));
    Ok(packages)
}

/// The wanted packages, or `None` when the full parser must decide.
fn filtered_read(bytes: &[u8], wanted: &mut impl FnMut(&str) -> bool) -> Option<Vec<RpmPackage>> {
    let reader = compression::open(bytes).ok()?;
    let (document, names) = wanted_document(reader, wanted).ok()??;
    let packages: Vec<RpmPackage> = PrimaryReader::new(document.as_slice())
        .collect::<Result<_, _>>()
        .ok()?;
    // The scanned names must be the parsed ones; any doubt goes to the full parser.
    let same_names = packages.len() == names.len()
        && packages
            .iter()
            .zip(&names)
            .all(|(package, name)| &package.name == name);
    same_names.then_some(packages)
}

/// A primary document holding the root of `reader`'s document and only
/// its wanted packages, with the wanted names in order; `None` when the
/// text has a shape the scan does not handle.
fn wanted_document(
    reader: impl Read,
    wanted: &mut impl FnMut(&str) -> bool,
) -> io::Result<Option<(Vec<u8>, Vec<String>)>> {
    let mut document = Vec::new();
    let mut names = Vec::new();
    let handled = for_each_wanted(reader, wanted, |part| {
        match part {
            Part::Prolog(prolog) => document.extend_from_slice(prolog),
            Part::Package { name, text } => {
                names.push(name.to_owned());
                document.extend_from_slice(text);
                document.push(b'\n');
            }
        }
        true
    })?;
    Ok(handled.then(|| {
        document.extend_from_slice(ROOT_END);
        document.push(b'\n');
        (document, names)
    }))
}

/// A piece of a primary document the pre-scan hands on.
pub(super) enum Part<'a> {
    /// Up to the first package: the declaration and root start tag, verbatim.
    Prolog(&'a [u8]),
    /// A wanted `<package>` … `</package>` block and its name.
    Package { name: &'a str, text: &'a [u8] },
}

/// Hands the prolog, then each wanted package to `visit`, in document
/// order. `false` when the text has a shape the scan does not handle, or
/// `visit` gave up (returned `false`).
pub(super) fn for_each_wanted(
    reader: impl Read,
    wanted: &mut impl FnMut(&str) -> bool,
    mut visit: impl FnMut(Part<'_>) -> bool,
) -> io::Result<bool> {
    let mut text = Blocks::new(reader);
    let package_start = memmem::Finder::new(PACKAGE_START);
    let package_end = memmem::Finder::new(PACKAGE_END);

    let first_package = loop {
        if let Some(at) = package_start.find(text.pending()) {
            break at;
        }
        if !text.fill()? {
            return Ok(false);
        }
    };
    let prolog = &text.pending()[..first_package];
    if !is_plain_prolog(prolog) {
        return Ok(false);
    }
    if !visit(Part::Prolog(prolog)) {
        return Ok(false);
    }
    text.consume(first_package);

    loop {
        text.skip_whitespace();
        let pending = text.pending();
        if pending.starts_with(ROOT_END) {
            text.consume(ROOT_END.len());
            return text.rest_is_whitespace();
        }
        let is_package = pending.len() > PACKAGE_START.len()
            && pending.starts_with(PACKAGE_START)
            && matches!(
                pending[PACKAGE_START.len()],
                b' ' | b'\t' | b'\r' | b'\n' | b'>'
            );
        // (`<package/>` is left to the full parser.)
        let end = is_package
            .then(|| package_end.find(pending))
            .flatten()
            .map(|at| at + PACKAGE_END.len());
        let Some(end) = end else {
            // Too little text to decide: read on, or give up at the end.
            let undecided = pending.len() <= PACKAGE_START.len()
                || (is_package && !text.at_end)
                || (ROOT_END.starts_with(pending) && !pending.is_empty());
            if undecided && text.fill()? {
                continue;
            }
            return Ok(false);
        };
        let package = &pending[..end];
        let Some(name) = package_name(package) else {
            return Ok(false);
        };
        if wanted(name)
            && !visit(Part::Package {
                name,
                text: package,
            })
        {
            return Ok(false);
        }
        text.consume(end);
    }
}

/// An optional XML declaration, then the `<metadata` start tag, and nothing
/// else that could hide or change a package (comments, a DOCTYPE, …).
fn is_plain_prolog(prolog: &[u8]) -> bool {
    let mut tags = memchr::memchr_iter(b'<', prolog);
    let mut next = tags.next();
    if let Some(at) = next
        && prolog[at..].starts_with(b"<?xml ")
        && prolog[..at].iter().all(|&b| is_bom_or_space(b))
    {
        next = tags.next();
    }
    let Some(root) = next else {
        return false;
    };
    // Names are read as UTF-8: another declared encoding is the parser's.
    if let Some(at) = memmem::find(&prolog[..root], b"encoding=") {
        let value = &prolog[at + "encoding=".len()..root];
        let utf8 = [b"\"utf-8\"", b"'utf-8'"].iter().any(|quoted| {
            value
                .get(..7)
                .is_some_and(|v| v.eq_ignore_ascii_case(*quoted))
        });
        if !utf8 {
            return false;
        }
    }
    let root_tag = &prolog[root..];
    root_tag.starts_with(ROOT_START)
        && matches!(
            root_tag.get(ROOT_START.len()),
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'>')
        )
        && tags.next().is_none()
        && prolog.trim_ascii_end().ends_with(b">")
        && !prolog.trim_ascii_end().ends_with(b"/>")
}

fn is_bom_or_space(byte: u8) -> bool {
    matches!(byte, 0xEF | 0xBB | 0xBF) || byte.is_ascii_whitespace()
}

/// The trimmed text of the package's one unprefixed `<name>`, when the block
/// holds nothing the full parser could read differently.
///
/// One pass over the block's `<`s (a package has a few dozen): text and
/// attribute values cannot hold a raw `<`, so every hit starts markup.
fn package_name(package: &[u8]) -> Option<&str> {
    let inner = &package[PACKAGE_START.len()..package.len() - PACKAGE_END.len()];
    let mut name_tag = None;
    for at in memchr::memchr_iter(b'<', inner) {
        let markup = &inner[at + 1..];
        // Comments, CDATA, DOCTYPEs, processing instructions.
        if matches!(markup.first(), Some(b'!' | b'?')) {
            return None;
        }
        // (`<packager>` is a child of every package: whole tag names count.)
        let tag_name_end = markup
            .iter()
            .position(|&byte| ends_tag_name(Some(&byte)))
            .unwrap_or(markup.len());
        let tag_name = &markup[..tag_name_end];
        // A nested package, or a prefixed name the parser reads as a name.
        if tag_name == &PACKAGE_START[1..] || tag_name.ends_with(b":name") {
            return None;
        }
        if tag_name == b"name" && name_tag.replace(at).is_some() {
            return None;
        }
    }
    let tag = name_tag?;
    let after_tag = inner[tag + "<name".len()..].strip_prefix(b">")?;
    let text_end = memchr::memchr(b'<', after_tag)?;
    let text = &after_tag[..text_end];
    if !after_tag[text_end..].starts_with(b"</name>") || memchr::memchr(b'&', text).is_some() {
        return None;
    }
    Some(std::str::from_utf8(text).ok()?.trim())
}

/// Whether the byte after a tag name candidate ends the name (or the text).
fn ends_tag_name(next: Option<&u8>) -> bool {
    matches!(
        next,
        None | Some(b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n')
    )
}

/// A window over the decompressed text, read in blocks.
struct Blocks<R> {
    reader: R,
    buffer: Vec<u8>,
    start: usize,
    filled: usize,
    at_end: bool,
}

impl<R: Read> Blocks<R> {
    fn new(reader: R) -> Self {
        Blocks {
            reader,
            buffer: vec![0; BLOCK],
            start: 0,
            filled: 0,
            at_end: false,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buffer[self.start..self.filled]
    }

    fn consume(&mut self, count: usize) {
        self.start += count;
    }

    fn skip_whitespace(&mut self) {
        while self.start < self.filled && self.buffer[self.start].is_ascii_whitespace() {
            self.start += 1;
        }
    }

    /// Reads more after the pending text; `false` at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.at_end {
            return Ok(false);
        }
        self.buffer.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        if self.filled == self.buffer.len() {
            self.buffer.resize(self.buffer.len() * 2, 0);
        }
        // Fill the whole window: decompressors return small pieces, and
        // each fill re-scans the pending text.
        while self.filled < self.buffer.len() {
            match self.reader.read(&mut self.buffer[self.filled..]) {
                Ok(0) => {
                    self.at_end = true;
                    break;
                }
                Ok(read) => self.filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }

    /// Whether only whitespace remains, reading to the end.
    fn rest_is_whitespace(&mut self) -> io::Result<bool> {
        loop {
            self.skip_whitespace();
            if self.start < self.filled {
                return Ok(false);
            }
            if !self.fill()? || self.at_end && self.start == self.filled {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::Write;

    use super::*;
    use crate::testdata::{Rng, primary_xml};

    const FIXTURE: &str = include_str!("../../tests/fixtures/primary.xml");

    fn full_then_filter(
        xml: &[u8],
        wanted: &HashSet<String>,
    ) -> Result<Vec<RpmPackage>, RepodataError> {
        let mut packages = parse_primary(xml)?;
        packages.retain(|package| wanted.contains(&package.name));
        Ok(packages)
    }

    fn filtered(xml: &[u8], wanted: &HashSet<String>) -> Result<Vec<RpmPackage>, RepodataError> {
        parse_primary_filtered(xml, |name| wanted.contains(name))
    }

    /// Whether the scan handled `xml` itself rather than falling back.
    fn scan_handles(xml: &[u8], wanted: &HashSet<String>) -> bool {
        filtered_read(xml, &mut |name: &str| wanted.contains(name)).is_some()
    }

    fn random_subset(names: &[String], rng: &mut Rng) -> HashSet<String> {
        let percent = rng.between(0, 100);
        let mut subset: HashSet<String> = names
            .iter()
            .filter(|_| rng.chance(percent))
            .cloned()
            .collect();
        if rng.chance(30) {
            subset.insert("not-in-the-repository".to_owned());
        }
        subset
    }

    fn names_of(xml: &[u8]) -> Vec<String> {
        parse_primary(xml)
            .unwrap()
            .into_iter()
            .map(|package| package.name)
            .collect()
    }

    #[test]
    fn fixture_subsets_equal_full_read_then_filter() {
        let names = names_of(FIXTURE.as_bytes());
        assert!(names.len() >= 4);
        let mut rng = Rng::new(11);
        for _ in 0..64 {
            let wanted = random_subset(&names, &mut rng);
            assert!(scan_handles(FIXTURE.as_bytes(), &wanted));
            assert_eq!(
                filtered(FIXTURE.as_bytes(), &wanted),
                full_then_filter(FIXTURE.as_bytes(), &wanted)
            );
        }
    }

    #[test]
    fn generated_subsets_equal_full_read_then_filter() {
        for seed in 0..12 {
            let xml = primary_xml(150, seed);
            let names = names_of(xml.as_bytes());
            let mut rng = Rng::new(seed + 100);
            for _ in 0..8 {
                let wanted = random_subset(&names, &mut rng);
                assert!(scan_handles(xml.as_bytes(), &wanted), "seed {seed}");
                let expected = full_then_filter(xml.as_bytes(), &wanted).unwrap();
                assert!(expected.iter().all(|p| wanted.contains(&p.name)));
                assert_eq!(filtered(xml.as_bytes(), &wanted).unwrap(), expected);
            }
        }
    }

    #[test]
    fn compressed_primaries_are_filtered_too() {
        let xml = primary_xml(300, 7);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(xml.as_bytes()).unwrap();
        let gz = encoder.finish().unwrap();
        let names = names_of(xml.as_bytes());
        let wanted: HashSet<String> = names.iter().step_by(3).cloned().collect();
        assert!(scan_handles(&gz, &wanted));
        assert_eq!(
            filtered(&gz, &wanted),
            full_then_filter(xml.as_bytes(), &wanted)
        );
    }

    /// Shapes the scan must not trust: each falls back to the full parser,
    /// and so still gives exactly its result.
    #[test]
    fn odd_shapes_fall_back_and_match_the_full_parser() {
        let base = primary_xml(40, 5);
        let first_package = base.find("<package").unwrap();
        let second_package =
            base[first_package + 1..].find("<package ").unwrap() + first_package + 1;
        let first_name = names_of(base.as_bytes())[0].clone();
        let odd: Vec<(&str, String)> = vec![
            (
                "comment between packages",
                base.replacen("<package", "<!-- <package> -->\n<package", 2),
            ),
            (
                "comment in the prolog",
                base.replacen("<metadata", "<!-- hi -->\n<metadata", 1),
            ),
            (
                "CDATA description",
                base.replacen("<description>", "<description><![CDATA[a <b> c]]>", 1),
            ),
            (
                "entity in a name",
                base.replacen(
                    &format!("<name>{first_name}</name>"),
                    &format!("<name>{first_name}&#45;x</name>"),
                    1,
                ),
            ),
            (
                "markup in a name",
                base.replacen("</name>", "<b/></name>", 1),
            ),
            (
                "name with an attribute",
                base.replacen("<name>", "<name lang=\"en\">", 1),
            ),
            (
                "prefixed elements",
                base.replace(
                    "<metadata xmlns=",
                    "<c:metadata xmlns:c=\"http://linux.duke.edu/metadata/common\" xmlns=",
                )
                .replace("</metadata>", "</c:metadata>")
                .replace("<package ", "<c:package ")
                .replace("</package>", "</c:package>"),
            ),
            (
                "prefixed name",
                base.replacen("<name>", "<rpm:name>", 1)
                    .replacen("</name>", "</rpm:name>", 1),
            ),
            (
                "second name",
                base.replacen("</name>", "</name><name>other</name>", 1),
            ),
            (
                "nested package",
                format!(
                    "{}{}",
                    &base[..second_package],
                    &base[second_package..].replacen("</package>", "", 1)
                ),
            ),
            (
                "self-closing package",
                base.replacen("<package ", "<package/>\n<package ", 1),
            ),
            (
                "other element between packages",
                base.replacen("<package ", "<extra/>\n<package ", 2),
            ),
            (
                "text between packages",
                base.replacen("<package ", "stray text\n<package ", 2),
            ),
            (
                "spaced end tag",
                base.replacen("</package>", "</package >", 1),
            ),
            (
                "processing instruction",
                base.replacen("<format>", "<?pi x?><format>", 1),
            ),
            (
                "trailing element",
                base.replace("</metadata>", "</metadata><more/>"),
            ),
            ("truncated", base[..base.len() / 2].to_owned()),
            ("no end tag", base.replace("</metadata>", "")),
            (
                "latin-1 declaration",
                base.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1),
            ),
            ("empty root", "<metadata xmlns=\"x\"/>".to_owned()),
        ];
        let mut rng = Rng::new(3);
        let names = names_of(base.as_bytes());
        for (shape, xml) in &odd {
            for round in 0..4 {
                let mut wanted = random_subset(&names, &mut rng);
                if round == 0 {
                    wanted.insert(first_name.clone());
                }
                assert!(
                    !scan_handles(xml.as_bytes(), &wanted),
                    "{shape}: the scan must give up"
                );
                assert_eq!(
                    filtered(xml.as_bytes(), &wanted),
                    full_then_filter(xml.as_bytes(), &wanted),
                    "{shape}"
                );
            }
        }
    }

    #[test]
    fn an_error_in_a_wanted_package_is_the_full_parsers_error() {
        let xml = primary_xml(30, 9);
        let names = names_of(xml.as_bytes());
        let broken_name = &names[17];
        let start = xml.find(&format!("<name>{broken_name}</name>")).unwrap();
        let broken = format!(
            "{}{}",
            &xml[..start],
            xml[start..]
                .replacen("flags=\"GE\"", "flags=\"ABOUT\"", 1)
                .replacen("</summary>", "</summry>", 1)
        );
        let full_error = parse_primary(broken.as_bytes()).unwrap_err();
        let wanted: HashSet<String> = [broken_name.clone(), names[3].clone()].into();
        assert_eq!(filtered(broken.as_bytes(), &wanted), Err(full_error));
        // Not wanted: the scan never parses it (the documented blind spot).
        let others: HashSet<String> = [names[3].clone()].into();
        assert_eq!(
            filtered(broken.as_bytes(), &others).unwrap(),
            full_then_filter(xml.as_bytes(), &others).unwrap()
        );
    }

    /// Reads one byte per call, the smallest pieces a reader may return.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buffer[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn block_boundaries_and_packages_longer_than_a_block() {
        let mut xml = primary_xml(20, 2);
        let long = "x".repeat(BLOCK + 1000);
        xml = xml.replacen("<description>", &format!("<description>{long}"), 2);
        let names = names_of(xml.as_bytes());
        let wanted: HashSet<String> = names.iter().step_by(2).cloned().collect();
        let mut accept = |name: &str| wanted.contains(name);
        let whole = wanted_document(xml.as_bytes(), &mut accept)
            .unwrap()
            .unwrap();
        let bytewise = wanted_document(OneByte(xml.as_bytes()), &mut accept)
            .unwrap()
            .unwrap();
        assert_eq!(whole, bytewise);
        assert!(scan_handles(xml.as_bytes(), &wanted));
        assert_eq!(
            filtered(xml.as_bytes(), &wanted),
            full_then_filter(xml.as_bytes(), &wanted)
        );
    }
}
