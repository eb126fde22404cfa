//! `repodata/repomd.xml`: the index of a repository's metadata files.
//!
//! Owns the mapping from data type (`primary`, `updateinfo`, `filelists`,
//! `modules`, …) to the file's location, checksum, timestamp and sizes.

use std::io::BufRead;

use super::xml::{ElementContext, Step, XmlCursor, for_each_attribute, parse_integer};
use super::{Checksum, RepodataError};
use crate::compression;

/// A parsed repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoMd {
    /// `<revision>` (often a timestamp).
    pub revision: Option<String>,
    /// The `<data>` entries in file order.
    pub data: Vec<RepoMdData>,
}

impl RepoMd {
    /// The entry of a data type (`primary`, `updateinfo`, …).
    pub fn get(&self, data_type: &str) -> Option<&RepoMdData> {
        self.data.iter().find(|data| data.data_type == data_type)
    }
}

/// One `<data type="…">` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoMdData {
    /// The `type` attribute.
    pub data_type: String,
    /// `<location href>`, relative to the repository root.
    pub location_href: String,
    /// `<checksum>` of the file as stored (compressed).
    pub checksum: Option<Checksum>,
    /// `<open-checksum>` of the decompressed file.
    pub open_checksum: Option<Checksum>,
    /// `<timestamp>` in seconds since the epoch.
    pub timestamp: Option<u64>,
    /// `<size>` in bytes.
    pub size: Option<u64>,
    /// `<open-size>` in bytes.
    pub open_size: Option<u64>,
}

/// Parses repomd.xml (plain or compressed, detected by magic bytes).
pub fn parse_repomd(bytes: &[u8]) -> Result<RepoMd, RepodataError> {
    read_repomd(compression::open(bytes)?)
}

/// Parses repomd.xml from a stream of uncompressed XML.
pub fn read_repomd(input: impl BufRead) -> Result<RepoMd, RepodataError> {
    let mut xml = XmlCursor::new(input);
    xml.enter_root("repomd")?;
    let mut repomd = RepoMd::default();
    enum Child {
        Data(Option<String>),
        Revision,
        Other,
    }
    loop {
        let step = xml.next(|start, context| {
            Ok(match start.local_name().as_ref() {
                b"data" => {
                    let mut data_type = None;
                    for_each_attribute(start, context, |key, value| {
                        if key == b"type" {
                            data_type = Some(value.into_owned());
                        }
                        Ok(())
                    })?;
                    Child::Data(data_type)
                }
                b"revision" => Child::Revision,
                _ => Child::Other,
            })
        })?;
        match step {
            Step::Start(Child::Data(data_type)) => {
                let path = xml.path();
                let position = xml.position();
                let Some(data_type) = data_type else {
                    return Err(RepodataError::Missing {
                        path,
                        position,
                        what: "type attribute",
                    });
                };
                repomd
                    .data
                    .push(read_data(&mut xml, data_type, path, position)?);
            }
            Step::Start(Child::Revision) => repomd.revision = Some(xml.read_trimmed()?),
            Step::Start(Child::Other) => xml.skip_element()?,
            Step::End | Step::Eof => return Ok(repomd),
        }
    }
}

fn read_data<R: BufRead>(
    xml: &mut XmlCursor<R>,
    data_type: String,
    path: String,
    position: u64,
) -> Result<RepoMdData, RepodataError> {
    let mut data = RepoMdData {
        data_type,
        ..RepoMdData::default()
    };
    let mut location = None;
    enum Child {
        Checksum(Option<String>),
        OpenChecksum(Option<String>),
        Location,
        Timestamp,
        Size,
        OpenSize,
        Other,
    }
    loop {
        let step = xml.next(|start, context| {
            Ok(match start.local_name().as_ref() {
                b"checksum" => Child::Checksum(type_attribute(start, context)?),
                b"open-checksum" => Child::OpenChecksum(type_attribute(start, context)?),
                b"location" => {
                    for_each_attribute(start, context, |key, value| {
                        if key == b"href" {
                            location = Some(value.into_owned());
                        }
                        Ok(())
                    })?;
                    Child::Location
                }
                b"timestamp" => Child::Timestamp,
                b"size" => Child::Size,
                b"open-size" => Child::OpenSize,
                _ => Child::Other,
            })
        })?;
        match step {
            Step::Start(Child::Checksum(algorithm)) => {
                data.checksum = Some(read_checksum(xml, algorithm)?);
            }
            Step::Start(Child::OpenChecksum(algorithm)) => {
                data.open_checksum = Some(read_checksum(xml, algorithm)?);
            }
            Step::Start(Child::Timestamp) => data.timestamp = Some(read_number(xml, "timestamp")?),
            Step::Start(Child::Size) => data.size = Some(read_number(xml, "size")?),
            Step::Start(Child::OpenSize) => data.open_size = Some(read_number(xml, "open-size")?),
            Step::Start(Child::Location | Child::Other) => xml.skip_element()?,
            Step::End | Step::Eof => break,
        }
    }
    data.location_href = location.ok_or(RepodataError::Missing {
        path,
        position,
        what: "<location href>",
    })?;
    Ok(data)
}

pub(super) fn type_attribute(
    start: &quick_xml::events::BytesStart<'_>,
    context: &ElementContext<'_>,
) -> Result<Option<String>, RepodataError> {
    let mut found = None;
    for_each_attribute(start, context, |key, value| {
        if key == b"type" {
            found = Some(value.into_owned());
        }
        Ok(())
    })?;
    Ok(found)
}

pub(super) fn read_checksum<R: BufRead>(
    xml: &mut XmlCursor<R>,
    algorithm: Option<String>,
) -> Result<Checksum, RepodataError> {
    let path = xml.path();
    let position = xml.position();
    let value = xml.read_trimmed()?;
    Ok(Checksum {
        algorithm: algorithm.ok_or(RepodataError::Missing {
            path,
            position,
            what: "checksum type attribute",
        })?,
        value,
    })
}

fn read_number<R: BufRead>(
    xml: &mut XmlCursor<R>,
    what: &'static str,
) -> Result<u64, RepodataError> {
    let path = xml.path();
    let position = xml.position();
    parse_integer(&xml.read_text()?, what, &path, position)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1715769386</revision>
  <tags><distro cpeid="cpe:/o:rocky:rocky:9">Rocky Linux 9</distro></tags>
  <data type="primary">
    <checksum type="sha256">3b1f1d8ad8e6a0a1e6c3b1d0e5f1a9c8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a392</checksum>
    <open-checksum type="sha256">9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d</open-checksum>
    <location href="repodata/3b1f1d8a-primary.xml.gz"/>
    <timestamp>1715769277</timestamp>
    <size>2114283</size>
    <open-size>17389046</open-size>
  </data>
  <data type="updateinfo">
    <checksum type="sha256">aa</checksum>
    <location href="repodata/aa-updateinfo.xml.zst"></location>
    <timestamp>1715769386.0</timestamp>
  </data>
</repomd>
"#;

    #[test]
    fn parses_data_entries() {
        let repomd = parse_repomd(REPOMD.as_bytes()).unwrap();
        assert_eq!(repomd.revision.as_deref(), Some("1715769386"));
        assert_eq!(repomd.data.len(), 2);
        let primary = repomd.get("primary").unwrap();
        assert_eq!(primary.location_href, "repodata/3b1f1d8a-primary.xml.gz");
        assert_eq!(primary.checksum.as_ref().unwrap().algorithm, "sha256");
        assert_eq!(primary.open_checksum.as_ref().unwrap().value.len(), 64);
        assert_eq!(primary.timestamp, Some(1715769277));
        assert_eq!(primary.size, Some(2114283));
        assert_eq!(primary.open_size, Some(17389046));
        let updateinfo = repomd.get("updateinfo").unwrap();
        assert_eq!(updateinfo.location_href, "repodata/aa-updateinfo.xml.zst");
        assert_eq!(updateinfo.timestamp, Some(1715769386));
        assert!(repomd.get("filelists").is_none());
    }

    #[test]
    fn missing_location_names_the_data_element() {
        let xml = REPOMD.replace(
            r#"<location href="repodata/aa-updateinfo.xml.zst"></location>"#,
            "",
        );
        match parse_repomd(xml.as_bytes()).unwrap_err() {
            RepodataError::Missing { path, what, .. } => {
                assert_eq!(path, "/repomd/data");
                assert_eq!(what, "<location href>");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_timestamp_is_reported() {
        let xml = REPOMD.replace(
            "<timestamp>1715769277</timestamp>",
            "<timestamp>soon</timestamp>",
        );
        assert!(matches!(
            parse_repomd(xml.as_bytes()).unwrap_err(),
            RepodataError::InvalidValue { what: "timestamp", ref path, .. } if path == "/repomd/data/timestamp"
        ));
    }

    #[test]
    fn wrong_root_is_reported() {
        assert_eq!(
            parse_repomd(b"<metadata/>").unwrap_err(),
            RepodataError::UnexpectedRoot {
                expected: "repomd",
                found: "metadata".into()
            }
        );
    }
}
