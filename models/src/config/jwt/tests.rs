//! `[auth.jwt]` parsing, defaults and validation: every rule that keeps an
//! algorithm-confusion or unusable key out of a config that passes `check`.

use std::time::Duration;

use crate::config::{Config, ConfigError, JwtAlgorithm, JwtKeySource};

const BASE: &str = "[upstream]\nurl = \"http://127.0.0.1:3000\"\n[routes]\nunknown = \"allow\"\n";

fn parse(jwt: &str) -> Result<Config, ConfigError> {
    Config::parse(&format!("{BASE}{jwt}"))
}

fn keys(err: &ConfigError) -> Vec<&str> {
    err.problems.iter().map(|p| p.key.as_str()).collect()
}

/// A PEM file that exists (its content is the proxy's business).
fn pem_path() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "-----BEGIN PUBLIC KEY-----\n").unwrap();
    f
}

#[test]
fn defaults_are_documented_values() {
    let c = parse("").unwrap();
    let j = &c.auth.jwt;
    assert!(j.issuer.is_empty() && j.audience.is_empty() && j.key.is_empty());
    assert_eq!(j.leeway.duration(), Duration::from_secs(30));
    assert_eq!(j.scopes_claim, "scope");
    assert_eq!(j.subject_claim, "sub");
    assert_eq!(j.header, "authorization");
    assert_eq!(j.cache_entries, 10_000);
    assert_eq!(j.upstream_headers.subject, "x-palisade-subject");
    assert_eq!(j.upstream_headers.scopes, "x-palisade-scopes");
    assert_eq!(j.upstream_headers.token_id, "x-palisade-token-id");
}

#[test]
fn a_full_section_parses() {
    let pem = pem_path();
    let c = parse(&format!(
        r#"
        [auth.jwt]
        issuer = "https://auth.example.com/"
        audience = ["orders", "billing"]
        leeway = "10s"
        scopes_claim = "roles"
        [[auth.jwt.key]]
        id = "hmac-1"
        algorithms = ["HS256", "HS512"]
        secret_env = "PALISADE_JWT_SECRET"
        [[auth.jwt.key]]
        algorithms = ["RS256", "PS256"]
        pem_file = "{}"
        [[auth.jwt.key]]
        algorithms = ["ES256"]
        jwks_url = "https://auth.example.com/.well-known/jwks.json"
        refresh = "5m"
        min_refetch_interval = "1m"
        [[auth.jwt.key]]
        algorithms = ["EdDSA"]
        jwks_url = "http://127.0.0.1:9000/jwks"
        "#,
        pem.path().display()
    ))
    .unwrap();
    let j = &c.auth.jwt;
    assert_eq!(j.issuer, vec!["https://auth.example.com/"]);
    assert_eq!(j.audience, vec!["orders", "billing"]);
    assert_eq!(
        j.key[0].algorithm_list(),
        vec![JwtAlgorithm::HS256, JwtAlgorithm::HS512]
    );
    assert_eq!(
        j.key[0].source(),
        Some(JwtKeySource::SecretEnv("PALISADE_JWT_SECRET"))
    );
    assert!(matches!(j.key[1].source(), Some(JwtKeySource::PemFile(_))));
    assert_eq!(j.key[2].refresh_interval(), Duration::from_secs(300));
    assert_eq!(j.key[2].min_refetch(), Duration::from_secs(60));
    assert_eq!(j.key[3].refresh_interval(), Duration::from_secs(600));
    assert_eq!(j.key[3].min_refetch(), Duration::from_secs(30));
}

#[test]
fn none_and_unknown_algorithms_are_refused() {
    let err = parse(
        r#"
        [[auth.jwt.key]]
        id = "a"
        algorithms = ["none"]
        secret_env = "S"
        [[auth.jwt.key]]
        id = "b"
        algorithms = ["rs256", "HS1"]
        secret_env = "T"
        "#,
    )
    .unwrap_err();
    assert_eq!(
        keys(&err),
        vec![
            "auth.jwt.key[0].algorithms[0]",
            "auth.jwt.key[1].algorithms[0]",
            "auth.jwt.key[1].algorithms[1]",
        ],
        "{err}"
    );
    assert!(err.problems[0].message.contains("never accepted"), "{err}");
}

#[test]
fn mixed_families_name_the_key() {
    let pem = pem_path();
    let err = parse(&format!(
        r#"
        [[auth.jwt.key]]
        algorithms = ["RS256", "HS256"]
        pem_file = "{}"
        [[auth.jwt.key]]
        algorithms = ["ES256", "EdDSA"]
        jwks_url = "https://a.example/jwks"
        "#,
        pem.path().display()
    ))
    .unwrap_err();
    assert_eq!(
        keys(&err),
        vec!["auth.jwt.key[0].algorithms", "auth.jwt.key[1].algorithms"],
        "{err}"
    );
    assert!(err.problems[0].message.contains("RS256 (RSA)"), "{err}");
    assert!(err.problems[0].message.contains("HS256 (HMAC)"), "{err}");
    assert!(err.problems.iter().all(|p| !p.hint.is_empty()));
}

#[test]
fn hmac_only_from_a_secret_and_a_secret_only_for_hmac() {
    let pem = pem_path();
    let err = parse(&format!(
        r#"
        [[auth.jwt.key]]
        id = "confused"
        algorithms = ["HS256"]
        pem_file = "{}"
        [[auth.jwt.key]]
        id = "also"
        algorithms = ["RS256"]
        secret_env = "S"
        [[auth.jwt.key]]
        algorithms = ["HS256"]
        jwks_url = "https://a.example/jwks"
        "#,
        pem.path().display()
    ))
    .unwrap_err();
    assert_eq!(
        keys(&err),
        vec![
            "auth.jwt.key[0].algorithms",
            "auth.jwt.key[1].algorithms",
            "auth.jwt.key[2].algorithms",
        ],
        "{err}"
    );
    assert!(err.problems[0].hint.contains("secret_env"), "{err}");
}

#[test]
fn exactly_one_source() {
    let pem = pem_path();
    let err = parse(&format!(
        r#"
        [[auth.jwt.key]]
        algorithms = ["RS256"]
        [[auth.jwt.key]]
        algorithms = ["RS256"]
        pem_file = "{}"
        jwks_url = "https://a.example/jwks"
        "#,
        pem.path().display()
    ))
    .unwrap_err();
    assert_eq!(
        keys(&err),
        vec!["auth.jwt.key[0]", "auth.jwt.key[1]"],
        "{err}"
    );
    assert!(err.problems[0].message.contains("no source"), "{err}");
    assert!(
        err.problems[1].message.contains("pem_file, jwks_url"),
        "{err}"
    );
}

#[test]
fn keys_urls_intervals_and_headers_are_checked() {
    let err = parse(
        r#"
        [auth.jwt]
        leeway = "1h"
        header = "Authorization"
        [auth.jwt.upstream_headers]
        scopes = "x-palisade-subject"
        [[auth.jwt.key]]
        algorithms = []
        secret_env = "MY SECRET"
        refresh = "1m"
        [[auth.jwt.key]]
        id = "k"
        algorithms = ["RS256"]
        jwks_url = "http://auth.example.com/jwks"
        min_refetch_interval = "1h"
        [[auth.jwt.key]]
        algorithms = ["ES384"]
        jwks_file = "/nonexistent/jwks.json"
        "#,
    )
    .unwrap_err();
    assert_eq!(
        keys(&err),
        vec![
            "auth.jwt.leeway",
            "auth.jwt.header",
            "auth.jwt.upstream_headers",
            "auth.jwt.key[0].algorithms",
            "auth.jwt.key[0].secret_env",
            "auth.jwt.key[0].refresh",
            "auth.jwt.key[1].id",
            "auth.jwt.key[1].jwks_url",
            "auth.jwt.key[1].min_refetch_interval",
            "auth.jwt.key[2].jwks_file",
        ],
        "{err}"
    );
}

#[test]
fn key_ids_are_unique_and_one_key_may_omit_it() {
    let err = parse(
        r#"
        [[auth.jwt.key]]
        id = "a"
        algorithms = ["HS256"]
        secret_env = "A"
        [[auth.jwt.key]]
        id = "a"
        algorithms = ["HS256"]
        secret_env = "B"
        [[auth.jwt.key]]
        algorithms = ["HS256"]
        secret_env = "C"
        [[auth.jwt.key]]
        algorithms = ["HS384"]
        secret_env = "D"
        "#,
    )
    .unwrap_err();
    assert_eq!(
        keys(&err),
        vec!["auth.jwt.key[1].id", "auth.jwt.key[3].id"],
        "{err}"
    );
}

#[test]
fn unknown_jwt_keys_are_named() {
    let err = parse("[auth.jwt]\nissuers = \"x\"\n").unwrap_err();
    assert_eq!(keys(&err), vec!["auth.jwt.issuers"], "{err}");
}
