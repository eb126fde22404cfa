//! The lean primary read of an update scan: of the packages whose name a
//! caller wants, only what a scan uses — name, arch, epoch, version,
//! release and `<time file>` — as [`PackageVersion`]s.
//!
//! A scan of a repository where most packages are installed names (a
//! server's own repositories) spent most of its time building provides,
//! requires, checksums and summaries it never looks at. Here the wanted
//! `<package>` blocks (found by [`primary_filter`](super::primary_filter)'s
//! `memmem` pre-scan) are read by [`package_header`](super::package_header)
//! up to `<format>`, and nothing but the six fields is allocated.
//!
//! Exactness: the fields are read as [`PrimaryReader`](super::primary::PrimaryReader)
//! reads them (local names, text trimmed, the same epoch and integer
//! rules, the last of a repeated element wins), and the package's children
//! before `<format>` must nest properly. Anything this read does not handle
//! itself — references, CDATA or markup in a name or arch, a missing field,
//! mismatched tags, any shape the pre-scan gives up on — sends the document
//! to the full parser, whose packages or error (with its exact place) are
//! the answer. What a scan does not read is not validated in wanted
//! packages: `<format>` (a bad dependency flag the full parser rejects
//! goes unseen), the content of skipped children (markup in a summary),
//! checksums and sizes.

use super::RepodataError;
use super::package_header::read_package_header;
use super::primary::RpmPackage;
use super::primary_filter::{Part, for_each_wanted, parse_primary_filtered};
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
        Part::Package { name, text } => match read_package_header(text) {
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
