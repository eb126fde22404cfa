//! Tiny real `.deb` packages built with `dpkg-deb --build --root-owner-group`
//! from a control stanza, files and optional maintainer scripts (a postinst
//! that fails or sleeps makes a package that fails to install or one whose
//! install can be interrupted).
//!
//! gzip level 1 compresses the members: a one-file package builds in ~15 ms
//! (xz, dpkg-deb's default, costs more for nothing at this size).

use std::path::{Path, PathBuf};

use crate::command::{Tool, run_ok};
use crate::error::Result;
use crate::staging::{
    Scratch, create_dir, package_name, package_relative, single_line, version_token, write_file,
};

/// The maintainer scripts dpkg runs, by control-archive name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebScript {
    Preinst,
    Postinst,
    Prerm,
    Postrm,
}

impl DebScript {
    fn file_name(self) -> &'static str {
        match self {
            DebScript::Preinst => "preinst",
            DebScript::Postinst => "postinst",
            DebScript::Prerm => "prerm",
            DebScript::Postrm => "postrm",
        }
    }
}

/// A `.deb` to build. Fields are set with the builder methods; `build`
/// writes `<name>_<version without epoch>_<arch>.deb` into a directory.
#[derive(Debug, Clone)]
pub struct DebPackage {
    name: String,
    version: String,
    arch: String,
    fields: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>, u32)>,
    scripts: Vec<(DebScript, String)>,
}

/// A built `.deb` and the identity apt will see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltDeb {
    pub path: PathBuf,
    pub name: String,
    /// The full version, epoch included (`1:2.0-1`).
    pub version: String,
    pub arch: String,
}

impl DebPackage {
    /// A package of architecture `all`, section `misc`, priority `optional`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> DebPackage {
        DebPackage {
            name: name.into(),
            version: version.into(),
            arch: "all".to_owned(),
            fields: vec![
                ("Section".to_owned(), "misc".to_owned()),
                ("Priority".to_owned(), "optional".to_owned()),
            ],
            files: Vec::new(),
            scripts: Vec::new(),
        }
    }

    /// The architecture (`all`, `amd64`, `i386`...).
    pub fn arch(mut self, arch: impl Into<String>) -> DebPackage {
        self.arch = arch.into();
        self
    }

    pub fn depends(self, depends: impl Into<String>) -> DebPackage {
        self.field("Depends", depends)
    }

    pub fn section(self, section: impl Into<String>) -> DebPackage {
        self.field("Section", section)
    }

    pub fn priority(self, priority: impl Into<String>) -> DebPackage {
        self.field("Priority", priority)
    }

    /// `Multi-Arch: same` lets several architectures be installed together.
    pub fn multi_arch(self, value: impl Into<String>) -> DebPackage {
        self.field("Multi-Arch", value)
    }

    /// Sets any control field (replacing an earlier value), e.g. `Source`,
    /// `Pre-Depends`, `Breaks`.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> DebPackage {
        let name = name.into();
        let value = value.into();
        match self.fields.iter_mut().find(|(known, _)| *known == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
        self
    }

    /// A regular file (mode 0644) at the absolute in-package `path`.
    pub fn file(self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> DebPackage {
        self.file_with_mode(path, contents, 0o644)
    }

    pub fn file_with_mode(
        mut self,
        path: impl Into<String>,
        contents: impl Into<Vec<u8>>,
        mode: u32,
    ) -> DebPackage {
        self.files.push((path.into(), contents.into(), mode));
        self
    }

    /// A maintainer script. A body without `#!` gets `#!/bin/sh` + `set -e`.
    /// Scripts run chrooted into the node root, where the harness puts a
    /// static busybox as `/bin/sh` with its applets (`sleep`, `echo`...).
    pub fn script(mut self, script: DebScript, body: impl Into<String>) -> DebPackage {
        self.scripts.retain(|(known, _)| *known != script);
        self.scripts.push((script, body.into()));
        self
    }

    pub fn postinst(self, body: impl Into<String>) -> DebPackage {
        self.script(DebScript::Postinst, body)
    }

    pub fn preinst(self, body: impl Into<String>) -> DebPackage {
        self.script(DebScript::Preinst, body)
    }

    /// The file name `build` writes: the epoch is not part of it (Debian
    /// pool convention).
    pub fn file_name(&self) -> String {
        let version = self
            .version
            .split_once(':')
            .map_or(self.version.as_str(), |(_, rest)| rest);
        format!("{}_{}_{}.deb", self.name, version, self.arch)
    }

    /// Builds the package into `out_dir` (created if needed).
    pub fn build(&self, out_dir: &Path) -> Result<BuiltDeb> {
        self.validate()?;
        let dpkg_deb = Tool::DpkgDeb.command()?;
        create_dir(out_dir)?;
        let scratch = Scratch::new(out_dir, "deb")?;
        let tree = &scratch.path().join("tree");
        // dpkg-deb's temporary files stay in the scratch directory too.
        let tmp = scratch.path().join("tmp");
        create_dir(&tmp)?;
        write_file(
            &tree.join("DEBIAN/control"),
            self.control().as_bytes(),
            0o644,
        )?;
        for (script, body) in &self.scripts {
            let body = if body.starts_with("#!") {
                body.clone()
            } else {
                format!("#!/bin/sh\nset -e\n{body}\n")
            };
            write_file(
                &tree.join("DEBIAN").join(script.file_name()),
                body.as_bytes(),
                0o755,
            )?;
        }
        for (path, contents, mode) in &self.files {
            write_file(&tree.join(package_relative(path)?), contents, *mode)?;
        }
        let path = out_dir.join(self.file_name());
        let mut command = dpkg_deb;
        command
            .env("TMPDIR", &tmp)
            .args(["--build", "--root-owner-group", "-Zgzip", "-z1"])
            .arg(tree)
            .arg(&path);
        run_ok(&mut command)?;
        Ok(BuiltDeb {
            path,
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
        })
    }

    fn validate(&self) -> Result<()> {
        package_name(&self.name)?;
        version_token("deb version", &self.version)?;
        version_token("deb architecture", &self.arch)?;
        for (name, value) in &self.fields {
            single_line("deb control field name", name)?;
            single_line("deb control field", value)?;
        }
        for (path, _, _) in &self.files {
            package_relative(path)?;
        }
        Ok(())
    }

    fn control(&self) -> String {
        let mut control = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Patchline Tests <tests@patchline.invalid>\n",
            self.name, self.version, self.arch
        );
        for (name, value) in &self.fields {
            control.push_str(&format!("{name}: {value}\n"));
        }
        control.push_str(&format!(
            "Description: {} (patchline-testkit package)\n built by the Patchline test harness\n",
            self.name
        ));
        control
    }
}

impl AsRef<Path> for BuiltDeb {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::run;

    #[test]
    fn builds_a_package_dpkg_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let built = DebPackage::new("hello-kit", "1:2.0-1")
            .depends("libc6 (>= 2.17)")
            .section("utils")
            .file("/usr/share/hello-kit/greeting", "hello\n")
            .postinst("echo configured")
            .build(dir.path())
            .unwrap();
        assert_eq!(built.path, dir.path().join("hello-kit_2.0-1_all.deb"));
        let mut info = Tool::DpkgDeb.command().unwrap();
        info.args(["-f"])
            .arg(&built.path)
            .args(["Package", "Version", "Depends", "Section"]);
        let fields = run(&mut info).unwrap().ensure_success().unwrap().stdout;
        assert_eq!(
            fields,
            "Package: hello-kit\nVersion: 1:2.0-1\nDepends: libc6 (>= 2.17)\nSection: utils\n"
        );
        let mut contents = Tool::DpkgDeb.command().unwrap();
        contents.arg("-c").arg(&built.path);
        let listing = run(&mut contents).unwrap().ensure_success().unwrap().stdout;
        assert!(listing.contains("root/root"), "{listing}");
        assert!(
            listing.contains("./usr/share/hello-kit/greeting"),
            "{listing}"
        );
        // Only the built package is left: the scratch tree is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_fields_that_would_break_the_control_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = DebPackage::new("bad-kit", "1.0")
            .depends("a\nPackage: evil")
            .build(dir.path())
            .unwrap_err();
        assert!(error.to_string().contains("single line"), "{error}");
    }
}
