//! A node's root path, and reading files beneath it with errors that name
//! the file.

use std::path::{Path, PathBuf};

/// A failure to read a file under the node root.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The filesystem root the agent inventories (`/` for the live host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRoot {
    root: PathBuf,
}

impl NodeRoot {
    pub fn new(root: impl Into<PathBuf>) -> NodeRoot {
        NodeRoot { root: root.into() }
    }

    /// The root itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `relative` (an absolute-looking path such as `/var/lib/dpkg/status`)
    /// resolved under the root.
    pub fn join(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }

    /// Reads a whole file under the root.
    pub fn read(&self, relative: &str) -> Result<Vec<u8>, ReadError> {
        let path = self.join(relative);
        std::fs::read(&path).map_err(|source| ReadError { path, source })
    }

    /// Reads a file that may legitimately be absent.
    pub fn read_optional(&self, relative: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let path = self.join(relative);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReadError { path, source }),
        }
    }

    /// Whether the root is the live host's `/` (facts such as the running
    /// kernel only make sense there).
    pub fn is_live_host(&self) -> bool {
        self.root
            .canonicalize()
            .is_ok_and(|path| path == Path::new("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_absolute_looking_paths_under_the_root() {
        let root = NodeRoot::new("/srv/node1");
        assert_eq!(
            root.join("/var/lib/dpkg/status"),
            PathBuf::from("/srv/node1/var/lib/dpkg/status")
        );
    }

    #[test]
    fn optional_read_distinguishes_absent_from_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path());
        assert!(root.read_optional("/nope").unwrap().is_none());
        std::fs::create_dir(dir.path().join("adir")).unwrap();
        let error = root.read_optional("/adir").unwrap_err();
        assert!(error.to_string().contains("adir"), "{error}");
    }
}
