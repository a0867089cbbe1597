//! Owns the rustls client configuration of the TLS sinks (syslog over TLS, HEC and
//! webhooks over https): the trust roots (a CA file, else the system's store) and
//! an optional client certificate.
//!
//! Must not weaken verification: there is no "insecure" switch.

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::SiemError;

/// A client config trusting `ca_file` (or the system's store), presenting
/// `client` (certificate chain, key) when given. `key` names the config key for
/// errors, e.g. `siem.sinks[0]`.
pub fn client_config(
    key: &str,
    ca_file: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, SiemError> {
    let bad = |what: &str, message: String| SiemError::Config {
        key: format!("{key}.{what}"),
        message,
    };
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in certs(path).map_err(|m| bad("ca_file", m))? {
                roots
                    .add(cert)
                    .map_err(|e| bad("ca_file", format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(bad(
                    "ca_file",
                    "the system trust store has no usable CA certificate; set ca_file".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("ca_file", e.to_string()))?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key_file)) => {
            let chain = certs(cert).map_err(|m| bad("client_cert_file", m))?;
            let private = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
                bad(
                    "client_key_file",
                    format!(
                        "cannot read a PEM private key from {}: {e}",
                        key_file.display()
                    ),
                )
            })?;
            builder.with_client_auth_cert(chain, private).map_err(|e| {
                bad(
                    "client_key_file",
                    format!("the key does not match the certificate: {e}"),
                )
            })?
        }
    };
    Ok(Arc::new(config))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read PEM certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}
