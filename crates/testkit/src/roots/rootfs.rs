//! The minimal filesystem every node root starts from: a merged-/usr
//! skeleton, an os-release, and a static busybox as `/bin/sh` with its
//! applets, because dpkg and rpm run maintainer scripts chrooted into the
//! root (a test package's `postinst` can `sleep`, `echo`, `exit 1`).
//!
//! Busybox is copied (~2 MB), the [`SHELL_APPLETS`] are symlinks to it. A
//! dynamic `/bin/sh` copied from the host would need its libraries too; a
//! static busybox needs nothing.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::command::{Tool, run_ok};
use crate::error::{Result, TestkitError, io_at};
use crate::staging::{create_dir, write_file};

/// An `/etc/os-release` for a node root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    /// The file's text.
    pub text: String,
}

impl OsRelease {
    pub fn debian12() -> OsRelease {
        OsRelease::from_text(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        )
    }

    pub fn ubuntu2204() -> OsRelease {
        OsRelease::from_text(
            "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\n",
        )
    }

    pub fn rocky9() -> OsRelease {
        OsRelease::from_text(
            "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n",
        )
    }

    pub fn opensuse_leap155() -> OsRelease {
        OsRelease::from_text(
            "NAME=\"openSUSE Leap\"\nVERSION=\"15.5\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\nCPE_NAME=\"cpe:/o:opensuse:leap:15.5\"\n",
        )
    }

    pub fn from_text(text: impl Into<String>) -> OsRelease {
        OsRelease { text: text.into() }
    }
}

/// Creates the skeleton of a merged-/usr root at `root` (which must not
/// exist or be empty) and returns its absolute path.
pub(crate) fn create_skeleton(
    root: &Path,
    os: &OsRelease,
    hostname: Option<&str>,
) -> Result<PathBuf> {
    create_dir(root)?;
    let root = root.canonicalize().map_err(io_at(root))?;
    if fs::read_dir(&root).map_err(io_at(&root))?.next().is_some() {
        return Err(TestkitError::Invalid {
            field: "node root directory",
            value: root.display().to_string(),
            reason: "must be empty: a node root is created from scratch",
        });
    }
    for dir in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "etc",
        "root",
        "run",
        "tmp",
        "var/tmp",
        "var/log",
        "var/cache",
        "var/lib",
    ] {
        create_dir(&root.join(dir))?;
    }
    for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")] {
        let path = root.join(link);
        symlink(target, &path).map_err(io_at(&path))?;
    }
    for (dir, mode) in [("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700)] {
        let path = root.join(dir);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_at(&path))?;
    }
    write_file(&root.join("etc/os-release"), os.text.as_bytes(), 0o644)?;
    if let Some(hostname) = hostname {
        write_file(
            &root.join("etc/hostname"),
            format!("{hostname}\n").as_bytes(),
            0o644,
        )?;
    }
    install_busybox(&root)?;
    Ok(root)
}

/// Copies the host's static busybox to `usr/bin/busybox` and links the
/// [`SHELL_APPLETS`] it provides into `usr/bin`.
fn install_busybox(root: &Path) -> Result<()> {
    let busybox = Tool::Busybox.locate()?;
    let busybox = busybox.canonicalize().map_err(io_at(&busybox))?;
    if !is_static_elf(&busybox)? {
        return Err(TestkitError::NoStaticBusybox { path: busybox });
    }
    let target = root.join("usr/bin/busybox");
    fs::copy(&busybox, &target).map_err(io_at(&target))?;
    let provided = busybox_applets()?;
    for applet in SHELL_APPLETS
        .iter()
        .filter(|applet| provided.iter().any(|known| known == *applet))
    {
        let link = root.join("usr/bin").join(applet);
        symlink("busybox", &link).map_err(io_at(&link))?;
    }
    Ok(())
}

/// The applets a root gets: what maintainer scripts and scriptlets use.
/// Not all ~260: each symlink costs a metadata write (~0.4 ms on a busy
/// VM disk), and busybox's own `dpkg`/`rpm` or `reboot` (a chrooted reboot
/// still reboots the host) have no business in a test node.
pub const SHELL_APPLETS: [&str; 57] = [
    "sh",
    "ash",
    "true",
    "false",
    "echo",
    "printf",
    "test",
    "[",
    "cat",
    "cp",
    "mv",
    "rm",
    "ln",
    "mkdir",
    "rmdir",
    "touch",
    "chmod",
    "chown",
    "chgrp",
    "ls",
    "sleep",
    "usleep",
    "grep",
    "egrep",
    "fgrep",
    "sed",
    "awk",
    "cut",
    "tr",
    "head",
    "tail",
    "wc",
    "sort",
    "uniq",
    "tee",
    "xargs",
    "find",
    "env",
    "id",
    "date",
    "kill",
    "pidof",
    "readlink",
    "realpath",
    "dirname",
    "basename",
    "mktemp",
    "expr",
    "seq",
    "stat",
    "uname",
    "which",
    "sync",
    "gzip",
    "zcat",
    "tar",
    "start-stop-daemon",
];

/// The applet names of the host's busybox (`busybox --list`), asked once
/// per process.
fn busybox_applets() -> Result<&'static [String]> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(applets) = APPLETS.get() {
        return Ok(applets);
    }
    let mut list = Tool::Busybox.command()?;
    list.arg("--list");
    let applets: Vec<String> = run_ok(&mut list)?
        .stdout
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(APPLETS.get_or_init(|| applets))
}

/// Whether `path` is an ELF executable without a program interpreter
/// (`PT_INTERP`), i.e. statically linked. Hand-read: the ELF header and
/// program headers are a few fixed offsets, not worth a parser crate.
fn is_static_elf(path: &Path) -> Result<bool> {
    let bytes = fs::read(path).map_err(io_at(path))?;
    const PT_INTERP: u32 = 3;
    let is_elf64_le =
        bytes.len() >= 64 && bytes.starts_with(b"\x7fELF") && bytes[4] == 2 && bytes[5] == 1;
    if !is_elf64_le {
        // Not a 64-bit little-endian ELF: cannot vouch for it.
        return Ok(false);
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Ok(false);
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return Ok(false);
    };
    for index in 0..usize::from(phnum) {
        let at = phoff + index * usize::from(phentsize);
        let Some(kind) = bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return Ok(false);
        };
        if kind == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_busybox_is_static_and_dpkg_is_not() {
        assert!(is_static_elf(&Tool::Busybox.locate().unwrap()).unwrap());
        assert!(!is_static_elf(&Tool::Dpkg.locate().unwrap()).unwrap());
    }

    #[test]
    fn skeleton_has_a_working_shell_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root =
            create_skeleton(&dir.path().join("node"), &OsRelease::debian12(), Some("n1")).unwrap();
        assert_eq!(
            fs::read_link(root.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert_eq!(
            fs::read_link(root.join("usr/bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert!(root.join("bin/sleep").exists());
        assert!(root.join("usr/bin/start-stop-daemon").exists());
        assert!(!root.join("usr/bin/reboot").exists());
        assert_eq!(
            fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "n1\n"
        );
        let error = create_skeleton(&root, &OsRelease::debian12(), None).unwrap_err();
        assert!(error.to_string().contains("must be empty"), "{error}");
    }
}
