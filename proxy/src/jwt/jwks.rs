//! Owns `jwks_url` key sets: the background task that fetches each one at start,
//! every `refresh` (sooner when the server's `Cache-Control: max-age` says so),
//! and when a token names an unknown `kid`; and the lock-free snapshot
//! (`ArcSwap<KeySet>`) the request path reads.
//!
//! Unknown `kid`: the request is refused at once (401, `unknown_kid`) and a
//! fetch is *requested*; the request path never waits on the network. Requests
//! are single-flight (one `pending` flag: while a fetch is requested or running,
//! more unknown kids request nothing) and rate-limited (none within
//! `min_refetch_interval` of the last fetch, measured on the injected clock).
//! The one task per URL is the only fetcher and the only writer of its set.
//!
//! A failed fetch (unreachable, not 2xx, not a JWKS, no usable key) keeps the
//! last good set and logs a warning saying what to check. Must not hold a lock
//! across an await; must not log per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::header::{ACCEPT, CACHE_CONTROL};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use palisade_models::SharedClock;
use palisade_models::config::JwtAlgorithm;

use super::cache::{TokenCache, digest_of};
use super::keys::{KeySet, parse_jwks};

/// Largest JWKS document accepted; real ones are a few KiB.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// One `jwks_url` key: its current key set and its fetch state.
pub(crate) struct JwksSource {
    /// `auth.jwt.key[i]`, for the operator's logs.
    pub(super) key_path: Box<str>,
    pub(super) url: reqwest::Url,
    pub(super) algorithms: Vec<JwtAlgorithm>,
    pub(super) refresh: Duration,
    pub(super) min_refetch: Duration,
    client: reqwest::Client,
    /// Read on every request with a `kid` from this set; written by the task only.
    pub(super) keys: ArcSwap<KeySet>,
    /// Clock ms at which the last fetch started (rate limit of refetches).
    last_fetch_ms: AtomicU64,
    /// A fetch is requested or running: unknown kids request nothing more.
    /// An atomic, not a mutex: the request path only tests and sets it.
    pending: AtomicBool,
    /// Wakes the task for a requested fetch (keeps a permit if it is busy).
    wake: Notify,
    /// Completed fetch attempts, good or failed; tests and start-up wait on it.
    pub(super) fetches: watch::Sender<u64>,
    /// The wait chosen after the last fetch, in ms (observability, tests).
    pub(super) next_refresh_ms: AtomicU64,
    /// Refetches refused by the rate limit.
    pub(super) rate_limited: AtomicU64,
}

/// What an unknown `kid` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refetch {
    Requested,
    /// A fetch is already requested or running.
    InFlight,
    /// The last fetch was less than `min_refetch_interval` ago.
    RateLimited,
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("key", &self.key_path)
            .field("url", &self.url.as_str())
            .field("keys", &self.keys.load().len())
            .finish_non_exhaustive()
    }
}

impl JwksSource {
    pub(crate) fn new(
        key_path: String,
        url: reqwest::Url,
        algorithms: Vec<JwtAlgorithm>,
        refresh: Duration,
        min_refetch: Duration,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .https_only(url.scheme() == "https")
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTPS client: {e}"))?;
        Ok(Self {
            key_path: key_path.into(),
            url,
            algorithms,
            refresh,
            min_refetch,
            client,
            keys: ArcSwap::from_pointee(KeySet::default()),
            last_fetch_ms: AtomicU64::new(0),
            // The first fetch is as good as requested: the task starts with it.
            pending: AtomicBool::new(true),
            wake: Notify::new(),
            fetches: watch::Sender::new(0),
            next_refresh_ms: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        })
    }

    /// Asks the task for a fetch, unless one is pending or the last was too recent.
    pub(crate) fn request_refetch(&self, now_ms: u64) -> Refetch {
        if self.pending.load(Ordering::Acquire) {
            return Refetch::InFlight;
        }
        let last = self.last_fetch_ms.load(Ordering::Acquire);
        if now_ms < last.saturating_add(self.min_refetch.as_millis() as u64) {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Refetch::RateLimited;
        }
        if self
            .pending
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Refetch::InFlight;
        }
        self.wake.notify_one();
        Refetch::Requested
    }

    /// Fetches at start, on schedule and on request until `shutdown`.
    pub(crate) async fn run(
        self: Arc<Self>,
        clock: SharedClock,
        cache: Option<Arc<TokenCache>>,
        shutdown: CancellationToken,
    ) {
        let mut current: Option<[u8; 32]> = None;
        loop {
            self.pending.store(true, Ordering::Release);
            self.last_fetch_ms.store(clock.now_ms(), Ordering::Release);
            let fetched = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                f = self.fetch() => f,
            };
            let wait = match fetched {
                Ok(f) => {
                    if current != Some(f.digest) {
                        self.install(f.parsed, cache.as_deref());
                        current = Some(f.digest);
                    }
                    next_refresh(f.max_age, self.refresh, self.min_refetch)
                }
                Err(why) => {
                    tracing::warn!(
                        target: "palisade::jwt",
                        key = %self.key_path,
                        url = %self.url,
                        error = %why,
                        keys_kept = self.keys.load().len(),
                        "cannot refresh the JWKS; keeping the last good key set. Check that \
                         the URL is reachable from Palisade, answers 200 with a JSON \
                         {{\"keys\": [...]}} document, and that its keys fit `algorithms`"
                    );
                    self.min_refetch.min(self.refresh)
                }
            };
            self.next_refresh_ms
                .store(wait.as_millis() as u64, Ordering::Release);
            self.pending.store(false, Ordering::Release);
            self.fetches.send_modify(|n| *n += 1);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    fn install(&self, parsed: super::keys::ParsedJwks, cache: Option<&TokenCache>) {
        for why in &parsed.skipped {
            tracing::warn!(
                target: "palisade::jwt",
                key = %self.key_path,
                url = %self.url,
                "JWKS key left out: {why}"
            );
        }
        tracing::info!(
            target: "palisade::jwt",
            key = %self.key_path,
            url = %self.url,
            keys = parsed.set.len(),
            "JWKS key set loaded"
        );
        self.keys.store(Arc::new(parsed.set));
        if let Some(cache) = cache {
            cache.clear();
        }
    }

    async fn fetch(&self) -> Result<Fetched, String> {
        let mut resp = self
            .client
            .get(self.url.clone())
            .header(ACCEPT, "application/json, application/jwk-set+json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("the server answered {}", resp.status()));
        }
        let max_age = resp
            .headers()
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("the document is larger than 1 MiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        let parsed = parse_jwks(&body, &self.algorithms)?;
        if parsed.set.is_empty() {
            return Err(format!(
                "no usable key in the document ({})",
                parsed.skipped.join("; ")
            ));
        }
        Ok(Fetched {
            digest: digest_of(&body),
            parsed,
            max_age,
        })
    }
}

struct Fetched {
    /// SHA-256 of the body: an unchanged document changes nothing.
    digest: [u8; 32],
    parsed: super::keys::ParsedJwks,
    max_age: Option<Duration>,
}

/// The `max-age` of one Cache-Control header value, if it states one.
pub(crate) fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|d| {
        let (name, secs) = d.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        secs.trim()
            .trim_matches('"')
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    })
}

/// The wait before the next scheduled fetch: `refresh`, or a shorter `max-age`,
/// but never less than `min_refetch`.
pub(crate) fn next_refresh(
    max_age: Option<Duration>,
    refresh: Duration,
    min_refetch: Duration,
) -> Duration {
    max_age.map_or(refresh, |m| m.min(refresh)).max(min_refetch)
}
