//! TLS on both sides: HTTPS listener with ALPN h2 and http/1.1 (a throwaway CA from
//! rcgen), the minimum TLS version, and an https upstream trusted through a custom
//! CA bundle.

use std::sync::Arc;

use http::StatusCode;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::tls::Pki;
use palisade_tests::upstream::{Upstream, text};

fn https_client(pki: &Pki, h2: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let b = reqwest::Client::builder().no_proxy().tls_certs_only([ca]);
    let b = if h2 { b } else { b.http1_only() };
    b.build().unwrap()
}

#[tokio::test]
async fn https_listener_speaks_h2_and_http11_by_alpn() {
    let up = Upstream::echo().await;
    let pki = Pki::new();
    let side = Sidecar::start(
        &up.url(),
        &format!("[proxy]\nlisten = []\n{}", pki.proxy_tls_toml()),
    );
    let url = format!("https://127.0.0.1:{}/tls?x=1", side.addr.port());

    let h2 = https_client(&pki, true)
        .post(&url)
        .body("over h2")
        .send()
        .await
        .unwrap();
    assert_eq!(h2.version(), http::Version::HTTP_2);
    assert_eq!(h2.status(), StatusCode::OK);
    assert_eq!(h2.text().await.unwrap(), "over h2");

    let h1 = https_client(&pki, false)
        .post(&url)
        .body("over http/1.1")
        .send()
        .await
        .unwrap();
    assert_eq!(h1.version(), http::Version::HTTP_11);
    assert_eq!(h1.text().await.unwrap(), "over http/1.1");

    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        // The upstream gets HTTP/1.1 and learns the client used TLS.
        assert_eq!(s.version, http::Version::HTTP_11);
        assert_eq!(s.headers["x-forwarded-proto"], "https");
    }
}

#[tokio::test]
async fn min_version_13_refuses_a_tls12_client() {
    let up = Upstream::echo().await;
    let pki = Pki::new();
    let side = Sidecar::start(
        &up.url(),
        &format!(
            "[proxy]\nlisten = []\n{}min_version = \"1.3\"\n",
            pki.proxy_tls_toml()
        ),
    );
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let connect = |versions: &'static [&'static rustls::SupportedProtocolVersion]| {
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let addr = side.addr;
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            connector
                .connect("127.0.0.1".try_into().unwrap(), tcp)
                .await
                .map(|_| ())
        }
    };
    static TLS12_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    assert!(connect(&TLS12_ONLY).await.is_err());
    assert!(connect(&TLS13_ONLY).await.is_ok());
}

#[tokio::test]
async fn https_upstream_through_a_custom_ca_bundle() {
    let pki = Pki::new();
    let up = Upstream::start_with_tls(
        |_req| async { text(StatusCode::OK, "secure upstream") },
        Some(pki.acceptor(&[b"http/1.1"])),
    )
    .await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let side = Sidecar::start(
        &url,
        &format!("[upstream]\nca_bundle = \"{}\"\n", pki.ca_path.display()),
    );
    let c = reqwest::Client::new();
    for _ in 0..3 {
        let resp = c.get(side.url("/s")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text().await.unwrap(), "secure upstream");
    }
    // Kept alive: the idle check at each reuse must not take a TLS record
    // (a session ticket) for the upstream's close.
    assert_eq!(up.connections(), 1);

    // Without the bundle the system store does not know this CA: 502, not a
    // silently unverified connection.
    let untrusting = Sidecar::start(&url, "");
    let resp = reqwest::get(untrusting.url("/s")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(up.count(), 3);
}
