//! Criterion benchmarks of JWT verification as the identify phase runs it
//! (`JwtVerifier::verify` on an `Authorization: Bearer …` value), RS256 with a
//! 2048-bit key from a PEM file:
//!
//! - `jwt/rs256_cached`: a token verified before; what a client reusing its
//!   token pays per request (SHA-256 of the token and a cache lookup).
//! - `jwt/rs256_uncached`: the same with `cache_entries = 0`: decoding, the RSA
//!   signature check and the claim checks, every time.
//!
//! Run: `cargo bench -p palisade-bench --bench jwt`.

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use palisade_models::{Config, SystemClock};
use palisade_proxy::JwtVerifier;

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        body.join("\n")
    )
}

fn verifier(pem_path: &str, cache_entries: usize) -> JwtVerifier {
    let text = format!(
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n[routes]\nunknown = \"allow\"\n\
         [auth.jwt]\ncache_entries = {cache_entries}\n\
         [[auth.jwt.key]]\nalgorithms = [\"RS256\"]\npem_file = \"{pem_path}\"\n"
    );
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    JwtVerifier::build(&config.auth.jwt, Arc::new(SystemClock::new()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kp = KeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|e| panic!("{e}"));
    let private = kp.as_der().unwrap_or_else(|e| panic!("{e}"));
    let public = kp.public_key().as_der().unwrap_or_else(|e| panic!("{e}"));
    let pem_path = dir.path().join("public.pem");
    std::fs::write(&pem_path, pem("PUBLIC KEY", public.as_ref())).unwrap_or_else(|e| panic!("{e}"));
    let signing = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", private.as_ref()).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 86_400)
        .unwrap_or_default();
    let claims =
        serde_json::json!({"sub": "bench-user", "scope": "orders:read", "jti": "t-1", "exp": exp});
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &signing)
        .unwrap_or_else(|e| panic!("{e}"));
    let header = format!("Bearer {token}");

    let path = pem_path.to_str().unwrap_or_default();
    let cached = verifier(path, 10_000);
    assert!(
        cached.verify(header.as_bytes()).is_ok(),
        "the token verifies"
    );
    c.bench_function("jwt/rs256_cached", |b| {
        b.iter(|| black_box(cached.verify(black_box(header.as_bytes()))))
    });
    let uncached = verifier(path, 0);
    c.bench_function("jwt/rs256_uncached", |b| {
        b.iter(|| black_box(uncached.verify(black_box(header.as_bytes()))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
