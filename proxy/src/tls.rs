//! Owns TLS material: the server config of the HTTPS listener (PEM chain and key,
//! TLS 1.2/1.3, ALPN h2 and http/1.1) and the client config for an https upstream
//! (system roots, or a custom CA bundle).
//!
//! Must not pick a crypto provider other than aws-lc-rs: two in one process make
//! rustls panic at start.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use palisade_models::config::{TlsConfig, TlsVersion};

use crate::error::ProxyError;

/// ALPN ids offered to clients, most preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Builds the HTTPS listener's rustls config from the `[proxy.tls]` section.
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<ServerConfig>, ProxyError> {
    let certs = load_certs(&cfg.cert, "proxy.tls.cert")?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key).map_err(|e| ProxyError::Tls {
        key: "proxy.tls.key",
        message: format!("no usable private key in {}: {e}", cfg.key.display()),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match cfg.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| ProxyError::Tls {
            key: "proxy.tls.min_version",
            message: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ProxyError::Tls {
            key: "proxy.tls.key",
            message: format!("the key does not match the certificate, or is unusable: {e}"),
        })?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Builds the upstream client's rustls config: the CA bundle if given, else the
/// system's trust store. With `https` false (a plain-HTTP upstream) no roots are
/// loaded: the config exists only because the connector type is shared.
pub fn client_config(ca_bundle: Option<&Path>, https: bool) -> Result<ClientConfig, ProxyError> {
    let mut roots = RootCertStore::empty();
    match ca_bundle {
        _ if !https => {}
        Some(path) => {
            for cert in load_certs(path, "upstream.ca_bundle")? {
                roots.add(cert).map_err(|e| ProxyError::Tls {
                    key: "upstream.ca_bundle",
                    message: format!("unusable CA certificate in {}: {e}", path.display()),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(ProxyError::Tls {
                    key: "upstream.ca_bundle",
                    message: "the system trust store has no usable CA certificate".into(),
                });
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Tls {
            key: "upstream",
            message: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn load_certs(path: &Path, key: &'static str) -> Result<Vec<CertificateDer<'static>>, ProxyError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ProxyError::Tls {
            key,
            message: format!("cannot read PEM certificates from {}: {e}", path.display()),
        })?;
    if certs.is_empty() {
        return Err(ProxyError::Tls {
            key,
            message: format!("no certificate found in {}", path.display()),
        });
    }
    Ok(certs)
}
