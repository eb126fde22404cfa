//! `updateinfo.xml`: the advisories (errata) of an rpm-md repository.
//!
//! Owns the typed advisory — type (security, bugfix, enhancement,
//! newpackage, or whatever else a vendor writes), severity, issued and
//! updated dates in every format Red Hat, Fedora, SUSE and Amazon write,
//! references (CVEs, bugzillas) and the packages each advisory fixes. RPM
//! family classification and severity come from here.

use std::io::BufRead;

use jiff::Timestamp;

use super::repomd::{read_checksum, type_attribute};
use super::xml::{ElementContext, Step, XmlCursor, for_each_attribute, parse_epoch};
use super::{Checksum, RepodataError};
use crate::compression::{self, DecompressingReader};

/// The `type` attribute of an update.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AdvisoryKind {
    /// `security`.
    Security,
    /// `bugfix` (SUSE: `recommended` is kept as [`AdvisoryKind::Other`]).
    Bugfix,
    /// `enhancement`.
    Enhancement,
    /// `newpackage`.
    NewPackage,
    /// Any other value, as written (`recommended`, `optional`, `feature`, …).
    Other(String),
}

impl AdvisoryKind {
    fn parse(value: &str) -> Self {
        match value.trim() {
            "security" => AdvisoryKind::Security,
            "bugfix" => AdvisoryKind::Bugfix,
            "enhancement" => AdvisoryKind::Enhancement,
            "newpackage" => AdvisoryKind::NewPackage,
            other => AdvisoryKind::Other(other.to_owned()),
        }
    }
}

/// The `type` attribute of a reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    /// `cve`.
    Cve,
    /// `bugzilla`.
    Bugzilla,
    /// `self`: the advisory's own page.
    SelfLink,
    /// Anything else, as written.
    Other(String),
}

impl ReferenceKind {
    fn parse(value: &str) -> Self {
        match value.trim() {
            "cve" => ReferenceKind::Cve,
            "bugzilla" => ReferenceKind::Bugzilla,
            "self" => ReferenceKind::SelfLink,
            other => ReferenceKind::Other(other.to_owned()),
        }
    }
}

/// A `<reference>` of an advisory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdvisoryReference {
    /// `type`.
    pub kind: ReferenceKind,
    /// `id` (`CVE-2023-1234`, a bug number).
    pub id: Option<String>,
    /// `href`.
    pub href: Option<String>,
    /// `title`.
    pub title: Option<String>,
}

/// A package an advisory ships.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct AdvisoryPackage {
    /// `name`.
    pub name: String,
    /// `epoch`; empty or missing is 0.
    pub epoch: u64,
    /// `version`.
    pub version: String,
    /// `release`.
    pub release: String,
    /// `arch`.
    pub arch: String,
    /// `src`: the source rpm.
    pub src: Option<String>,
    /// `<filename>`.
    pub filename: Option<String>,
    /// `<sum>`.
    pub sum: Option<Checksum>,
    /// `<reboot_suggested>`.
    pub reboot_suggested: bool,
    /// `<restart_suggested>` (restart of the package manager).
    pub restart_suggested: bool,
    /// `<relogin_suggested>`.
    pub relogin_suggested: bool,
}

impl AdvisoryPackage {
    /// `epoch:version-release`, the form `patchline_core::version::rpm::compare_evr` orders.
    pub fn evr(&self) -> String {
        format!("{}:{}-{}", self.epoch, self.version, self.release)
    }
}

/// A modular stream an advisory applies to (`<module>` in a collection).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct ModuleStream {
    /// `name`.
    pub name: String,
    /// `stream`.
    pub stream: String,
    /// `version`.
    pub version: Option<String>,
    /// `context`.
    pub context: Option<String>,
    /// `arch`.
    pub arch: Option<String>,
}

/// A `<collection>` of a package list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct PackageCollection {
    /// `short` attribute.
    pub short: Option<String>,
    /// `<name>`.
    pub name: Option<String>,
    /// `<module>`, for modular content.
    pub module: Option<ModuleStream>,
    /// The packages.
    pub packages: Vec<AdvisoryPackage>,
}

/// One `<update>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    /// `<id>` (`RLSA-2023:2478`, `FEDORA-2023-…`, `openSUSE-SU-2023:…`).
    pub id: String,
    /// `type` attribute.
    pub kind: AdvisoryKind,
    /// `from` attribute.
    pub from: Option<String>,
    /// `status` attribute (`final`, `stable`, `testing`).
    pub status: Option<String>,
    /// `version` attribute.
    pub version: Option<String>,
    /// `<title>`.
    pub title: Option<String>,
    /// `<severity>` as written (`Important`, `moderate`, …); absent or
    /// empty is `None`.
    pub severity: Option<String>,
    /// `<issued date>`.
    pub issued: Option<Timestamp>,
    /// `<updated date>`.
    pub updated: Option<Timestamp>,
    /// `<release>`.
    pub release: Option<String>,
    /// `<summary>`.
    pub summary: Option<String>,
    /// `<description>`.
    pub description: Option<String>,
    /// `<references>`.
    pub references: Vec<AdvisoryReference>,
    /// `<pkglist>` collections.
    pub collections: Vec<PackageCollection>,
}

impl Advisory {
    /// The CVE ids among the references.
    pub fn cves(&self) -> impl Iterator<Item = &str> {
        self.references
            .iter()
            .filter(|reference| reference.kind == ReferenceKind::Cve)
            .filter_map(|reference| reference.id.as_deref())
    }

    /// Every package of every collection.
    pub fn packages(&self) -> impl Iterator<Item = &AdvisoryPackage> {
        self.collections
            .iter()
            .flat_map(|collection| &collection.packages)
    }

    /// Whether any package suggests a reboot.
    pub fn reboot_suggested(&self) -> bool {
        self.packages().any(|package| package.reboot_suggested)
    }
}

/// Streams the advisories of an updateinfo.xml; stops after the first error.
pub struct UpdateinfoReader<R: BufRead> {
    xml: XmlCursor<R>,
    started: bool,
    done: bool,
}

impl<R: BufRead> UpdateinfoReader<R> {
    /// Reads uncompressed updateinfo.xml from a stream.
    pub fn new(input: R) -> Self {
        UpdateinfoReader {
            xml: XmlCursor::new(input),
            started: false,
            done: false,
        }
    }

    fn next_advisory(&mut self) -> Result<Option<Advisory>, RepodataError> {
        if !self.started {
            self.xml.enter_root("updates")?;
            self.started = true;
        }
        loop {
            let step = self.xml.next(|start, context| {
                if start.local_name().as_ref() != b"update" {
                    return Ok(None);
                }
                let mut header = UpdateHeader::default();
                for_each_attribute(start, context, |key, value| {
                    match key {
                        b"type" => header.kind = Some(value.into_owned()),
                        b"from" => header.from = Some(value.into_owned()),
                        b"status" => header.status = Some(value.into_owned()),
                        b"version" => header.version = Some(value.into_owned()),
                        _ => {}
                    }
                    Ok(())
                })?;
                Ok(Some(header))
            })?;
            match step {
                Step::Start(Some(header)) => return read_update(&mut self.xml, header).map(Some),
                Step::Start(None) => self.xml.skip_element()?,
                Step::End | Step::Eof => return Ok(None),
            }
        }
    }
}

impl<'a> UpdateinfoReader<DecompressingReader<'a>> {
    /// Reads updateinfo.xml from plain or compressed bytes (gz, xz, zst,
    /// lz4, detected by magic bytes).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, RepodataError> {
        Ok(UpdateinfoReader::new(compression::open(bytes)?))
    }
}

impl<R: BufRead> Iterator for UpdateinfoReader<R> {
    type Item = Result<Advisory, RepodataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.next_advisory();
        match result {
            Ok(Some(advisory)) => Some(Ok(advisory)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

/// Reads every advisory of an updateinfo.xml (plain or compressed).
pub fn parse_updateinfo(bytes: &[u8]) -> Result<Vec<Advisory>, RepodataError> {
    UpdateinfoReader::from_bytes(bytes)?.collect()
}

#[derive(Default)]
struct UpdateHeader {
    kind: Option<String>,
    from: Option<String>,
    status: Option<String>,
    version: Option<String>,
}

enum UpdateChild {
    Id,
    Title,
    Severity,
    Issued(Option<Timestamp>),
    Updated(Option<Timestamp>),
    Release,
    Summary,
    Description,
    References,
    PackageList,
    Other,
}

fn read_update<R: BufRead>(
    xml: &mut XmlCursor<R>,
    header: UpdateHeader,
) -> Result<Advisory, RepodataError> {
    let path = xml.path();
    let position = xml.position();
    let mut advisory = Advisory {
        id: String::new(),
        kind: AdvisoryKind::parse(header.kind.as_deref().unwrap_or("")),
        from: header.from,
        status: header.status,
        version: header.version,
        title: None,
        severity: None,
        issued: None,
        updated: None,
        release: None,
        summary: None,
        description: None,
        references: Vec::new(),
        collections: Vec::new(),
    };
    if header.kind.is_none() {
        return Err(RepodataError::Missing {
            path,
            position,
            what: "type attribute",
        });
    }
    loop {
        let step = xml.next(|start, context| {
            Ok(match start.local_name().as_ref() {
                b"id" => UpdateChild::Id,
                b"title" => UpdateChild::Title,
                b"severity" => UpdateChild::Severity,
                b"issued" => UpdateChild::Issued(date_attribute(start, context)?),
                b"updated" => UpdateChild::Updated(date_attribute(start, context)?),
                b"release" => UpdateChild::Release,
                b"summary" => UpdateChild::Summary,
                b"description" => UpdateChild::Description,
                b"references" => UpdateChild::References,
                b"pkglist" => UpdateChild::PackageList,
                _ => UpdateChild::Other,
            })
        })?;
        match step {
            Step::Start(UpdateChild::Id) => advisory.id = xml.read_trimmed()?,
            Step::Start(UpdateChild::Title) => advisory.title = non_empty(xml.read_trimmed()?),
            Step::Start(UpdateChild::Severity) => {
                advisory.severity = non_empty(xml.read_trimmed()?)
            }
            Step::Start(UpdateChild::Release) => advisory.release = non_empty(xml.read_trimmed()?),
            Step::Start(UpdateChild::Summary) => advisory.summary = non_empty(xml.read_trimmed()?),
            Step::Start(UpdateChild::Description) => {
                advisory.description = non_empty(xml.read_trimmed()?)
            }
            Step::Start(UpdateChild::Issued(date)) => {
                advisory.issued = date;
                xml.skip_element()?;
            }
            Step::Start(UpdateChild::Updated(date)) => {
                advisory.updated = date;
                xml.skip_element()?;
            }
            Step::Start(UpdateChild::References) => read_references(xml, &mut advisory.references)?,
            Step::Start(UpdateChild::PackageList) => read_pkglist(xml, &mut advisory.collections)?,
            Step::Start(UpdateChild::Other) => xml.skip_element()?,
            Step::End | Step::Eof => break,
        }
    }
    if advisory.id.is_empty() {
        return Err(RepodataError::Missing {
            path,
            position,
            what: "<id>",
        });
    }
    Ok(advisory)
}

fn non_empty(text: impl Into<String>) -> Option<String> {
    let text = text.into();
    (!text.is_empty()).then_some(text)
}

fn date_attribute(
    start: &quick_xml::events::BytesStart<'_>,
    context: &ElementContext<'_>,
) -> Result<Option<Timestamp>, RepodataError> {
    let mut date = None;
    for_each_attribute(start, context, |key, value| {
        if key == b"date" && !value.trim().is_empty() {
            date = Some(
                parse_advisory_date(&value)
                    .ok_or_else(|| context.invalid("date", &value, DATE_FORMATS))?,
            );
        }
        Ok(())
    })?;
    Ok(date)
}

const DATE_FORMATS: &str =
    "expected 'YYYY-MM-DD[ HH:MM[:SS]]', RFC 3339, or seconds since the epoch";

/// Parses an advisory date as vendors write them: `2023-05-10 00:00:00`
/// (Red Hat, Rocky, Fedora), `2023-05-10` (Oracle), `2023-05-10 17:41`
/// (Amazon), `2023-05-10T00:00:00Z` (RFC 3339), and seconds since the
/// epoch `1683676800` (SUSE). Dates without a zone are UTC.
pub fn parse_advisory_date(value: &str) -> Option<Timestamp> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Timestamp::from_second(value.parse().ok()?).ok();
    }
    if let Ok(timestamp) = value.parse::<Timestamp>() {
        return Some(timestamp);
    }
    let naive = value
        .strip_suffix(" UTC")
        .or_else(|| value.strip_suffix(" GMT"))
        .unwrap_or(value);
    let datetime = naive.parse::<jiff::civil::DateTime>().ok()?;
    datetime
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

fn read_references<R: BufRead>(
    xml: &mut XmlCursor<R>,
    references: &mut Vec<AdvisoryReference>,
) -> Result<(), RepodataError> {
    loop {
        let step = xml.next(|start, context| {
            if start.local_name().as_ref() != b"reference" {
                return Ok(None);
            }
            let mut reference = AdvisoryReference {
                kind: ReferenceKind::Other(String::new()),
                id: None,
                href: None,
                title: None,
            };
            for_each_attribute(start, context, |key, value| {
                match key {
                    b"type" => reference.kind = ReferenceKind::parse(&value),
                    b"id" => reference.id = non_empty(value),
                    b"href" => reference.href = non_empty(value),
                    b"title" => reference.title = non_empty(value),
                    _ => {}
                }
                Ok(())
            })?;
            Ok(Some(reference))
        })?;
        match step {
            Step::Start(reference) => {
                references.extend(reference);
                xml.skip_element()?;
            }
            Step::End | Step::Eof => return Ok(()),
        }
    }
}

fn read_pkglist<R: BufRead>(
    xml: &mut XmlCursor<R>,
    collections: &mut Vec<PackageCollection>,
) -> Result<(), RepodataError> {
    loop {
        let step = xml.next(|start, context| {
            if start.local_name().as_ref() != b"collection" {
                return Ok(None);
            }
            let mut short = None;
            for_each_attribute(start, context, |key, value| {
                if key == b"short" {
                    short = non_empty(value);
                }
                Ok(())
            })?;
            Ok(Some(short))
        })?;
        match step {
            Step::Start(Some(short)) => collections.push(read_collection(xml, short)?),
            Step::Start(None) => xml.skip_element()?,
            Step::End | Step::Eof => return Ok(()),
        }
    }
}

enum CollectionChild {
    Name,
    Module(ModuleStream),
    Package(AdvisoryPackage),
    Other,
}

fn read_collection<R: BufRead>(
    xml: &mut XmlCursor<R>,
    short: Option<String>,
) -> Result<PackageCollection, RepodataError> {
    let mut collection = PackageCollection {
        short,
        ..PackageCollection::default()
    };
    loop {
        let step = xml.next(|start, context| {
            Ok(match start.local_name().as_ref() {
                b"name" => CollectionChild::Name,
                b"module" => CollectionChild::Module(module_attributes(start, context)?),
                b"package" => CollectionChild::Package(package_attributes(start, context)?),
                _ => CollectionChild::Other,
            })
        })?;
        match step {
            Step::Start(CollectionChild::Name) => collection.name = non_empty(xml.read_trimmed()?),
            Step::Start(CollectionChild::Module(module)) => {
                collection.module = Some(module);
                xml.skip_element()?;
            }
            Step::Start(CollectionChild::Package(package)) => {
                collection.packages.push(read_package(xml, package)?)
            }
            Step::Start(CollectionChild::Other) => xml.skip_element()?,
            Step::End | Step::Eof => return Ok(collection),
        }
    }
}

fn module_attributes(
    start: &quick_xml::events::BytesStart<'_>,
    context: &ElementContext<'_>,
) -> Result<ModuleStream, RepodataError> {
    let mut module = ModuleStream::default();
    for_each_attribute(start, context, |key, value| {
        match key {
            b"name" => module.name = value.into_owned(),
            b"stream" => module.stream = value.into_owned(),
            b"version" => module.version = non_empty(value),
            b"context" => module.context = non_empty(value),
            b"arch" => module.arch = non_empty(value),
            _ => {}
        }
        Ok(())
    })?;
    if module.name.is_empty() {
        return Err(context.missing("module name attribute"));
    }
    Ok(module)
}

fn package_attributes(
    start: &quick_xml::events::BytesStart<'_>,
    context: &ElementContext<'_>,
) -> Result<AdvisoryPackage, RepodataError> {
    let mut package = AdvisoryPackage::default();
    for_each_attribute(start, context, |key, value| {
        match key {
            b"name" => package.name = value.into_owned(),
            b"epoch" => package.epoch = parse_epoch(&value, context)?,
            b"version" => package.version = value.into_owned(),
            b"release" => package.release = value.into_owned(),
            b"arch" => package.arch = value.into_owned(),
            b"src" => package.src = non_empty(value),
            _ => {}
        }
        Ok(())
    })?;
    if package.name.is_empty() {
        return Err(context.missing("package name attribute"));
    }
    if package.version.is_empty() {
        return Err(context.missing("package version attribute"));
    }
    Ok(package)
}

enum PackageChild {
    Filename,
    Sum(Option<String>),
    Reboot,
    Restart,
    Relogin,
    Other,
}

fn read_package<R: BufRead>(
    xml: &mut XmlCursor<R>,
    mut package: AdvisoryPackage,
) -> Result<AdvisoryPackage, RepodataError> {
    loop {
        let step = xml.next(|start, context| {
            Ok(match start.local_name().as_ref() {
                b"filename" => PackageChild::Filename,
                b"sum" => PackageChild::Sum(type_attribute(start, context)?),
                b"reboot_suggested" => PackageChild::Reboot,
                b"restart_suggested" => PackageChild::Restart,
                b"relogin_suggested" => PackageChild::Relogin,
                _ => PackageChild::Other,
            })
        })?;
        match step {
            Step::Start(PackageChild::Filename) => {
                package.filename = non_empty(xml.read_trimmed()?)
            }
            Step::Start(PackageChild::Sum(algorithm)) => {
                package.sum = Some(read_checksum(xml, algorithm)?)
            }
            Step::Start(PackageChild::Reboot) => {
                package.reboot_suggested = flag(&xml.read_trimmed()?)
            }
            Step::Start(PackageChild::Restart) => {
                package.restart_suggested = flag(&xml.read_trimmed()?)
            }
            Step::Start(PackageChild::Relogin) => {
                package.relogin_suggested = flag(&xml.read_trimmed()?)
            }
            Step::Start(PackageChild::Other) => xml.skip_element()?,
            Step::End | Step::Eof => return Ok(package),
        }
    }
}

/// The `*_suggested` flags as libsolv (dnf, zypper) reads them: true when
/// the text starts with `T`, `t` or `1` (`True`, `true`, `1`), so an empty
/// element is false. `yes` is accepted too.
fn flag(text: &str) -> bool {
    matches!(
        text.as_bytes().first(),
        Some(b'T' | b't' | b'1' | b'Y' | b'y')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATEINFO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="releng@rockylinux.org" status="final" type="security" version="2">
    <id>RLSA-2023:2478</id>
    <title>Important: bash security update</title>
    <issued date="2023-05-10 00:00:00"/>
    <updated date="2023-05-10T06:30:00Z"/>
    <rights>Copyright 2023 Rocky Enterprise Software Foundation</rights>
    <release>Rocky Linux 9</release>
    <pushcount>1</pushcount>
    <severity>Important</severity>
    <summary>An update is available for bash.</summary>
    <description>Fixes CVE-2022-3715 &amp; more.</description>
    <references>
      <reference href="https://errata.rockylinux.org/RLSA-2023:2478" id="RLSA-2023:2478" type="self" title="RLSA-2023:2478"/>
      <reference href="https://access.redhat.com/security/cve/CVE-2022-3715" id="CVE-2022-3715" type="cve" title="CVE-2022-3715"/>
      <reference href="https://bugzilla.redhat.com/2126720" id="2126720" type="bugzilla" title=""/>
    </references>
    <pkglist>
      <collection short="rocky-linux-9-x86_64-baseos-rpms">
        <name>rocky-linux-9-x86_64-baseos-rpms</name>
        <package name="bash" version="5.1.8" release="6.el9_1" epoch="0" arch="x86_64" src="bash-5.1.8-6.el9_1.src.rpm">
          <filename>bash-5.1.8-6.el9_1.x86_64.rpm</filename>
          <sum type="sha256">f1b9e3a7c2d4b6a8e0f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5</sum>
          <reboot_suggested>True</reboot_suggested>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="maint-coord@suse.de" status="stable" type="recommended" version="1">
    <id>openSUSE-SU-2023:1234-1</id>
    <title>Recommended update for zypper</title>
    <issued date="1683676800"/>
    <references/>
    <pkglist>
      <collection>
        <package name="zypper" epoch="" version="1.14.61" release="150400.3.24.1" arch="x86_64" src="zypper-1.14.61-150400.3.24.1.src.rpm">
          <filename>zypper-1.14.61-150400.3.24.1.x86_64.rpm</filename>
          <restart_suggested>1</restart_suggested>
          <relogin_suggested/>
        </package>
      </collection>
    </pkglist>
  </update>
</updates>
"#;

    #[test]
    fn parses_advisories() {
        let advisories = parse_updateinfo(UPDATEINFO.as_bytes()).unwrap();
        assert_eq!(advisories.len(), 2);
        let rocky = &advisories[0];
        assert_eq!(rocky.id, "RLSA-2023:2478");
        assert_eq!(rocky.kind, AdvisoryKind::Security);
        assert_eq!(rocky.from.as_deref(), Some("releng@rockylinux.org"));
        assert_eq!(rocky.status.as_deref(), Some("final"));
        assert_eq!(rocky.version.as_deref(), Some("2"));
        assert_eq!(rocky.severity.as_deref(), Some("Important"));
        assert_eq!(rocky.issued, Some("2023-05-10T00:00:00Z".parse().unwrap()));
        assert_eq!(rocky.updated, Some("2023-05-10T06:30:00Z".parse().unwrap()));
        assert_eq!(
            rocky.description.as_deref(),
            Some("Fixes CVE-2022-3715 & more.")
        );
        assert_eq!(rocky.cves().collect::<Vec<_>>(), ["CVE-2022-3715"]);
        assert_eq!(rocky.references[0].kind, ReferenceKind::SelfLink);
        assert_eq!(rocky.references[2].kind, ReferenceKind::Bugzilla);
        assert_eq!(rocky.references[2].title, None);
        let package = rocky.packages().next().unwrap();
        assert_eq!(package.evr(), "0:5.1.8-6.el9_1");
        assert_eq!(package.src.as_deref(), Some("bash-5.1.8-6.el9_1.src.rpm"));
        assert_eq!(package.sum.as_ref().unwrap().algorithm, "sha256");
        assert!(package.reboot_suggested);
        assert!(rocky.reboot_suggested());

        let suse = &advisories[1];
        assert_eq!(suse.kind, AdvisoryKind::Other("recommended".into()));
        assert_eq!(suse.severity, None);
        assert_eq!(
            suse.issued,
            Some(Timestamp::from_second(1683676800).unwrap())
        );
        assert_eq!(suse.updated, None);
        let zypper = suse.packages().next().unwrap();
        assert_eq!(zypper.epoch, 0);
        assert!(zypper.restart_suggested);
        assert!(!zypper.relogin_suggested);
        assert!(!zypper.reboot_suggested);
    }

    #[test]
    fn accepts_every_vendor_date_format() {
        let midnight: Timestamp = "2023-05-10T00:00:00Z".parse().unwrap();
        for text in [
            "2023-05-10 00:00:00",
            "2023-05-10",
            "2023-05-10T00:00:00Z",
            "1683676800",
            "2023-05-10 00:00:00 UTC",
            " 2023-05-10 00:00 ",
        ] {
            assert_eq!(parse_advisory_date(text), Some(midnight), "{text:?}");
        }
        assert_eq!(
            parse_advisory_date("2023-05-10T02:00:00+02:00"),
            Some(midnight)
        );
        for bad in ["", "yesterday", "2023-13-45", "99999999999999999999"] {
            assert_eq!(parse_advisory_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bad_date_names_the_element() {
        let xml = UPDATEINFO.replace("2023-05-10 00:00:00", "10/05/2023");
        assert!(matches!(
            parse_updateinfo(xml.as_bytes()).unwrap_err(),
            RepodataError::InvalidValue { what: "date", ref path, .. } if path == "/updates/update/issued"
        ));
    }

    #[test]
    fn missing_id_is_reported() {
        let xml = UPDATEINFO.replace("<id>RLSA-2023:2478</id>", "");
        assert!(matches!(
            parse_updateinfo(xml.as_bytes()).unwrap_err(),
            RepodataError::Missing { what: "<id>", .. }
        ));
    }

    #[test]
    fn unknown_types_are_kept() {
        let xml = UPDATEINFO.replace(r#"type="security""#, r#"type="feature""#);
        let advisories = parse_updateinfo(xml.as_bytes()).unwrap();
        assert_eq!(advisories[0].kind, AdvisoryKind::Other("feature".into()));
    }

    #[test]
    fn bad_xml_is_reported_with_path() {
        let xml = UPDATEINFO.replace("</title>", "</titel>");
        assert!(matches!(
            parse_updateinfo(xml.as_bytes()).unwrap_err(),
            RepodataError::Xml { ref path, .. } if path == "/updates/update/title"
        ));
    }

    #[test]
    fn suggested_flags_follow_libsolv() {
        assert!(flag("True") && flag("true") && flag("1") && flag("yes"));
        assert!(!flag("") && !flag("False") && !flag("0"));
    }
}
