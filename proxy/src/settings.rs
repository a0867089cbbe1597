//! Owns `Settings`: the proxy's section of the validated config turned into the
//! types the request path uses (header names, networks, durations), once at start.
//! Must not re-validate: `Config::parse` already did, with operator-facing messages.

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;
use http::uri::{Authority, Scheme};
use ipnet::IpNet;

use palisade_models::Config;

use crate::error::ProxyError;

/// What the request path needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub workers: usize,
    pub plain_listen: Vec<SocketAddr>,
    pub tls_listen: Vec<SocketAddr>,
    pub max_connections: usize,
    pub trusted_proxies: Vec<IpNet>,
    /// Lower-case prefix of the identity headers we set (`x-palisade-`).
    pub identity_prefix: String,
    /// `<prefix>client-ip`, sent upstream.
    pub client_ip_header: HeaderName,
    /// `<prefix>api-key-id`, sent upstream when a valid API key was presented.
    pub api_key_id_header: HeaderName,
    pub request_id_header: HeaderName,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// A response write stalled this long cuts the connection.
    pub send_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_header_count: usize,
    pub max_header_bytes: usize,
    pub max_url_bytes: usize,
    /// Requests in flight before shedding; 0 is no cap.
    pub max_in_flight: usize,
    pub upstream: UpstreamSettings,
    pub access_log: bool,
}

/// Where and how to reach the upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub scheme: Scheme,
    pub authority: Authority,
    /// The Host header sent when `preserve_host` is off.
    pub host_header: http::HeaderValue,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle: usize,
    pub preserve_host: bool,
}

impl Settings {
    /// Derives the settings from a validated config.
    pub fn from_config(config: &Config) -> Result<Self, ProxyError> {
        let p = &config.proxy;
        let u = &config.upstream;
        let workers = match p.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let url = u.url.get();
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let authority: Authority = format!("{host}:{port}")
            .parse()
            .map_err(|e| invalid("upstream.url", e))?;
        let scheme = if url.scheme() == "https" {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        Ok(Settings {
            workers,
            plain_listen: p.listen.iter().map(|a| *a.get()).collect(),
            tls_listen: p
                .tls
                .as_ref()
                .map(|t| t.listen.iter().map(|a| *a.get()).collect())
                .unwrap_or_default(),
            max_connections: p.max_connections,
            trusted_proxies: p.trusted_proxies.iter().map(|n| n.get().0).collect(),
            identity_prefix: p.identity_header_prefix.clone(),
            client_ip_header: header_name(
                &format!("{}client-ip", p.identity_header_prefix),
                "proxy.identity_header_prefix",
            )?,
            api_key_id_header: header_name(
                &format!("{}api-key-id", p.identity_header_prefix),
                "proxy.identity_header_prefix",
            )?,
            request_id_header: header_name(&p.request_id_header, "proxy.request_id_header")?,
            header_read_timeout: p.timeouts.header_read.duration(),
            idle_timeout: p.timeouts.idle.duration(),
            send_timeout: p.timeouts.send.duration(),
            shutdown_grace: p.timeouts.shutdown_grace.duration(),
            max_header_count: p.limits.max_header_count,
            max_header_bytes: p.limits.max_header_bytes,
            max_url_bytes: p.limits.max_url_bytes,
            max_in_flight: p.limits.max_in_flight,
            upstream: UpstreamSettings {
                scheme,
                host_header: http::HeaderValue::from_str(authority.as_str())
                    .map_err(|e| invalid("upstream.url", e))?,
                authority,
                connect_timeout: u.connect_timeout.duration(),
                response_timeout: u.response_timeout.duration(),
                pool_idle_timeout: u.pool_idle_timeout.duration(),
                pool_max_idle: u.pool_max_idle_per_worker,
                preserve_host: u.preserve_host,
            },
            access_log: config.log.access_log,
        })
    }

    /// True when `ip` is one of the trusted proxies.
    pub fn is_trusted(&self, ip: &std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(ip))
    }
}

fn header_name(name: &str, key: &'static str) -> Result<HeaderName, ProxyError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(key, e))
}

fn invalid(key: &'static str, e: impl std::fmt::Display) -> ProxyError {
    ProxyError::Config {
        key,
        message: e.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Settings from a minimal config with these trusted proxies.
    pub(crate) fn settings_with_trusted(trusted: &[&str]) -> Settings {
        let list = trusted
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "[proxy]\ntrusted_proxies = [{list}]\n[upstream]\nurl = \"https://[::1]\"\n\
             [routes]\nunknown = \"allow\"\n"
        );
        Settings::from_config(&Config::parse(&text).unwrap()).unwrap()
    }

    #[test]
    fn upstream_authority_gets_the_scheme_default_port() {
        let s = settings_with_trusted(&[]);
        assert_eq!(s.upstream.authority.as_str(), "[::1]:443");
        assert_eq!(s.upstream.scheme, Scheme::HTTPS);
        assert_eq!(s.client_ip_header.as_str(), "x-palisade-client-ip");
        assert!(s.workers >= 1);
    }
}
