//! Owns the `[admin]` section: the admin listener (JSON API, dashboard, metrics)
//! and where its bearer token comes from. The token itself never appears in the
//! config file.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{Parsed, Problems};

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
    }
}
