//! JWT end to end: a route requiring a token accepts a valid one and tells the
//! upstream who called (subject, scopes, token id) under Palisade's headers,
//! never a client's forgery of them; expired, tampered and foreign tokens get
//! 401 with the cause in the deny log only; scopes are enforced; a route taking
//! either credential accepts an API key too. Unit tests in proxy/src/jwt cover
//! every algorithm, JWKS rotation and the cache.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use palisade_models::{DenyCode, ManualClock};
use palisade_tests::sha256_hex;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const NOW_S: u64 = 1_800_000_000;

struct Key {
    signing: EncodingKey,
    public_pem: String,
}

fn es256() -> Key {
    let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let spki = kp.public_key().as_der().unwrap();
    let b64 = STANDARD.encode(spki.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    Key {
        signing: EncodingKey::from_ec_der(kp.to_pkcs8v1().unwrap().as_ref()),
        public_pem: format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        ),
    }
}

fn token(key: &Key, sub: &str, scope: &str, exp: u64) -> String {
    let claims = serde_json::json!({
        "sub": sub, "scope": scope, "jti": "t-42", "iss": "https://auth.example",
        "exp": exp, "iat": NOW_S,
    });
    let t = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key.signing).unwrap();
    format!("Bearer {t}")
}

fn start(up: &Upstream, pem_path: &str) -> (Sidecar, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW_S)));
    let config = format!(
        r#"
        [routes]
        unknown = "deny"
        [[route]]
        path = "/api/orders/{{id}}"
        auth = "jwt"
        scopes = ["orders:read"]
        [[route]]
        path = "/api/either"
        auth = "jwt_or_api_key"
        [auth.jwt]
        issuer = "https://auth.example"
        leeway = "10s"
        [[auth.jwt.key]]
        algorithms = ["ES256"]
        pem_file = "{pem_path}"
        [[auth.api_keys.key]]
        id = "batch"
        sha256 = "{}"
        "#,
        sha256_hex("k-batch-0123456789")
    );
    let side = Sidecar::start_with(
        &up.url(),
        &config,
        Options {
            clock: Some(clock.clone()),
            no_analytics: true,
        },
    );
    (side, clock)
}

async fn get(side: &Sidecar, path: &str, auth: Option<&str>) -> StatusCode {
    let mut req = reqwest::Client::new()
        .get(side.url(path))
        .header("x-palisade-subject", "mallory");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn tokens_are_verified_and_their_identity_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let key = es256();
    let pem = dir.path().join("jwt.pem");
    std::fs::write(&pem, &key.public_pem).unwrap();
    let up = Upstream::echo().await;
    let (side, clock) = start(&up, pem.to_str().unwrap());

    let good = token(&key, "alice", "orders:read orders:write", NOW_S + 60);
    assert_eq!(
        get(&side, "/api/orders/1", Some(&good)).await,
        StatusCode::OK
    );
    let seen = up.seen().pop().unwrap();
    assert_eq!(
        seen.headers["x-palisade-subject"], "alice",
        "not the client's forgery"
    );
    assert_eq!(
        seen.headers["x-palisade-scopes"],
        "orders:read orders:write"
    );
    assert_eq!(seen.headers["x-palisade-token-id"], "t-42");
    assert!(
        seen.headers.get("authorization").is_some(),
        "the upstream may verify too"
    );

    let narrow = token(&key, "bob", "profile", NOW_S + 60);
    assert_eq!(
        get(&side, "/api/orders/1", Some(&narrow)).await,
        StatusCode::FORBIDDEN
    );
    let stranger = token(&es256(), "alice", "orders:read", NOW_S + 60);
    assert_eq!(
        get(&side, "/api/orders/1", Some(&stranger)).await,
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = good.clone();
    tampered.insert_str(tampered.len() - 4, "AAAA");
    tampered.truncate(good.len());
    assert_ne!(tampered, good);
    assert_eq!(
        get(&side, "/api/orders/1", Some(&tampered)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&side, "/api/orders/1", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(up.count(), 1, "no refused request reached the upstream");

    // Either credential opens /api/either.
    assert_eq!(
        get(&side, "/api/either", Some(&narrow)).await,
        StatusCode::OK
    );
    let by_key = reqwest::Client::new()
        .get(side.url("/api/either"))
        .header("x-api-key", "k-batch-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), StatusCode::OK);

    // The cached token stops working when it expires (+ leeway).
    clock.advance(Duration::from_secs(69));
    assert_eq!(
        get(&side, "/api/orders/1", Some(&good)).await,
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        get(&side, "/api/orders/1", Some(&good)).await,
        StatusCode::UNAUTHORIZED
    );

    let events = side.recorded_events().await;
    let first = &events[0];
    assert_eq!(first.subject.as_deref(), Some("alice"));
    assert_eq!(first.scopes.as_deref(), Some("orders:read orders:write"));
    assert_eq!(first.token_id.as_deref(), Some("t-42"));
    let unauth = events
        .iter()
        .filter(|e| e.deny.is_some_and(|d| d.code == DenyCode::Unauthenticated))
        .count();
    assert_eq!(unauth, 4);
    let dump = format!("{events:?}");
    assert!(
        !dump.contains(good.trim_start_matches("Bearer ")),
        "no token in events"
    );
}
