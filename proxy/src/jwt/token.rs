//! Owns reading a token: the `Bearer` credential out of a header value, the
//! JOSE header (`alg`, `kid`) before any key is chosen, and the claims policy
//! (exp, nbf, iss, aud, subject, scopes, jti) checked against the injected
//! clock after the signature verified.
//!
//! Must not verify signatures or pick keys (mod.rs and keys.rs do), and must not
//! trust anything it parses before the signature is checked: only `alg` and
//! `kid` are used beforehand, to choose the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use palisade_models::config::JwtAlgorithm;

use super::{Identity, JwtError};

/// Longest token accepted; headers are capped well above real tokens' size.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest subject, scope or token id passed on; they become upstream headers.
const MAX_CLAIM_BYTES: usize = 1024;
const MAX_SCOPES: usize = 256;

/// The token in a `Bearer` credential: present and of a bounded size. Its
/// shape is checked apart (`check_shape`), only when it is not in the cache.
pub(crate) fn bearer(value: &[u8]) -> Result<&[u8], JwtError> {
    let value = value.trim_ascii();
    let Some(scheme_end) = value.iter().position(|b| *b == b' ') else {
        // "Bearer" alone is a bearer credential without its token.
        return Err(if value.eq_ignore_ascii_case(b"bearer") {
            JwtError::Malformed
        } else {
            JwtError::Missing
        });
    };
    if !value[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        return Err(JwtError::Missing);
    }
    let token = value[scheme_end..].trim_ascii_start();
    if !token.is_empty() && token.len() <= MAX_TOKEN_BYTES {
        Ok(token)
    } else {
        Err(JwtError::Malformed)
    }
}

/// Fails a token that is not three base64url parts joined by `.`.
pub(crate) fn check_shape(token: &[u8]) -> Result<(), JwtError> {
    if compact_shape(token) == Some(2) {
        Ok(())
    } else {
        Err(JwtError::Malformed)
    }
}

/// How many `.` a compact JWS holds when every byte is base64url or `.`;
/// `None` otherwise. Ran on every request that carries a token until it moved
/// behind the cache; still written for the vectoriser: fixed 64-byte blocks, byte-wide
/// counters, no branch per byte. Under callgrind this is 1.0k instructions for
/// a 451-byte token, where two short-circuiting passes (`all`, then counting
/// dots) were 7.4k and a single pass with a `usize` counter 10.9k.
fn compact_shape(token: &[u8]) -> Option<usize> {
    let (blocks, rest) = token.as_chunks::<64>();
    let (mut bad, mut dots) = (0u8, 0usize);
    for block in blocks {
        let (b, d) = shape_of(block);
        bad |= b;
        dots += usize::from(d);
    }
    let (b, d) = shape_of(rest);
    bad |= b;
    dots += usize::from(d);
    (bad == 0).then_some(dots)
}

/// Non-zero when a byte is neither base64url nor `.`, and the count of `.`;
/// `bytes` holds at most 64 bytes, so the count fits a byte.
#[inline(always)]
fn shape_of(bytes: &[u8]) -> (u8, u8) {
    let (mut bad, mut dots) = (0u8, 0u8);
    for &b in bytes {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        let dot = b == b'.';
        let ok = letter | digit | dot | (b == b'-') | (b == b'_');
        bad |= u8::from(!ok);
        dots += u8::from(dot);
    }
    (bad, dots)
}

/// The part of the JOSE header used to pick a key.
#[derive(Debug)]
pub(crate) struct JoseHeader {
    pub(crate) alg: JwtAlgorithm,
    pub(crate) kid: Option<String>,
}

/// Reads `alg` and `kid`. `none` and unknown algorithms are not allowed; any
/// `crit` extension is refused, since none is understood (RFC 7515 4.1.11).
pub(crate) fn jose_header(token: &[u8]) -> Result<JoseHeader, JwtError> {
    #[derive(Deserialize)]
    struct Raw {
        alg: String,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default)]
        crit: Option<Value>,
    }
    let end = token
        .iter()
        .position(|b| *b == b'.')
        .ok_or(JwtError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(&token[..end])
        .map_err(|_| JwtError::Malformed)?;
    let raw: Raw = serde_json::from_slice(&json).map_err(|_| JwtError::Malformed)?;
    if raw.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    let alg = raw
        .alg
        .parse::<JwtAlgorithm>()
        .map_err(|_| JwtError::AlgorithmNotAllowed)?;
    Ok(JoseHeader { alg, kid: raw.kid })
}

/// What the claims must satisfy.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) issuers: Vec<Box<str>>,
    pub(crate) audiences: Vec<Box<str>>,
    pub(crate) leeway_ms: u64,
    pub(crate) subject_claim: Box<str>,
    pub(crate) scopes_claim: Box<str>,
}

impl Policy {
    /// Checks verified claims at `now_ms`; returns the identity and the time
    /// (Unix ms) from which it must no longer be used: `exp` plus leeway.
    pub(crate) fn check(
        &self,
        claims: &Map<String, Value>,
        now_ms: u64,
    ) -> Result<(Identity, u64), JwtError> {
        let exp_ms = numeric_date_ms(claims.get("exp")).ok_or(JwtError::Malformed)?;
        let deadline_ms = exp_ms.saturating_add(self.leeway_ms);
        if now_ms >= deadline_ms {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf_ms = numeric_date_ms(Some(nbf)).ok_or(JwtError::Malformed)?;
            if nbf_ms > now_ms.saturating_add(self.leeway_ms) {
                return Err(JwtError::NotYetValid);
            }
        }
        if !self.issuers.is_empty() {
            let iss = claims.get("iss").and_then(Value::as_str);
            if !iss.is_some_and(|i| self.issuers.iter().any(|ok| **ok == *i)) {
                return Err(JwtError::WrongIssuer);
            }
        }
        if !self.audiences.is_empty() {
            let named = |a: &str| self.audiences.iter().any(|ok| **ok == *a);
            let fits = match claims.get("aud") {
                Some(Value::String(a)) => named(a),
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(named),
                _ => false,
            };
            if !fits {
                return Err(JwtError::WrongAudience);
            }
        }
        let subject = claims
            .get(&*self.subject_claim)
            .and_then(Value::as_str)
            .filter(|s| header_safe(s))
            .ok_or(JwtError::Malformed)?;
        let scopes = scopes(claims.get(&*self.scopes_claim))?;
        let token_id = match claims.get("jti") {
            None | Some(Value::Null) => None,
            Some(Value::String(j)) if header_safe(j) => Some(j.as_str()),
            Some(_) => return Err(JwtError::Malformed),
        };
        Ok((
            Identity::new(subject, scopes, token_id, exp_ms),
            deadline_ms,
        ))
    }
}

/// Scopes from a space-separated string or an array of strings; absent is none.
fn scopes(value: Option<&Value>) -> Result<Vec<Box<str>>, JwtError> {
    let scopes: Vec<Box<str>> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split_ascii_whitespace().map(Into::into).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(Into::into).ok_or(JwtError::Malformed))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(JwtError::Malformed),
    };
    let fine = scopes.len() <= MAX_SCOPES
        && scopes
            .iter()
            .all(|s| header_safe(s) && !s.contains(char::is_whitespace));
    if fine {
        Ok(scopes)
    } else {
        Err(JwtError::Malformed)
    }
}

/// A NumericDate (seconds, possibly fractional) as Unix ms.
fn numeric_date_ms(value: Option<&Value>) -> Option<u64> {
    let secs = value?.as_f64()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // Saturates for absurd dates; far-future exp is then just far-future.
    Some((secs * 1000.0) as u64)
}

/// Non-empty, bounded, printable: safe to send upstream as a header value.
fn header_safe(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_CLAIM_BYTES && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::compact_shape;

    /// The definition `compact_shape` computes without branches.
    fn reference(token: &[u8]) -> Option<usize> {
        token
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            .then(|| token.iter().filter(|b| **b == b'.').count())
    }

    #[test]
    fn compact_shape_agrees_with_its_definition_on_every_byte() {
        for b in 0..=255u8 {
            for text in [
                vec![b],
                vec![b'a', b, b'.'],
                [b"x.y.".as_slice(), &[b; 40]].concat(),
            ] {
                assert_eq!(compact_shape(&text), reference(&text), "byte {b:#04x}");
            }
        }
        // Longer than one 64-byte block, with the odd byte in each position.
        let long: Vec<u8> = (0..200).map(|i| b"aZ09-_."[i % 7]).collect();
        assert_eq!(compact_shape(&long), reference(&long));
        for i in 0..long.len() {
            let mut t = long.clone();
            t[i] = b'+';
            assert_eq!(compact_shape(&t), None, "'+' at {i}");
        }
        assert_eq!(compact_shape(b"eyJh.eyJz.c2ln"), Some(2));
        assert_eq!(compact_shape(b"a.b.c.d"), Some(3));
        assert_eq!(compact_shape(b"a+b.c.d"), None);
        // A byte that is a letter once 0x20 is set, but is not one.
        assert_eq!(compact_shape(b"a.@.["), None);
    }
}
