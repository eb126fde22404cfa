//! The server's TLS material: the operator's PEM files, or a private CA and
//! a server certificate it signs, generated on first start into
//! `<data-dir>/tls/` and reused afterwards so agents keep trusting the
//! server across restarts.
//!
//! A separate CA (rather than one self-signed leaf) is what agents and the
//! CLI pin: it is a proper trust anchor for every TLS verifier, and the
//! leaf's names can change without agents re-trusting anything.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::config::TlsSource;

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
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl GeneratedPaths {
    pub fn in_data_dir(data_dir: &Path) -> GeneratedPaths {
        let dir = data_dir.join("tls");
        GeneratedPaths {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// Loads the configured certificate, or the generated one (generating it
/// when any of its files is missing).
pub fn load_or_generate(source: &TlsSource, data_dir: &Path) -> Result<TlsMaterial, TlsError> {
    match source {
        TlsSource::Files { cert, key } => {
            let cert_chain_pem = read(cert)?;
            Ok(TlsMaterial {
                trust_pem: cert_chain_pem.clone(),
                cert_chain_pem,
                key_pem: read(key)?,
            })
        }
        TlsSource::SelfSigned => {
            let paths = GeneratedPaths::in_data_dir(data_dir);
            if paths.ca.exists() && paths.cert.exists() && paths.key.exists() {
                return Ok(TlsMaterial {
                    cert_chain_pem: read(&paths.cert)?,
                    key_pem: read(&paths.key)?,
                    trust_pem: read(&paths.ca)?,
                });
            }
            let material = generate(&subject_names())?;
            write(&paths.ca, &material.trust_pem, 0o644)?;
            write(&paths.cert, &material.cert_chain_pem, 0o644)?;
            write(&paths.key, &material.key_pem, 0o600)?;
            tracing::info!(ca = %paths.ca.display(), "generated a self-signed TLS certificate");
            Ok(material)
        }
    }
}

/// The names the generated certificate is valid for: loopback and this
/// machine's hostname.
fn subject_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(hostname) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let hostname = hostname.trim();
        if !hostname.is_empty() && !names.iter().any(|name| name == hostname) {
            names.push(hostname.to_string());
        }
    }
    names
}

/// A CA certificate and a server certificate for `names` signed by it.
pub fn generate(names: &[String]) -> Result<TlsMaterial, TlsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Patchline server CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(names.to_vec())?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "Patchline server");
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer)?;

    Ok(TlsMaterial {
        cert_chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        key_pem: leaf_key.serialize_pem(),
        trust_pem: ca_cert.pem(),
    })
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file created with `mode` (the key is never world-readable, not
/// even between create and chmod).
fn write(path: &Path, text: &str, mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_material_is_written_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("patchline-tls-{}", uuid::Uuid::new_v4()));
        let first = load_or_generate(&TlsSource::SelfSigned, &dir).expect("generate");
        let second = load_or_generate(&TlsSource::SelfSigned, &dir).expect("reuse");
        assert_eq!(first.trust_pem, second.trust_pem);
        assert_eq!(first.key_pem, second.key_pem);
        assert!(first.cert_chain_pem.ends_with(&first.trust_pem));
        use std::os::unix::fs::PermissionsExt;
        let key_mode = std::fs::metadata(GeneratedPaths::in_data_dir(&dir).key)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
