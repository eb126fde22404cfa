//! The readers over the hand-written fixtures in tests/fixtures/, modelled on
//! real Debian bookworm, Rocky Linux 9, Fedora, openSUSE Leap, Amazon Linux
//! and Oracle Linux files, in every compression the readers accept.

use std::io::Write;

use jiff::Timestamp;
use patchline_metadata::apt_release::parse_release;
use patchline_metadata::compression::{Compression, DecompressError};
use patchline_metadata::dpkg_status::{PackageState, parse_status};
use patchline_metadata::rpm::RepodataError;
use patchline_metadata::rpm::primary::{DependencyFlag, parse_primary};
use patchline_metadata::rpm::repomd::parse_repomd;
use patchline_metadata::rpm::updateinfo::{AdvisoryKind, ReferenceKind, parse_updateinfo};

const STATUS: &[u8] = include_bytes!("fixtures/status");
const IN_RELEASE: &[u8] = include_bytes!("fixtures/InRelease");
const PRIMARY: &[u8] = include_bytes!("fixtures/primary.xml");
const UPDATEINFO: &[u8] = include_bytes!("fixtures/updateinfo.xml");
const REPOMD: &[u8] = include_bytes!("fixtures/repomd.xml");

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

fn all_compressions(data: &[u8]) -> Vec<(Compression, Vec<u8>)> {
    vec![
        (Compression::None, data.to_vec()),
        (Compression::Gzip, gzip(data)),
        (Compression::Xz, xz(data)),
        (Compression::Zstd, zstd(data)),
    ]
}

#[test]
fn status_fixture() {
    let packages = parse_status(STATUS).unwrap();
    assert_eq!(packages.len(), 5);
    let interrupted: Vec<_> = packages
        .iter()
        .filter(|package| package.status.is_interrupted())
        .map(|package| (package.name.as_ref(), package.architecture.as_deref()))
        .collect();
    assert_eq!(
        interrupted,
        [
            ("libssl3", Some("amd64")),
            ("linux-image-6.1.0-18-amd64", Some("amd64"))
        ]
    );
    let kernel = &packages[3];
    assert_eq!(kernel.status.state, PackageState::TriggersPending);
    assert_eq!(kernel.source_name(), "linux-signed-amd64");
    assert_eq!(kernel.source_version(), Some("6.1.76+1"));
    assert_eq!(packages[4].status.state, PackageState::ConfigFiles);
    assert!(packages[0].essential);
}

#[test]
fn in_release_fixture() {
    let release = parse_release(IN_RELEASE).unwrap();
    assert!(release.clearsigned);
    assert!(release.is_security());
    assert_eq!(release.codename.as_deref(), Some("bookworm-security"));
    assert_eq!(
        release.date,
        Some("2024-08-10T09:43:26Z".parse::<Timestamp>().unwrap())
    );
    assert_eq!(release.architectures.len(), 9);
    let entries: Vec<_> = release.sha256_entries().collect::<Result<_, _>>().unwrap();
    assert_eq!(entries.len(), 5);
    let packages_xz = entries
        .iter()
        .find(|entry| entry.path == "main/binary-amd64/Packages.xz")
        .unwrap();
    assert_eq!(packages_xz.size, 617233);
}

#[test]
fn primary_fixture_in_every_compression() {
    for (compression, bytes) in all_compressions(PRIMARY) {
        let packages =
            parse_primary(&bytes).unwrap_or_else(|error| panic!("{compression}: {error}"));
        assert_eq!(packages.len(), 4, "{compression}");
        assert_eq!(packages[0].requires.len(), 4);
        assert_eq!(packages[1].epoch, 0, "empty epoch is 0");
        assert_eq!(packages[1].requires[1].name, "/bin/sh");
        assert!(packages[1].requires[1].pre);
        assert_eq!(packages[2].nevra(), "shadow-utils-2:4.9-8.el9.x86_64");
        assert_eq!(packages[2].requires[1].flags, Some(DependencyFlag::Le));
        assert_eq!(packages[2].requires[1].epoch, None);
        assert_eq!(
            packages[2].summary.as_deref(),
            Some("Utilities for managing accounts and shadow password files")
        );
        assert_eq!(
            packages[3].location_href,
            "x86_64/zypper-1.14.68-150500.3.3.1.x86_64.rpm"
        );
    }
}

#[test]
fn updateinfo_fixture_in_every_compression() {
    for (compression, bytes) in all_compressions(UPDATEINFO) {
        let advisories =
            parse_updateinfo(&bytes).unwrap_or_else(|error| panic!("{compression}: {error}"));
        assert_eq!(advisories.len(), 7, "{compression}");
    }
    let advisories = parse_updateinfo(UPDATEINFO).unwrap();
    let kinds: Vec<_> = advisories
        .iter()
        .map(|advisory| advisory.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        [
            AdvisoryKind::Security,
            AdvisoryKind::Security,
            AdvisoryKind::Bugfix,
            AdvisoryKind::Security,
            AdvisoryKind::Security,
            AdvisoryKind::Enhancement,
            AdvisoryKind::NewPackage
        ]
    );
    let glibc = &advisories[0];
    assert_eq!(
        glibc.cves().collect::<Vec<_>>(),
        ["CVE-2024-2961", "CVE-2024-33599"]
    );
    assert!(glibc.reboot_suggested());
    assert_eq!(glibc.packages().count(), 2);
    assert!(
        glibc
            .description
            .as_deref()
            .unwrap()
            .contains("Security Fix(es):")
    );
    let nodejs = &advisories[1];
    let collection = &nodejs.collections[0];
    assert_eq!(collection.module.as_ref().unwrap().stream, "18");
    assert_eq!(collection.packages[0].epoch, 1);
    let fedora = &advisories[2];
    assert_eq!(fedora.severity.as_deref(), Some("None"));
    assert_eq!(
        fedora.description.as_deref(),
        Some("Fix installing tzdata <br> with \"zoneinfo\" & leap seconds.")
    );
    let suse = &advisories[3];
    assert_eq!(
        suse.issued,
        Some(Timestamp::from_second(1714608000).unwrap())
    );
    assert_eq!(suse.references[0].kind, ReferenceKind::Bugzilla);
    let suse_packages: Vec<_> = suse.packages().collect();
    assert!(suse_packages[0].restart_suggested);
    assert!(
        !suse_packages[1].relogin_suggested,
        "empty element is false, as libsolv reads it"
    );
    assert_eq!(suse_packages[0].epoch, 0);
    let amazon = &advisories[4];
    assert_eq!(amazon.issued, Some("2024-04-10T17:41:00Z".parse().unwrap()));
    assert_eq!(amazon.packages().next().unwrap().src, None);
    let oracle = &advisories[5];
    assert_eq!(oracle.issued, Some("2024-03-01T00:00:00Z".parse().unwrap()));
    assert_eq!(oracle.severity, None);
    assert!(oracle.references.is_empty());
    let new_package = &advisories[6];
    assert_eq!(
        new_package.issued,
        Some("2024-06-01T08:00:00Z".parse().unwrap())
    );
    assert_eq!(new_package.packages().next().unwrap().filename, None);
}

#[test]
fn repomd_fixture() {
    let repomd = parse_repomd(REPOMD).unwrap();
    assert_eq!(repomd.data.len(), 4);
    assert_eq!(
        repomd.get("updateinfo").unwrap().location_href,
        "repodata/4e6a8c0e-updateinfo.xml.gz"
    );
    assert_eq!(repomd.get("primary").unwrap().open_size, Some(19231404));
}

#[test]
fn truncated_compressed_xml_names_the_layer() {
    for (compression, bytes) in all_compressions(UPDATEINFO) {
        if compression == Compression::None {
            continue;
        }
        let truncated = &bytes[..bytes.len() * 2 / 3];
        match parse_updateinfo(truncated) {
            Err(RepodataError::Decompress(DecompressError::Corrupt { layer, .. })) => {
                assert_eq!(layer, compression)
            }
            other => panic!("{compression}: expected a decompression error, got {other:?}"),
        }
    }
}

#[test]
fn truncated_plain_xml_is_reported() {
    let truncated = &PRIMARY[..PRIMARY.len() - 200];
    assert!(matches!(
        parse_primary(truncated),
        Err(RepodataError::Truncated { .. } | RepodataError::Xml { .. })
    ));
}
