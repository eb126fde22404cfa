//! The lean primary read of an update scan: of the packages whose name a
//! caller wants, only what a scan uses — name, arch, epoch, version,
//! release and `<time file>` — as [`PackageVersion`]s.
//!
//! A scan of a repository where most packages are installed names (a
//! server's own repositories) spent most of its time building provides,
//! requires, checksums and summaries it never looks at. Here the wanted
//! `<package>` blocks (found by [`primary_filter`](super::primary_filter)'s
//! `memmem` pre-scan) are tokenized by quick-xml straight from memory, the
//! other children are skipped without decoding, and nothing but the six
//! fields is allocated.
//!
//! Exactness: the fields are read as [`PrimaryReader`](super::primary::PrimaryReader)
//! reads them (local names, text trimmed, the same epoch and integer
//! rules, the last of a repeated element wins), and a wanted package is
//! still checked to be well-formed XML. Anything this read does not handle
//! itself — entities, CDATA or markup in a name or arch, a missing field,
//! malformed XML, any shape the pre-scan gives up on — sends the document
//! to the full parser, whose packages or error (with its exact place) are
//! the answer. Values a scan does not use (checksums, sizes, dependencies)
//! are not validated in wanted packages either: a bad dependency flag that
//! makes the full parser fail goes unseen here.

use quick_xml::events::{BytesStart, Event};

use super::RepodataError;
use super::primary::RpmPackage;
use super::primary_filter::{Part, for_each_wanted, parse_primary_filtered};
use super::xml::{ElementContext, for_each_attribute, parse_epoch, parse_integer};
use crate::compression;

/// What a scan needs of one primary package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageVersion {
    /// `<name>`.
    pub name: String,
    /// `<arch>`.
    pub arch: String,
    /// `<version epoch>`; empty or missing is 0.
    pub epoch: u64,
    /// `<version ver>`.
    pub version: String,
    /// `<version rel>`.
    pub release: String,
    /// `<time file>`: when the file entered the repository (seconds).
    pub time_file: Option<u64>,
}

impl From<RpmPackage> for PackageVersion {
    fn from(package: RpmPackage) -> Self {
        PackageVersion {
            name: package.name,
            arch: package.arch,
            epoch: package.epoch,
            version: package.version,
            release: package.release,
            time_file: package.time_file,
        }
    }
}

/// The packages of a primary.xml (plain or compressed) whose name `wanted`
/// accepts, in document order, with the fields a scan uses: equal to
/// [`parse_primary_filtered`]'s packages reduced to those fields whenever
/// that succeeds. Errors are the full parser's.
pub fn scan_primary(
    bytes: &[u8],
    mut wanted: impl FnMut(&str) -> bool,
) -> Result<Vec<PackageVersion>, RepodataError> {
    if let Some(found) = lean_read(bytes, &mut wanted) {
        return Ok(found);
    }
    let packages = parse_primary_filtered(bytes, wanted)?;
    Ok(packages.into_iter().map(PackageVersion::from).collect())
}

/// The wanted packages, or `None` when the full parser must decide.
fn lean_read(bytes: &[u8], wanted: &mut impl FnMut(&str) -> bool) -> Option<Vec<PackageVersion>> {
    let reader = compression::open(bytes).ok()?;
    let mut found = Vec::new();
    // The pre-scan checked the root (an unprefixed `<metadata>`) and that
    // each block is one `<package>` with one plain `<name>`.
    let handled = for_each_wanted(reader, wanted, |part| match part {
        Part::Prolog(_) => true,
        Part::Package { name, text } => match read_package(text) {
            // The pre-scan's name must be the parsed one, else the parser decides.
            Some(package) if package.name == name => {
                found.push(package);
                true
            }
            _ => false,
        },
    })
    .ok()?;
    handled.then_some(found)
}

/// One `<package>` … `</package>` block; `None` on anything the full
/// parser should look at.
fn read_package(text: &[u8]) -> Option<PackageVersion> {
    let mut xml = quick_xml::Reader::from_reader(text);
    let config = xml.config_mut();
    // As the full parser reads: `<a/>` is a start and an end.
    config.expand_empty_elements = true;
    config.check_end_names = true;
    match xml.read_event().ok()? {
        Event::Start(start) if start.local_name().as_ref() == b"package" => {}
        _ => return None,
    }
    let mut package = PackageVersion::default();
    let mut has_version = false;
    loop {
        let start = match xml.read_event().ok()? {
            Event::Start(start) => start,
            Event::Text(_) => continue,
            Event::End(_) => break,
            _ => return None,
        };
        match start.local_name().as_ref() {
            b"name" => package.name = read_trimmed(&mut xml)?,
            b"arch" => package.arch = read_trimmed(&mut xml)?,
            b"version" => {
                read_version(&start, &mut package)?;
                has_version = true;
                xml.read_to_end(start.name()).ok()?;
            }
            b"time" => {
                read_time(&start, &mut package)?;
                xml.read_to_end(start.name()).ok()?;
            }
            // `<format>` (provides, requires, files) is most of a package:
            // when it closes the package, nothing after it is read.
            b"format" if format_ends_package(text, xml.buffer_position()) => break,
            _ => {
                xml.read_to_end(start.name()).ok()?;
            }
        }
    }
    let complete = !package.name.is_empty() && !package.arch.is_empty() && has_version;
    complete.then_some(package)
}

/// Whether the `<format>` start tag ending at `after` opens the package's
/// last child: it is not self-closing, no other element of that local name
/// follows, and its end tag is all that precedes `</package>`.
fn format_ends_package(text: &[u8], after: u64) -> bool {
    let Ok(after) = usize::try_from(after) else {
        return false;
    };
    let (Some(start_tag), Some(rest)) = (text.get(..after), text.get(after..)) else {
        return false;
    };
    if start_tag.ends_with(b"/>") {
        return false;
    }
    let Some(content) = rest.strip_suffix(PACKAGE_END) else {
        return false;
    };
    if !content.trim_ascii_end().ends_with(b"</format>") {
        return false;
    }
    // Text and attribute values hold no raw `<`: each hit starts markup.
    !memchr::memchr_iter(b'<', content).any(|at| {
        let tag = &content[at + 1..];
        let name_end = tag
            .iter()
            .position(|&byte| matches!(byte, b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n'))
            .unwrap_or(tag.len());
        let name = &tag[..name_end];
        let local = name.rsplit(|&byte| byte == b':').next().unwrap_or(name);
        local == b"format"
    })
}

const PACKAGE_END: &[u8] = b"</package>";

/// Errors are never shown (the full parser reports them), so attribute
/// reading runs without a real element path.
const NO_CONTEXT: ElementContext<'static> = ElementContext {
    path: "",
    position: 0,
};

fn read_version(start: &BytesStart<'_>, package: &mut PackageVersion) -> Option<()> {
    let (mut version, mut release) = (None, None);
    for_each_attribute(start, &NO_CONTEXT, |key, value| {
        match key {
            b"epoch" => package.epoch = parse_epoch(&value, &NO_CONTEXT)?,
            b"ver" => version = Some(value.into_owned()),
            b"rel" => release = Some(value.into_owned()),
            _ => {}
        }
        Ok(())
    })
    .ok()?;
    package.version = version?;
    package.release = release?;
    Some(())
}

fn read_time(start: &BytesStart<'_>, package: &mut PackageVersion) -> Option<()> {
    for_each_attribute(start, &NO_CONTEXT, |key, value| {
        match key {
            b"file" => package.time_file = Some(parse_integer(&value, "time file", "", 0)?),
            // Read, not kept: the full parser fails on a bad one.
            b"build" => {
                parse_integer(&value, "time build", "", 0)?;
            }
            _ => {}
        }
        Ok(())
    })
    .ok()
}

/// The trimmed plain text of a text-only element; `None` for entities,
/// CDATA or markup (the full parser reads those).
fn read_trimmed(xml: &mut quick_xml::Reader<&[u8]>) -> Option<String> {
    let mut text = String::new();
    loop {
        match xml.read_event().ok()? {
            Event::Text(content) => text.push_str(&content.xml_content().ok()?),
            Event::End(_) => break,
            _ => return None,
        }
    }
    let trimmed = text.trim();
    if trimmed.len() != text.len() {
        text = trimmed.to_owned();
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::Write;

    use super::*;
    use crate::rpm::primary::parse_primary;
    use crate::testdata::{Rng, primary_xml};

    const FIXTURE: &str = include_str!("../../tests/fixtures/primary.xml");

    fn expected(
        xml: &[u8],
        wanted: &HashSet<String>,
    ) -> Result<Vec<PackageVersion>, RepodataError> {
        let mut packages = parse_primary(xml)?;
        packages.retain(|package| wanted.contains(&package.name));
        Ok(packages.into_iter().map(PackageVersion::from).collect())
    }

    fn scanned(xml: &[u8], wanted: &HashSet<String>) -> Result<Vec<PackageVersion>, RepodataError> {
        scan_primary(xml, |name| wanted.contains(name))
    }

    /// Whether the lean read handled `xml` itself rather than falling back.
    fn lean_handles(xml: &[u8], wanted: &HashSet<String>) -> bool {
        lean_read(xml, &mut |name: &str| wanted.contains(name)).is_some()
    }

    fn names_of(xml: &[u8]) -> Vec<String> {
        parse_primary(xml)
            .unwrap()
            .into_iter()
            .map(|package| package.name)
            .collect()
    }

    fn random_subset(names: &[String], rng: &mut Rng) -> HashSet<String> {
        let percent = rng.between(0, 100);
        names
            .iter()
            .filter(|_| rng.chance(percent))
            .cloned()
            .collect()
    }

    #[test]
    fn fixture_and_generated_primaries_equal_the_full_read() {
        let mut documents = vec![FIXTURE.to_owned()];
        documents.extend((0..10).map(|seed| primary_xml(120, seed)));
        let mut rng = Rng::new(17);
        for xml in &documents {
            let names = names_of(xml.as_bytes());
            for round in 0..8 {
                let wanted = if round == 0 {
                    names.iter().cloned().collect()
                } else {
                    random_subset(&names, &mut rng)
                };
                assert!(lean_handles(xml.as_bytes(), &wanted));
                let found = scanned(xml.as_bytes(), &wanted).unwrap();
                assert_eq!(found, expected(xml.as_bytes(), &wanted).unwrap());
            }
        }
    }

    #[test]
    fn compressed_primaries_are_read_lean_too() {
        let xml = primary_xml(200, 4);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(xml.as_bytes()).unwrap();
        let gz = encoder.finish().unwrap();
        let wanted: HashSet<String> = names_of(xml.as_bytes()).into_iter().step_by(2).collect();
        assert!(lean_handles(&gz, &wanted));
        assert_eq!(scanned(&gz, &wanted), expected(xml.as_bytes(), &wanted));
    }

    /// Shapes the lean read leaves to the full parser, or reads past
    /// `<format>` for; either way the answer is the full parser's.
    #[test]
    fn odd_packages_equal_the_full_read() {
        let base = primary_xml(30, 8);
        let names = names_of(base.as_bytes());
        let all: HashSet<String> = names.iter().cloned().collect();
        let first_arch = {
            let start = base.find("<arch>").unwrap() + "<arch>".len();
            let end = start + base[start..].find("</arch>").unwrap();
            base[start..end].to_owned()
        };
        let variants: Vec<(&str, String, bool)> = vec![
            (
                "character reference in an arch",
                base.replacen(
                    &format!("<arch>{first_arch}</arch>"),
                    &format!(
                        "<arch>&#{};{}</arch>",
                        u32::from(first_arch.as_bytes()[0]),
                        &first_arch[1..]
                    ),
                    1,
                ),
                true,
            ),
            (
                "spaced arch",
                base.replacen(
                    &format!("<arch>{first_arch}</arch>"),
                    &format!("<arch>\n  {first_arch} </arch>"),
                    1,
                ),
                true,
            ),
            (
                "a second version after the format",
                base.replacen(
                    "</format>",
                    "</format>\n<version epoch=\"7\" ver=\"9.9\" rel=\"1\"/>",
                    1,
                ),
                true,
            ),
            (
                "self-closing format",
                base.replacen("<format>", "<format/><format>", 1),
                true,
            ),
            (
                "prefixed format",
                base.replacen("<format>", "<rpm:format>", 1).replacen(
                    "</format>",
                    "</rpm:format>",
                    1,
                ),
                true,
            ),
            (
                "empty epoch",
                base.replacen("epoch=\"0\"", "epoch=\"\"", 1),
                true,
            ),
            (
                "time with old yum fractions",
                base.replacen("<time file=\"", "<time file=\"1700000000.5\" x=\"", 1),
                true,
            ),
        ];
        for (shape, xml, full_parser_reads_it) in &variants {
            let full = expected(xml.as_bytes(), &all);
            assert_eq!(full.is_ok(), *full_parser_reads_it, "{shape}: {full:?}");
            assert_eq!(scanned(xml.as_bytes(), &all), full, "{shape}");
        }
    }

    #[test]
    fn an_error_in_what_a_scan_reads_is_the_full_parsers_error() {
        let xml = primary_xml(20, 3);
        let names = names_of(xml.as_bytes());
        let all: HashSet<String> = names.iter().cloned().collect();
        for broken in [
            xml.replacen("epoch=\"0\"", "epoch=\"zero\"", 1),
            xml.replacen(" rel=\"", " release=\"", 1),
            xml.replacen("<time file=\"", "<time file=\"soon", 1),
            xml.replacen("</arch>", "</arc>", 1),
        ] {
            let full_error = parse_primary(broken.as_bytes()).unwrap_err();
            assert!(!lean_handles(broken.as_bytes(), &all));
            assert_eq!(scanned(broken.as_bytes(), &all), Err(full_error));
        }
    }

    /// The documented blind spot: what a scan does not read is not checked
    /// (a bad dependency flag, markup inside a summary), and an element
    /// nested in a skipped child is not taken for the package's own.
    #[test]
    fn what_a_scan_does_not_read_goes_unseen() {
        let xml = primary_xml(20, 6);
        let all: HashSet<String> = names_of(xml.as_bytes()).into_iter().collect();
        for broken in [
            xml.replacen("flags=\"GE\"", "flags=\"ABOUT\"", 1),
            xml.replacen("</summary>", "<arch>bogus</arch></summary>", 1),
        ] {
            assert_ne!(broken, xml, "the generator writes both");
            assert!(parse_primary(broken.as_bytes()).is_err());
            assert!(lean_handles(broken.as_bytes(), &all));
            assert_eq!(
                scanned(broken.as_bytes(), &all),
                expected(xml.as_bytes(), &all)
            );
        }
    }
}
