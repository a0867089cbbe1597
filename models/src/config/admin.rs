//! Owns the `[admin]` section: the admin listener (JSON API, dashboard, metrics)
//! and where its bearer token comes from. The token itself never appears in the
//! config file.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{Parsed, Problems};

type Duration = Parsed<humantime::Duration>;

/// `[admin]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve the admin API, dashboard and `/metrics`. Default: true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address of the admin listener, apart from the proxy's. Default:
    /// "127.0.0.1:9901". Palisade refuses a non-loopback address unless a token
    /// is configured.
    #[serde(default = "default_listen")]
    pub listen: Parsed<SocketAddr>,
    /// Environment variable holding the bearer token. Default:
    /// "PALISADE_ADMIN_TOKEN".
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// File holding the bearer token (its first line), read at start; used when the
    /// variable is unset. Default: none. Without either, on a loopback address,
    /// Palisade makes a random token and prints it at start.
    #[serde(default)]
    pub token_file: Option<String>,
    /// Wrong admin tokens a client address (IPv6: its /64) may present at once;
    /// after that one more per `auth_failure_window / auth_failures`. Past the
    /// limit every request from that address that presents a token gets 429
    /// with Retry-After, the right token too, so a guess is neither confirmed
    /// nor refuted. Counted in `palisade_admin_auth_failures_total`. Default: 10.
    #[serde(default = "default_auth_failures")]
    pub auth_failures: u32,
    /// The window `auth_failures` refills over. Default: "1m".
    #[serde(default = "default_auth_failure_window")]
    pub auth_failure_window: Duration,
    /// Client addresses whose wrong tokens are remembered at once; when full,
    /// idle ones are forgotten, and a wrong token from a new address is refused
    /// with 429 until room frees (fail closed). Default: 10000.
    #[serde(default = "default_auth_failure_clients")]
    pub auth_failure_clients: usize,
}

fn default_auth_failures() -> u32 {
    10
}

fn default_auth_failure_window() -> Duration {
    Parsed::new("1m")
}

fn default_auth_failure_clients() -> usize {
    10_000
}

fn yes() -> bool {
    true
}

fn default_listen() -> Parsed<SocketAddr> {
    Parsed::new("127.0.0.1:9901")
}

fn default_token_env() -> String {
    "PALISADE_ADMIN_TOKEN".into()
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: default_listen(),
            token_env: default_token_env(),
            token_file: None,
            auth_failures: default_auth_failures(),
            auth_failure_window: default_auth_failure_window(),
            auth_failure_clients: default_auth_failure_clients(),
        }
    }
}

impl AdminConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        self.listen.check(
            "admin.listen",
            "an address and port, e.g. \"127.0.0.1:9901\"",
            p,
        );
        if self.token_env.trim().is_empty() {
            p.push(
                "admin.token_env",
                "the variable name is empty",
                "name an environment variable, e.g. \"PALISADE_ADMIN_TOKEN\"",
            );
        }
        if self
            .token_file
            .as_deref()
            .is_some_and(|f| f.trim().is_empty())
        {
            p.push(
                "admin.token_file",
                "the path is empty",
                "give the path of a file holding the token, or remove the key",
            );
        }
        if self.auth_failures == 0 {
            p.push(
                "admin.auth_failures",
                "0 would refuse every token",
                "allow at least 1 wrong token per window, e.g. 10",
            );
        }
        self.auth_failure_window.check(
            "admin.auth_failure_window",
            "write a duration such as 30s, 1m or 1h",
            p,
        );
        if self.auth_failure_window.ok().is_some_and(|d| d.is_zero()) {
            p.push(
                "admin.auth_failure_window",
                "a zero window would never refill",
                "write a duration such as 30s, 1m or 1h",
            );
        }
        if self.auth_failure_clients == 0 {
            p.push(
                "admin.auth_failure_clients",
                "0 would refuse every wrong token without counting it",
                "remember at least 1 address, e.g. 10000",
            );
        }
    }
}
