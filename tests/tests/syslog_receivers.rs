//! The syslog receivers of the SIEM tests, checked on their own: hand-built RFC
//! 5424 messages, octet-counted (RFC 6587) over TCP and TLS (RFC 5425), as
//! datagrams over UDP, arrive at the real rsyslog and syslog-ng and are parsed as
//! sent. These fail (they do not skip) when a daemon is missing: `.ci/run`
//! installs both.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade_tests::syslog::{Rsyslog, ServerTls, SyslogNg};
use palisade_tests::tls::{ClientCert, Pki};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(20);

/// A finding as Palisade sends it: SD with a space-laden value and the three
/// characters RFC 5424 escapes (`"`, `\`, `]`), non-ASCII UTF-8 in MSG.
const FINDING: &str = concat!(
    r#"<132>1 2025-01-02T03:04:05.123456Z api-gw-1 palisade 4242 finding "#,
    r#"[palisade@32473 kind="bola" id="x\"y\]z\\w" note="a b  c"][origin ip="10.0.0.1"] "#,
    "CEF:0|Palisade|palisade|0.1|bola|Broken object level authorization|8|msg=héllo wörld ✓ 日本"
);
const SECOND: &str = "<134>1 2025-01-02T03:04:06Z api-gw-1 palisade 4242 heartbeat - up";

/// RFC 6587 octet counting: the length in bytes, a space, the message.
fn frame(msgs: &[&str]) -> Vec<u8> {
    msgs.iter()
        .flat_map(|m| format!("{} {m}", m.len()).into_bytes())
        .collect()
}

async fn send_tcp(addr: std::net::SocketAddr, msgs: &[&str]) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(&frame(msgs)).await?;
    s.shutdown().await?;
    Ok(())
}

fn tls_connector(
    pki: &Pki,
    client: Option<&ClientCert>,
) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes())?)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let cfg = match client {
        Some(c) => builder.with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(c.cert_pem.as_bytes())?],
            PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes())?,
        )?,
        None => builder.with_no_client_auth(),
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// Sends over TLS, verifying the server as "localhost" against the Pki's CA, and
/// closes with close_notify.
async fn send_tls(
    addr: std::net::SocketAddr,
    pki: &Pki,
    client: Option<&ClientCert>,
    msgs: &[&str],
) -> anyhow::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    let mut s = tls_connector(pki, client)?
        .connect(ServerName::try_from("localhost")?, tcp)
        .await
        .context("TLS handshake")?;
    s.write_all(&frame(msgs)).await?;
    s.shutdown().await?;
    Ok(())
}

fn server_tls(pki: &Pki, require_client_cert: bool) -> ServerTls {
    ServerTls {
        cert: pki.cert_path.clone(),
        key: pki.key_path.clone(),
        ca: pki.ca_path.clone(),
        require_client_cert,
    }
}

#[tokio::test]
async fn rsyslog_receives_octet_counted_messages_over_tcp_and_udp() {
    let rs = Rsyslog::start(None).unwrap();
    assert!(rs.tls.is_none());
    // Over the 8 KiB rsyslog takes by default.
    let big = format!("<134>1 - api-gw-1 palisade - big - {}", "x".repeat(20_000));
    send_tcp(rs.tcp, &[FINDING, SECOND, &big]).await.unwrap();
    let got = rs.wait_for(3, WAIT).await.unwrap();
    assert_eq!(got, [FINDING, SECOND, big.as_str()]);

    let parsed = rs.parsed();
    assert_eq!(
        parsed[0],
        json!({
            "pri": 132,
            "version": 1,
            "timestamp": "2025-01-02T03:04:05.123456Z",
            "hostname": "api-gw-1",
            "app_name": "palisade",
            "procid": "4242",
            "msgid": "finding",
            "structured_data": r#"[palisade@32473 kind="bola" id="x\"y\]z\\w" note="a b  c"][origin ip="10.0.0.1"]"#,
            "sd": {
                "palisade@32473": { "kind": "bola", "id": r#"x"y]z\w"#, "note": "a b  c" },
                "origin": { "ip": "10.0.0.1" },
            },
            "msg": "CEF:0|Palisade|palisade|0.1|bola|Broken object level authorization|8|msg=héllo wörld ✓ 日本",
        })
    );
    assert_eq!(parsed[1]["msgid"], "heartbeat");
    assert_eq!(parsed[1]["structured_data"], "-");
    assert_eq!(parsed[1]["sd"], serde_json::Value::Null);
    assert_eq!(parsed[1]["msg"], "up");
    assert_eq!(parsed[2]["msg"].as_str().unwrap().len(), 20_000);

    // UDP: one message per datagram, no framing.
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(FINDING.as_bytes(), rs.udp.unwrap())
        .await
        .unwrap();
    let got = rs.wait_for(4, WAIT).await.unwrap();
    assert_eq!(got[3], FINDING);
    assert_eq!(rs.parsed()[3]["sd"]["palisade@32473"]["id"], r#"x"y]z\w"#);
}

#[tokio::test]
async fn rsyslog_receives_over_tls_beside_plain_tcp() {
    let pki = Pki::new();
    let rs = Rsyslog::start(Some(&server_tls(&pki, false))).unwrap();
    let tls = rs.tls.unwrap();
    assert_ne!(tls, rs.tcp);

    send_tls(tls, &pki, None, &[FINDING, SECOND]).await.unwrap();
    assert_eq!(rs.wait_for(2, WAIT).await.unwrap(), [FINDING, SECOND]);
    assert_eq!(rs.parsed()[0]["sd"]["palisade@32473"]["note"], "a b  c");

    // The plain listener still speaks plain TCP.
    send_tcp(rs.tcp, &[SECOND]).await.unwrap();
    assert_eq!(rs.wait_for(3, WAIT).await.unwrap()[2], SECOND);
}

#[tokio::test]
async fn rsyslog_with_client_certs_required_takes_only_clients_with_one() {
    let (pki, client) = Pki::with_client_cert();
    let rs = Rsyslog::start(Some(&server_tls(&pki, true))).unwrap();
    let tls = rs.tls.unwrap();

    // Without a certificate: with TLS 1.3 the client's handshake completes, then
    // the server refuses (alert certificate_required) and closes.
    let tcp = TcpStream::connect(tls).await.unwrap();
    let mut s = tls_connector(&pki, None)
        .unwrap()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let _ = s
        .write_all(&frame(&["<134>1 - - - - rejected - no certificate"]))
        .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    send_tls(tls, &pki, Some(&client), &[FINDING])
        .await
        .unwrap();
    assert_eq!(rs.wait_for(1, WAIT).await.unwrap(), [FINDING]);
}

#[tokio::test]
async fn rsyslog_restarts_on_the_same_ports() {
    let pki = Pki::new();
    let mut rs = Rsyslog::start(Some(&server_tls(&pki, false))).unwrap();
    let (tcp, tls, udp) = (rs.tcp, rs.tls, rs.udp);
    send_tcp(tcp, &[FINDING]).await.unwrap();
    rs.wait_for(1, WAIT).await.unwrap();

    rs.stop();
    assert!(
        TcpStream::connect(tcp).await.is_err(),
        "nothing listens once stopped"
    );
    assert!(TcpStream::connect(tls.unwrap()).await.is_err());
    assert_eq!(rs.messages(), [FINDING], "what arrived stays readable");

    rs.restart().unwrap();
    assert_eq!((rs.tcp, rs.tls, rs.udp), (tcp, tls, udp));
    send_tcp(tcp, &[SECOND]).await.unwrap();
    rs.wait_for(2, WAIT).await.unwrap();
    send_tls(tls.unwrap(), &pki, None, &[FINDING])
        .await
        .unwrap();
    rs.wait_for(3, WAIT).await.unwrap();
    let udp_sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp_sock
        .send_to(SECOND.as_bytes(), udp.unwrap())
        .await
        .unwrap();
    assert_eq!(
        rs.wait_for(4, WAIT).await.unwrap(),
        [FINDING, SECOND, FINDING, SECOND]
    );
}

#[tokio::test]
async fn syslog_ng_receives_and_parses_rfc5424() {
    let ng = SyslogNg::start().unwrap();
    send_tcp(ng.tcp, &[FINDING, SECOND]).await.unwrap();
    let got = ng.wait_for(2, WAIT).await.unwrap();
    let m = &got[0];
    assert_eq!(
        m["_SDATA"],
        json!({
            "palisade@32473": { "kind": "bola", "id": r#"x"y]z\w"#, "note": "a b  c" },
            "origin": { "ip": "10.0.0.1" },
        }),
        "{m:#}"
    );
    assert_eq!(m["MSGID"], "finding", "{m:#}");
    assert_eq!(m["PROGRAM"], "palisade");
    assert_eq!(m["PID"], "4242");
    assert_eq!(m["HOST"], "api-gw-1");
    assert_eq!(m["PRIORITY"], "warning");
    assert_eq!(m["FACILITY"], "local0");
    assert_eq!(m["ISODATE"], "2025-01-02T03:04:05.123456+00:00");
    assert_eq!(
        m["MESSAGE"],
        "CEF:0|Palisade|palisade|0.1|bola|Broken object level authorization|8|msg=héllo wörld ✓ 日本"
    );
    assert_eq!(m["RAWMSG"], FINDING);
    assert_eq!(got[1]["MSGID"], "heartbeat");
    assert_eq!(got[1]["MESSAGE"], "up");
}

#[tokio::test]
async fn rsyslog_restart_fails_at_once_when_a_port_was_taken() {
    let mut rs = Rsyslog::start(None).unwrap();
    rs.stop();
    let _squatter = std::net::TcpListener::bind(rs.tcp).unwrap();
    let started = std::time::Instant::now();
    let err = format!("{:#}", rs.restart().unwrap_err());
    assert!(err.contains("could not create a listener"), "{err}");
    assert!(err.contains("Address already in use"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
}
