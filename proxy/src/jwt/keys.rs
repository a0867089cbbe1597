//! Owns verification keys: turning a configured secret, PEM file or JWKS document
//! into `VerifyKey`s, each bound to one key family and an explicit algorithm
//! allowlist, and finding the key a token names.
//!
//! Must not fetch anything (jwks.rs does) and must not verify tokens (mod.rs
//! does). A key whose type does not fit its allowlist never becomes a
//! `VerifyKey`, so an RSA public key can never be used as an HMAC secret.

use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use serde::Deserialize;

use palisade_models::config::{JwtAlgorithm, JwtKeyFamily};

/// One key and the algorithms it may verify.
pub(crate) struct VerifyKey {
    /// The `kid` tokens name it by; `None` matches tokens without a `kid`.
    pub(crate) kid: Option<Box<str>>,
    /// Never empty; all of one family, the family of `key`.
    pub(crate) algorithms: Vec<JwtAlgorithm>,
    pub(crate) key: DecodingKey,
}

/// An immutable set of keys, swapped whole when a JWKS changes.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
}

/// What a token's `kid` and `alg` find in a key set.
#[derive(Debug)]
pub(crate) enum Selected<'a> {
    One(&'a Arc<VerifyKey>),
    /// No key has this `kid` (or, for a token without `kid`, none lacks one).
    NoKey,
    /// Keys have this `kid`, but none may verify this algorithm.
    AlgorithmNotAllowed,
    /// More than one key fits: a token without `kid` cannot pick.
    Ambiguous,
}

/// A JWKS document parsed against an allowlist.
pub(crate) struct ParsedJwks {
    pub(crate) set: KeySet,
    /// JWKs left out, each with why (for the operator's log or error).
    pub(crate) skipped: Vec<String>,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key itself is left out (DecodingKey redacts, but the kid suffices).
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter()).finish()
    }
}

impl KeySet {
    pub(crate) fn new(keys: Vec<VerifyKey>) -> Self {
        Self {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    pub(crate) fn push(&mut self, key: VerifyKey) {
        self.keys.push(Arc::new(key));
    }

    pub(crate) fn extend(&mut self, other: KeySet) {
        self.keys.extend(other.keys);
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with this `kid` that allows `alg`; for a token without `kid`,
    /// the one key without `kid` that allows it.
    pub(crate) fn select(&self, kid: Option<&str>, alg: JwtAlgorithm) -> Selected<'_> {
        let mut named = false;
        let mut found = None;
        for k in self.keys.iter().filter(|k| k.kid.as_deref() == kid) {
            named = true;
            if k.algorithms.contains(&alg) {
                if found.is_some() && kid.is_none() {
                    return Selected::Ambiguous;
                }
                found.get_or_insert(k);
            }
        }
        match found {
            Some(k) => Selected::One(k),
            None if named => Selected::AlgorithmNotAllowed,
            None => Selected::NoKey,
        }
    }
}

/// jsonwebtoken's name for an algorithm.
pub(crate) fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::RS384 => Algorithm::RS384,
        JwtAlgorithm::RS512 => Algorithm::RS512,
        JwtAlgorithm::PS256 => Algorithm::PS256,
        JwtAlgorithm::PS384 => Algorithm::PS384,
        JwtAlgorithm::PS512 => Algorithm::PS512,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::ES384 => Algorithm::ES384,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// An HMAC key from a secret; `secret` must be long enough for every algorithm.
pub(crate) fn from_secret(
    kid: Option<&str>,
    algorithms: &[JwtAlgorithm],
    secret: &[u8],
) -> Result<VerifyKey, String> {
    only_family(algorithms, JwtKeyFamily::Hmac)?;
    let need = algorithms
        .iter()
        .map(|a| a.min_secret_bytes())
        .max()
        .unwrap_or(32);
    if secret.len() < need {
        return Err(format!(
            "the secret is {} bytes; {} needs at least {need} (RFC 7518 3.2)",
            secret.len(),
            algorithms
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(VerifyKey {
        kid: kid.map(Into::into),
        algorithms: algorithms.to_vec(),
        key: DecodingKey::from_secret(secret),
    })
}

/// A public key from PEM text; its type must be the allowlist's family.
pub(crate) fn from_pem(
    kid: Option<&str>,
    algorithms: &[JwtAlgorithm],
    pem: &[u8],
) -> Result<VerifyKey, String> {
    let family = algorithms.first().map(|a| a.family());
    if contains(pem, b"PRIVATE KEY-----") {
        return Err(
            "the file holds a private key; give the public key (openssl pkey -pubout)".into(),
        );
    }
    let (found, key) = if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
        (JwtKeyFamily::Rsa, k)
    } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
        (JwtKeyFamily::Ec, k)
    } else if let Ok(k) = DecodingKey::from_ed_pem(pem) {
        (JwtKeyFamily::Ed25519, k)
    } else {
        return Err(
            "not a PEM public key (RSA, P-256, P-384 or Ed25519) or certificate".to_string(),
        );
    };
    if Some(found) != family {
        return Err(format!(
            "the file holds an {found} key, which cannot verify {}",
            names(algorithms)
        ));
    }
    if found == JwtKeyFamily::Rsa {
        check_rsa_size(&key)?;
    }
    if found == JwtKeyFamily::Ec {
        // The uncompressed point's length gives the curve: 65 bytes P-256, 97 P-384.
        let curve = match key.try_get_as_bytes().map(<[u8]>::len) {
            Ok(65) => JwtAlgorithm::ES256,
            Ok(97) => JwtAlgorithm::ES384,
            _ => return Err("an EC key on a curve other than P-256 or P-384".into()),
        };
        if let Some(a) = algorithms.iter().find(|a| **a != curve) {
            return Err(format!(
                "{a} needs a {} key; the file holds a {} key",
                curve_name(*a),
                curve_name(curve)
            ));
        }
    }
    Ok(VerifyKey {
        kid: kid.map(Into::into),
        algorithms: algorithms.to_vec(),
        key,
    })
}

/// The usable keys of a JWKS document: signature keys whose type fits the
/// allowlist's family and whose `alg`, if stated, is in the allowlist.
pub(crate) fn parse_jwks(body: &[u8], algorithms: &[JwtAlgorithm]) -> Result<ParsedJwks, String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let doc: Document = serde_json::from_slice(body)
        .map_err(|e| format!("not a JWKS document ({{\"keys\": [...]}}): {e}"))?;
    let mut keys = Vec::with_capacity(doc.keys.len());
    let mut skipped = Vec::new();
    for (i, value) in doc.keys.into_iter().enumerate() {
        let kid = value.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
        let named = kid
            .as_deref()
            .map_or_else(|| format!("keys[{i}]"), |k| format!("kid `{k}`"));
        match serde_json::from_value::<Jwk>(value)
            .map_err(|e| format!("not a JWK: {e}"))
            .and_then(|jwk| from_jwk(&jwk, algorithms))
        {
            Ok(key) => keys.push(key),
            Err(why) => skipped.push(format!("{named}: {why}")),
        }
    }
    Ok(ParsedJwks {
        set: KeySet::new(keys),
        skipped,
    })
}

fn from_jwk(jwk: &Jwk, allowed: &[JwtAlgorithm]) -> Result<VerifyKey, String> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Err("not a signature key (`use` is not `sig`)".into());
    }
    let (family, curve_alg) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (JwtKeyFamily::Rsa, None),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => (JwtKeyFamily::Ec, Some(JwtAlgorithm::ES256)),
            EllipticCurve::P384 => (JwtKeyFamily::Ec, Some(JwtAlgorithm::ES384)),
            _ => return Err("an EC curve other than P-256 or P-384".into()),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            (JwtKeyFamily::Ed25519, None)
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric (oct) key; HMAC secrets come only from secret_env".into());
        }
        _ => return Err("an unsupported key type".into()),
    };
    if allowed.first().map(|a| a.family()) != Some(family) {
        return Err(format!(
            "an {family} key, which cannot verify {}",
            names(allowed)
        ));
    }
    let mut algorithms: Vec<JwtAlgorithm> = allowed
        .iter()
        .copied()
        .filter(|a| curve_alg.is_none_or(|c| c == *a))
        .collect();
    if let Some(stated) = jwk.common.key_algorithm {
        let stated = Algorithm::try_from(stated).map_err(|_| "an unsupported `alg`".to_string())?;
        algorithms.retain(|a| algorithm(*a) == stated);
        if algorithms.is_empty() {
            return Err(format!(
                "its alg {stated:?} is not in the allowlist {}",
                names(allowed)
            ));
        }
    }
    if algorithms.is_empty() {
        return Err(format!("its curve fits none of {}", names(allowed)));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key material: {e}"))?;
    if family == JwtKeyFamily::Rsa {
        check_rsa_size(&key)?;
    }
    Ok(VerifyKey {
        kid: jwk.common.key_id.as_deref().map(Into::into),
        algorithms,
        key,
    })
}

/// aws-lc verifies RSA signatures only with 2048- to 8192-bit keys; a smaller
/// key would fail every token as `bad_signature`, so it is refused up front.
fn check_rsa_size(key: &DecodingKey) -> Result<(), String> {
    let n = match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, .. } => n.clone(),
        DecodingKeyKind::SecretOrDer(der) => {
            let public = aws_lc_rs::rsa::PublicKey::from_der(der)
                .map_err(|e| format!("not an RSA public key: {e}"))?;
            aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(&public).n
        }
    };
    let bytes = n.iter().skip_while(|b| **b == 0).count();
    let bits = bytes * 8;
    if !(2048..=8192).contains(&bits) {
        return Err(format!(
            "a {bits}-bit RSA key; 2048 to 8192 bits are supported"
        ));
    }
    Ok(())
}

fn only_family(algorithms: &[JwtAlgorithm], family: JwtKeyFamily) -> Result<(), String> {
    match algorithms.iter().find(|a| a.family() != family) {
        Some(a) => Err(format!("{a} cannot be verified with an {family} key")),
        None if algorithms.is_empty() => Err("no algorithms are listed".into()),
        None => Ok(()),
    }
}

fn names(algorithms: &[JwtAlgorithm]) -> String {
    algorithms
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn curve_name(a: JwtAlgorithm) -> &'static str {
    if a == JwtAlgorithm::ES384 {
        "P-384"
    } else {
        "P-256"
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
