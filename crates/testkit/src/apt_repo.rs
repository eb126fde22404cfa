//! A local apt repository in the Debian archive layout, written with
//! `apt-ftparchive`: `pool/<suite>/<component>/*.deb`,
//! `dists/<suite>/<component>/binary-<arch>/Packages{,.gz}` and an unsigned
//! `dists/<suite>/Release` with Origin/Label/Suite/Codename/Date (the date is
//! the test's to choose: it is what "release date" means to the agent).
//! Roots consume it as `deb [trusted=yes] file:<dir> <suite> <component>`.
//!
//! [`AptRepository::publish`] replaces the whole repository with the given
//! suites, so "publish v1, install, publish v2" is two calls.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flate2::Compression;
use flate2::write::GzEncoder;
use jiff::Timestamp;

use crate::command::{Tool, run_ok};
use crate::error::{Result, TestkitError, io_at};
use crate::staging::{create_dir, single_line, write_file};

/// One suite (a "pocket": `stable`, `stable-security`) with one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSuite {
    pub suite: String,
    pub codename: String,
    pub origin: String,
    /// `Debian-Security` marks a security pocket (as does a `-security`
    /// suite name).
    pub label: String,
    /// The Release file's `Date`.
    pub date: Timestamp,
    pub component: String,
    /// `.deb` files copied into the suite's pool.
    pub packages: Vec<PathBuf>,
}

impl AptSuite {
    /// A Debian 12 style suite: codename `bookworm`, origin and label
    /// `Debian`, component `main`, dated now, no packages.
    pub fn new(suite: impl Into<String>) -> AptSuite {
        AptSuite {
            suite: suite.into(),
            codename: "bookworm".to_owned(),
            origin: "Debian".to_owned(),
            label: "Debian".to_owned(),
            date: Timestamp::now(),
            component: "main".to_owned(),
            packages: Vec::new(),
        }
    }

    /// Like [`AptSuite::new`] with the label of Debian's security archive.
    pub fn security(suite: impl Into<String>) -> AptSuite {
        AptSuite::new(suite).with_label("Debian-Security")
    }

    pub fn with_codename(mut self, codename: impl Into<String>) -> AptSuite {
        self.codename = codename.into();
        self
    }

    pub fn with_origin(mut self, origin: impl Into<String>) -> AptSuite {
        self.origin = origin.into();
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> AptSuite {
        self.label = label.into();
        self
    }

    pub fn with_date(mut self, date: Timestamp) -> AptSuite {
        self.date = date;
        self
    }

    pub fn with_component(mut self, component: impl Into<String>) -> AptSuite {
        self.component = component.into();
        self
    }

    /// Adds packages (anything path-like: a [`crate::BuiltDeb`], a path).
    pub fn with_packages<P: AsRef<Path>>(
        mut self,
        packages: impl IntoIterator<Item = P>,
    ) -> AptSuite {
        self.packages
            .extend(packages.into_iter().map(|p| p.as_ref().to_owned()));
        self
    }

    fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("apt suite", &self.suite),
            ("apt codename", &self.codename),
            ("apt origin", &self.origin),
            ("apt label", &self.label),
            ("apt component", &self.component),
        ] {
            single_line(field, value)?;
        }
        for (field, value) in [
            ("apt suite", &self.suite),
            ("apt component", &self.component),
        ] {
            if value.contains(['/', ' ']) || value.starts_with('.') {
                return Err(TestkitError::Invalid {
                    field,
                    value: value.clone(),
                    reason: "is a directory name: no `/`, spaces or leading `.`",
                });
            }
        }
        Ok(())
    }
}

/// One `sources.list` line for a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// `file:/abs/path` (or any URI apt understands).
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// `[...]` options; the harness's repositories are unsigned, so
    /// `trusted=yes`.
    pub options: Vec<String>,
}

impl std::fmt::Display for AptSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deb ")?;
        if !self.options.is_empty() {
            write!(f, "[{}] ", self.options.join(" "))?;
        }
        write!(
            f,
            "{} {} {}",
            self.uri,
            self.suite,
            self.components.join(" ")
        )
    }
}

/// A local apt repository directory.
#[derive(Debug, Clone)]
pub struct AptRepository {
    dir: PathBuf,
    architectures: Vec<String>,
    published: Vec<(String, String)>,
}

impl AptRepository {
    /// A repository in `dir` (created) for the host's native architecture.
    pub fn new(dir: impl AsRef<Path>) -> Result<AptRepository> {
        AptRepository::with_architectures(dir, &[native_architecture()?])
    }

    /// A repository in `dir` (created) with indexes for each architecture
    /// (`all` packages are listed in every one).
    pub fn with_architectures(
        dir: impl AsRef<Path>,
        architectures: &[impl AsRef<str>],
    ) -> Result<AptRepository> {
        let dir = dir.as_ref();
        create_dir(dir)?;
        let dir = dir.canonicalize().map_err(io_at(dir))?;
        let architectures: Vec<String> = architectures
            .iter()
            .map(|arch| arch.as_ref().to_owned())
            .collect();
        if architectures.is_empty() {
            return Err(TestkitError::Invalid {
                field: "apt repository architectures",
                value: String::new(),
                reason: "list at least one architecture",
            });
        }
        Ok(AptRepository {
            dir,
            architectures,
            published: Vec::new(),
        })
    }

    /// The repository's (absolute) directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn architectures(&self) -> &[String] {
        &self.architectures
    }

    /// Replaces the repository's content with `suites`.
    pub fn publish(&mut self, suites: &[AptSuite]) -> Result<()> {
        for suite in suites {
            suite.validate()?;
        }
        Tool::AptFtparchive.locate()?;
        for old in ["dists", "pool"] {
            let path = self.dir.join(old);
            if path.exists() {
                fs::remove_dir_all(&path).map_err(io_at(&path))?;
            }
        }
        self.published.clear();
        for suite in suites {
            self.publish_suite(suite)?;
            self.published
                .push((suite.suite.clone(), suite.component.clone()));
        }
        Ok(())
    }

    fn publish_suite(&self, suite: &AptSuite) -> Result<()> {
        let pool = Path::new("pool").join(&suite.suite).join(&suite.component);
        create_dir(&self.dir.join(&pool))?;
        for package in &suite.packages {
            let name = package.file_name().ok_or_else(|| TestkitError::Invalid {
                field: "apt package path",
                value: package.display().to_string(),
                reason: "names no file",
            })?;
            let target = self.dir.join(&pool).join(name);
            fs::copy(package, &target).map_err(io_at(package))?;
        }
        let dists = self.dir.join("dists").join(&suite.suite);
        for arch in &self.architectures {
            let mut scan = Tool::AptFtparchive.command()?;
            scan.current_dir(&self.dir)
                .args(["--arch", arch, "packages"])
                .arg(&pool);
            let packages = run_ok(&mut scan)?.stdout;
            let index_dir = dists.join(&suite.component).join(format!("binary-{arch}"));
            write_file(&index_dir.join("Packages"), packages.as_bytes(), 0o644)?;
            write_file(
                &index_dir.join("Packages.gz"),
                &gzip(packages.as_bytes()),
                0o644,
            )?;
        }
        let release_option =
            |field: &str, value: &str| format!("-oAPT::FTPArchive::Release::{field}={value}");
        let mut release = Tool::AptFtparchive.command()?;
        release
            .current_dir(&self.dir)
            .arg(release_option("Origin", &suite.origin))
            .arg(release_option("Label", &suite.label))
            .arg(release_option("Suite", &suite.suite))
            .arg(release_option("Codename", &suite.codename))
            .arg(release_option("Date", &release_date(suite.date)))
            .arg(release_option(
                "Architectures",
                &self.architectures.join(" "),
            ))
            .arg(release_option("Components", &suite.component))
            .arg("release")
            .arg(Path::new("dists").join(&suite.suite));
        // Written after the run: apt-ftparchive hashes what is in the
        // directory, and an old Release must not list itself.
        let text = run_ok(&mut release)?.stdout;
        write_file(&dists.join("Release"), text.as_bytes(), 0o644)
    }

    /// The `sources.list` entries of the last publication, one per suite.
    pub fn sources(&self) -> Vec<AptSource> {
        self.published
            .iter()
            .map(|(suite, component)| AptSource {
                uri: format!("file:{}", self.dir.display()),
                suite: suite.clone(),
                components: vec![component.clone()],
                options: vec!["trusted=yes".to_owned()],
            })
            .collect()
    }
}

/// Debian's Release date form: `Thu, 01 Feb 2024 10:00:00 UTC`.
pub fn release_date(date: Timestamp) -> String {
    date.strftime("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// The host's dpkg architecture (`dpkg --print-architecture`), asked once.
pub fn native_architecture() -> Result<String> {
    static NATIVE: OnceLock<String> = OnceLock::new();
    if let Some(arch) = NATIVE.get() {
        return Ok(arch.clone());
    }
    let mut dpkg = Tool::Dpkg.command()?;
    dpkg.arg("--print-architecture");
    let arch = run_ok(&mut dpkg)?.stdout.trim().to_owned();
    Ok(NATIVE.get_or_init(|| arch).clone())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::DebPackage;

    #[test]
    fn release_dates_use_the_debian_form() {
        let date: Timestamp = "2024-02-01T10:00:00Z".parse().unwrap();
        assert_eq!(release_date(date), "Thu, 01 Feb 2024 10:00:00 UTC");
    }

    #[test]
    fn publishes_suites_with_release_fields_and_indexes_per_arch() {
        let dir = tempfile::tempdir().unwrap();
        let debs = dir.path().join("debs");
        let all = DebPackage::new("kit-all", "1.0").build(&debs).unwrap();
        let i386 = DebPackage::new("kit-lib", "1.0")
            .arch("i386")
            .build(&debs)
            .unwrap();
        let mut repo =
            AptRepository::with_architectures(dir.path().join("repo"), &["amd64", "i386"]).unwrap();
        repo.publish(&[
            AptSuite::new("stable").with_packages([&all]),
            AptSuite::security("stable-security")
                .with_date("2024-02-01T10:00:00Z".parse().unwrap())
                .with_packages([&all, &i386]),
        ])
        .unwrap();

        let release = fs::read_to_string(repo.dir().join("dists/stable-security/Release")).unwrap();
        for line in [
            "Label: Debian-Security",
            "Suite: stable-security",
            "Codename: bookworm",
            "Date: Thu, 01 Feb 2024 10:00:00 UTC",
            "Architectures: amd64 i386",
            "Components: main",
        ] {
            assert!(release.contains(line), "{line} missing from\n{release}");
        }
        assert!(
            release.contains("main/binary-i386/Packages.gz"),
            "{release}"
        );
        let index = |arch: &str| {
            fs::read_to_string(
                repo.dir()
                    .join(format!("dists/stable-security/main/binary-{arch}/Packages")),
            )
            .unwrap()
        };
        assert!(index("amd64").contains("Package: kit-all"));
        assert!(!index("amd64").contains("Package: kit-lib"));
        assert!(index("i386").contains("Package: kit-lib"));
        assert!(index("i386").contains("Filename: pool/stable-security/main/kit-lib_1.0_i386.deb"));

        let sources: Vec<String> = repo.sources().iter().map(ToString::to_string).collect();
        let uri = repo.dir().display();
        assert_eq!(
            sources,
            [
                format!("deb [trusted=yes] file:{uri} stable main"),
                format!("deb [trusted=yes] file:{uri} stable-security main"),
            ]
        );

        // Republishing replaces the content.
        repo.publish(&[AptSuite::new("stable")]).unwrap();
        assert!(!repo.dir().join("dists/stable-security").exists());
        assert_eq!(repo.sources().len(), 1);
    }
}
