//! Owns the `[auth.jwt]` section: which bearer tokens Palisade accepts, from
//! which keys, with which algorithms, and what it tells the upstream about them.
//! Each key carries its own algorithm allowlist, and its source (secret, PEM,
//! JWKS file or URL) must fit that allowlist's family, so algorithm confusion is
//! a config error before it can be an attack.
//!
//! Must not read key material: files are only checked to exist here; the proxy
//! parses them (and reads secrets from the environment) when it builds.

mod validate;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use url::Url;

use super::value::Parsed;

type Duration = Parsed<humantime::Duration>;

/// `[auth.jwt]`: bearer tokens (JWT) and the keys that verify them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted `iss` values, a string or a list, e.g. "https://auth.example.com/".
    /// A token whose `iss` is none of them is refused. Default: not checked.
    #[serde(default, deserialize_with = "one_or_many")]
    pub issuer: Vec<String>,
    /// Accepted `aud` values, a string or a list; a token must name at least one.
    /// Default: not checked.
    #[serde(default, deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, e.g. "30s". At most "5m".
    /// Default: "30s".
    #[serde(default = "default_leeway")]
    pub leeway: Duration,
    /// The claim that holds the token's scopes or roles: a space-separated string
    /// ("orders:read orders:write") or an array of strings. Matched against a
    /// route's `scopes`. Default: "scope".
    #[serde(default = "default_scopes_claim")]
    pub scopes_claim: String,
    /// The claim that names the caller (a string). Required in every token.
    /// Default: "sub".
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The request header that carries the token, as `Bearer <token>`.
    /// Default: "authorization".
    #[serde(default = "default_header")]
    pub header: String,
    /// Verified tokens remembered (by SHA-256 of the token, never the token), so
    /// a client reusing a token pays one signature check, not one per request.
    /// An entry is never used past the token's `exp` plus `leeway`; 0 turns the
    /// cache off. About 200 bytes each. Default: 10000.
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    /// `[auth.jwt.upstream_headers]`: what the upstream is told about the caller.
    #[serde(default)]
    pub upstream_headers: JwtUpstreamHeaders,
    /// The verification keys, one `[[auth.jwt.key]]` table each. Default: none.
    #[serde(default)]
    pub key: Vec<JwtKeyConfig>,
}

/// `[auth.jwt.upstream_headers]`: headers set on the forwarded request after a
/// token is verified. Client-sent headers of these names are removed first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtUpstreamHeaders {
    /// The verified subject. Default: "x-palisade-subject".
    #[serde(default = "default_subject_header")]
    pub subject: String,
    /// The token's scopes, space-separated. Default: "x-palisade-scopes".
    #[serde(default = "default_scopes_header")]
    pub scopes: String,
    /// The token's `jti`, when it has one. Default: "x-palisade-token-id".
    #[serde(default = "default_token_id_header")]
    pub token_id: String,
}

/// `[[auth.jwt.key]]`: one verification key, or one key set, with the algorithms
/// it may verify. Exactly one of `secret_env`, `pem_file`, `jwks_file`, `jwks_url`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// The key id (`kid`) tokens name to pick this key. Only for `secret_env` and
    /// `pem_file` (a key set names its own keys). Without it, the key verifies
    /// only tokens that carry no `kid`. Default: none.
    #[serde(default)]
    pub id: Option<String>,
    /// Algorithms this key may verify, e.g. ["RS256"]. One family per key:
    /// HS256/HS384/HS512 (with `secret_env`), RS256/RS384/RS512 and
    /// PS256/PS384/PS512 (RSA keys), ES256/ES384 (P-256/P-384 keys), EdDSA
    /// (Ed25519 keys). "none" is never accepted. Required.
    #[serde(default)]
    pub algorithms: Vec<Parsed<JwtAlgorithm>>,
    /// Name of the environment variable holding the HMAC secret (raw bytes, at
    /// least as long as the hash: 32 bytes for HS256, 48 for HS384, 64 for HS512).
    /// The secret itself never goes in this file.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Path of a PEM public key (`-----BEGIN PUBLIC KEY-----`) or certificate.
    #[serde(default)]
    pub pem_file: Option<PathBuf>,
    /// Path of a JWKS document (`{"keys": [...]}`), read at start.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// URL of a JWKS document, e.g. "https://auth.example.com/.well-known/jwks.json".
    /// https only, except for loopback addresses. Fetched at start, every
    /// `refresh`, and when a token names an unknown `kid`.
    #[serde(default)]
    pub jwks_url: Option<Parsed<Url>>,
    /// How often a `jwks_url` is fetched again. A shorter `Cache-Control: max-age`
    /// from the server brings the next fetch forward, never sooner than
    /// `min_refetch_interval`. Only with `jwks_url`; between "10s" and "24h".
    /// Default: "10m".
    #[serde(default)]
    pub refresh: Option<Duration>,
    /// Least time between two fetches of a `jwks_url`: a token with an unknown
    /// `kid` is refused at once and triggers one background fetch, at most this
    /// often. Only with `jwks_url`; between "1s" and `refresh`. Default: "30s".
    #[serde(default)]
    pub min_refetch_interval: Option<Duration>,
}

/// A JWS signature algorithm Palisade verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// The kind of key an algorithm needs; one family per `[[auth.jwt.key]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtKeyFamily {
    Hmac,
    Rsa,
    Ec,
    Ed25519,
}

/// Where a key comes from, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtKeySource<'a> {
    SecretEnv(&'a str),
    PemFile(&'a std::path::Path),
    JwksFile(&'a std::path::Path),
    JwksUrl(&'a Url),
}

impl JwtAlgorithm {
    pub const ALL: [JwtAlgorithm; 12] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The name as written in a token header and in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The kind of key that verifies this algorithm.
    pub fn family(self) -> JwtKeyFamily {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => JwtKeyFamily::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                JwtKeyFamily::Rsa
            }
            Self::ES256 | Self::ES384 => JwtKeyFamily::Ec,
            Self::EdDSA => JwtKeyFamily::Ed25519,
        }
    }

    /// For HMAC, the least secret length in bytes (the hash size, RFC 7518 3.2).
    pub fn min_secret_bytes(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("none") {
            return Err("`none` means an unsigned token, which is never accepted".into());
        }
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| "not a supported JWS algorithm (names are case-sensitive)".into())
    }
}

impl fmt::Display for JwtKeyFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hmac => "HMAC",
            Self::Rsa => "RSA",
            Self::Ec => "EC",
            Self::Ed25519 => "Ed25519",
        })
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn default_leeway() -> Duration {
    Parsed::new("30s")
}
fn default_scopes_claim() -> String {
    "scope".into()
}
fn default_subject_claim() -> String {
    "sub".into()
}
fn default_header() -> String {
    "authorization".into()
}
fn default_cache_entries() -> usize {
    10_000
}
fn default_subject_header() -> String {
    "x-palisade-subject".into()
}
fn default_scopes_header() -> String {
    "x-palisade-scopes".into()
}
fn default_token_id_header() -> String {
    "x-palisade-token-id".into()
}
/// Default of `refresh`.
pub const DEFAULT_JWKS_REFRESH: std::time::Duration = std::time::Duration::from_secs(600);
/// Default of `min_refetch_interval`.
pub const DEFAULT_JWKS_MIN_REFETCH: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: Vec::new(),
            audience: Vec::new(),
            leeway: default_leeway(),
            scopes_claim: default_scopes_claim(),
            subject_claim: default_subject_claim(),
            header: default_header(),
            cache_entries: default_cache_entries(),
            upstream_headers: JwtUpstreamHeaders::default(),
            key: Vec::new(),
        }
    }
}

impl Default for JwtUpstreamHeaders {
    fn default() -> Self {
        Self {
            subject: default_subject_header(),
            scopes: default_scopes_header(),
            token_id: default_token_id_header(),
        }
    }
}

impl JwtKeyConfig {
    /// The key's source. Valid after validation, which requires exactly one.
    pub fn source(&self) -> Option<JwtKeySource<'_>> {
        if let Some(v) = &self.secret_env {
            Some(JwtKeySource::SecretEnv(v))
        } else if let Some(p) = &self.pem_file {
            Some(JwtKeySource::PemFile(p))
        } else if let Some(p) = &self.jwks_file {
            Some(JwtKeySource::JwksFile(p))
        } else {
            self.jwks_url
                .as_ref()
                .map(|u| JwtKeySource::JwksUrl(u.get()))
        }
    }

    /// The parsed algorithm allowlist (valid after validation).
    pub fn algorithm_list(&self) -> Vec<JwtAlgorithm> {
        self.algorithms.iter().map(|a| *a.get()).collect()
    }

    /// `refresh`, or its default.
    pub fn refresh_interval(&self) -> std::time::Duration {
        self.refresh
            .as_ref()
            .map_or(DEFAULT_JWKS_REFRESH, Parsed::duration)
    }

    /// `min_refetch_interval`, or its default.
    pub fn min_refetch(&self) -> std::time::Duration {
        self.min_refetch_interval
            .as_ref()
            .map_or(DEFAULT_JWKS_MIN_REFETCH, Parsed::duration)
    }
}

#[cfg(test)]
mod tests;
