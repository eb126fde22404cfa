//! The server's TLS material: the operator's PEM files, or a private CA and
//! a server certificate it signs, generated on first start into
//! `<data-dir>/tls/` and reused afterwards so agents keep trusting the
//! server across restarts.
//!
//! A separate CA (rather than one self-signed leaf) is what agents and the
//! CLI pin: it is a proper trust anchor for every TLS verifier, and the
//! leaf's names can change without agents re-trusting anything. The CA's
//! key is kept (`ca-key.pem`, 0600) so that a start wanting names the
//! stored leaf lacks (`--tls-name`, a new hostname), or finding it within
//! 30 days of expiry, re-issues the leaf from the same CA. A data directory
//! from before the key was kept can serve what it has but never re-issue:
//! start-up then fails saying how to start over, and never replaces the CA
//! on its own (that would cut off every agent pinning it).
//!
//! Files are written atomically (temporary file, fsync, rename) in an order
//! whose last rename commits: `ca.pem` for a new CA, `cert.pem` for a
//! re-issued leaf. A crash before it leaves the previous state, which the
//! next start handles again.

mod issue;
pub mod names;
pub mod renewal;

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};

pub use issue::{CA_VALIDITY, CertificateFacts, LEAF_VALIDITY};
pub use names::{InvalidTlsName, TlsName};

use crate::config::TlsSource;
use names::{listed, loopback_names, merged, missing_from};

/// A stored leaf expiring sooner than this is re-issued at start-up.
pub const RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(24 * 30);
/// A generated CA expiring sooner than this is warned about at start-up.
const CA_WARN_BEFORE: SignedDuration = SignedDuration::from_hours(24 * 90);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A certificate that does not parse (the reason names no key material).
    #[error("not a usable certificate: {0}")]
    UnreadableCertificate(String),
    #[error("{path} is not a usable certificate: {reason}")]
    UnreadableFile { path: PathBuf, reason: String },
    #[error("{0}")]
    InvalidName(#[from] InvalidTlsName),
    #[error("the stored CA key does not belong to the stored CA certificate")]
    CaKeyMismatch,
    /// The leaf must be re-issued but the data directory has no CA key.
    #[error(
        "the server certificate in {} must be re-issued ({reason}), but this data directory \
         was created by an older Patchline that did not keep the CA's private key ({}), so \
         it cannot sign a new one. To start over with a new CA: remove {} and start the \
         server again, then give every agent and CLI user the new {} (--ca-cert), since \
         the old CA will no longer match. Or start without the names the certificate lacks.",
        dir.display(), dir.join("ca-key.pem").display(), dir.display(), dir.join("ca.pem").display()
    )]
    CannotReissue { dir: PathBuf, reason: String },
}

/// PEM text the server presents and the PEM clients should trust.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// The server certificate chain (leaf first).
    pub cert_chain_pem: String,
    pub key_pem: String,
    /// What a client pins: the generated CA, or the operator's chain.
    pub trust_pem: String,
}

/// The files of the generated material inside the data directory.
pub struct GeneratedPaths {
    /// `<data-dir>/tls`.
    pub dir: PathBuf,
    /// The CA certificate clients pin.
    pub ca: PathBuf,
    /// The CA's private key (0600); absent in data directories from
    /// versions that did not keep it.
    pub ca_key: PathBuf,
    /// The server certificate chain (leaf, then CA).
    pub cert: PathBuf,
    /// The server certificate's private key (0600).
    pub key: PathBuf,
}

impl GeneratedPaths {
    pub fn in_data_dir(data_dir: &Path) -> GeneratedPaths {
        let dir = data_dir.join("tls");
        GeneratedPaths {
            ca: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
        }
    }
}

/// The names a generated leaf must carry.
#[derive(Debug, Clone)]
pub struct WantedNames {
    /// Loopback and the operator's `--tls-name`s: a leaf lacking one is
    /// re-issued, or start-up fails when it cannot be.
    pub required: Vec<TlsName>,
    /// This machine's hostname: added when the leaf can be re-issued, only
    /// warned about otherwise (a container's hostname may change on every
    /// start; failing an old data directory for it would be a regression).
    pub hostname: Option<TlsName>,
}

impl WantedNames {
    /// Loopback, then `extra` (`--tls-name`), and this machine's hostname.
    pub fn with_extra(extra: &[TlsName]) -> WantedNames {
        WantedNames {
            required: merged(&loopback_names(), extra),
            hostname: names::hostname(),
        }
    }

    /// Every wanted name, required ones first.
    pub fn all(&self) -> Vec<TlsName> {
        merged(&self.required, self.hostname.as_slice())
    }
}

/// Loads the configured certificate, or the generated one: generated when
/// there is no CA yet, re-issued from the stored CA when it lacks a name
/// of `extra_names` (`--tls-name`, ignored with operator files) or the
/// defaults, or expires within [`RENEW_BEFORE`].
pub fn load_or_generate(
    source: &TlsSource,
    data_dir: &Path,
    extra_names: &[TlsName],
) -> Result<TlsMaterial, TlsError> {
    match source {
        TlsSource::Files { cert, key } => {
            if !extra_names.is_empty() {
                tracing::warn!(
                    "extra TLS names apply to the generated certificate only; serving the configured files as they are"
                );
            }
            let cert_chain_pem = read(cert)?;
            Ok(TlsMaterial {
                trust_pem: cert_chain_pem.clone(),
                cert_chain_pem,
                key_pem: read(key)?,
            })
        }
        TlsSource::SelfSigned => load_or_issue(
            &GeneratedPaths::in_data_dir(data_dir),
            &WantedNames::with_extra(extra_names),
            Timestamp::now(),
        ),
    }
}

/// A CA certificate and a server certificate for `names` signed by it,
/// written nowhere (tests use it to play an operator's own files).
pub fn generate(names: &[String]) -> Result<TlsMaterial, TlsError> {
    let names = names
        .iter()
        .map(|name| name.parse())
        .collect::<Result<Vec<TlsName>, _>>()?;
    let now = Timestamp::now();
    let ca = issue::new_ca(now)?;
    let leaf = issue::new_leaf(&names, &ca.cert_pem, &ca.key_pem, now)?;
    Ok(TlsMaterial {
        cert_chain_pem: format!("{}{}", leaf.cert_pem, ca.cert_pem),
        key_pem: leaf.key_pem,
        trust_pem: ca.cert_pem,
    })
}

/// The generated material in `paths` as of `now`: created, reused, or its
/// leaf re-issued (see the module documentation).
pub fn load_or_issue(
    paths: &GeneratedPaths,
    wanted: &WantedNames,
    now: Timestamp,
) -> Result<TlsMaterial, TlsError> {
    if !paths.ca.exists() {
        return generate_all(paths, &wanted.all(), now);
    }
    let ca_pem = read(&paths.ca)?;
    let ca = facts_of(&paths.ca, &ca_pem)?;
    if ca.not_after < now + CA_WARN_BEFORE {
        tracing::warn!(
            ca = %paths.ca.display(),
            expires = %ca.not_after,
            "the generated CA expires soon: remove the tls directory beside it to generate a new one, and give agents the new ca.pem"
        );
    }
    let stored = match (paths.cert.exists(), paths.key.exists()) {
        (true, true) => {
            let cert_chain_pem = read(&paths.cert)?;
            let leaf = facts_of(&paths.cert, &cert_chain_pem)?;
            Some((cert_chain_pem, leaf))
        }
        _ => None,
    };
    let all = wanted.all();
    let (missing, expiring) = match &stored {
        Some((_, leaf)) => (
            missing_from(&all, &leaf.names),
            // Re-issuing cannot outlast the CA: a leaf already ending with
            // it is as good as it gets.
            leaf.not_after < now + RENEW_BEFORE && leaf.not_after < ca.not_after,
        ),
        None => (all.iter().collect(), false),
    };
    let reason = match (&stored, missing.is_empty(), expiring) {
        (Some((cert_chain_pem, _)), true, false) => {
            return Ok(TlsMaterial {
                cert_chain_pem: cert_chain_pem.clone(),
                key_pem: read(&paths.key)?,
                trust_pem: ca_pem,
            });
        }
        (None, _, _) => "cert.pem or key.pem is missing".to_string(),
        (Some((_, leaf)), _, true) => format!("it expires at {}", leaf.not_after),
        (Some(_), false, false) => format!("it does not name {}", listed(missing.iter().copied())),
    };

    if !paths.ca_key.exists() {
        return serve_without_ca_key(paths, wanted, stored, &missing, expiring, ca_pem, reason);
    }
    let ca_key_pem = read(&paths.ca_key)?;
    let leaf = issue::new_leaf(&all, &ca_pem, &ca_key_pem, now)?;
    let cert_chain_pem = format!("{}{}", leaf.cert_pem, ca_pem);
    // The key first: until cert.pem is replaced the old leaf still lacks
    // what this start wants, so an interrupted re-issue is redone.
    write_atomically(&paths.key, &leaf.key_pem, 0o600)?;
    write_atomically(&paths.cert, &cert_chain_pem, 0o644)?;
    tracing::info!(
        cert = %paths.cert.display(),
        added = %listed(missing.iter().copied()),
        %reason,
        "re-issued the server certificate from the stored CA (agents keep trusting the same ca.pem)"
    );
    Ok(TlsMaterial {
        cert_chain_pem,
        key_pem: leaf.key_pem,
        trust_pem: ca_pem,
    })
}

/// A data directory without `ca-key.pem`: serve the stored leaf when only
/// the hostname is missing from it, fail start-up for anything else.
fn serve_without_ca_key(
    paths: &GeneratedPaths,
    wanted: &WantedNames,
    stored: Option<(String, CertificateFacts)>,
    missing: &[&TlsName],
    expiring: bool,
    ca_pem: String,
    reason: String,
) -> Result<TlsMaterial, TlsError> {
    let only_hostname = missing
        .iter()
        .all(|name| Some(*name) == wanted.hostname.as_ref());
    match stored {
        Some((cert_chain_pem, _)) if only_hostname && !expiring => {
            tracing::warn!(
                cert = %paths.cert.display(),
                missing = %listed(missing.iter().copied()),
                "the certificate does not name this host (it predates ca-key.pem and cannot be re-issued); clients must use one of its names, or --tls-name"
            );
            Ok(TlsMaterial {
                cert_chain_pem,
                key_pem: read(&paths.key)?,
                trust_pem: ca_pem,
            })
        }
        _ => Err(TlsError::CannotReissue {
            dir: paths.dir.clone(),
            reason,
        }),
    }
}

/// A new CA and a leaf for `names`, written with `ca.pem` last.
fn generate_all(
    paths: &GeneratedPaths,
    names: &[TlsName],
    now: Timestamp,
) -> Result<TlsMaterial, TlsError> {
    let ca = issue::new_ca(now)?;
    let leaf = issue::new_leaf(names, &ca.cert_pem, &ca.key_pem, now)?;
    let cert_chain_pem = format!("{}{}", leaf.cert_pem, ca.cert_pem);
    write_atomically(&paths.ca_key, &ca.key_pem, 0o600)?;
    write_atomically(&paths.key, &leaf.key_pem, 0o600)?;
    write_atomically(&paths.cert, &cert_chain_pem, 0o644)?;
    write_atomically(&paths.ca, &ca.cert_pem, 0o644)?;
    tracing::info!(
        ca = %paths.ca.display(),
        names = %listed(names),
        "generated a private CA and a server certificate"
    );
    Ok(TlsMaterial {
        cert_chain_pem,
        key_pem: leaf.key_pem,
        trust_pem: ca.cert_pem,
    })
}

/// The facts of the certificate stored at `path`, errors naming the file.
fn facts_of(path: &Path, pem: &str) -> Result<CertificateFacts, TlsError> {
    CertificateFacts::from_pem(pem).map_err(|error| match error {
        TlsError::UnreadableCertificate(reason) => TlsError::UnreadableFile {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    })
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Replaces `path` with `text` all at once: written to a temporary file
/// created with `mode` (a key is never world-readable, not even between
/// create and chmod), synced, then renamed over `path`.
fn write_atomically(path: &Path, text: &str, mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Write { path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(".{file_name}.{}.tmp", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself is durable once the directory is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(fail(path))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const DAY: SignedDuration = SignedDuration::from_hours(24);

    fn name(text: &str) -> TlsName {
        text.parse().expect("a valid name")
    }

    fn wanted(extra: &[&str]) -> WantedNames {
        WantedNames {
            required: merged(
                &loopback_names(),
                &extra.iter().map(|text| name(text)).collect::<Vec<_>>(),
            ),
            hostname: None,
        }
    }

    fn start() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("timestamp")
    }

    fn file(path: &Path) -> String {
        std::fs::read_to_string(path).expect("a stored file")
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("a stored file")
            .permissions()
            .mode()
            & 0o777
    }

    fn leaf_of(material: &TlsMaterial) -> CertificateFacts {
        CertificateFacts::from_pem(&material.cert_chain_pem).expect("the leaf parses")
    }

    #[test]
    fn generated_material_is_written_once_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = load_or_generate(&TlsSource::SelfSigned, dir.path(), &[]).expect("generate");
        let second = load_or_generate(&TlsSource::SelfSigned, dir.path(), &[]).expect("reuse");
        assert_eq!(first.trust_pem, second.trust_pem);
        assert_eq!(first.key_pem, second.key_pem);
        assert_eq!(first.cert_chain_pem, second.cert_chain_pem);
        assert!(first.cert_chain_pem.ends_with(&first.trust_pem));
        let paths = GeneratedPaths::in_data_dir(dir.path());
        assert_eq!(mode(&paths.key), 0o600);
        assert_eq!(mode(&paths.ca_key), 0o600);
        assert_eq!(mode(&paths.ca), 0o644);
        // Nothing but the four files: no temporary file left behind.
        let mut entries = std::fs::read_dir(&paths.dir)
            .expect("tls dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect::<Vec<_>>();
        entries.sort();
        assert_eq!(entries, ["ca-key.pem", "ca.pem", "cert.pem", "key.pem"]);
        let leaf = leaf_of(&first);
        assert!(missing_from(&loopback_names(), &leaf.names).is_empty());
        // Explicit validity, not rcgen's 4096.
        assert!(leaf.not_after <= Timestamp::now() + LEAF_VALIDITY);
    }

    #[test]
    fn a_new_name_reissues_the_leaf_from_the_same_ca() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = GeneratedPaths::in_data_dir(dir.path());
        let first = load_or_issue(&paths, &wanted(&[]), start()).expect("generate");
        let ca_before = std::fs::read(&paths.ca).expect("ca.pem");
        let ca_key_before = std::fs::read(&paths.ca_key).expect("ca-key.pem");

        let later = start() + DAY;
        let wider = wanted(&["patch.example.com", "10.0.0.5"]);
        let second = load_or_issue(&paths, &wider, later).expect("re-issue");
        assert_eq!(std::fs::read(&paths.ca).expect("ca.pem"), ca_before);
        assert_eq!(
            std::fs::read(&paths.ca_key).expect("ca-key.pem"),
            ca_key_before
        );
        assert_eq!(second.trust_pem, first.trust_pem);
        assert_ne!(second.key_pem, first.key_pem);
        assert_eq!(leaf_of(&second).names, wider.all());
        assert_eq!(leaf_of(&second).not_after, later + LEAF_VALIDITY);
        assert_eq!(file(&paths.cert), second.cert_chain_pem);
        assert_eq!(file(&paths.key), second.key_pem);
        assert_eq!(mode(&paths.key), 0o600);

        // Covered now: the next start serves it unchanged, and so does one
        // asking for a subset of the names.
        let third = load_or_issue(&paths, &wider, later + DAY).expect("reuse");
        assert_eq!(third.cert_chain_pem, second.cert_chain_pem);
        let fewer = load_or_issue(&paths, &wanted(&["10.0.0.5"]), later + DAY).expect("subset");
        assert_eq!(fewer.cert_chain_pem, second.cert_chain_pem);
    }

    #[test]
    fn a_leaf_is_reissued_within_thirty_days_of_expiry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = GeneratedPaths::in_data_dir(dir.path());
        let first = load_or_issue(&paths, &wanted(&[]), start()).expect("generate");
        let expiry = leaf_of(&first).not_after;

        let not_yet = load_or_issue(&paths, &wanted(&[]), expiry - RENEW_BEFORE - DAY)
            .expect("31 days before expiry");
        assert_eq!(not_yet.cert_chain_pem, first.cert_chain_pem);

        let renewal_day = expiry - RENEW_BEFORE + DAY;
        let renewed = load_or_issue(&paths, &wanted(&[]), renewal_day).expect("29 days before");
        assert_ne!(renewed.cert_chain_pem, first.cert_chain_pem);
        assert_eq!(renewed.trust_pem, first.trust_pem);
        assert_eq!(leaf_of(&renewed).not_after, renewal_day + LEAF_VALIDITY);
    }

    #[test]
    fn a_missing_leaf_is_reissued_from_the_stored_ca() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = GeneratedPaths::in_data_dir(dir.path());
        let first = load_or_issue(&paths, &wanted(&[]), start()).expect("generate");
        std::fs::remove_file(&paths.cert).expect("remove cert.pem");
        let second = load_or_issue(&paths, &wanted(&[]), start()).expect("re-issue");
        assert_eq!(second.trust_pem, first.trust_pem);
        assert_eq!(file(&paths.cert), second.cert_chain_pem);
    }

    /// A data directory as versions before `ca-key.pem` left it.
    fn old_style_dir(extra: &[&str]) -> (tempfile::TempDir, GeneratedPaths) {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = GeneratedPaths::in_data_dir(dir.path());
        load_or_issue(&paths, &wanted(extra), start()).expect("generate");
        std::fs::remove_file(&paths.ca_key).expect("remove ca-key.pem");
        (dir, paths)
    }

    fn snapshot(paths: &GeneratedPaths) -> [Vec<u8>; 3] {
        [&paths.ca, &paths.cert, &paths.key].map(|path| std::fs::read(path).expect("stored file"))
    }

    #[test]
    fn an_old_data_dir_serves_what_it_has() {
        let (_dir, paths) = old_style_dir(&["10.0.0.5"]);
        let before = snapshot(&paths);
        let served = load_or_issue(&paths, &wanted(&["10.0.0.5"]), start() + DAY).expect("serve");
        assert_eq!(served.cert_chain_pem.as_bytes(), before[1]);
        // A hostname the leaf lacks is only warned about.
        let renamed_host = WantedNames {
            hostname: Some(name("new-host")),
            ..wanted(&[])
        };
        load_or_issue(&paths, &renamed_host, start() + DAY).expect("serve despite the hostname");
        assert_eq!(snapshot(&paths), before);
        assert!(!paths.ca_key.exists());
    }

    #[test]
    fn an_old_data_dir_wanting_a_new_name_fails_saying_what_to_do() {
        let (_dir, paths) = old_style_dir(&[]);
        let before = snapshot(&paths);
        let error = load_or_issue(&paths, &wanted(&["patch.example.com"]), start() + DAY)
            .expect_err("cannot re-issue");
        let message = error.to_string();
        for expected in [
            "does not name patch.example.com",
            &format!("remove {}", paths.dir.display()),
            "--ca-cert",
            "ca-key.pem",
        ] {
            assert!(message.contains(expected), "{expected:?} not in {message}");
        }
        assert!(!message.contains("PRIVATE KEY"), "{message}");
        // Nothing replaced, nothing created.
        assert_eq!(snapshot(&paths), before);
        assert!(!paths.ca_key.exists());
    }

    #[test]
    fn an_old_data_dir_near_expiry_or_without_a_leaf_fails() {
        let (_dir, paths) = old_style_dir(&[]);
        let expiry = CertificateFacts::from_pem(&file(&paths.cert))
            .expect("leaf")
            .not_after;
        let expiring = load_or_issue(&paths, &wanted(&[]), expiry - DAY).expect_err("expiring");
        assert!(expiring.to_string().contains("it expires at"), "{expiring}");

        std::fs::remove_file(&paths.key).expect("remove key.pem");
        let missing = load_or_issue(&paths, &wanted(&[]), start()).expect_err("no leaf");
        assert!(
            matches!(missing, TlsError::CannotReissue { .. }),
            "{missing}"
        );
    }

    #[test]
    fn unreadable_stored_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = GeneratedPaths::in_data_dir(dir.path());
        load_or_issue(&paths, &wanted(&[]), start()).expect("generate");
        std::fs::write(&paths.cert, "not a certificate").expect("corrupt cert.pem");
        let error = load_or_issue(&paths, &wanted(&[]), start()).expect_err("corrupt");
        assert!(
            matches!(&error, TlsError::UnreadableFile { path, .. } if *path == paths.cert),
            "{error}"
        );
        // A CA key of another CA is refused rather than used.
        std::fs::remove_file(&paths.cert).expect("remove cert.pem");
        let stranger = issue::new_ca(start()).expect("another CA");
        std::fs::write(&paths.ca_key, stranger.key_pem).expect("swap ca-key.pem");
        let error = load_or_issue(&paths, &wanted(&[]), start()).expect_err("mismatch");
        assert!(matches!(error, TlsError::CaKeyMismatch), "{error}");
    }
}
