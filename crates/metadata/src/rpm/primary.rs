//! `primary.xml`: the packages an rpm-md repository offers.
//!
//! Owns the typed package (name, arch, epoch/version/release, checksum,
//! summary, location, times, sizes, source rpm, provides and requires) and a
//! streaming reader that yields one package at a time, so a repository of
//! any size is read in constant memory.

use std::fmt;
use std::io::BufRead;

use super::repomd::{read_checksum, type_attribute};
use super::xml::{Step, XmlCursor, for_each_attribute, parse_epoch, parse_integer};
use super::{Checksum, RepodataError};
use crate::compression::{self, DecompressingReader};

/// A package of primary.xml.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpmPackage {
    /// `<name>`.
    pub name: String,
    /// `<arch>` (`x86_64`, `noarch`, `src`, …).
    pub arch: String,
    /// `<version epoch>`; empty or missing is 0.
    pub epoch: u64,
    /// `<version ver>`.
    pub version: String,
    /// `<version rel>`.
    pub release: String,
    /// `<checksum>` of the rpm file.
    pub checksum: Option<Checksum>,
    /// `<summary>`.
    pub summary: Option<String>,
    /// `<location href>`, relative to the repository root.
    pub location_href: String,
    /// `<time file>`: when the file entered the repository (seconds).
    pub time_file: Option<u64>,
    /// `<time build>`: when the package was built (seconds).
    pub time_build: Option<u64>,
    /// `<size package>`: the rpm file's size in bytes.
    pub size_package: Option<u64>,
    /// `<size installed>`: the installed size in bytes.
    pub size_installed: Option<u64>,
    /// `<rpm:sourcerpm>` (`bash-5.1.8-9.el9.src.rpm`).
    pub source_rpm: Option<String>,
    /// `<rpm:provides>` entries.
    pub provides: Vec<Dependency>,
    /// `<rpm:requires>` entries.
    pub requires: Vec<Dependency>,
}

impl RpmPackage {
    /// `epoch:version-release` with the epoch always written, the form
    /// `patchline_core::version::rpm::compare_evr` orders.
    pub fn evr(&self) -> String {
        format!("{}:{}-{}", self.epoch, self.version, self.release)
    }

    /// `name-[epoch:]version-release.arch`, the way dnf prints packages.
    pub fn nevra(&self) -> String {
        if self.epoch == 0 {
            format!(
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            )
        } else {
            format!(
                "{}-{}:{}-{}.{}",
                self.name, self.epoch, self.version, self.release, self.arch
            )
        }
    }
}

/// The comparison of a versioned dependency (`flags` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DependencyFlag {
    /// `EQ`: `=`.
    Eq,
    /// `LT`: `<`.
    Lt,
    /// `LE`: `<=`.
    Le,
    /// `GT`: `>`.
    Gt,
    /// `GE`: `>=`.
    Ge,
}

impl DependencyFlag {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "EQ" => Some(DependencyFlag::Eq),
            "LT" => Some(DependencyFlag::Lt),
            "LE" => Some(DependencyFlag::Le),
            "GT" => Some(DependencyFlag::Gt),
            "GE" => Some(DependencyFlag::Ge),
            _ => None,
        }
    }

    /// The operator as rpm prints it.
    pub fn operator(self) -> &'static str {
        match self {
            DependencyFlag::Eq => "=",
            DependencyFlag::Lt => "<",
            DependencyFlag::Le => "<=",
            DependencyFlag::Gt => ">",
            DependencyFlag::Ge => ">=",
        }
    }
}

/// An `<rpm:entry>` of a provides or requires list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Dependency {
    /// Capability name (`libc.so.6(GLIBC_2.34)(64bit)`, `/bin/sh`, `bash`).
    pub name: String,
    /// Comparison, when versioned.
    pub flags: Option<DependencyFlag>,
    /// Epoch, when given.
    pub epoch: Option<u64>,
    /// Version, when given.
    pub version: Option<String>,
    /// Release, when given.
    pub release: Option<String>,
    /// `pre="1"`: needed before installation (Requires(pre)).
    pub pre: bool,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(flags) = self.flags {
            write!(f, " {} ", flags.operator())?;
            if let Some(epoch) = self.epoch.filter(|&epoch| epoch != 0) {
                write!(f, "{epoch}:")?;
            }
            f.write_str(self.version.as_deref().unwrap_or(""))?;
            if let Some(release) = &self.release {
                write!(f, "-{release}")?;
            }
        }
        Ok(())
    }
}

/// Streams the packages of a primary.xml; stops after the first error.
pub struct PrimaryReader<R: BufRead> {
    xml: XmlCursor<R>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeRoot,
    InRoot,
    Done,
}

impl<R: BufRead> PrimaryReader<R> {
    /// Reads uncompressed primary.xml from a stream.
    pub fn new(input: R) -> Self {
        PrimaryReader {
            xml: XmlCursor::new(input),
            state: State::BeforeRoot,
        }
    }

    fn next_package(&mut self) -> Result<Option<RpmPackage>, RepodataError> {
        if self.state == State::BeforeRoot {
            self.xml.enter_root("metadata")?;
            self.state = State::InRoot;
        }
        loop {
            let is_package = self
                .xml
                .next(|start, _| Ok(start.local_name().as_ref() == b"package"))?;
            match is_package {
                Step::Start(true) => return read_package(&mut self.xml).map(Some),
                Step::Start(false) => self.xml.skip_element()?,
                Step::End | Step::Eof => return Ok(None),
            }
        }
    }
}

impl<'a> PrimaryReader<DecompressingReader<'a>> {
    /// Reads primary.xml from plain or compressed bytes (gz, xz, zst, lz4,
    /// detected by magic bytes), decompressing as it goes.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, RepodataError> {
        Ok(PrimaryReader::new(compression::open(bytes)?))
    }
}

impl<R: BufRead> Iterator for PrimaryReader<R> {
    type Item = Result<RpmPackage, RepodataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == State::Done {
            return None;
        }
        match self.next_package() {
            Ok(Some(package)) => Some(Ok(package)),
            Ok(None) => {
                self.state = State::Done;
                None
            }
            Err(error) => {
                self.state = State::Done;
                Some(Err(error))
            }
        }
    }
}

/// Reads every package of a primary.xml (plain or compressed).
pub fn parse_primary(bytes: &[u8]) -> Result<Vec<RpmPackage>, RepodataError> {
    PrimaryReader::from_bytes(bytes)?.collect()
}

enum PackageChild {
    Name,
    Arch,
    Version,
    Checksum(Option<String>),
    Summary,
    Time,
    Size,
    Location,
    Format,
    Other,
}

fn read_package<R: BufRead>(xml: &mut XmlCursor<R>) -> Result<RpmPackage, RepodataError> {
    let path = xml.path();
    let position = xml.position();
    let mut package = RpmPackage::default();
    let mut has_version = false;
    let mut has_location = false;
    loop {
        let step = xml.next(|start, context| {
            let child = match start.local_name().as_ref() {
                b"name" => PackageChild::Name,
                b"arch" => PackageChild::Arch,
                b"summary" => PackageChild::Summary,
                b"format" => PackageChild::Format,
                b"checksum" => PackageChild::Checksum(type_attribute(start, context)?),
                b"version" => {
                    let (mut version, mut release) = (None, None);
                    for_each_attribute(start, context, |key, value| {
                        match key {
                            b"epoch" => package.epoch = parse_epoch(&value, context)?,
                            b"ver" => version = Some(value.into_owned()),
                            b"rel" => release = Some(value.into_owned()),
                            _ => {}
                        }
                        Ok(())
                    })?;
                    package.version = version.ok_or_else(|| context.missing("ver attribute"))?;
                    package.release = release.ok_or_else(|| context.missing("rel attribute"))?;
                    has_version = true;
                    PackageChild::Version
                }
                b"time" => {
                    for_each_attribute(start, context, |key, value| {
                        match key {
                            b"file" => {
                                package.time_file = Some(number(&value, "time file", context)?)
                            }
                            b"build" => {
                                package.time_build = Some(number(&value, "time build", context)?)
                            }
                            _ => {}
                        }
                        Ok(())
                    })?;
                    PackageChild::Time
                }
                b"size" => {
                    for_each_attribute(start, context, |key, value| {
                        match key {
                            b"package" => {
                                package.size_package =
                                    Some(number(&value, "size package", context)?)
                            }
                            b"installed" => {
                                package.size_installed =
                                    Some(number(&value, "size installed", context)?)
                            }
                            _ => {}
                        }
                        Ok(())
                    })?;
                    PackageChild::Size
                }
                b"location" => {
                    for_each_attribute(start, context, |key, value| {
                        if key == b"href" {
                            package.location_href = value.into_owned();
                            has_location = true;
                        }
                        Ok(())
                    })?;
                    PackageChild::Location
                }
                _ => PackageChild::Other,
            };
            Ok(child)
        })?;
        match step {
            Step::Start(PackageChild::Name) => package.name = xml.read_trimmed()?,
            Step::Start(PackageChild::Arch) => package.arch = xml.read_trimmed()?,
            Step::Start(PackageChild::Summary) => package.summary = Some(xml.read_trimmed()?),
            Step::Start(PackageChild::Checksum(algorithm)) => {
                package.checksum = Some(read_checksum(xml, algorithm)?)
            }
            Step::Start(PackageChild::Format) => read_format(xml, &mut package)?,
            Step::Start(
                PackageChild::Version
                | PackageChild::Time
                | PackageChild::Size
                | PackageChild::Location
                | PackageChild::Other,
            ) => xml.skip_element()?,
            Step::End | Step::Eof => break,
        }
    }
    let missing = |what| RepodataError::Missing {
        path: path.clone(),
        position,
        what,
    };
    if package.name.is_empty() {
        return Err(missing("<name>"));
    }
    if package.arch.is_empty() {
        return Err(missing("<arch>"));
    }
    if !has_version {
        return Err(missing("<version>"));
    }
    if !has_location {
        return Err(missing("<location href>"));
    }
    Ok(package)
}

fn number(
    value: &str,
    what: &'static str,
    context: &super::xml::ElementContext<'_>,
) -> Result<u64, RepodataError> {
    parse_integer(value, what, context.path, context.position)
}

enum FormatChild {
    SourceRpm,
    Provides,
    Requires,
    Other,
}

fn read_format<R: BufRead>(
    xml: &mut XmlCursor<R>,
    package: &mut RpmPackage,
) -> Result<(), RepodataError> {
    loop {
        let step = xml.next(|start, _| {
            Ok(match start.local_name().as_ref() {
                b"sourcerpm" => FormatChild::SourceRpm,
                b"provides" => FormatChild::Provides,
                b"requires" => FormatChild::Requires,
                _ => FormatChild::Other,
            })
        })?;
        match step {
            Step::Start(FormatChild::SourceRpm) => {
                let source = xml.read_trimmed()?;
                package.source_rpm = (!source.is_empty()).then_some(source);
            }
            Step::Start(FormatChild::Provides) => read_entries(xml, &mut package.provides)?,
            Step::Start(FormatChild::Requires) => read_entries(xml, &mut package.requires)?,
            Step::Start(FormatChild::Other) => xml.skip_element()?,
            Step::End | Step::Eof => return Ok(()),
        }
    }
}

fn read_entries<R: BufRead>(
    xml: &mut XmlCursor<R>,
    entries: &mut Vec<Dependency>,
) -> Result<(), RepodataError> {
    loop {
        let step = xml.next(|start, context| {
            if start.local_name().as_ref() != b"entry" {
                return Ok(None);
            }
            let mut dependency = Dependency::default();
            let mut has_name = false;
            for_each_attribute(start, context, |key, value| {
                match key {
                    b"name" => {
                        dependency.name = value.into_owned();
                        has_name = true;
                    }
                    b"flags" => {
                        dependency.flags = Some(DependencyFlag::parse(&value).ok_or_else(|| {
                            context.invalid("flags", &value, "expected EQ, LT, LE, GT or GE")
                        })?)
                    }
                    b"epoch" => dependency.epoch = Some(parse_epoch(&value, context)?),
                    b"ver" => dependency.version = Some(value.into_owned()),
                    b"rel" => dependency.release = Some(value.into_owned()),
                    b"pre" => dependency.pre = matches!(&*value, "1" | "true"),
                    _ => {}
                }
                Ok(())
            })?;
            if !has_name {
                return Err(context.missing("name attribute"));
            }
            Ok(Some(dependency))
        })?;
        match step {
            Step::Start(entry) => {
                entries.extend(entry);
                xml.skip_element()?;
            }
            Step::End | Step::Eof => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>bash</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="5.1.8" rel="9.el9"/>
  <checksum type="sha256" pkgid="YES">6b2ea1b4b2b8a8bd1cd8d3b4f0f3e5b6f6a0c1a3e9a3f1bd8d1ff1b5e7ac0d81</checksum>
  <summary>The GNU Bourne Again shell</summary>
  <description>The GNU Bourne Again shell (Bash) &amp; friends.</description>
  <packager>Rocky Linux Build System (Peridot) &lt;releng@rockylinux.org&gt;</packager>
  <url>https://www.gnu.org/software/bash</url>
  <time file="1700221374" build="1699992050"/>
  <size package="1794149" installed="7738634" archive="7759184"/>
  <location href="Packages/b/bash-5.1.8-9.el9.x86_64.rpm"/>
  <format>
    <rpm:license>GPLv3+</rpm:license>
    <rpm:vendor>Rocky Enterprise Software Foundation</rpm:vendor>
    <rpm:sourcerpm>bash-5.1.8-9.el9.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="85661"/>
    <rpm:provides>
      <rpm:entry name="/bin/bash"/>
      <rpm:entry name="bash" flags="EQ" epoch="0" ver="5.1.8" rel="9.el9"/>
      <rpm:entry name="bash(x86-64)" flags="EQ" epoch="0" ver="5.1.8" rel="9.el9"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="filesystem" flags="GE" epoch="0" ver="3" pre="1"/>
      <rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
    </rpm:requires>
    <file>/usr/bin/bash</file>
  </format>
</package>
<package type="rpm">
  <name>tzdata</name>
  <arch>noarch</arch>
  <version epoch="" ver="2024a" rel="1.el9"/>
  <location href="Packages/t/tzdata-2024a-1.el9.noarch.rpm"/>
  <format/>
</package>
</metadata>
"#;

    #[test]
    fn parses_packages() {
        let packages = parse_primary(PRIMARY.as_bytes()).unwrap();
        assert_eq!(packages.len(), 2);
        let bash = &packages[0];
        assert_eq!(bash.name, "bash");
        assert_eq!(bash.arch, "x86_64");
        assert_eq!(
            (bash.epoch, bash.version.as_str(), bash.release.as_str()),
            (0, "5.1.8", "9.el9")
        );
        assert_eq!(bash.evr(), "0:5.1.8-9.el9");
        assert_eq!(bash.nevra(), "bash-5.1.8-9.el9.x86_64");
        assert_eq!(bash.checksum.as_ref().unwrap().algorithm, "sha256");
        assert_eq!(bash.summary.as_deref(), Some("The GNU Bourne Again shell"));
        assert_eq!(bash.location_href, "Packages/b/bash-5.1.8-9.el9.x86_64.rpm");
        assert_eq!(
            (bash.time_file, bash.time_build),
            (Some(1700221374), Some(1699992050))
        );
        assert_eq!(
            (bash.size_package, bash.size_installed),
            (Some(1794149), Some(7738634))
        );
        assert_eq!(bash.source_rpm.as_deref(), Some("bash-5.1.8-9.el9.src.rpm"));
        assert_eq!(bash.provides.len(), 3);
        assert_eq!(bash.provides[1].to_string(), "bash = 5.1.8-9.el9");
        assert_eq!(bash.requires[0].flags, Some(DependencyFlag::Ge));
        assert!(bash.requires[0].pre);
        assert_eq!(bash.requires[1].name, "libc.so.6(GLIBC_2.34)(64bit)");
        assert_eq!(bash.requires[1].flags, None);

        let tzdata = &packages[1];
        assert_eq!(tzdata.epoch, 0, "empty epoch means 0");
        assert_eq!(tzdata.checksum, None);
        assert_eq!(tzdata.source_rpm, None);
        assert!(tzdata.provides.is_empty());
    }

    #[test]
    fn missing_name_names_the_package_element() {
        let xml = PRIMARY.replace("<name>tzdata</name>", "");
        match parse_primary(xml.as_bytes()).unwrap_err() {
            RepodataError::Missing { path, what, .. } => {
                assert_eq!(path, "/metadata/package");
                assert_eq!(what, "<name>");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_epoch_names_the_version_element() {
        let xml = PRIMARY.replace(r#"epoch="" ver="2024a""#, r#"epoch="x" ver="2024a""#);
        assert!(matches!(
            parse_primary(xml.as_bytes()).unwrap_err(),
            RepodataError::InvalidValue { what: "epoch", ref path, .. } if path == "/metadata/package/version"
        ));
    }

    #[test]
    fn bad_flags_are_reported() {
        let xml = PRIMARY.replace(r#"flags="GE""#, r#"flags="ABOUT""#);
        assert!(matches!(
            parse_primary(xml.as_bytes()).unwrap_err(),
            RepodataError::InvalidValue { what: "flags", ref path, .. }
                if path == "/metadata/package/format/rpm:requires/rpm:entry"
        ));
    }

    #[test]
    fn mismatched_tags_are_malformed_xml_with_a_position() {
        let xml = PRIMARY.replace("</summary>", "</summry>");
        match parse_primary(xml.as_bytes()).unwrap_err() {
            RepodataError::Xml { path, position, .. } => {
                assert_eq!(path, "/metadata/package/summary");
                assert!(position > 0);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn truncated_document_is_reported() {
        let end_of_name =
            PRIMARY.find("<name>tzdata</name>").unwrap() + "<name>tzdata</name>".len();
        let cut = &PRIMARY[..end_of_name];
        let results: Vec<_> = PrimaryReader::new(cut.as_bytes()).collect();
        assert!(
            results[0].is_ok(),
            "packages before the cut are still delivered"
        );
        assert!(
            matches!(results[1], Err(RepodataError::Truncated { .. })),
            "{:?}",
            results[1]
        );
        assert_eq!(results.len(), 2);
        // Cut inside a tag: a syntax error at the element being read.
        let mid_tag = &PRIMARY[..end_of_name - 3];
        let last = PrimaryReader::new(mid_tag.as_bytes()).last().unwrap();
        assert!(
            matches!(last, Err(RepodataError::Xml { ref path, .. }) if path == "/metadata/package/name")
        );
    }

    #[test]
    fn wrong_root_is_rejected() {
        assert!(matches!(
            parse_primary(b"<updates></updates>").unwrap_err(),
            RepodataError::UnexpectedRoot {
                expected: "metadata",
                ..
            }
        ));
    }
}
