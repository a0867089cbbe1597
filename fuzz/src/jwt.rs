//! Target `jwt`: bearer tokens through the proxy's verifier, everything that
//! runs on a token before and around the signature check: the `Bearer` split,
//! the JOSE header (`alg`, `kid`, `crit`) read to pick a key, jsonwebtoken's
//! decode, and the claims policy (exp, nbf, iss, aud, subject, scopes, jti).
//! Odd first bytes: the rest is the header value as sent. Even: the rest is a
//! JOSE header and a claims set (split at the first 0xff) that this target
//! signs with the verifier's own HS256 secret, so the fuzzer's claims reach the
//! policy, as a token from a compromised or careless issuer would.
//!
//! Asserts: nothing this target did not sign verifies; a signed token verifies
//! only with `alg` HS256, a future `exp` and the configured issuer and
//! audience; and an identity's subject is the token's and safe as a header.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_models::{Config, ManualClock, SharedClock};
use palisade_proxy::JwtVerifier;
use serde_json::Value;

/// The verifier's clock, in Unix seconds.
pub(super) const NOW_S: u64 = 1_700_000_000;
const SECRET: &[u8] = b"fuzzing-secret-0123456789abcdef-0123456789abcdef";

const CONFIG: &str = r#"
[upstream]
url = "http://127.0.0.1:1"
[routes]
unknown = "allow"
[auth.jwt]
issuer = "https://auth.example.com/"
audience = ["orders-api", "admin-api"]
leeway = "30s"
cache_entries = 0
[[auth.jwt.key]]
algorithms = ["HS256"]
secret_env = "FUZZ_JWT_SECRET"
"#;

static VERIFIER: LazyLock<JwtVerifier> = LazyLock::new(|| {
    // INVARIANT: a fixed config that the seed test proves valid.
    let config = Config::parse(CONFIG).expect("the JWT config parses");
    let clock: SharedClock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW_S)));
    let env = |name: &str| (name == "FUZZ_JWT_SECRET").then(|| SECRET.to_vec());
    JwtVerifier::build_with_env(&config.auth.jwt, clock, &env).expect("the verifier builds")
});

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        assert!(
            VERIFIER.verify(rest).is_err(),
            "a token this target did not sign verified"
        );
        return;
    }
    let (header, claims) = match rest.iter().position(|&b| b == 0xff) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], rest),
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    let tag = hmac::sign(&key, signing_input.as_bytes());
    let token = format!("Bearer {signing_input}.{}", URL_SAFE_NO_PAD.encode(tag));
    let Ok(identity) = VERIFIER.verify(token.as_bytes()) else {
        return;
    };
    let header: Value = serde_json::from_slice(header).expect("a verified header is JSON");
    assert_eq!(header["alg"], "HS256", "verified with another algorithm");
    let claims: Value = serde_json::from_slice(claims).expect("verified claims are JSON");
    let exp = claims["exp"]
        .as_f64()
        .expect("a verified token has a numeric exp");
    assert!(exp + 30.0 > NOW_S as f64, "an expired token verified");
    assert_eq!(claims["iss"], "https://auth.example.com/");
    let aud_ok = |a: &Value| a == "orders-api" || a == "admin-api";
    match &claims["aud"] {
        Value::Array(list) => assert!(list.iter().any(aud_ok)),
        other => assert!(aud_ok(other), "audience {other}"),
    }
    assert_eq!(claims["sub"].as_str(), Some(&*identity.subject));
    for s in std::iter::once(&identity.subject).chain(&identity.scopes) {
        assert!(
            !s.is_empty() && s.len() <= 1024,
            "claim of {} bytes",
            s.len()
        );
        assert!(
            !s.chars().any(char::is_control),
            "control character in {s:?}"
        );
    }
    assert!(
        identity
            .scopes
            .iter()
            .all(|s| !s.contains(char::is_whitespace))
    );
}
