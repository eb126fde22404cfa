//! Private scratch directories for package builds, and the checks shared by
//! the package builders (single-line fields, safe in-package paths).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, TestkitError, io_at};

/// A scratch directory removed when dropped. Unique per process and build,
/// so builds running in parallel threads never share one.
pub(crate) struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub(crate) fn new(parent: &Path, label: &str) -> Result<Scratch> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let serial = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!(".testkit-{label}-{}-{serial}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path).map_err(io_at(&path))?;
        }
        fs::create_dir_all(&path).map_err(io_at(&path))?;
        Ok(Scratch { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover scratch directory lives in the test's own
        // temporary directory and goes away with it.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Writes `contents` to `path` (creating parents) with `mode`.
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_at(parent))?;
    }
    fs::write(path, contents).map_err(io_at(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_at(path))
}

/// Creates `path` and its parents.
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(io_at(path))
}

/// An absolute in-package path (`/usr/share/x`) as a relative one, refusing
/// `..` and relative paths: files must land inside the package root.
pub(crate) fn package_relative(path: &str) -> Result<PathBuf> {
    let invalid = |reason| TestkitError::Invalid {
        field: "package file path",
        value: path.to_owned(),
        reason,
    };
    let path_ref = Path::new(path);
    if !path_ref.is_absolute() {
        return Err(invalid("must be absolute, e.g. /usr/share/foo/file"));
    }
    let mut relative = PathBuf::new();
    for component in path_ref.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => relative.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid("must not contain `..`"));
            }
        }
    }
    if relative.as_os_str().is_empty() {
        return Err(invalid("names no file"));
    }
    Ok(relative)
}

/// Refuses values that would break a one-line metadata field.
pub(crate) fn single_line(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() || value.contains(['\n', '\r']) {
        return Err(TestkitError::Invalid {
            field,
            value: value.to_owned(),
            reason: "must be a non-empty single line",
        });
    }
    Ok(())
}

/// Package names both dpkg and rpm accept: lower-case letters, digits and
/// `+ - .`, starting with a letter or digit, at least two characters.
pub(crate) fn package_name(name: &str) -> Result<()> {
    let valid = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if valid {
        Ok(())
    } else {
        Err(TestkitError::Invalid {
            field: "package name",
            value: name.to_owned(),
            reason: "use lower-case letters, digits and + - . (at least two characters)",
        })
    }
}

/// A version or release token: no whitespace, not empty.
pub(crate) fn version_token(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(TestkitError::Invalid {
            field,
            value: value.to_owned(),
            reason: "must be non-empty and contain no whitespace",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_package_paths_stay_inside_the_package() {
        assert_eq!(
            package_relative("/usr/share/x/file").unwrap(),
            PathBuf::from("usr/share/x/file")
        );
        assert!(package_relative("usr/share").is_err());
        assert!(package_relative("/usr/../../etc/passwd").is_err());
        assert!(package_relative("/").is_err());
    }

    #[test]
    fn names_and_fields_are_checked() {
        assert!(package_name("libfoo2.0+x-y").is_ok());
        assert!(package_name("Foo").is_err());
        assert!(package_name("a").is_err());
        assert!(single_line("Depends", "a\nb").is_err());
        assert!(version_token("version", "1.0 1").is_err());
    }

    #[test]
    fn scratch_directories_are_unique_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let first = Scratch::new(dir.path(), "x").unwrap();
        let second = Scratch::new(dir.path(), "x").unwrap();
        assert_ne!(first.path(), second.path());
        let kept = first.path().to_owned();
        drop(first);
        assert!(!kept.exists());
        assert!(second.path().exists());
    }
}
