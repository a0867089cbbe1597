//! Test support for the JWT verifier: keys generated with aws-lc-rs, tokens
//! signed with jsonwebtoken, verifiers built from real config text, a manual
//! clock. The test files are `verify.rs` (algorithms and claims), `cache.rs`
//! and `jwks.rs` (a real HTTP server on 127.0.0.1:0 serving a swappable JWKS).

mod cache;
mod jwks;
mod verify;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use palisade_models::config::JwtAlgorithm;
use palisade_models::{Clock, Config, ManualClock, SharedClock};

use super::{JwtVerifier, keys};

/// The tests' "now": 2023-11-14T22:13:20Z.
const NOW_S: u64 = 1_700_000_000;
const ISSUER: &str = "https://auth.example.com/";
const AUDIENCE: &str = "orders-api";
const HMAC_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A signing key and its public half in the forms the config takes.
struct TestKey {
    signing: EncodingKey,
    /// PEM `PUBLIC KEY` (SPKI); for HMAC, the secret.
    public_pem: String,
    /// The public JWK, with `alg` set to `alg`.
    jwk: Jwk,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn public_pem(key: &impl AsDer<PublicKeyX509Der<'static>>) -> String {
    pem("PUBLIC KEY", key.as_der().unwrap().as_ref())
}

fn with_jwk(signing: EncodingKey, public_pem: String, alg: JwtAlgorithm) -> TestKey {
    let jwk = Jwk::from_encoding_key(&signing, keys::algorithm(alg)).unwrap();
    TestKey {
        signing,
        public_pem,
        jwk,
    }
}

fn new_rsa() -> TestKey {
    let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8: Pkcs8V1Der = kp.as_der().unwrap();
    let signing = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).unwrap();
    with_jwk(signing, public_pem(kp.public_key()), JwtAlgorithm::RS256)
}

fn new_ec(alg: JwtAlgorithm) -> TestKey {
    let curve = match alg {
        JwtAlgorithm::ES384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &ECDSA_P256_SHA256_FIXED_SIGNING,
    };
    let kp = EcdsaKeyPair::generate(curve).unwrap();
    let signing = EncodingKey::from_ec_der(kp.to_pkcs8v1().unwrap().as_ref());
    with_jwk(signing, public_pem(kp.public_key()), alg)
}

fn new_ed25519() -> TestKey {
    let kp = Ed25519KeyPair::generate().unwrap();
    let signing = EncodingKey::from_ed_der(kp.to_pkcs8v1().unwrap().as_ref());
    with_jwk(signing, public_pem(kp.public_key()), JwtAlgorithm::EdDSA)
}

/// One RSA key per process: generating them is the slow part of these tests.
fn rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(new_rsa)
}

fn rsa_other() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(new_rsa)
}

/// The key a family's tests sign with.
fn key_for(alg: JwtAlgorithm) -> TestKey {
    match alg {
        JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512 => TestKey {
            signing: EncodingKey::from_secret(HMAC_SECRET),
            public_pem: String::new(),
            jwk: Jwk::from_encoding_key(
                &EncodingKey::from_secret(HMAC_SECRET),
                keys::algorithm(alg),
            )
            .unwrap(),
        },
        JwtAlgorithm::RS256
        | JwtAlgorithm::RS384
        | JwtAlgorithm::RS512
        | JwtAlgorithm::PS256
        | JwtAlgorithm::PS384
        | JwtAlgorithm::PS512 => TestKey {
            signing: rsa().signing.clone(),
            public_pem: rsa().public_pem.clone(),
            jwk: rsa().jwk.clone(),
        },
        JwtAlgorithm::ES256 | JwtAlgorithm::ES384 => new_ec(alg),
        JwtAlgorithm::EdDSA => new_ed25519(),
    }
}

/// Claims valid at `NOW_S` for five minutes.
fn claims() -> Value {
    json!({
        "sub": "alice",
        "scope": "orders:read orders:write",
        "jti": "token-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": NOW_S,
        "exp": NOW_S + 300,
    })
}

/// A signed token, `Bearer`-prefixed as the header carries it.
fn bearer(key: &EncodingKey, alg: JwtAlgorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(keys::algorithm(alg));
    header.kid = kid.map(str::to_owned);
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, claims, key).unwrap()
    )
}

/// A token with a hand-made header and signature: for `none` and forgeries.
fn raw_bearer(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!(
        "Bearer {}.{}.{}",
        enc(header),
        enc(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW_S)))
}

/// The `[auth.jwt]` config in `jwt_toml` (which starts with `[auth.jwt]`).
fn config(jwt_toml: &str) -> Config {
    let text = format!(
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n[routes]\nunknown = \"allow\"\n{jwt_toml}"
    );
    Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Test secrets, as the environment would hold them.
fn env(name: &str) -> Option<Vec<u8>> {
    match name {
        "JWT_SECRET" => Some(HMAC_SECRET.to_vec()),
        "SHORT_SECRET" => Some(b"too-short".to_vec()),
        _ => None,
    }
}

fn build(jwt_toml: &str, clock: &Arc<ManualClock>) -> JwtVerifier {
    let shared: SharedClock = clock.clone();
    JwtVerifier::build_with_env(&config(jwt_toml).auth.jwt, shared, &env)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn build_err(jwt_toml: &str) -> String {
    let shared: SharedClock = manual_clock();
    JwtVerifier::build_with_env(&config(jwt_toml).auth.jwt, shared, &env)
        .unwrap_err()
        .to_string()
}

/// Writes `text` to `name` in `dir`; returns the path as TOML string content.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A JWKS document with these keys under these kids.
fn jwks(keys: &[(&TestKey, &str)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(k, kid)| {
            let mut jwk = k.jwk.clone();
            jwk.common.key_id = Some((*kid).to_owned());
            serde_json::to_value(jwk).unwrap()
        })
        .collect();
    json!({ "keys": keys }).to_string()
}
