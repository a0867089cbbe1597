//! Owns a route's `login = { … }` settings: how this API answers a failed login
//! (a status, a header, or words in the body: real APIs differ), and which
//! request body field carries the username, so analytics can count distinct
//! usernames per client without ever seeing one.
//!
//! Must not hold or log a username or password.

use serde::Deserialize;

use super::Problems;
use super::value::Parsed;

/// `login = { … }` on a route: the route is a login endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// Response statuses that mean the login failed. Default: [401, 403].
    #[serde(default = "default_failed_status")]
    pub failed_status: Vec<u16>,
    /// A response header whose presence means the login failed, e.g.
    /// "x-login-failed". Default: none.
    #[serde(default)]
    pub failed_header: Option<String>,
    /// A regular expression over the first `body_bytes` of the response body
    /// that means the login failed, for APIs that answer 200 (or 500) with an
    /// error message, e.g. "(?i)invalid (username|password)". Palisade asks the
    /// upstream for an uncompressed answer on such routes so it can read it.
    /// Default: none.
    #[serde(default)]
    pub failed_body: Option<Parsed<Pattern>>,
    /// Response bytes `failed_body` is matched against. Default: 4096.
    #[serde(default = "default_body_bytes")]
    pub body_bytes: usize,
    /// The request body field (top-level JSON key, or form field) holding the
    /// username. Its salted hash goes into the event; the name never does.
    /// Default: none.
    #[serde(default)]
    pub username_field: Option<String>,
}

/// A regular expression, checked when the config is loaded.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::bytes::Regex);

impl std::str::FromStr for Pattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        regex::bytes::RegexBuilder::new(s)
            .size_limit(1 << 20)
            .build()
            .map(Pattern)
            .map_err(|e| e.to_string())
    }
}

fn default_failed_status() -> Vec<u16> {
    vec![401, 403]
}

fn default_body_bytes() -> usize {
    4096
}

impl LoginConfig {
    pub(crate) fn validate(&self, at: &str, p: &mut Problems) {
        for (i, s) in self.failed_status.iter().enumerate() {
            if !(100..=599).contains(s) {
                p.push(
                    format!("{at}.failed_status[{i}]"),
                    format!("{s} is not an HTTP status"),
                    "use statuses between 100 and 599, such as 401",
                );
            }
        }
        if let Some(h) = &self.failed_header
            && http::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            p.push(
                format!("{at}.failed_header"),
                format!("`{h}` is not a header name"),
                "use a header name such as x-login-failed",
            );
        }
        if let Some(r) = &self.failed_body {
            r.check(
                format!("{at}.failed_body"),
                "write a regular expression (Rust regex syntax), such as \"(?i)invalid password\"",
                p,
            );
        }
        if !(1..=64 * 1024).contains(&self.body_bytes) {
            p.push(
                format!("{at}.body_bytes"),
                format!("{} is outside 1..=65536", self.body_bytes),
                "the answer to a login is short; 4096 is plenty",
            );
        }
        if self
            .username_field
            .as_ref()
            .is_some_and(|f| f.trim().is_empty())
        {
            p.push(
                format!("{at}.username_field"),
                "the field name is empty",
                "name the body field with the username, such as \"username\" or \"email\"",
            );
        }
        if self.failed_status.is_empty()
            && self.failed_header.is_none()
            && self.failed_body.is_none()
        {
            p.push(
                at.to_string(),
                "no way to tell a failed login: failed_status is empty and neither \
                 failed_header nor failed_body is set",
                "set at least one of failed_status, failed_header, failed_body",
            );
        }
    }
}
