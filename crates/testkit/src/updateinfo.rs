//! Advisories and the `updateinfo.xml` that carries them in an rpm-md
//! repository (what `dnf updateinfo` and `zypper list-patches` read).
//!
//! Two dialects: Red Hat style (`status="final"`, dates as
//! `2024-02-01 00:00:00`, severities like `Important`) and SUSE style
//! (`status="stable"`, dates as Unix seconds, severities like `important`).
//! libsolv reads both date forms; the styles exist so each family's tests
//! see the metadata its real distribution ships. Severity text is written as
//! given.

use jiff::Timestamp;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use crate::rpm::BuiltRpm;

/// An advisory's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvisoryKind {
    Security,
    Bugfix,
    Enhancement,
}

impl AdvisoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryKind::Security => "security",
            AdvisoryKind::Bugfix => "bugfix",
            AdvisoryKind::Enhancement => "enhancement",
        }
    }
}

/// Whose `updateinfo.xml` conventions to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateinfoStyle {
    /// RHEL, Rocky, Alma, Oracle, Amazon Linux.
    RedHat,
    /// SLES, openSUSE Leap.
    Suse,
}

/// One package an advisory fixes (the version that contains the fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryPackage {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub filename: String,
}

impl From<&BuiltRpm> for AdvisoryPackage {
    fn from(rpm: &BuiltRpm) -> AdvisoryPackage {
        AdvisoryPackage {
            name: rpm.name.clone(),
            epoch: rpm.epoch.unwrap_or(0),
            version: rpm.version.clone(),
            release: rpm.release.clone(),
            arch: rpm.arch.clone(),
            filename: rpm.file_name(),
        }
    }
}

/// One advisory (an `<update>` element).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    /// `RLSA-2024:0001`, `openSUSE-SU-2024:0001-1`...
    pub id: String,
    pub kind: AdvisoryKind,
    /// `Important`, `moderate`...: written as given.
    pub severity: Option<String>,
    pub title: String,
    pub description: String,
    pub issued: Timestamp,
    pub updated: Option<Timestamp>,
    /// `CVE-2024-1234`, written as `type="cve"` references.
    pub cves: Vec<String>,
    pub reboot_suggested: bool,
    pub packages: Vec<AdvisoryPackage>,
}

impl Advisory {
    /// An advisory titled after its id, with no severity, CVEs or packages.
    pub fn new(id: impl Into<String>, kind: AdvisoryKind, issued: Timestamp) -> Advisory {
        let id = id.into();
        Advisory {
            title: format!("{id}: {} update", kind.as_str()),
            description: format!("{id} (patchline-testkit advisory)"),
            id,
            kind,
            severity: None,
            issued,
            updated: None,
            cves: Vec::new(),
            reboot_suggested: false,
            packages: Vec::new(),
        }
    }

    /// A security advisory with a severity.
    pub fn security(
        id: impl Into<String>,
        severity: impl Into<String>,
        issued: Timestamp,
    ) -> Advisory {
        Advisory::new(id, AdvisoryKind::Security, issued).with_severity(severity)
    }

    pub fn with_severity(mut self, severity: impl Into<String>) -> Advisory {
        self.severity = Some(severity.into());
        self
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Advisory {
        self.title = title.into();
        self
    }

    pub fn with_updated(mut self, updated: Timestamp) -> Advisory {
        self.updated = Some(updated);
        self
    }

    pub fn with_cve(mut self, cve: impl Into<String>) -> Advisory {
        self.cves.push(cve.into());
        self
    }

    pub fn with_reboot_suggested(mut self) -> Advisory {
        self.reboot_suggested = true;
        self
    }

    /// Adds the fixed packages.
    pub fn with_packages<'a>(
        mut self,
        packages: impl IntoIterator<Item = &'a BuiltRpm>,
    ) -> Advisory {
        self.packages
            .extend(packages.into_iter().map(AdvisoryPackage::from));
        self
    }
}

/// The `updateinfo.xml` document for `advisories`.
pub fn updateinfo_xml(advisories: &[Advisory], style: UpdateinfoStyle) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail; the io::Result is only the API's.
    let _ = write_document(&mut writer, advisories, style);
    String::from_utf8_lossy(&writer.into_inner()).into_owned()
}

fn write_document(
    writer: &mut Writer<Vec<u8>>,
    advisories: &[Advisory],
    style: UpdateinfoStyle,
) -> std::io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("updates")
        .write_inner_content(|writer| {
            for advisory in advisories {
                write_advisory(writer, advisory, style)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_advisory(
    writer: &mut Writer<Vec<u8>>,
    advisory: &Advisory,
    style: UpdateinfoStyle,
) -> std::io::Result<()> {
    let (from, status, collection) = match style {
        UpdateinfoStyle::RedHat => ("security@rockylinux.org", "final", "rocky9"),
        UpdateinfoStyle::Suse => ("maint-coord@suse.de", "stable", "openSUSE-Leap-15.5"),
    };
    let date = |at: Timestamp| match style {
        UpdateinfoStyle::RedHat => at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        UpdateinfoStyle::Suse => at.as_second().to_string(),
    };
    writer
        .create_element("update")
        .with_attributes([
            ("from", from),
            ("status", status),
            ("type", advisory.kind.as_str()),
            ("version", "1"),
        ])
        .write_inner_content(|writer| {
            text_element(writer, "id", &advisory.id)?;
            text_element(writer, "title", &advisory.title)?;
            writer
                .create_element("issued")
                .with_attribute(("date", date(advisory.issued).as_str()))
                .write_empty()?;
            if let Some(updated) = advisory.updated {
                writer
                    .create_element("updated")
                    .with_attribute(("date", date(updated).as_str()))
                    .write_empty()?;
            }
            if let Some(severity) = &advisory.severity {
                text_element(writer, "severity", severity)?;
            }
            text_element(writer, "summary", &advisory.title)?;
            text_element(writer, "description", &advisory.description)?;
            writer
                .create_element("references")
                .write_inner_content(|writer| {
                    for cve in &advisory.cves {
                        let href = format!("https://www.cve.org/CVERecord?id={cve}");
                        writer
                            .create_element("reference")
                            .with_attributes([
                                ("href", href.as_str()),
                                ("id", cve.as_str()),
                                ("type", "cve"),
                                ("title", cve.as_str()),
                            ])
                            .write_empty()?;
                    }
                    Ok(())
                })?;
            writer
                .create_element("pkglist")
                .write_inner_content(|writer| {
                    writer
                        .create_element("collection")
                        .with_attribute(("short", collection))
                        .write_inner_content(|writer| {
                            text_element(writer, "name", collection)?;
                            for package in &advisory.packages {
                                write_package(writer, package, advisory.reboot_suggested)?;
                            }
                            Ok(())
                        })?;
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(())
}

fn write_package(
    writer: &mut Writer<Vec<u8>>,
    package: &AdvisoryPackage,
    reboot_suggested: bool,
) -> std::io::Result<()> {
    let epoch = package.epoch.to_string();
    let source = format!(
        "{}-{}-{}.src.rpm",
        package.name, package.version, package.release
    );
    writer
        .create_element("package")
        .with_attributes([
            ("name", package.name.as_str()),
            ("epoch", epoch.as_str()),
            ("version", package.version.as_str()),
            ("release", package.release.as_str()),
            ("arch", package.arch.as_str()),
            ("src", source.as_str()),
        ])
        .write_inner_content(|writer| {
            text_element(writer, "filename", &package.filename)?;
            if reboot_suggested {
                text_element(writer, "reboot_suggested", "True")?;
            }
            Ok(())
        })?;
    Ok(())
}

fn text_element(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    writer
        .create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advisory() -> Advisory {
        Advisory::security(
            "RLSA-2024:0001",
            "Important",
            "2024-02-01T00:00:00Z".parse().unwrap(),
        )
        .with_title("Important: kit <fix> & more")
        .with_cve("CVE-2024-1234")
        .with_reboot_suggested()
    }

    fn package() -> AdvisoryPackage {
        AdvisoryPackage {
            name: "kit".to_owned(),
            epoch: 1,
            version: "2.0".to_owned(),
            release: "1".to_owned(),
            arch: "noarch".to_owned(),
            filename: "kit-2.0-1.noarch.rpm".to_owned(),
        }
    }

    #[test]
    fn red_hat_style_uses_calendar_dates() {
        let mut advisory = advisory();
        advisory.packages.push(package());
        let xml = updateinfo_xml(&[advisory], UpdateinfoStyle::RedHat);
        for part in [
            r#"<update from="security@rockylinux.org" status="final" type="security" version="1">"#,
            "<id>RLSA-2024:0001</id>",
            "<title>Important: kit &lt;fix&gt; &amp; more</title>",
            r#"<issued date="2024-02-01 00:00:00"/>"#,
            "<severity>Important</severity>",
            r#"id="CVE-2024-1234" type="cve""#,
            r#"<package name="kit" epoch="1" version="2.0" release="1" arch="noarch" src="kit-2.0-1.src.rpm">"#,
            "<filename>kit-2.0-1.noarch.rpm</filename>",
            "<reboot_suggested>True</reboot_suggested>",
        ] {
            assert!(xml.contains(part), "{part} missing from\n{xml}");
        }
    }

    #[test]
    fn suse_style_uses_unix_seconds() {
        let xml = updateinfo_xml(&[advisory()], UpdateinfoStyle::Suse);
        assert!(xml.contains(r#"<issued date="1706745600"/>"#), "{xml}");
        assert!(xml.contains(r#"status="stable""#), "{xml}");
    }
}
