//! Throwaway PKI for TLS tests: a CA and a server certificate for localhost and
//! 127.0.0.1, written as PEM files into a temporary directory.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA and one server certificate it signed.
#[derive(Debug)]
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub ca_path: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        Self::generate(false).0
    }

    /// A CA, a server certificate for localhost and 127.0.0.1 and, with
    /// `client`, a client certificate, all written as PEM into a new directory.
    fn generate(client: bool) -> (Pki, Option<ClientCert>) {
        use rcgen::{DnType, ExtendedKeyUsagePurpose};

        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server cert");

        let dir = tempfile::tempdir().expect("tempdir");
        let client = client.then(|| {
            let client_key = KeyPair::generate().expect("client key");
            let mut client_params =
                CertificateParams::new(vec!["palisade".to_string()]).expect("client params");
            client_params
                .distinguished_name
                .push(DnType::CommonName, "palisade");
            client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let client_cert = client_params
                .signed_by(&client_key, &issuer)
                .expect("client cert");
            let client = ClientCert {
                cert_path: dir.path().join("client.pem"),
                key_path: dir.path().join("client.key"),
                cert_pem: client_cert.pem(),
                key_pem: client_key.serialize_pem(),
            };
            std::fs::write(&client.cert_path, &client.cert_pem).expect("write client cert");
            std::fs::write(&client.key_path, &client.key_pem).expect("write client key");
            client
        });
        let cert_path = dir.path().join("server.pem");
        let key_path = dir.path().join("server.key");
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        std::fs::write(&ca_path, ca_cert.pem()).expect("write ca");
        let pki = Pki {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            dir,
            cert_path,
            key_path,
            ca_path,
        };
        (pki, client)
    }

    /// A rustls acceptor for this server certificate (for TLS upstreams).
    pub fn acceptor(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = vec![CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).expect("cert")];
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    }

    /// The `[proxy.tls]` TOML for this certificate.
    pub fn proxy_tls_toml(&self) -> String {
        format!(
            "[proxy.tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"{}\"\nkey = \"{}\"\n",
            self.cert_path.display(),
            self.key_path.display()
        )
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// A client certificate for mutual TLS, signed by the CA of the [`Pki`] it came
/// with (see [`Pki::with_client_cert`]).
#[derive(Debug)]
pub struct ClientCert {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    /// Like [`Pki::new`], plus a client certificate (CN and DNS name "palisade",
    /// extended key usage clientAuth) signed by the same CA, written beside the
    /// others as `client.pem` and `client.key`.
    pub fn with_client_cert() -> (Pki, ClientCert) {
        let (pki, client) = Self::generate(true);
        (pki, client.expect("a client certificate was asked for"))
    }
}
