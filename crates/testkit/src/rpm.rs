//! Tiny real `.rpm` packages built with `rpmbuild -bb` from a generated spec
//! in a private `_topdir` (inside the output directory, removed after).
//!
//! The defines make Debian's rpmbuild quick and policy-free: no
//! `brp-*`/`__os_install_post` processing, no debuginfo, no build-id links,
//! no `%check`/`%clean`, no build-dependency check (which would open an
//! rpmdb), one build CPU (no shell-out to count them), gzip -1 payload and
//! `HOME` set to the scratch directory so no `~/.rpmmacros` leaks in. A
//! one-file package then builds in ~50–70 ms (~200 ms with the defaults).
//! `AutoReqProv: no`: dependencies are exactly the ones declared (plus
//! `/bin/sh` for shell scriptlets, which rpm always adds).

use std::path::{Path, PathBuf};

use crate::command::{Tool, run_ok};
use crate::error::Result;
use crate::staging::{
    Scratch, create_dir, package_name, package_relative, single_line, version_token, write_file,
};

/// The scriptlets rpm runs around an install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpmScript {
    Pre,
    Post,
    Preun,
    Postun,
}

impl RpmScript {
    fn section(self) -> &'static str {
        match self {
            RpmScript::Pre => "%pre",
            RpmScript::Post => "%post",
            RpmScript::Preun => "%preun",
            RpmScript::Postun => "%postun",
        }
    }
}

/// An `.rpm` to build; `build` writes `<name>-<version>-<release>.<arch>.rpm`.
#[derive(Debug, Clone)]
pub struct RpmPackage {
    name: String,
    epoch: Option<u32>,
    version: String,
    release: String,
    arch: String,
    tags: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>, u32)>,
    scripts: Vec<(RpmScript, String)>,
}

/// A built `.rpm` and its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltRpm {
    pub path: PathBuf,
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
}

impl BuiltRpm {
    /// `[epoch:]version-release`, as `rpm -q` and dnf print it.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(epoch) => format!("{epoch}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// The package file's name (its `<filename>` in repository metadata).
    pub fn file_name(&self) -> String {
        rpm_file_name(&self.name, &self.version, &self.release, &self.arch)
    }
}

fn rpm_file_name(name: &str, version: &str, release: &str, arch: &str) -> String {
    format!("{name}-{version}-{release}.{arch}.rpm")
}

impl RpmPackage {
    /// A `noarch` package, release `1`, no epoch.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> RpmPackage {
        RpmPackage {
            name: name.into(),
            epoch: None,
            version: version.into(),
            release: "1".to_owned(),
            arch: "noarch".to_owned(),
            tags: Vec::new(),
            files: Vec::new(),
            scripts: Vec::new(),
        }
    }

    pub fn epoch(mut self, epoch: u32) -> RpmPackage {
        self.epoch = Some(epoch);
        self
    }

    pub fn release(mut self, release: impl Into<String>) -> RpmPackage {
        self.release = release.into();
        self
    }

    /// `noarch` or an architecture the host rpm can target (`x86_64`).
    pub fn arch(mut self, arch: impl Into<String>) -> RpmPackage {
        self.arch = arch.into();
        self
    }

    /// Adds a `Requires:` (`libfoo >= 1.2`).
    pub fn requires(self, requirement: impl Into<String>) -> RpmPackage {
        self.tag("Requires", requirement)
    }

    /// Adds a `Provides:`.
    pub fn provides(self, capability: impl Into<String>) -> RpmPackage {
        self.tag("Provides", capability)
    }

    /// Adds any preamble tag (`Obsoletes`, `Conflicts`, `Group`...). Tags
    /// may repeat.
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> RpmPackage {
        self.tags.push((name.into(), value.into()));
        self
    }

    /// A regular file (mode 0644) at the absolute in-package `path`.
    pub fn file(self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> RpmPackage {
        self.file_with_mode(path, contents, 0o644)
    }

    pub fn file_with_mode(
        mut self,
        path: impl Into<String>,
        contents: impl Into<Vec<u8>>,
        mode: u32,
    ) -> RpmPackage {
        self.files.push((path.into(), contents.into(), mode));
        self
    }

    /// A shell scriptlet; rpm runs it chrooted into the node root with the
    /// harness's busybox `/bin/sh`.
    pub fn script(mut self, script: RpmScript, body: impl Into<String>) -> RpmPackage {
        self.scripts.retain(|(known, _)| *known != script);
        self.scripts.push((script, body.into()));
        self
    }

    pub fn post(self, body: impl Into<String>) -> RpmPackage {
        self.script(RpmScript::Post, body)
    }

    /// Builds the package into `out_dir` (created if needed).
    pub fn build(&self, out_dir: &Path) -> Result<BuiltRpm> {
        self.validate()?;
        let mut command = Tool::Rpmbuild.command()?;
        create_dir(out_dir)?;
        let scratch = Scratch::new(out_dir, "rpm")?;
        let top = scratch.path();
        let staged = top.join("files");
        create_dir(&staged)?;
        create_dir(&top.join("tmp"))?;
        for (path, contents, mode) in &self.files {
            write_file(&staged.join(package_relative(path)?), contents, *mode)?;
        }
        let spec = top.join(format!("{}.spec", self.name));
        write_file(&spec, self.spec(&staged).as_bytes(), 0o644)?;

        let mut define = |name: &str, value: &str| {
            command.arg("--define").arg(format!("{name} {value}"));
        };
        define("_topdir", &top.display().to_string());
        define("_tmppath", &top.join("tmp").display().to_string());
        define("_dbpath", &top.join("rpmdb").display().to_string());
        define("_rpmdir", &out_dir.display().to_string());
        define(
            "_build_name_fmt",
            "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
        );
        define("__spec_install_post", "%{nil}");
        define("__os_install_post", "%{nil}");
        define("debug_package", "%{nil}");
        define("__check_files", "%{nil}");
        define("_build_id_links", "none");
        define("_binary_payload", "w1.gzdio");
        define("_smp_build_ncpus", "1");
        define("_buildhost", "testkit.invalid");
        command
            .env("HOME", top)
            .env("TMPDIR", top.join("tmp"))
            .args(["-bb", "--quiet", "--nodeps", "--noclean", "--nocheck"]);
        if self.arch != "noarch" {
            command.arg("--target").arg(&self.arch);
        }
        command.arg(&spec);
        run_ok(&mut command)?;
        Ok(BuiltRpm {
            path: out_dir.join(rpm_file_name(
                &self.name,
                &self.version,
                &self.release,
                &self.arch,
            )),
            name: self.name.clone(),
            epoch: self.epoch,
            version: self.version.clone(),
            release: self.release.clone(),
            arch: self.arch.clone(),
        })
    }

    fn validate(&self) -> Result<()> {
        package_name(&self.name)?;
        version_token("rpm version", &self.version)?;
        version_token("rpm release", &self.release)?;
        version_token("rpm architecture", &self.arch)?;
        if self.version.contains('-') || self.release.contains('-') {
            return Err(crate::TestkitError::Invalid {
                field: "rpm version/release",
                value: format!("{}-{}", self.version, self.release),
                reason: "rpm versions and releases cannot contain `-`",
            });
        }
        for (name, value) in &self.tags {
            single_line("rpm tag name", name)?;
            single_line("rpm tag", value)?;
        }
        for (path, _, _) in &self.files {
            package_relative(path)?;
        }
        Ok(())
    }

    fn spec(&self, staged: &Path) -> String {
        let mut spec = format!("Name: {}\n", self.name);
        if let Some(epoch) = self.epoch {
            spec.push_str(&format!("Epoch: {epoch}\n"));
        }
        spec.push_str(&format!(
            "Version: {}\nRelease: {}\nSummary: {} (patchline-testkit package)\nLicense: MIT\nAutoReqProv: no\n",
            self.version, self.release, self.name
        ));
        if self.arch == "noarch" {
            spec.push_str("BuildArch: noarch\n");
        }
        for (name, value) in &self.tags {
            spec.push_str(&format!("{name}: {}\n", escape_macros(value)));
        }
        spec.push_str("\n%description\nBuilt by the Patchline test harness.\n\n%install\nmkdir -p %{buildroot}\n");
        if !self.files.is_empty() {
            spec.push_str(&format!(
                "cp -a '{}/.' %{{buildroot}}/\n",
                escape_macros(&staged.display().to_string())
            ));
        }
        spec.push_str("\n%files\n%defattr(-,root,root,-)\n");
        for (path, _, _) in &self.files {
            spec.push_str(&format!("\"{}\"\n", escape_macros(path)));
        }
        for (script, body) in &self.scripts {
            spec.push_str(&format!(
                "\n{}\n{}\n",
                script.section(),
                escape_macros(body)
            ));
        }
        spec
    }
}

/// rpm expands `%` everywhere in a spec; a literal `%` is written `%%`.
fn escape_macros(text: &str) -> String {
    text.replace('%', "%%")
}

impl AsRef<Path> for BuiltRpm {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::run;

    fn query(path: &Path, format: &str) -> String {
        let mut rpm = Tool::Rpm.command().unwrap();
        // --nosignature: no keyring lookup, which would create ~/.rpmdb.
        rpm.args(["-qp", "--nosignature", "--qf", format]).arg(path);
        run(&mut rpm).unwrap().ensure_success().unwrap().stdout
    }

    #[test]
    fn builds_a_package_rpm_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let built = RpmPackage::new("hello-kit", "2.0")
            .epoch(1)
            .release("3.el9")
            .requires("libfoo >= 1.2")
            .file("/usr/share/hello-kit/greeting", "100% hello\n")
            .post("printf '%s\\n' configured")
            .build(dir.path())
            .unwrap();
        assert_eq!(
            built.path,
            dir.path().join("hello-kit-2.0-3.el9.noarch.rpm")
        );
        assert_eq!(built.evr(), "1:2.0-3.el9");
        assert_eq!(
            query(
                &built.path,
                "%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH}"
            ),
            "hello-kit 1 2.0 3.el9 noarch"
        );
        let requires = query(
            &built.path,
            "[%{REQUIRENAME} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}\n]",
        );
        assert!(requires.contains("libfoo >= 1.2"), "{requires}");
        assert_eq!(
            query(&built.path, "[%{FILENAMES}\n]"),
            "/usr/share/hello-kit/greeting\n"
        );
        assert_eq!(query(&built.path, "%{POSTIN}"), "printf '%s\\n' configured");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_dashes_in_versions() {
        let dir = tempfile::tempdir().unwrap();
        let error = RpmPackage::new("bad-kit", "1.0-1")
            .build(dir.path())
            .unwrap_err();
        assert!(error.to_string().contains("cannot contain `-`"), "{error}");
    }
}
