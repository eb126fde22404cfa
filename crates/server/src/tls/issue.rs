//! Issuing the generated certificates (a private CA, and server
//! certificates it signs) and reading back what a stored certificate says:
//! its names and when it expires.
//!
//! Validity is explicit because rcgen's default runs from 1975 to 4096:
//! the CA lasts 10 years, a server certificate 1 year (re-issued from the
//! stored CA before it runs out), both starting a day early so an agent
//! whose clock lags a little still accepts them.

use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use x509_parser::prelude::{GeneralName, X509Certificate};

use super::TlsError;
use super::names::TlsName;

/// How long a generated CA is valid.
pub const CA_VALIDITY: SignedDuration = SignedDuration::from_hours(24 * 3650);
/// How long a generated server certificate is valid.
pub const LEAF_VALIDITY: SignedDuration = SignedDuration::from_hours(24 * 365);
/// How far before `now` a certificate's validity starts (clock skew).
const BACKDATE: SignedDuration = SignedDuration::from_hours(24);

/// A generated CA: its certificate and its private key, in PEM.
pub struct IssuedCa {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A server certificate and its private key, in PEM.
pub struct IssuedLeaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A new private CA valid from `now` (less a day) for [`CA_VALIDITY`],
/// constrained to sign server certificates only (path length 0).
pub fn new_ca(now: Timestamp) -> Result<IssuedCa, TlsError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Patchline server CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = offset_date_time(now - BACKDATE)?;
    params.not_after = offset_date_time(now + CA_VALIDITY)?;
    let cert = params.self_signed(&key)?;
    Ok(IssuedCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A server certificate for `names` with a fresh key, signed by the CA in
/// `ca_cert_pem` / `ca_key_pem`, valid for [`LEAF_VALIDITY`] but never past
/// the CA itself (a chain is only as valid as its CA).
pub fn new_leaf(
    names: &[TlsName],
    ca_cert_pem: &str,
    ca_key_pem: &str,
    now: Timestamp,
) -> Result<IssuedLeaf, TlsError> {
    let ca = CertificateFacts::from_pem(ca_cert_pem)?;
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    // A CA key that does not belong to the CA would sign certificates no
    // agent accepts: refuse rather than serve them.
    if ca_key.public_key_raw() != ca.public_key.as_slice() {
        return Err(TlsError::CaKeyMismatch);
    }
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params =
        CertificateParams::new(names.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Patchline server");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = offset_date_time(now - BACKDATE)?;
    params.not_after = offset_date_time((now + LEAF_VALIDITY).min(ca.not_after))?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(IssuedLeaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// What start-up needs to know about a stored certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Its subject alternative names (DNS names and IP addresses).
    pub names: Vec<TlsName>,
    pub not_after: Timestamp,
    /// The raw subject public key (to match a private key against).
    pub public_key: Vec<u8>,
}

impl CertificateFacts {
    /// The facts of the first certificate in `pem` (a chain lists the
    /// server certificate first).
    pub fn from_pem(pem: &str) -> Result<CertificateFacts, TlsError> {
        let unreadable = |reason: String| TlsError::UnreadableCertificate(reason);
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|error| unreadable(format!("no PEM block ({error})")))?;
        if block.label != "CERTIFICATE" {
            return Err(unreadable(format!(
                "the first PEM block is {:?}, not CERTIFICATE",
                block.label
            )));
        }
        let cert = block
            .parse_x509()
            .map_err(|error| unreadable(format!("not an X.509 certificate ({error})")))?;
        Ok(CertificateFacts {
            names: subject_alternative_names(&cert)?,
            not_after: Timestamp::from_second(cert.validity().not_after.timestamp())
                .map_err(|error| unreadable(format!("its expiry is out of range ({error})")))?,
            public_key: cert.public_key().subject_public_key.data.to_vec(),
        })
    }
}

/// The DNS names and IP addresses a certificate is valid for (other kinds
/// of names are not ones a server is reached by, and are ignored).
fn subject_alternative_names(cert: &X509Certificate<'_>) -> Result<Vec<TlsName>, TlsError> {
    let extension = cert.subject_alternative_name().map_err(|error| {
        TlsError::UnreadableCertificate(format!("its subject alternative names: {error}"))
    })?;
    let Some(extension) = extension else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for name in &extension.value.general_names {
        match name {
            GeneralName::DNSName(dns) => names.push(TlsName::Dns(dns.to_ascii_lowercase())),
            GeneralName::IPAddress(bytes) => {
                if let Some(ip) = ip_from_octets(bytes) {
                    names.push(TlsName::Ip(ip));
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

fn ip_from_octets(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

fn offset_date_time(at: Timestamp) -> Result<time::OffsetDateTime, TlsError> {
    // Whole seconds: X.509 validity has no finer resolution.
    time::OffsetDateTime::from_unix_timestamp(at.as_second())
        .map_err(|error| TlsError::UnreadableCertificate(format!("validity out of range: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(texts: &[&str]) -> Vec<TlsName> {
        texts
            .iter()
            .map(|text| text.parse().expect("a valid name"))
            .collect()
    }

    #[test]
    fn a_leaf_carries_its_names_and_explicit_validity() {
        let now = Timestamp::from_second(1_800_000_000).expect("timestamp");
        let ca = new_ca(now).expect("CA");
        let wanted = names(&["localhost", "10.0.0.5", "::1", "patch.example.com"]);
        let leaf = new_leaf(&wanted, &ca.cert_pem, &ca.key_pem, now).expect("leaf");

        let facts = CertificateFacts::from_pem(&leaf.cert_pem).expect("leaf facts");
        assert_eq!(facts.names, wanted);
        assert_eq!(facts.not_after, now + LEAF_VALIDITY);
        let ca_facts = CertificateFacts::from_pem(&ca.cert_pem).expect("CA facts");
        assert_eq!(ca_facts.not_after, now + CA_VALIDITY);
        assert!(ca_facts.names.is_empty());
    }

    #[test]
    fn a_leaf_never_outlives_its_ca() {
        let then = Timestamp::from_second(1_800_000_000).expect("timestamp");
        let ca = new_ca(then).expect("CA");
        // Issued 100 days before the CA runs out.
        let late = then + CA_VALIDITY - SignedDuration::from_hours(24 * 100);
        let leaf = new_leaf(&names(&["localhost"]), &ca.cert_pem, &ca.key_pem, late).expect("leaf");
        let facts = CertificateFacts::from_pem(&leaf.cert_pem).expect("facts");
        assert_eq!(facts.not_after, then + CA_VALIDITY);
    }

    #[test]
    fn a_ca_key_of_another_ca_is_refused() {
        let now = Timestamp::now();
        let ca = new_ca(now).expect("CA");
        let other = new_ca(now).expect("other CA");
        let refused = new_leaf(&names(&["localhost"]), &ca.cert_pem, &other.key_pem, now);
        assert!(
            matches!(refused, Err(TlsError::CaKeyMismatch)),
            "{:?}",
            refused.err()
        );
    }

    #[test]
    fn text_that_is_not_a_certificate_is_reported_not_panicked_on() {
        let ca = new_ca(Timestamp::now()).expect("CA");
        for garbage in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ca.key_pem.as_str(),
        ] {
            let error = CertificateFacts::from_pem(garbage).expect_err("garbage");
            assert!(
                matches!(error, TlsError::UnreadableCertificate(_)),
                "{error:?}"
            );
        }
    }
}
