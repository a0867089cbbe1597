//! Owns the admin bearer token: where it comes from (an environment variable, a
//! file, or made at start on a loopback listener), and the middleware that checks
//! `Authorization: Bearer …` in constant time. The token is never logged and
//! never echoed in a response.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq;

use palisade_models::config::AdminConfig;

use crate::api::ApiError;
use crate::state::AdminState;

/// Tokens shorter than this are refused: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// The admin token and where it came from.
pub struct Token {
    secret: Box<[u8]>,
    /// "env PALISADE_ADMIN_TOKEN", "file /etc/palisade/token" or "generated".
    pub source: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(from {}, redacted)", self.source)
    }
}

/// Why the admin listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "the admin listener {0} is not a loopback address and no admin token is configured: set the environment variable {1} or admin.token_file, or listen on 127.0.0.1"
    )]
    Required(SocketAddr, String),
    #[error("cannot read admin.token_file {path}: {error}")]
    File { path: String, error: std::io::Error },
    #[error(
        "the admin token from {0} is shorter than {MIN_TOKEN_LEN} characters: use a long random value, e.g. `openssl rand -base64 32`"
    )]
    TooShort(String),
    #[error("cannot make a random admin token: {0}")]
    Random(String),
}

impl Token {
    /// A token with this value (for tests and embedding).
    pub fn new(secret: &str, source: &str) -> Result<Self, TokenError> {
        if secret.len() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort(source.into()));
        }
        Ok(Self {
            secret: secret.as_bytes().into(),
            source: source.into(),
        })
    }

    /// The token as `[admin]` says: the variable, else the file, else (only on a
    /// loopback listener) a random one.
    pub fn resolve(cfg: &AdminConfig, listen: SocketAddr) -> Result<Self, TokenError> {
        if let Ok(v) = std::env::var(&cfg.token_env) {
            let v = v.trim();
            if !v.is_empty() {
                return Self::new(v, &format!("env {}", cfg.token_env));
            }
        }
        if let Some(path) = &cfg.token_file {
            let text = std::fs::read_to_string(path).map_err(|error| TokenError::File {
                path: path.clone(),
                error,
            })?;
            let first = text.lines().next().unwrap_or("").trim();
            return Self::new(first, &format!("file {path}"));
        }
        if !listen.ip().is_loopback() {
            return Err(TokenError::Required(listen, cfg.token_env.clone()));
        }
        Self::generate()
    }

    /// A random 256-bit token, base64url.
    pub fn generate() -> Result<Self, TokenError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Self::new(&text, "generated")
    }

    /// True if the token was made at start (so it must be shown to the operator).
    pub fn generated(&self) -> bool {
        self.source == "generated"
    }

    /// The token's value, to print once at start when it was generated.
    pub fn reveal(&self) -> &str {
        std::str::from_utf8(&self.secret).unwrap_or("")
    }

    /// Constant-time comparison with what a request presented.
    pub fn matches(&self, presented: &[u8]) -> bool {
        // ct_eq on slices of different lengths returns false without comparing,
        // which leaks only the length: the token's length is not secret.
        bool::from(self.secret.as_ref().ct_eq(presented))
    }
}

/// The bearer credential of a request, if any.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let v = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = v.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// Refuses requests without the admin token, and (`guard.rs`) every request
/// presenting a token from an address that has guessed too often.
pub async fn require_token(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    // Without ConnectInfo (a router tested with `oneshot`) all callers share one key.
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let presented = bearer(req.headers());
    if presented.is_some()
        && let Err(secs) = s.guard.check(ip)
    {
        return too_many(secs);
    }
    match presented {
        Some(t) if s.token.matches(t) => next.run(req).await,
        presented => {
            if presented.is_some()
                && let Err(secs) = s.guard.failed(ip)
            {
                tracing::warn!(
                    client = %ip,
                    retry_after_s = secs,
                    "admin: too many wrong tokens from this address; refusing its requests for a while"
                );
                return too_many(secs);
            }
            let message = if presented.is_some() {
                "the bearer token is not the admin token"
            } else {
                "send the admin token as `Authorization: Bearer <token>` (Palisade prints it at start when it made one)"
            };
            let mut resp =
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"palisade\""),
            );
            resp
        }
    }
}

/// 429 from the lockout, with when to try again.
fn too_many(secs: u64) -> Response {
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many wrong admin tokens from this address: wait for Retry-After seconds",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing_and_constant_time_match() {
        let t = Token::new("0123456789abcdef-secret", "test").expect("token");
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer 0123456789abcdef-secret"),
        );
        assert!(t.matches(bearer(&h).expect("bearer")));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&h).is_none());
        assert!(!t.matches(b"0123456789abcdef-secreT"));
        assert!(!t.matches(b""));
        assert!(matches!(
            Token::new("short", "x"),
            Err(TokenError::TooShort(_))
        ));
        assert!(!format!("{t:?}").contains("secret"));
    }

    #[test]
    fn non_loopback_without_a_token_is_refused_and_loopback_gets_one() {
        let cfg = AdminConfig {
            token_env: "PALISADE_TEST_TOKEN_THAT_IS_NEVER_SET".into(),
            ..AdminConfig::default()
        };
        let err = Token::resolve(&cfg, "0.0.0.0:9901".parse().expect("addr")).unwrap_err();
        assert!(
            err.to_string()
                .contains("PALISADE_TEST_TOKEN_THAT_IS_NEVER_SET")
        );
        let t = Token::resolve(&cfg, "127.0.0.1:9901".parse().expect("addr")).expect("token");
        assert!(t.generated());
        assert!(t.reveal().len() >= 43);
    }

    #[test]
    fn a_token_file_is_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "from-the-file-0123456789\nignored\n").expect("write");
        let cfg = AdminConfig {
            token_env: "PALISADE_TEST_TOKEN_THAT_IS_NEVER_SET".into(),
            token_file: Some(path.display().to_string()),
            ..AdminConfig::default()
        };
        let t = Token::resolve(&cfg, "0.0.0.0:1".parse().expect("addr")).expect("token");
        assert!(t.matches(b"from-the-file-0123456789"));
    }
}
