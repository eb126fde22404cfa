//! Renewing the generated server certificate while the server runs: a
//! leaf lasts a year, and a server up longer than that would otherwise
//! serve an expired certificate until restarted. Twice a day the stored
//! material is checked as start-up checks it; a re-issued leaf is swapped
//! into the listener without dropping connections.

use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use jiff::Timestamp;

use super::{GeneratedPaths, TlsName, WantedNames, load_or_issue};

/// How often a running server looks at its generated certificate.
const CHECK_EVERY: Duration = Duration::from_secs(12 * 3600);

/// The generated certificate of one running server.
pub struct Renewal {
    rustls: RustlsConfig,
    paths: GeneratedPaths,
    extra_names: Vec<TlsName>,
    /// The chain the listener presents now.
    serving: String,
}

impl Renewal {
    /// Renews what `rustls` serves (`serving`, generated into `data_dir`).
    pub fn new(
        rustls: RustlsConfig,
        data_dir: &std::path::Path,
        extra_names: Vec<TlsName>,
        serving: String,
    ) -> Renewal {
        Renewal {
            rustls,
            paths: GeneratedPaths::in_data_dir(data_dir),
            extra_names,
            serving,
        }
    }

    /// Checks every [`CHECK_EVERY`] until aborted.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                self.renew_if_due(Timestamp::now()).await;
            }
        })
    }

    /// Re-issues (see [`load_or_issue`]) and reloads when due at `now`;
    /// whether the listener now serves a new certificate. Failures are
    /// logged: the current certificate stays until the next check.
    pub async fn renew_if_due(&mut self, now: Timestamp) -> bool {
        let wanted = WantedNames::with_extra(&self.extra_names);
        let material = match load_or_issue(&self.paths, &wanted, now) {
            Ok(material) => material,
            Err(error) => {
                tracing::error!(%error, "cannot renew the server certificate; serving the current one");
                return false;
            }
        };
        if material.cert_chain_pem == self.serving {
            return false;
        }
        let reloaded = self
            .rustls
            .reload_from_pem(
                material.cert_chain_pem.clone().into_bytes(),
                material.key_pem.into_bytes(),
            )
            .await;
        match reloaded {
            Ok(()) => {
                tracing::info!(cert = %self.paths.cert.display(), "now serving the renewed server certificate");
                self.serving = material.cert_chain_pem;
                true
            }
            Err(error) => {
                tracing::error!(%error, "the renewed server certificate is not usable; serving the current one");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{CertificateFacts, RENEW_BEFORE};

    #[tokio::test]
    async fn a_due_certificate_is_reissued_and_reloaded_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let material =
            crate::tls::load_or_generate(&crate::config::TlsSource::SelfSigned, dir.path(), &[])
                .expect("generate");
        let rustls = RustlsConfig::from_pem(
            material.cert_chain_pem.clone().into_bytes(),
            material.key_pem.clone().into_bytes(),
        )
        .await
        .expect("usable");
        let expiry = CertificateFacts::from_pem(&material.cert_chain_pem)
            .expect("leaf")
            .not_after;
        let mut renewal = Renewal::new(
            rustls.clone(),
            dir.path(),
            Vec::new(),
            material.cert_chain_pem,
        );
        let before = rustls.get_inner();

        // Not due: nothing happens.
        assert!(!renewal.renew_if_due(Timestamp::now()).await);
        assert!(std::sync::Arc::ptr_eq(&before, &rustls.get_inner()));

        // Due: re-issued, and the listener's configuration swapped.
        let due = expiry - RENEW_BEFORE + jiff::SignedDuration::from_hours(1);
        assert!(renewal.renew_if_due(due).await);
        assert!(!std::sync::Arc::ptr_eq(&before, &rustls.get_inner()));
        let stored = std::fs::read_to_string(GeneratedPaths::in_data_dir(dir.path()).cert)
            .expect("cert.pem");
        assert_eq!(renewal.serving, stored);
        // Renewed once, not again at the same instant.
        assert!(!renewal.renew_if_due(due).await);
    }
}
