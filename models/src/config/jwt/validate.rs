//! Owns the checks of `[auth.jwt]`: every problem reported with its key path and
//! a hint. The rules that stop algorithm confusion live here: one key family per
//! key, HMAC only from a secret, and never `none`.
//!
//! Must not read key material (the proxy does when it builds); only checks that
//! files exist, as the rest of the config does.

use std::time::Duration;

use url::Host;

use super::{JwtAlgorithm, JwtConfig, JwtKeyConfig, JwtKeyFamily, JwtKeySource};
use crate::config::Problems;

const DURATION_HINT: &str = "write a duration such as 30s, 10m or 1h";
const HEADER_HINT: &str = "use lower-case letters, digits and dashes, such as x-palisade-subject";
const SOURCE_HINT: &str =
    "set exactly one of secret_env, pem_file, jwks_file or jwks_url for each [[auth.jwt.key]]";
const MAX_LEEWAY: Duration = Duration::from_secs(300);
const MAX_CACHE_ENTRIES: usize = 10_000_000;
const REFRESH_RANGE: (Duration, Duration) =
    (Duration::from_secs(10), Duration::from_secs(24 * 3600));
const MIN_REFETCH_FLOOR: Duration = Duration::from_secs(1);

impl JwtConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        for (name, values) in [("issuer", &self.issuer), ("audience", &self.audience)] {
            if values.iter().any(|v| v.trim().is_empty()) {
                p.push(
                    format!("auth.jwt.{name}"),
                    "an empty value",
                    "remove the empty string, or remove the key to skip the check",
                );
            }
        }
        self.leeway.check("auth.jwt.leeway", DURATION_HINT, p);
        if let Some(l) = parsed(self.leeway.raw())
            && l > MAX_LEEWAY
        {
            p.push(
                "auth.jwt.leeway",
                "more than 5m: expired tokens would be accepted that long",
                "keep clock skew small, such as 30s; fix the clocks instead",
            );
        }
        for (name, claim) in [
            ("scopes_claim", &self.scopes_claim),
            ("subject_claim", &self.subject_claim),
        ] {
            if claim.trim().is_empty() {
                p.push(
                    format!("auth.jwt.{name}"),
                    "the claim name is empty",
                    "name the token claim, such as scope, scp, roles or sub",
                );
            }
        }
        let h = &self.upstream_headers;
        for (key, name) in [
            ("auth.jwt.header", &self.header),
            ("auth.jwt.upstream_headers.subject", &h.subject),
            ("auth.jwt.upstream_headers.scopes", &h.scopes),
            ("auth.jwt.upstream_headers.token_id", &h.token_id),
        ] {
            if !is_header_name(name) {
                p.push(
                    key,
                    format!("`{name}` is not a lower-case header name"),
                    HEADER_HINT,
                );
            }
        }
        if h.subject == h.scopes || h.subject == h.token_id || h.scopes == h.token_id {
            p.push(
                "auth.jwt.upstream_headers",
                "two of the headers have the same name",
                "give subject, scopes and token_id each their own header",
            );
        }
        if self.cache_entries > MAX_CACHE_ENTRIES {
            p.push(
                "auth.jwt.cache_entries",
                "more than 10000000",
                "about 200 bytes each; 10000 covers most services, 0 turns the cache off",
            );
        }
        for (i, key) in self.key.iter().enumerate() {
            let at = format!("auth.jwt.key[{i}]");
            key.validate(&at, p);
            if let Some(id) = &key.id
                && self.key[..i].iter().any(|k| k.id.as_ref() == Some(id))
            {
                p.push(
                    format!("{at}.id"),
                    format!("`{id}` is used twice"),
                    "give each key its own id: tokens pick their key by it",
                );
            }
            let single = |k: &JwtKeyConfig| {
                k.id.is_none()
                    && matches!(
                        k.source(),
                        Some(JwtKeySource::SecretEnv(_) | JwtKeySource::PemFile(_))
                    )
            };
            if single(key) && self.key[..i].iter().any(single) {
                p.push(
                    format!("{at}.id"),
                    "a second key without id: a token without kid could not pick one",
                    "set id to the kid your issuer puts in the token header",
                );
            }
        }
    }
}

impl JwtKeyConfig {
    fn validate(&self, at: &str, p: &mut Problems) {
        if let Some(id) = &self.id
            && id.trim().is_empty()
        {
            p.push(
                format!("{at}.id"),
                "the id is empty",
                "set it to the kid tokens carry, or remove it",
            );
        }
        // Sources: exactly one.
        let sources: Vec<&str> = [
            ("secret_env", self.secret_env.is_some()),
            ("pem_file", self.pem_file.is_some()),
            ("jwks_file", self.jwks_file.is_some()),
            ("jwks_url", self.jwks_url.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        match sources.as_slice() {
            [] => p.push(at, "the key has no source", SOURCE_HINT),
            [_] => {}
            many => p.push(
                at,
                format!("the key has {} sources: {}", many.len(), many.join(", ")),
                SOURCE_HINT,
            ),
        }
        // Algorithms: required, each known, one family.
        if self.algorithms.is_empty() {
            p.push(
                format!("{at}.algorithms"),
                "no algorithms are listed",
                "list the algorithms your issuer signs with, such as [\"RS256\"]",
            );
        }
        for (j, a) in self.algorithms.iter().enumerate() {
            a.check(
                format!("{at}.algorithms[{j}]"),
                "use HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA",
                p,
            );
        }
        let algs: Vec<JwtAlgorithm> = self
            .algorithms
            .iter()
            .filter_map(|a| a.ok().copied())
            .collect();
        let family = algs.first().map(|a| a.family());
        if let Some(other) = algs.iter().find(|a| Some(a.family()) != family) {
            p.push(
                format!("{at}.algorithms"),
                format!(
                    "mixes {} ({}) with {} ({}): one key verifies one family",
                    algs[0],
                    algs[0].family(),
                    other,
                    other.family()
                ),
                "split them into one [[auth.jwt.key]] per key type",
            );
        } else if sources.len() == 1
            && let Some(family) = family
        {
            self.validate_source_fits(at, family, p);
        }
        self.validate_files_and_url(at, p);
        self.validate_intervals(at, p);
    }

    /// HMAC only from a secret, and a secret only for HMAC: an asymmetric key can
    /// never be used as an HMAC secret (the classic confusion attack).
    fn validate_source_fits(&self, at: &str, family: JwtKeyFamily, p: &mut Problems) {
        let hmac = family == JwtKeyFamily::Hmac;
        if hmac && self.secret_env.is_none() {
            p.push(
                format!("{at}.algorithms"),
                "HMAC algorithms (HS256, HS384, HS512) need a shared secret",
                "use secret_env for HS* keys; a public key is never an HMAC secret",
            );
        }
        if !hmac && self.secret_env.is_some() {
            p.push(
                format!("{at}.algorithms"),
                format!("{family} algorithms cannot be verified with a shared secret"),
                "use pem_file, jwks_file or jwks_url for RS*, PS*, ES* and EdDSA keys",
            );
        }
        if self.id.is_some() && (self.jwks_file.is_some() || self.jwks_url.is_some()) {
            p.push(
                format!("{at}.id"),
                "a key set names its keys itself (each JWK's kid)",
                "remove id from a jwks_file or jwks_url key",
            );
        }
    }

    fn validate_files_and_url(&self, at: &str, p: &mut Problems) {
        for (name, path) in [("pem_file", &self.pem_file), ("jwks_file", &self.jwks_file)] {
            if let Some(path) = path
                && let Err(e) = std::fs::metadata(path)
            {
                p.push(
                    format!("{at}.{name}"),
                    format!("cannot read {}: {e}", path.display()),
                    "give the path of an existing, readable file",
                );
            }
        }
        if let Some(secret_env) = &self.secret_env
            && (secret_env.is_empty()
                || !secret_env
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            p.push(
                format!("{at}.secret_env"),
                format!("`{secret_env}` is not an environment variable name"),
                "name the variable that holds the secret, such as PALISADE_JWT_SECRET; never the secret",
            );
        }
        let Some(url) = &self.jwks_url else { return };
        let key = format!("{at}.jwks_url");
        let url_hint = "write a URL such as https://auth.example.com/.well-known/jwks.json";
        url.check(key.as_str(), url_hint, p);
        if let Some(u) = url.ok() {
            let loopback = match u.host() {
                Some(Host::Ipv4(ip)) => ip.is_loopback(),
                Some(Host::Ipv6(ip)) => ip.is_loopback(),
                Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            match u.scheme() {
                "https" => {}
                "http" if loopback => {}
                "http" => p.push(
                    key,
                    "plain http: anyone on the path could hand Palisade their own keys",
                    "use https:// (http:// is allowed only for 127.0.0.1, ::1 or localhost)",
                ),
                other => p.push(key, format!("scheme `{other}` is not supported"), url_hint),
            }
        }
    }

    fn validate_intervals(&self, at: &str, p: &mut Problems) {
        for (name, value) in [
            ("refresh", &self.refresh),
            ("min_refetch_interval", &self.min_refetch_interval),
        ] {
            let Some(value) = value else { continue };
            let key = format!("{at}.{name}");
            if self.jwks_url.is_none() {
                p.push(
                    key,
                    "only a jwks_url is fetched again",
                    "remove the key, or use jwks_url",
                );
                continue;
            }
            value.check(key.as_str(), DURATION_HINT, p);
        }
        if self.jwks_url.is_none() {
            return;
        }
        let refresh = self
            .refresh
            .as_ref()
            .map_or(Some(super::DEFAULT_JWKS_REFRESH), |r| parsed(r.raw()));
        if let Some(r) = refresh
            && (r < REFRESH_RANGE.0 || r > REFRESH_RANGE.1)
        {
            p.push(
                format!("{at}.refresh"),
                "outside 10s to 24h",
                "10m suits most issuers; they announce rotations well ahead",
            );
        }
        let min = self
            .min_refetch_interval
            .as_ref()
            .map_or(Some(super::DEFAULT_JWKS_MIN_REFETCH), |m| parsed(m.raw()));
        if let (Some(m), Some(r)) = (min, refresh)
            && (m < MIN_REFETCH_FLOOR || m > r)
        {
            p.push(
                format!("{at}.min_refetch_interval"),
                "outside 1s to `refresh`",
                "30s keeps tokens with unknown kids from making Palisade hammer the issuer",
            );
        }
    }
}

fn parsed(raw: &str) -> Option<Duration> {
    raw.trim()
        .parse::<humantime::Duration>()
        .ok()
        .map(Into::into)
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
