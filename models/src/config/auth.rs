//! Owns the `[auth]` section: the credentials Palisade verifies. Today API keys,
//! configured only as SHA-256 digests with an id and scopes, so the config file
//! never holds a usable key; and JWT bearer tokens (`jwt.rs`).

use serde::Deserialize;

use super::Problems;
use super::jwt::JwtConfig;

/// `[auth]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `[auth.api_keys]`
    #[serde(default)]
    pub api_keys: ApiKeysConfig,
    /// `[auth.jwt]`
    #[serde(default)]
    pub jwt: JwtConfig,
}

/// `[auth.api_keys]`: keys clients present in a header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeysConfig {
    /// The request header that carries the key. Default: "x-api-key".
    #[serde(default = "default_header")]
    pub header: String,
    /// The keys, one `[[auth.api_keys.key]]` table each. Default: none.
    #[serde(default)]
    pub key: Vec<ApiKeyConfig>,
}

/// `[[auth.api_keys.key]]`: one API key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key's id: what events, logs, blocks and the upstream see. Required.
    pub id: String,
    /// Hex SHA-256 of the key, e.g. from `printf %s "$KEY" | sha256sum`. Required.
    pub sha256: String,
    /// Scopes the key grants, matched against a route's `scopes`. Default: [].
    #[serde(default)]
    pub scopes: Vec<String>,
}

fn default_header() -> String {
    "x-api-key".into()
}

impl Default for ApiKeysConfig {
    fn default() -> Self {
        Self {
            header: default_header(),
            key: Vec::new(),
        }
    }
}

impl AuthConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        let k = &self.api_keys;
        let header_ok = !k.header.is_empty()
            && k.header
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !header_ok {
            p.push(
                "auth.api_keys.header",
                format!("`{}` is not a lower-case header name", k.header),
                "use lower-case letters, digits and dashes, such as x-api-key",
            );
        }
        for (i, key) in k.key.iter().enumerate() {
            let at = format!("auth.api_keys.key[{i}]");
            if key.id.trim().is_empty() {
                p.push(
                    format!("{at}.id"),
                    "the id is empty",
                    "give each key a name, such as billing-service",
                );
            }
            if k.key[..i].iter().any(|other| other.id == key.id) {
                p.push(
                    format!("{at}.id"),
                    format!("`{}` is used twice", key.id),
                    "give each key its own id",
                );
            }
            if digest(&key.sha256).is_none() {
                p.push(
                    format!("{at}.sha256"),
                    "not 64 hexadecimal characters",
                    "put the key's SHA-256 here, never the key: printf %s \"$KEY\" | sha256sum",
                );
            } else if k.key[..i]
                .iter()
                .any(|other| other.sha256.eq_ignore_ascii_case(&key.sha256))
            {
                p.push(
                    format!("{at}.sha256"),
                    "the same key is configured twice",
                    "give each client its own key",
                );
            }
        }
        self.jwt.validate(p);
    }
}

/// The 32 bytes of a hex SHA-256 digest, if it is one.
pub fn digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}
