//! Owns the verified-token cache: identities of tokens whose signature and claims
//! were checked, keyed by the token's SHA-256 (never the token), each kept only
//! until the token's `exp` plus the configured leeway. Bounded by
//! `auth.jwt.cache_entries`; quick_cache evicts by access (CLOCK-Pro) when full.
//!
//! Must not hold a lock across an await (it never awaits) and must never serve an
//! entry past its deadline. Cleared whole when a key set changes, so a key
//! withdrawn from a JWKS stops being honoured at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Bumped by `clear`. An entry from an older generation is a miss, so a
    /// token verified with a key while that key was being withdrawn cannot be
    /// cached past the clearing.
    generation: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    identity: Arc<Identity>,
    /// Unix ms from which the entry must not be used: `exp` plus leeway.
    deadline_ms: u64,
    generation: u64,
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
            generation: AtomicU64::new(0),
        })
    }

    /// The generation to pass to `insert`; read before choosing the key.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self, token: &TokenDigest, now_ms: u64) -> Cached {
        match self.map.get(token) {
            Some(e) if e.generation != self.generation() => {
                self.map.remove(token);
                Cached::Miss
            }
            Some(e) if now_ms < e.deadline_ms => Cached::Valid(e.identity),
            Some(_) => {
                self.map.remove(token);
                Cached::Expired
            }
            None => Cached::Miss,
        }
    }

    /// Remembers a verified token, unless the cache was cleared since
    /// `generation` was read.
    pub(crate) fn insert(
        &self,
        token: TokenDigest,
        identity: Arc<Identity>,
        deadline_ms: u64,
        generation: u64,
    ) {
        if generation != self.generation() {
            return;
        }
        self.map.insert(
            token,
            Entry {
                identity,
                deadline_ms,
                generation,
            },
        );
    }

    /// Forgets every entry, including any being inserted concurrently.
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
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
