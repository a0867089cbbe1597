//! Owns JWT verification: `JwtVerifier` turns a `Bearer` header value into a
//! verified `Identity`, or a `JwtError` naming the exact cause (the request is
//! answered 401 `unauthenticated` either way; the cause goes to the event).
//!
//! How a token is checked, in order: the verified-token cache (by SHA-256 of
//! the token, never past `exp` + leeway); the JOSE header (`none` and unknown
//! algorithms refused); the key, by `kid`, whose own allowlist must hold the
//! token's `alg` (so an RSA public key never verifies an HS token); the
//! signature (jsonwebtoken, aws-lc-rs); then the claims against the injected
//! clock (jsonwebtoken's own exp/nbf checks use the system clock and are off).
//!
//! Keys from `jwks_url` live in `ArcSwap`s refreshed by `jwks_refresher`, a
//! task the caller spawns; an unknown `kid` is refused at once and only
//! *requests* a background fetch (jwks.rs), so the request path never awaits.
//! Must not log per request (the caller emits one event per denial), must not
//! keep or log tokens, and must not await.

mod cache;
mod jwks;
mod keys;
mod token;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use palisade_models::SharedClock;
use palisade_models::config::{JwtAlgorithm, JwtConfig, JwtKeySource};

use crate::error::ProxyError;

use cache::{Cached, TokenCache};
use jwks::JwksSource;
use keys::{KeySet, Selected, VerifyKey};
use token::Policy;

/// Verifies bearer tokens. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

/// Who a verified token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The subject claim (`auth.jwt.subject_claim`, default `sub`).
    pub subject: Box<str>,
    /// The scopes claim (`auth.jwt.scopes_claim`), split on spaces if a string.
    pub scopes: Vec<Box<str>>,
    /// The scopes space-separated, as events and the upstream get them; built
    /// once per verified token (identities are cached), so no request copies them.
    pub scopes_text: Option<Arc<str>>,
    /// The `jti` claim, if any.
    pub token_id: Option<Arc<str>>,
    /// The token's `exp`, in Unix ms.
    pub expires_at_unix_ms: u64,
    /// Subject, scopes and token id as the upstream gets them, built once per
    /// verified token: a request clones them instead of copying and checking
    /// the bytes again.
    pub values: IdentityValues,
}

/// An identity's upstream header values; None for a claim absent, or one that
/// is not a valid header value (then the header is not sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityValues {
    pub subject: Option<HeaderValue>,
    pub scopes: Option<HeaderValue>,
    pub token_id: Option<HeaderValue>,
}

/// Why a token was not accepted. Every one is answered 401 `unauthenticated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// No `Bearer` credential in the header.
    #[error("missing")]
    Missing,
    /// Not a well-formed JWS, or a claim of the wrong type (exp, subject, scopes).
    #[error("malformed")]
    Malformed,
    #[error("bad_signature")]
    BadSignature,
    /// `none`, an unknown algorithm, or one the chosen key does not allow.
    #[error("algorithm_not_allowed")]
    AlgorithmNotAllowed,
    /// No key has the token's `kid` (a JWKS refetch may have been requested).
    #[error("unknown_kid")]
    UnknownKid,
    #[error("expired")]
    Expired,
    #[error("not_yet_valid")]
    NotYetValid,
    #[error("wrong_issuer")]
    WrongIssuer,
    #[error("wrong_audience")]
    WrongAudience,
}

/// Headers under which the verified identity is sent upstream.
#[derive(Debug, Clone)]
pub struct JwtUpstreamHeaders {
    pub subject: HeaderName,
    /// Scopes, space-separated.
    pub scopes: HeaderName,
    pub token_id: HeaderName,
}

struct Inner {
    header: HeaderName,
    upstream: JwtUpstreamHeaders,
    policy: Policy,
    static_keys: KeySet,
    jwks: Vec<Arc<JwksSource>>,
    /// Algorithms some key may verify; a token with any other is refused
    /// without a key lookup (and without a pointless JWKS refetch).
    allowed: Vec<JwtAlgorithm>,
    /// One per `JwtAlgorithm::ALL`, built once: only that algorithm, and no
    /// claim checks (ours use the injected clock).
    validations: Vec<Validation>,
    cache: Option<Arc<TokenCache>>,
    clock: SharedClock,
    /// Signature checks done; lets tests see the cache work.
    signature_checks: AtomicU64,
}

impl Identity {
    /// An identity, with its scopes' text and header values built once.
    pub fn new(
        subject: &str,
        scopes: Vec<Box<str>>,
        token_id: Option<&str>,
        expires_at_unix_ms: u64,
    ) -> Self {
        let scopes_text: Option<Arc<str>> = (!scopes.is_empty()).then(|| scopes.join(" ").into());
        // Claims may be UTF-8, which `from_bytes` allows and `from_str` does not.
        let value = |v: &str| HeaderValue::from_bytes(v.as_bytes()).ok();
        let values = IdentityValues {
            subject: value(subject),
            scopes: scopes_text.as_deref().and_then(value),
            token_id: token_id.and_then(value),
        };
        Self {
            subject: subject.into(),
            scopes,
            scopes_text,
            token_id: token_id.map(Into::into),
            expires_at_unix_ms,
            values,
        }
    }

    /// True when the token grants every scope in `required`.
    pub fn grants(&self, required: &[Box<str>]) -> bool {
        required.iter().all(|r| self.scopes.contains(r))
    }
}

impl JwtError {
    /// The cause as it appears in events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::UnknownKid => "unknown_kid",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
        }
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("JwtVerifier")
            .field("header", &i.header)
            .field("static_keys", &i.static_keys)
            .field("jwks", &i.jwks)
            .field("cache", &i.cache)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Builds the verifier from a validated `[auth.jwt]`: reads PEM and JWKS
    /// files and secrets from the environment. JWKS URLs start empty; spawn
    /// `jwks_refresher` to fill them.
    pub fn build(config: &JwtConfig, clock: SharedClock) -> Result<Self, ProxyError> {
        Self::build_with_env(config, clock, &|name| {
            std::env::var_os(name).map(|v| v.into_encoded_bytes())
        })
    }

    /// `build`, reading secrets through `env` (tests and the fuzz targets
    /// cannot set variables safely).
    pub fn build_with_env(
        config: &JwtConfig,
        clock: SharedClock,
        env: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<Self, ProxyError> {
        let h = &config.upstream_headers;
        let upstream = JwtUpstreamHeaders {
            subject: header_name(&h.subject, "auth.jwt.upstream_headers.subject")?,
            scopes: header_name(&h.scopes, "auth.jwt.upstream_headers.scopes")?,
            token_id: header_name(&h.token_id, "auth.jwt.upstream_headers.token_id")?,
        };
        let mut static_keys = KeySet::default();
        let mut jwks = Vec::new();
        let mut allowed: Vec<JwtAlgorithm> = Vec::new();
        for (i, k) in config.key.iter().enumerate() {
            let at = format!("auth.jwt.key[{i}]");
            let algs = k.algorithm_list();
            for a in &algs {
                if !allowed.contains(a) {
                    allowed.push(*a);
                }
            }
            let id = k.id.as_deref();
            match k.source() {
                Some(JwtKeySource::SecretEnv(var)) => {
                    let at = format!("{at}.secret_env");
                    let secret = env(var).filter(|s| !s.is_empty()).ok_or_else(|| {
                        jwt_error(
                            &at,
                            format!("the environment variable `{var}` is not set or empty"),
                        )
                    })?;
                    static_keys.push(
                        keys::from_secret(id, &algs, &secret).map_err(|m| jwt_error(&at, m))?,
                    );
                }
                Some(JwtKeySource::PemFile(path)) => {
                    let at = format!("{at}.pem_file");
                    let pem = read(path, &at)?;
                    static_keys.push(
                        keys::from_pem(id, &algs, &pem)
                            .map_err(|m| jwt_error(&at, format!("{}: {m}", path.display())))?,
                    );
                }
                Some(JwtKeySource::JwksFile(path)) => {
                    let at = format!("{at}.jwks_file");
                    let body = read(path, &at)?;
                    let fail = |m: String| jwt_error(&at, format!("{}: {m}", path.display()));
                    let parsed = keys::parse_jwks(&body, &algs).map_err(fail)?;
                    if !parsed.skipped.is_empty() {
                        return Err(fail(parsed.skipped.join("; ")));
                    }
                    if parsed.set.is_empty() {
                        return Err(fail("the key set is empty".into()));
                    }
                    static_keys.extend(parsed.set);
                }
                Some(JwtKeySource::JwksUrl(url)) => {
                    let source = JwksSource::new(
                        at.clone(),
                        url.clone(),
                        algs,
                        k.refresh_interval(),
                        k.min_refetch(),
                    )
                    .map_err(|m| jwt_error(&format!("{at}.jwks_url"), m))?;
                    jwks.push(Arc::new(source));
                }
                None => return Err(jwt_error(&at, "the key has no source".into())),
            }
        }
        let inner = Inner {
            header: header_name(&config.header, "auth.jwt.header")?,
            upstream,
            policy: Policy {
                issuers: config.issuer.iter().map(|s| s.as_str().into()).collect(),
                audiences: config.audience.iter().map(|s| s.as_str().into()).collect(),
                leeway_ms: config.leeway.duration().as_millis() as u64,
                subject_claim: config.subject_claim.as_str().into(),
                scopes_claim: config.scopes_claim.as_str().into(),
            },
            static_keys,
            jwks,
            allowed,
            validations: JwtAlgorithm::ALL.iter().map(|a| validation(*a)).collect(),
            cache: TokenCache::new(config.cache_entries).map(Arc::new),
            clock,
            signature_checks: AtomicU64::new(0),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// True when at least one key (or key set) is configured.
    pub fn has_keys(&self) -> bool {
        !self.inner.static_keys.is_empty() || !self.inner.jwks.is_empty()
    }

    /// The request header that carries the token (`auth.jwt.header`).
    pub fn header_name(&self) -> &HeaderName {
        &self.inner.header
    }

    /// Where the verified identity goes upstream (`auth.jwt.upstream_headers`).
    /// The caller must remove client-sent headers of these names.
    pub fn upstream_headers(&self) -> &JwtUpstreamHeaders {
        &self.inner.upstream
    }

    /// Verifies the token in the configured header. `Missing` when the header
    /// is absent; `Malformed` when it appears more than once.
    pub fn verify_headers(&self, headers: &HeaderMap) -> Result<Arc<Identity>, JwtError> {
        let mut values = headers.get_all(&self.inner.header).iter();
        match (values.next(), values.next()) {
            (None, _) => Err(JwtError::Missing),
            (Some(v), None) => self.verify(v.as_bytes()),
            (Some(_), Some(_)) => Err(JwtError::Malformed),
        }
    }

    /// Verifies one header value, `Bearer <token>`.
    pub fn verify(&self, authorization: &[u8]) -> Result<Arc<Identity>, JwtError> {
        let i = &*self.inner;
        let token = token::bearer(authorization)?;
        let now_ms = i.clock.now_ms();
        let digest = i
            .cache
            .as_ref()
            .map(|c| (c, cache::digest_of(token), c.generation()));
        if let Some((cache, d, _)) = &digest {
            match cache.get(d, now_ms) {
                Cached::Valid(identity) => return Ok(identity),
                Cached::Expired => return Err(JwtError::Expired),
                Cached::Miss => {}
            }
        }
        // Only here, past the cache: only verified tokens are cached, and a hit
        // is the same bytes (the digest is SHA-256), so its shape was checked.
        token::check_shape(token)?;
        let header = token::jose_header(token)?;
        let key = self.select(header.alg, header.kid.as_deref(), now_ms)?;
        i.signature_checks.fetch_add(1, Ordering::Relaxed);
        let verified = jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &key.key,
            &i.validations[alg_index(header.alg)],
        )
        .map_err(|e| map_error(e.kind()))?;
        let (identity, deadline_ms) = i.policy.check(&verified.claims, now_ms)?;
        let identity = Arc::new(identity);
        if let Some((cache, d, generation)) = digest {
            cache.insert(d, identity.clone(), deadline_ms, generation);
        }
        Ok(identity)
    }

    /// The key for `alg` and `kid`: configured keys first, then each JWKS in
    /// config order. An unknown `kid` requests a refetch of the key sets that
    /// could hold it.
    fn select(
        &self,
        alg: JwtAlgorithm,
        kid: Option<&str>,
        now_ms: u64,
    ) -> Result<Arc<VerifyKey>, JwtError> {
        let i = &*self.inner;
        if !i.allowed.contains(&alg) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let mut named = false;
        let sets = std::iter::once(None).chain(i.jwks.iter().map(Some));
        for source in sets {
            let guard;
            let set = match source {
                None => &i.static_keys,
                Some(s) => {
                    guard = s.keys.load();
                    &**guard
                }
            };
            match set.select(kid, alg) {
                Selected::One(k) => return Ok(k.clone()),
                Selected::AlgorithmNotAllowed => named = true,
                Selected::Ambiguous => return Err(JwtError::UnknownKid),
                Selected::NoKey => {}
            }
        }
        if named {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        if kid.is_some() {
            for s in i.jwks.iter().filter(|s| s.algorithms.contains(&alg)) {
                s.request_refetch(now_ms);
            }
        }
        Err(JwtError::UnknownKid)
    }

    /// The task that keeps every `jwks_url` key set fresh, until `shutdown`.
    /// Spawn it once on any tokio runtime (it does its own HTTP); it completes
    /// at once when no `jwks_url` is configured.
    pub fn jwks_refresher(
        &self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            let loops = inner.jwks.iter().map(|s| {
                s.clone()
                    .run(inner.clock.clone(), inner.cache.clone(), shutdown.clone())
            });
            futures_util::future::join_all(loops).await;
        }
    }

    /// Resolves once every `jwks_url` has been fetched once, well or not. Start
    /// the refresher first; bound the wait with a timeout.
    pub async fn jwks_loaded(&self) {
        for s in &self.inner.jwks {
            let mut seen = s.fetches.subscribe();
            // The sender lives as long as `self`: the wait cannot fail.
            let _ = seen.wait_for(|n| *n > 0).await;
        }
    }

    /// Signature checks done so far (the cache saves them).
    pub fn signature_checks(&self) -> u64 {
        self.inner.signature_checks.load(Ordering::Relaxed)
    }
}

fn validation(alg: JwtAlgorithm) -> Validation {
    let mut v = Validation::new(keys::algorithm(alg));
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v.leeway = 0;
    v
}

fn alg_index(alg: JwtAlgorithm) -> usize {
    // INVARIANT: ALL lists every variant, so the search always finds it.
    JwtAlgorithm::ALL
        .iter()
        .position(|a| *a == alg)
        .unwrap_or(0)
}

fn map_error(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => JwtError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm => JwtError::AlgorithmNotAllowed,
        _ => JwtError::Malformed,
    }
}

fn header_name(name: &str, key: &'static str) -> Result<HeaderName, ProxyError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|e| ProxyError::Config {
        key,
        message: e.to_string(),
    })
}

fn read(path: &std::path::Path, at: &str) -> Result<Vec<u8>, ProxyError> {
    std::fs::read(path).map_err(|e| jwt_error(at, format!("cannot read {}: {e}", path.display())))
}

fn jwt_error(key: &str, message: String) -> ProxyError {
    ProxyError::Jwt {
        key: key.to_string(),
        message,
    }
}
