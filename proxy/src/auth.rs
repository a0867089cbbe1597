//! Owns credential verification: today API keys, held only as SHA-256 digests.
//! A presented key is hashed and looked up by its digest; the lookup's timing can
//! at most hint at digest bytes, which do not help anyone find a key, so nothing
//! about a stored key leaks through timing (the reason keys are compared as
//! digests, not as strings).
//!
//! Must never log, record or return a key: only its id leaves this file.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::digest;
use http::{HeaderMap, HeaderName};

use palisade_models::Config;
use palisade_models::config;

use crate::error::ProxyError;

/// Who a verified credential belongs to.
#[derive(Debug)]
pub(crate) struct Principal {
    /// The API key's id.
    pub(crate) key_id: Box<str>,
    pub(crate) scopes: Vec<Box<str>>,
}

impl Principal {
    /// True when the principal holds every scope in `required`.
    pub(crate) fn grants(&self, required: &[Box<str>]) -> bool {
        required.iter().all(|r| self.scopes.contains(r))
    }
}

/// What the request presented.
#[derive(Debug)]
pub(crate) enum Presented {
    Nothing,
    Valid(Arc<Principal>),
    /// A key that matches no configured one.
    Invalid,
}

/// The configured API keys, by digest.
#[derive(Debug)]
pub(crate) struct ApiKeys {
    header: HeaderName,
    by_digest: HashMap<[u8; 32], Arc<Principal>>,
}

impl ApiKeys {
    pub(crate) fn build(config: &Config) -> Result<ApiKeys, ProxyError> {
        let c = &config.auth.api_keys;
        let header =
            HeaderName::from_bytes(c.header.as_bytes()).map_err(|e| ProxyError::Config {
                key: "auth.api_keys.header",
                message: e.to_string(),
            })?;
        let mut by_digest = HashMap::with_capacity(c.key.len());
        for k in &c.key {
            let d = config::digest(&k.sha256).ok_or(ProxyError::Config {
                key: "auth.api_keys.key",
                message: format!("`{}` has no valid sha256", k.id),
            })?;
            by_digest.insert(
                d,
                Arc::new(Principal {
                    key_id: k.id.as_str().into(),
                    scopes: k.scopes.iter().map(|s| s.as_str().into()).collect(),
                }),
            );
        }
        Ok(ApiKeys { header, by_digest })
    }

    /// Checks the key the request presents, if any.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Presented {
        if self.by_digest.is_empty() {
            return Presented::Nothing;
        }
        let Some(value) = headers.get(&self.header) else {
            return Presented::Nothing;
        };
        let d = digest::digest(&digest::SHA256, value.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(d.as_ref());
        match self.by_digest.get(&key) {
            Some(p) => Presented::Valid(p.clone()),
            None => Presented::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        // sha256("s3cret-key-1")
        let text = r#"
            [upstream]
            url = "http://127.0.0.1:1"
            [routes]
            unknown = "allow"
            [[auth.api_keys.key]]
            id = "billing"
            sha256 = "DIGEST"
            scopes = ["orders:read", "orders:write"]
        "#
        .replace("DIGEST", &hex(b"s3cret-key-1"));
        ApiKeys::build(&Config::parse(&text).unwrap()).unwrap()
    }

    fn hex(key: &[u8]) -> String {
        digest::digest(&digest::SHA256, key)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn with(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", key.parse().unwrap());
        h
    }

    #[test]
    fn keys_are_matched_by_digest() {
        let k = keys();
        match k.check(&with("s3cret-key-1")) {
            Presented::Valid(p) => {
                assert_eq!(&*p.key_id, "billing");
                assert!(p.grants(&["orders:read".into()]));
                assert!(!p.grants(&["admin".into()]));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(k.check(&with("s3cret-key-2")), Presented::Invalid));
        assert!(matches!(k.check(&HeaderMap::new()), Presented::Nothing));
    }
}
