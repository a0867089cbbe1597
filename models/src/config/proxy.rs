//! Owns the `[proxy]` section: listeners, TLS, timeouts, connection and header caps,
//! trusted proxies and the headers Palisade sets for the upstream.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;
use super::value::{Network, Parsed};

type Duration = Parsed<humantime::Duration>;

/// `[proxy]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Worker threads, each with its own event loop and its own listening socket
    /// (SO_REUSEPORT). 0 means one per CPU core. Default: 0.
    #[serde(default)]
    pub workers: usize,
    /// Plain-HTTP listeners (HTTP/1.1, and HTTP/2 with prior knowledge).
    /// Default: ["0.0.0.0:8080"]. May be empty when `[proxy.tls]` is set.
    #[serde(default = "default_listen")]
    pub listen: Vec<Parsed<SocketAddr>>,
    /// HTTPS listeners. Default: none.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Peers whose `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`
    /// are believed (load balancers in front of Palisade), as addresses or CIDRs.
    /// Anyone else's copies are replaced. Default: [] (trust nobody).
    #[serde(default)]
    pub trusted_proxies: Vec<Parsed<Network>>,
    /// Open client connections across all workers; beyond it new connections are
    /// closed at once. Default: 10000.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Prefix of the identity headers Palisade sets for the upstream
    /// (`<prefix>client-ip`, and later `<prefix>subject`, `<prefix>api-key-id`).
    /// Any client-sent header with this prefix is removed. Default: "x-palisade-".
    #[serde(default = "default_identity_prefix")]
    pub identity_header_prefix: String,
    /// Request-id header: kept when the client sends a well-formed one (at most
    /// 128 visible ASCII characters), generated (UUIDv7) otherwise, sent upstream
    /// and returned to the client. Default: "x-request-id".
    #[serde(default = "default_request_id_header")]
    pub request_id_header: String,
    /// `[proxy.timeouts]`
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// `[proxy.limits]`
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[proxy.tls]`: the HTTPS listener (rustls; TLS 1.2 and 1.3; ALPN h2 and http/1.1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// HTTPS listen addresses. Required, at least one.
    pub listen: Vec<Parsed<SocketAddr>>,
    /// PEM certificate chain, leaf first. Required.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Required.
    pub key: PathBuf,
    /// Lowest TLS version accepted: "1.2" or "1.3". Default: "1.2".
    #[serde(default)]
    pub min_version: TlsVersion,
}

/// A TLS protocol version.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// `[proxy.timeouts]`: durations in human form ("10s", "1m 30s", "500ms").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Time for a client to send a complete request head (and finish the TLS
    /// handshake), counted from the connection's start or the first byte of the
    /// next request; then 408 and close. Default: "10s".
    #[serde(default = "default_header_read")]
    pub header_read: Duration,
    /// Time a kept-alive connection may sit with no request before it is closed.
    /// Default: "60s".
    #[serde(default = "default_idle")]
    pub idle: Duration,
    /// Time a response write to the client may make no progress (the client
    /// reads nothing, or a byte now and then) before the connection is cut; a
    /// slow reader cannot hold a connection and its buffers. Like nginx's
    /// `send_timeout`. Default: "30s".
    #[serde(default = "default_send")]
    pub send: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish before
    /// their connections are cut. Default: "30s".
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Duration,
}

/// `[proxy.limits]`: caps on what a client may send.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Request headers per request; more is answered 431. Default: 100.
    #[serde(default = "default_max_header_count")]
    pub max_header_count: usize,
    /// Bytes of request line plus headers; more is answered 431. Default: 16384.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Bytes of request target (path and query); more is answered 414.
    /// Default: 8192.
    #[serde(default = "default_max_url_bytes")]
    pub max_url_bytes: usize,
    /// Requests this process handles at once, across all workers, counted from
    /// the request head until its response has been sent. Beyond it a request is
    /// answered at once with 503 `overloaded` and `Retry-After: 1`, before any
    /// other phase runs, instead of waiting in a queue: admitted requests keep
    /// their latency when offered more than the upstream can serve. It also
    /// bounds the connections opened to the upstream (one per request in
    /// flight). Size it to what the upstream serves at once with acceptable
    /// latency (its concurrency times 2 is a good start). 0 turns shedding off.
    /// Default: 10000 (never reached by a healthy deployment; as many as
    /// `max_connections`).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

fn default_listen() -> Vec<Parsed<SocketAddr>> {
    vec![Parsed::new("0.0.0.0:8080")]
}
fn default_max_connections() -> usize {
    10_000
}
fn default_identity_prefix() -> String {
    "x-palisade-".into()
}
fn default_request_id_header() -> String {
    "x-request-id".into()
}
fn default_header_read() -> Duration {
    Parsed::new("10s")
}
fn default_idle() -> Duration {
    Parsed::new("60s")
}
fn default_send() -> Duration {
    Parsed::new("30s")
}
fn default_shutdown_grace() -> Duration {
    Parsed::new("30s")
}
fn default_max_header_count() -> usize {
    100
}
fn default_max_header_bytes() -> usize {
    16 * 1024
}
fn default_max_url_bytes() -> usize {
    8 * 1024
}
fn default_max_in_flight() -> usize {
    10_000
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            listen: default_listen(),
            tls: None,
            trusted_proxies: Vec::new(),
            max_connections: default_max_connections(),
            identity_header_prefix: default_identity_prefix(),
            request_id_header: default_request_id_header(),
            timeouts: TimeoutsConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        Self {
            header_read: default_header_read(),
            idle: default_idle(),
            send: default_send(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_header_count: default_max_header_count(),
            max_header_bytes: default_max_header_bytes(),
            max_url_bytes: default_max_url_bytes(),
            max_in_flight: default_max_in_flight(),
        }
    }
}

/// Beyond this a cap on requests in flight is no cap: no single process holds
/// that many sockets (each needs one to the client and one to the upstream).
const MAX_IN_FLIGHT_CAP: usize = 1_000_000;

const ADDR_HINT: &str =
    "write host:port with a numeric address, such as 127.0.0.1:8080 or [::]:8443";
const DURATION_HINT: &str = "write a duration such as 500ms, 10s, 2m or 1h";

impl ProxyConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if self.workers > 1024 {
            p.push(
                "proxy.workers",
                format!("{} workers is more than 1024", self.workers),
                "use 0 (one per core) or the number of cores to use",
            );
        }
        for (i, a) in self.listen.iter().enumerate() {
            a.check(format!("proxy.listen[{i}]"), ADDR_HINT, p);
        }
        let tls_listeners = self.tls.as_ref().map_or(0, |t| t.listen.len());
        if self.listen.is_empty() && tls_listeners == 0 {
            p.push(
                "proxy.listen",
                "no listener is configured",
                "set proxy.listen, or proxy.tls.listen with a certificate",
            );
        }
        if let Some(tls) = &self.tls {
            tls.validate(p);
        }
        for (i, n) in self.trusted_proxies.iter().enumerate() {
            n.check(
                format!("proxy.trusted_proxies[{i}]"),
                "write an address or a CIDR such as 10.0.0.0/8",
                p,
            );
        }
        if self.max_connections == 0 {
            p.push(
                "proxy.max_connections",
                "0 would refuse every connection",
                "set a positive number, such as 10000",
            );
        }
        check_header_name(
            "proxy.identity_header_prefix",
            &self.identity_header_prefix,
            p,
        );
        check_header_name("proxy.request_id_header", &self.request_id_header, p);
        self.timeouts.validate(p);
        self.limits.validate(p);
    }
}

impl TlsConfig {
    fn validate(&self, p: &mut Problems) {
        if self.listen.is_empty() {
            p.push(
                "proxy.tls.listen",
                "no HTTPS listen address",
                "add one such as \"0.0.0.0:8443\", or remove [proxy.tls]",
            );
        }
        for (i, a) in self.listen.iter().enumerate() {
            a.check(format!("proxy.tls.listen[{i}]"), ADDR_HINT, p);
        }
        for (key, path) in [("proxy.tls.cert", &self.cert), ("proxy.tls.key", &self.key)] {
            if let Err(e) = std::fs::metadata(path) {
                p.push(
                    key,
                    format!("cannot read {}: {e}", path.display()),
                    "give the path of a PEM file readable by Palisade",
                );
            }
        }
    }
}

impl TimeoutsConfig {
    fn validate(&self, p: &mut Problems) {
        for (key, d) in [
            ("proxy.timeouts.header_read", &self.header_read),
            ("proxy.timeouts.idle", &self.idle),
            ("proxy.timeouts.send", &self.send),
            ("proxy.timeouts.shutdown_grace", &self.shutdown_grace),
        ] {
            d.check(key, DURATION_HINT, p);
        }
        for (key, d) in [
            ("proxy.timeouts.header_read", &self.header_read),
            ("proxy.timeouts.idle", &self.idle),
            ("proxy.timeouts.send", &self.send),
        ] {
            if let Some(v) = d.ok()
                && v.is_zero()
            {
                p.push(
                    key,
                    "a zero timeout would cut every connection",
                    DURATION_HINT,
                );
            }
        }
    }
}

impl LimitsConfig {
    fn validate(&self, p: &mut Problems) {
        if !(1..=1000).contains(&self.max_header_count) {
            p.push(
                "proxy.limits.max_header_count",
                format!("{} is outside 1..=1000", self.max_header_count),
                "most clients send fewer than 30 headers; 100 is a safe cap",
            );
        }
        if !(1024..=1024 * 1024).contains(&self.max_header_bytes) {
            p.push(
                "proxy.limits.max_header_bytes",
                format!("{} is outside 1024..=1048576", self.max_header_bytes),
                "16384 (16 KiB) fits real clients, cookies included",
            );
        }
        if self.max_url_bytes < 64 || self.max_url_bytes > self.max_header_bytes {
            p.push(
                "proxy.limits.max_url_bytes",
                format!(
                    "{} is outside 64..=max_header_bytes ({})",
                    self.max_url_bytes, self.max_header_bytes
                ),
                "8192 is a common cap; the URL is part of the request head",
            );
        }
        if self.max_in_flight > MAX_IN_FLIGHT_CAP {
            p.push(
                "proxy.limits.max_in_flight",
                format!("{} is more than {MAX_IN_FLIGHT_CAP}", self.max_in_flight),
                "size it to what the upstream serves at once (its concurrency times 2 is a good start), or 0 to turn shedding off",
            );
        }
    }
}

fn check_header_name(key: &str, name: &str, p: &mut Problems) {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        p.push(
            key,
            format!("`{name}` is not a lower-case header name"),
            "use lower-case letters, digits and dashes, such as x-request-id",
        );
    }
}
