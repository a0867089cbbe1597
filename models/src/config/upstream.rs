//! Owns the `[upstream]` section: where the protected service is and how Palisade
//! talks to it.

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::Problems;
use super::value::Parsed;

type Duration = Parsed<humantime::Duration>;

/// `[upstream]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The service's base URL, `http://` or `https://`, e.g. "http://127.0.0.1:3000".
    /// Only scheme, host and port are used; the client's path is kept. Required.
    pub url: Parsed<Url>,
    /// PEM bundle of CAs to trust for an https upstream, replacing the system's.
    /// Default: the system's trust store.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    /// Time to establish a TCP connection; then 502. Default: "3s".
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Duration,
    /// Time from sending the request until the upstream's response head; then 504.
    /// Default: "60s".
    #[serde(default = "default_response_timeout")]
    pub response_timeout: Duration,
    /// How long an idle pooled connection is kept. Default: "90s".
    #[serde(default = "default_pool_idle_timeout")]
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per worker, in each of its two pools
    /// (requests without a body, requests with one). Default: 256.
    #[serde(default = "default_pool_max_idle")]
    pub pool_max_idle_per_worker: usize,
    /// Send the client's Host header upstream (true), or the upstream URL's host
    /// (false). Default: true.
    #[serde(default = "default_true")]
    pub preserve_host: bool,
}

fn default_connect_timeout() -> Duration {
    Parsed::new("3s")
}
fn default_response_timeout() -> Duration {
    Parsed::new("60s")
}
fn default_pool_idle_timeout() -> Duration {
    Parsed::new("90s")
}
fn default_pool_max_idle() -> usize {
    256
}
fn default_true() -> bool {
    true
}

const DURATION_HINT: &str = "write a duration such as 500ms, 3s or 1m";

impl UpstreamConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        self.url.check(
            "upstream.url",
            "write a URL such as http://127.0.0.1:3000",
            p,
        );
        if let Some(url) = self.url.ok() {
            if !matches!(url.scheme(), "http" | "https") {
                p.push(
                    "upstream.url",
                    format!("scheme `{}` is not supported", url.scheme()),
                    "use http:// or https://",
                );
            }
            if url.host_str().is_none_or(str::is_empty) {
                p.push(
                    "upstream.url",
                    "the URL has no host",
                    "write a URL such as http://127.0.0.1:3000",
                );
            }
            if url.path() != "/" || url.query().is_some() {
                p.push(
                    "upstream.url",
                    "a path or query in the upstream URL is not supported",
                    "give only scheme, host and port; the client's path is forwarded as is",
                );
            }
        }
        if let Some(ca) = &self.ca_bundle
            && let Err(e) = std::fs::metadata(ca)
        {
            p.push(
                "upstream.ca_bundle",
                format!("cannot read {}: {e}", ca.display()),
                "give the path of a PEM bundle, or remove the key to use the system's CAs",
            );
        }
        for (key, d) in [
            ("upstream.connect_timeout", &self.connect_timeout),
            ("upstream.response_timeout", &self.response_timeout),
            ("upstream.pool_idle_timeout", &self.pool_idle_timeout),
        ] {
            d.check(key, DURATION_HINT, p);
            if let Some(v) = d.ok()
                && v.is_zero()
            {
                p.push(
                    key,
                    "a zero timeout would fail every request",
                    DURATION_HINT,
                );
            }
        }
    }
}
