//! The verified-token cache: a reused token costs no signature check, and a
//! cached identity is never served past `exp` + leeway.

use super::*;
use crate::jwt::JwtError;
use crate::jwt::cache::{Cached, TokenCache, digest_of};

fn hs_verifier(extra: &str, clock: &Arc<ManualClock>) -> JwtVerifier {
    build(
        &format!(
            "[auth.jwt]\n{extra}\n[[auth.jwt.key]]\nalgorithms = [\"HS256\"]\nsecret_env = \"JWT_SECRET\"\n"
        ),
        clock,
    )
}

fn hs_token(claims: &Value) -> String {
    bearer(
        &EncodingKey::from_secret(HMAC_SECRET),
        JwtAlgorithm::HS256,
        None,
        claims,
    )
}

#[test]
fn a_reused_token_is_verified_once() {
    let clock = manual_clock();
    let v = hs_verifier("", &clock);
    let t = hs_token(&claims());
    let first = v.verify(t.as_bytes()).unwrap();
    assert_eq!(v.signature_checks(), 1);
    let second = v.verify(t.as_bytes()).unwrap();
    assert_eq!(v.signature_checks(), 1, "served from the cache");
    assert!(Arc::ptr_eq(&first, &second));
    let other = hs_token(&with_jti(claims(), "token-2"));
    v.verify(other.as_bytes()).unwrap();
    assert_eq!(v.signature_checks(), 2);
    // A forged token is not a cache hit of a good one: different digest.
    let forged = format!("{}x", t);
    assert_eq!(v.verify(forged.as_bytes()), Err(JwtError::BadSignature));
    assert_eq!(v.signature_checks(), 3);
}

#[test]
fn a_cached_token_is_not_served_past_exp_plus_leeway() {
    let clock = manual_clock();
    let v = hs_verifier("leeway = \"30s\"", &clock);
    let t = hs_token(&claims()); // exp = now + 300 s
    v.verify(t.as_bytes()).unwrap();
    clock.advance(Duration::from_millis(330_000 - 1));
    assert!(v.verify(t.as_bytes()).is_ok(), "1 ms before exp + leeway");
    assert_eq!(v.signature_checks(), 1);
    clock.advance(Duration::from_millis(1));
    assert_eq!(v.verify(t.as_bytes()), Err(JwtError::Expired));
    assert_eq!(
        v.signature_checks(),
        1,
        "expired straight from the cache entry"
    );
    // The entry is gone: the next attempt checks again, and fails again.
    assert_eq!(v.verify(t.as_bytes()), Err(JwtError::Expired));
    assert_eq!(v.signature_checks(), 2);
}

#[test]
fn zero_entries_turns_the_cache_off() {
    let clock = manual_clock();
    let v = hs_verifier("cache_entries = 0", &clock);
    let t = hs_token(&claims());
    for _ in 0..3 {
        v.verify(t.as_bytes()).unwrap();
    }
    assert_eq!(v.signature_checks(), 3);
}

#[test]
fn the_cache_is_bounded_and_keyed_by_digest() {
    let cache = TokenCache::new(50).unwrap();
    let identity = Arc::new(crate::jwt::Identity::new("s", Vec::new(), None, 10_000));
    for i in 0..1000u32 {
        cache.insert(
            digest_of(format!("token-{i}").as_bytes()),
            identity.clone(),
            10_000,
            cache.generation(),
        );
    }
    assert!(cache.len() <= 60, "{} entries", cache.len());
    let d = digest_of(b"fresh");
    cache.insert(d, identity.clone(), 10_000, cache.generation());
    assert!(matches!(cache.get(&d, 9_999), Cached::Valid(_)));
    assert!(matches!(cache.get(&d, 10_000), Cached::Expired));
    assert!(matches!(cache.get(&d, 0), Cached::Miss));
    assert!(TokenCache::new(0).is_none());

    // A verification that began before a clear is not cached after it.
    let before = cache.generation();
    cache.clear();
    cache.insert(d, identity, 10_000, before);
    assert!(matches!(cache.get(&d, 0), Cached::Miss));
}

#[test]
fn the_verifier_and_its_refresher_can_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    fn send<T: Send + 'static>(_: T) {}
    let v = hs_verifier("", &manual_clock());
    send_sync(&v);
    send(v.jwks_refresher(tokio_util::sync::CancellationToken::new()));
}

fn with_jti(mut c: Value, jti: &str) -> Value {
    c["jti"] = json!(jti);
    c
}
