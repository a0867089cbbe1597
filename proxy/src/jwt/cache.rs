//! Owns the verified-token cache: identities of tokens whose signature and claims
//! were checked, keyed by the token's SHA-256 (never the token), each kept only
//! until the token's `exp` plus the configured leeway. Bounded by
//! `auth.jwt.cache_entries`; quick_cache evicts by access (CLOCK-Pro) when full.
//!
//! Must not hold a lock across an await (it never awaits) and must never serve an
//! entry past its deadline. Cleared whole when a key set changes, so a key
//! withdrawn from a JWKS stops being honoured at once.

use std::sync::Arc;

use aws_lc_rs::digest;

use super::Identity;

/// SHA-256 of a token: the only form in which a token is kept.
pub(crate) type TokenDigest = [u8; 32];

/// Verified identities by token digest.
pub(crate) struct TokenCache {
    // quick_cache rather than a map of our own: sharded locks held only for the
    // lookup, a real eviction policy, and two small dependencies (hashbrown,
    // equivalent) with its default features off; moka would bring a
    // background-maintenance design and many more crates for features (TTL per
    // entry) we get by storing the deadline in the value.
    map: quick_cache::sync::Cache<TokenDigest, Entry>,
}

#[derive(Clone)]
struct Entry {
    identity: Arc<Identity>,
    /// Unix ms from which the entry must not be used: `exp` plus leeway.
    deadline_ms: u64,
}

/// A cache lookup.
pub(crate) enum Cached {
    Valid(Arc<Identity>),
    /// The token verified once, but its deadline has passed.
    Expired,
    Miss,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.map.len())
            .field("capacity", &self.map.capacity())
            .finish()
    }
}

impl TokenCache {
    /// A cache of about `entries` identities; `None` when `entries` is 0.
    pub(crate) fn new(entries: usize) -> Option<Self> {
        (entries > 0).then(|| Self {
            map: quick_cache::sync::Cache::new(entries),
        })
    }

    pub(crate) fn get(&self, token: &TokenDigest, now_ms: u64) -> Cached {
        match self.map.get(token) {
            Some(e) if now_ms < e.deadline_ms => Cached::Valid(e.identity),
            Some(_) => {
                self.map.remove(token);
                Cached::Expired
            }
            None => Cached::Miss,
        }
    }

    pub(crate) fn insert(&self, token: TokenDigest, identity: Arc<Identity>, deadline_ms: u64) {
        self.map.insert(
            token,
            Entry {
                identity,
                deadline_ms,
            },
        );
    }

    pub(crate) fn clear(&self) {
        self.map.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// The digest a token is cached under.
pub(crate) fn digest_of(token: &[u8]) -> TokenDigest {
    let d = digest::digest(&digest::SHA256, token);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}
