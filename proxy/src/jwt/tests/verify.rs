//! Every algorithm family against the same attacks and claim failures, the
//! algorithm-confusion attack, header and claim parsing, and build errors.

use super::*;
use crate::jwt::JwtError;

const OTHER_SECRET: &[u8] = b"another-secret-another-secret-another-secret-another-secret-64b!";

/// A key of the same family that the verifier does not know.
fn stranger(alg: JwtAlgorithm) -> EncodingKey {
    match alg.family() {
        palisade_models::config::JwtKeyFamily::Hmac => EncodingKey::from_secret(OTHER_SECRET),
        palisade_models::config::JwtKeyFamily::Rsa => rsa_other().signing.clone(),
        palisade_models::config::JwtKeyFamily::Ec => new_ec(alg).signing,
        palisade_models::config::JwtKeyFamily::Ed25519 => new_ed25519().signing,
    }
}

/// An algorithm of the same family the key's allowlist leaves out, if the same
/// key can sign it.
fn sibling(alg: JwtAlgorithm) -> Option<JwtAlgorithm> {
    match alg {
        JwtAlgorithm::HS256 => Some(JwtAlgorithm::HS512),
        JwtAlgorithm::HS384 | JwtAlgorithm::HS512 => Some(JwtAlgorithm::HS256),
        JwtAlgorithm::RS256 | JwtAlgorithm::RS384 | JwtAlgorithm::RS512 => {
            Some(JwtAlgorithm::PS256)
        }
        JwtAlgorithm::PS256 | JwtAlgorithm::PS384 | JwtAlgorithm::PS512 => {
            Some(JwtAlgorithm::RS256)
        }
        _ => None,
    }
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

/// The whole battery for one algorithm, its key configured with id `k1`.
fn family(alg: JwtAlgorithm) {
    let dir = tempfile::tempdir().unwrap();
    let key = key_for(alg);
    let source = if alg.family() == palisade_models::config::JwtKeyFamily::Hmac {
        "secret_env = \"JWT_SECRET\"".to_string()
    } else {
        format!(
            "pem_file = \"{}\"",
            write(dir.path(), "key.pem", &key.public_pem)
        )
    };
    let clock = manual_clock();
    let v = build(
        &format!(
            "[auth.jwt]\nissuer = \"{ISSUER}\"\naudience = [\"other\", \"{AUDIENCE}\"]\n\
             [[auth.jwt.key]]\nid = \"k1\"\nalgorithms = [\"{alg}\"]\n{source}\n"
        ),
        &clock,
    );
    let sign = |c: &Value| bearer(&key.signing, alg, Some("k1"), c);
    let check = |c: &Value| v.verify(sign(c).as_bytes());

    let id = check(&claims()).unwrap_or_else(|e| panic!("{alg}: {e}"));
    assert_eq!(&*id.subject, "alice");
    assert_eq!(
        id.scopes,
        vec![Box::from("orders:read"), Box::from("orders:write")]
    );
    assert_eq!(id.token_id.as_deref(), Some("token-1"));
    assert_eq!(id.expires_at_unix_ms, (NOW_S + 300) * 1000);

    let at = |k: &str, secs: u64| with(claims(), k, json!(secs));
    assert_eq!(
        check(&at("exp", NOW_S - 31)),
        Err(JwtError::Expired),
        "{alg}"
    );
    assert!(
        check(&at("exp", NOW_S - 29)).is_ok(),
        "{alg}: within leeway"
    );
    assert_eq!(
        check(&at("nbf", NOW_S + 31)),
        Err(JwtError::NotYetValid),
        "{alg}"
    );
    assert!(
        check(&at("nbf", NOW_S + 29)).is_ok(),
        "{alg}: within leeway"
    );
    assert_eq!(
        check(&with(claims(), "aud", json!("someone-else"))),
        Err(JwtError::WrongAudience),
        "{alg}"
    );
    assert_eq!(
        check(&without(claims(), "aud")),
        Err(JwtError::WrongAudience),
        "{alg}"
    );
    assert_eq!(
        check(&with(claims(), "iss", json!("https://evil.example/"))),
        Err(JwtError::WrongIssuer),
        "{alg}"
    );

    // Tampered payload: the signature of one token over another's claims.
    let good = sign(&claims());
    let forged = sign(&with(claims(), "sub", json!("mallory")));
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_payload = forged.split('.').nth(1).unwrap();
    let tampered = format!("{head}.{forged_payload}.{sig}");
    assert_eq!(
        v.verify(tampered.as_bytes()),
        Err(JwtError::BadSignature),
        "{alg}"
    );
    // Signed by a key of the right family that is not ours.
    let mallory = with(claims(), "jti", json!("other-key"));
    assert_eq!(
        v.verify(bearer(&stranger(alg), alg, Some("k1"), &mallory).as_bytes()),
        Err(JwtError::BadSignature),
        "{alg}"
    );
    assert_eq!(
        v.verify(bearer(&key.signing, alg, Some("k2"), &claims()).as_bytes()),
        Err(JwtError::UnknownKid),
        "{alg}"
    );
    let none = raw_bearer(&json!({"alg": "none", "kid": "k1"}), &claims(), b"");
    assert_eq!(
        v.verify(none.as_bytes()),
        Err(JwtError::AlgorithmNotAllowed),
        "{alg}"
    );
    if let Some(sib) = sibling(alg) {
        assert_eq!(
            v.verify(bearer(&key.signing, sib, Some("k1"), &claims()).as_bytes()),
            Err(JwtError::AlgorithmNotAllowed),
            "{alg} key must not verify {sib}"
        );
    }
    if alg.family() != palisade_models::config::JwtKeyFamily::Hmac {
        // The public key's PEM bytes used as an HMAC secret.
        let confused = EncodingKey::from_secret(key.public_pem.as_bytes());
        let token = bearer(&confused, JwtAlgorithm::HS256, Some("k1"), &claims());
        assert_eq!(
            v.verify(token.as_bytes()),
            Err(JwtError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
}

#[test]
fn hs256() {
    family(JwtAlgorithm::HS256);
}
#[test]
fn hs384() {
    family(JwtAlgorithm::HS384);
}
#[test]
fn hs512() {
    family(JwtAlgorithm::HS512);
}
#[test]
fn rs256() {
    family(JwtAlgorithm::RS256);
}
#[test]
fn rs384() {
    family(JwtAlgorithm::RS384);
}
#[test]
fn rs512() {
    family(JwtAlgorithm::RS512);
}
#[test]
fn ps256() {
    family(JwtAlgorithm::PS256);
}
#[test]
fn ps384() {
    family(JwtAlgorithm::PS384);
}
#[test]
fn ps512() {
    family(JwtAlgorithm::PS512);
}
#[test]
fn es256() {
    family(JwtAlgorithm::ES256);
}
#[test]
fn es384() {
    family(JwtAlgorithm::ES384);
}
#[test]
fn eddsa() {
    family(JwtAlgorithm::EdDSA);
}

#[test]
fn an_rsa_public_key_never_verifies_an_hmac_token() {
    let dir = tempfile::tempdir().unwrap();
    let pem = rsa().public_pem.clone();
    let v = build(
        &format!(
            "[auth.jwt]\n[[auth.jwt.key]]\nid = \"rsa\"\nalgorithms = [\"RS256\"]\npem_file = \"{}\"\n\
             [[auth.jwt.key]]\nid = \"hs\"\nalgorithms = [\"HS256\"]\nsecret_env = \"JWT_SECRET\"\n",
            write(dir.path(), "rsa.pem", &pem)
        ),
        &manual_clock(),
    );
    let confused = EncodingKey::from_secret(pem.as_bytes());
    for kid in [Some("rsa"), None] {
        let token = bearer(&confused, JwtAlgorithm::HS256, kid, &claims());
        assert!(v.verify(token.as_bytes()).is_err(), "kid {kid:?}");
    }
    let token = bearer(&confused, JwtAlgorithm::HS256, Some("rsa"), &claims());
    assert_eq!(
        v.verify(token.as_bytes()),
        Err(JwtError::AlgorithmNotAllowed)
    );
    // The HS key under its own kid still works; the RSA key for RS256 too.
    let hs = bearer(
        &EncodingKey::from_secret(HMAC_SECRET),
        JwtAlgorithm::HS256,
        Some("hs"),
        &claims(),
    );
    assert!(v.verify(hs.as_bytes()).is_ok());
    let rs = bearer(&rsa().signing, JwtAlgorithm::RS256, Some("rsa"), &claims());
    assert!(v.verify(rs.as_bytes()).is_ok());
    // And underneath: jsonwebtoken itself refuses an RSA key for HS256.
    let rsa_key = keys::from_pem(None, &[JwtAlgorithm::RS256], pem.as_bytes()).unwrap();
    let hs_only = super::super::validation(JwtAlgorithm::HS256);
    let raw = token.strip_prefix("Bearer ").unwrap();
    assert!(jsonwebtoken::decode::<Value>(raw, &rsa_key.key, &hs_only).is_err());
}

#[test]
fn a_key_without_id_verifies_tokens_without_kid_only() {
    let v = build(
        "[auth.jwt]\n[[auth.jwt.key]]\nalgorithms = [\"HS256\"]\nsecret_env = \"JWT_SECRET\"\n",
        &manual_clock(),
    );
    let key = EncodingKey::from_secret(HMAC_SECRET);
    let plain = bearer(&key, JwtAlgorithm::HS256, None, &claims());
    assert!(v.verify(plain.as_bytes()).is_ok());
    let named = bearer(&key, JwtAlgorithm::HS256, Some("x"), &claims());
    assert_eq!(v.verify(named.as_bytes()), Err(JwtError::UnknownKid));
    // HS512 is not in this key's allowlist, and no key allows it.
    let hs512 = bearer(&key, JwtAlgorithm::HS512, None, &claims());
    assert_eq!(
        v.verify(hs512.as_bytes()),
        Err(JwtError::AlgorithmNotAllowed)
    );
}

#[test]
fn the_bearer_credential_is_parsed_strictly() {
    let v = build(
        "[auth.jwt]\n[[auth.jwt.key]]\nalgorithms = [\"HS256\"]\nsecret_env = \"JWT_SECRET\"\n",
        &manual_clock(),
    );
    let token = bearer(
        &EncodingKey::from_secret(HMAC_SECRET),
        JwtAlgorithm::HS256,
        None,
        &claims(),
    );
    let raw = token.strip_prefix("Bearer ").unwrap();
    assert!(v.verify(format!("bearer   {raw}  ").as_bytes()).is_ok());
    assert_eq!(v.verify(b""), Err(JwtError::Missing));
    assert_eq!(v.verify(b"Basic dXNlcjpwYXNz"), Err(JwtError::Missing));
    assert_eq!(v.verify(raw.as_bytes()), Err(JwtError::Missing));
    assert_eq!(v.verify(b"Bearer"), Err(JwtError::Malformed));
    assert_eq!(v.verify(b"Bearer a.b"), Err(JwtError::Malformed));
    assert_eq!(v.verify(b"Bearer a.b.c.d"), Err(JwtError::Malformed));
    assert_eq!(v.verify(b"Bearer a+b.c.d"), Err(JwtError::Malformed));
    assert_eq!(v.verify(b"Bearer !!!.e30.sig"), Err(JwtError::Malformed));
    let crit = raw_bearer(
        &json!({"alg": "HS256", "crit": ["exp"], "exp": 1}),
        &claims(),
        b"sig",
    );
    assert_eq!(v.verify(crit.as_bytes()), Err(JwtError::Malformed));
    let unknown = raw_bearer(&json!({"alg": "HS1"}), &claims(), b"sig");
    assert_eq!(
        v.verify(unknown.as_bytes()),
        Err(JwtError::AlgorithmNotAllowed)
    );

    let mut headers = http::HeaderMap::new();
    assert_eq!(v.verify_headers(&headers), Err(JwtError::Missing));
    headers.append("authorization", token.parse().unwrap());
    assert!(v.verify_headers(&headers).is_ok());
    headers.append("authorization", token.parse().unwrap());
    assert_eq!(v.verify_headers(&headers), Err(JwtError::Malformed));
}

#[test]
fn claims_are_read_as_configured() {
    let v = build(
        "[auth.jwt]\nscopes_claim = \"roles\"\nsubject_claim = \"email\"\ncache_entries = 0\n\
         [[auth.jwt.key]]\nalgorithms = [\"HS256\"]\nsecret_env = \"JWT_SECRET\"\n",
        &manual_clock(),
    );
    let key = EncodingKey::from_secret(HMAC_SECRET);
    let check = |c: &Value| v.verify(bearer(&key, JwtAlgorithm::HS256, None, c).as_bytes());
    let c = with(
        with(claims(), "email", json!("bob@example.com")),
        "roles",
        json!(["admin", "orders:read"]),
    );
    let id = check(&c).unwrap();
    assert_eq!(&*id.subject, "bob@example.com");
    assert!(id.grants(&["admin".into(), "orders:read".into()]));
    assert!(!id.grants(&["orders:write".into()]));
    // `scope` is not the configured claim: no scopes from it.
    let id = check(&without(c.clone(), "roles")).unwrap();
    assert!(id.scopes.is_empty());
    assert!(id.grants(&[]));

    assert_eq!(
        check(&without(c.clone(), "email")),
        Err(JwtError::Malformed)
    );
    assert_eq!(check(&without(c.clone(), "exp")), Err(JwtError::Malformed));
    assert_eq!(
        check(&with(c.clone(), "exp", json!("tomorrow"))),
        Err(JwtError::Malformed)
    );
    assert_eq!(
        check(&with(c.clone(), "email", json!("a\r\nx-admin: 1"))),
        Err(JwtError::Malformed)
    );
    assert_eq!(
        check(&with(c.clone(), "roles", json!(["a", 1]))),
        Err(JwtError::Malformed)
    );
    assert_eq!(
        check(&with(c.clone(), "jti", json!(7))),
        Err(JwtError::Malformed)
    );
    // No issuer or audience configured: neither is checked.
    assert!(check(&without(without(c, "iss"), "aud")).is_ok());
}

#[test]
fn a_jwks_file_gives_each_key_its_kid_and_the_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (new_ec(JwtAlgorithm::ES256), new_ec(JwtAlgorithm::ES256));
    let mut doc: Value = serde_json::from_str(&jwks(&[(&a, "a"), (&b, "b")])).unwrap();
    // A JWK without `alg` takes the key's allowlist.
    doc["keys"][1].as_object_mut().unwrap().remove("alg");
    let path = write(dir.path(), "jwks.json", &doc.to_string());
    let v = build(
        &format!(
            "[auth.jwt]\n[[auth.jwt.key]]\nalgorithms = [\"ES256\"]\njwks_file = \"{path}\"\n"
        ),
        &manual_clock(),
    );
    for (k, kid) in [(&a, "a"), (&b, "b")] {
        let t = bearer(&k.signing, JwtAlgorithm::ES256, Some(kid), &claims());
        assert!(v.verify(t.as_bytes()).is_ok(), "{kid}");
    }
    let swapped = bearer(&a.signing, JwtAlgorithm::ES256, Some("b"), &claims());
    assert_eq!(v.verify(swapped.as_bytes()), Err(JwtError::BadSignature));
}

#[test]
fn build_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ec = new_ec(JwtAlgorithm::ES256);
    let ec_pem = write(dir.path(), "ec.pem", &ec.public_pem);
    let key = |body: String| format!("[auth.jwt]\n[[auth.jwt.key]]\n{body}\n");

    let e = build_err(&key(format!(
        "algorithms = [\"RS256\"]\npem_file = \"{ec_pem}\""
    )));
    assert!(e.starts_with("auth.jwt.key[0].pem_file:"), "{e}");
    assert!(e.contains("EC key"), "{e}");

    let e = build_err(&key(format!(
        "algorithms = [\"ES384\"]\npem_file = \"{ec_pem}\""
    )));
    assert!(e.contains("ES384 needs a P-384 key"), "{e}");

    let private = write(
        dir.path(),
        "private.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let e = build_err(&key(format!(
        "algorithms = [\"RS256\"]\npem_file = \"{private}\""
    )));
    assert!(e.contains("private key"), "{e}");

    let e = build_err(&key(
        "algorithms = [\"HS256\"]\nsecret_env = \"SHORT_SECRET\"".into(),
    ));
    assert!(e.starts_with("auth.jwt.key[0].secret_env:"), "{e}");
    assert!(e.contains("at least 32"), "{e}");

    let e = build_err(&key(
        "algorithms = [\"HS256\"]\nsecret_env = \"UNSET_VARIABLE\"".into(),
    ));
    assert!(e.contains("`UNSET_VARIABLE` is not set"), "{e}");

    // A JWK whose `alg` is outside the allowlist.
    let doc = jwks(&[(&ec, "a")]);
    let path = write(dir.path(), "jwks.json", &doc);
    let e = build_err(&key(format!(
        "algorithms = [\"ES384\"]\njwks_file = \"{path}\""
    )));
    assert!(e.starts_with("auth.jwt.key[0].jwks_file:"), "{e}");
    assert!(e.contains("kid `a`"), "{e}");

    // An RSA key too small for aws-lc to verify with (1024-bit modulus).
    let small = json!({"keys": [{"kty": "RSA", "kid": "old", "e": "AQAB",
        "n": URL_SAFE_NO_PAD.encode([0xC5u8; 128])}]});
    let path = write(dir.path(), "small.json", &small.to_string());
    let e = build_err(&key(format!(
        "algorithms = [\"RS256\"]\njwks_file = \"{path}\""
    )));
    assert!(e.contains("1024-bit RSA key"), "{e}");

    let not_json = write(dir.path(), "bad.json", "{\"keys\": 3}");
    let e = build_err(&key(format!(
        "algorithms = [\"ES256\"]\njwks_file = \"{not_json}\""
    )));
    assert!(e.contains("not a JWKS document"), "{e}");
}

#[test]
fn an_identity_builds_its_upstream_header_values_once() {
    let who =
        crate::jwt::Identity::new("josé", vec!["read".into(), "write".into()], Some("t-1"), 0);
    let v = &who.values;
    // UTF-8 claims pass as raw bytes, as the upstream got them before.
    assert_eq!(
        v.subject.as_ref().map(|h| h.as_bytes()),
        Some("josé".as_bytes())
    );
    assert_eq!(
        v.scopes.as_ref().map(|h| h.as_bytes()),
        Some(&b"read write"[..])
    );
    assert_eq!(v.token_id.as_ref().map(|h| h.as_bytes()), Some(&b"t-1"[..]));
    assert_eq!(who.scopes_text.as_deref(), Some("read write"));

    let bare = crate::jwt::Identity::new("s", Vec::new(), None, 0);
    assert_eq!(bare.values.scopes, None);
    assert_eq!(bare.values.token_id, None);
    assert_eq!(bare.scopes_text, None);
}
