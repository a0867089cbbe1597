//! Owns login routes at request time: reading a login's outcome from the
//! response (status, header, or a regex over the first bytes of the body, as
//! the route declares) and hashing the username from the request body with the
//! instance's secret salt (HMAC-SHA-256, first 128 bits), so analytics can count
//! distinct usernames per client.
//!
//! Must never keep, log or record a username or a password: only the hash
//! leaves this file, and the body bytes it reads are the read-ahead the proxy
//! forwards anyway.

use aws_lc_rs::hmac;
use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, StatusCode};

use palisade_models::config::LoginConfig;
use palisade_models::{Config, LoginOutcome, UsernameHash};

use crate::error::ProxyError;

/// Request body bytes read ahead to find the username field.
pub(crate) const USERNAME_READ_AHEAD: usize = 8 * 1024;

/// A login route's compiled settings.
#[derive(Debug)]
pub(crate) struct LoginPolicy {
    failed_status: Vec<u16>,
    failed_header: Option<HeaderName>,
    failed_body: Option<(regex::bytes::Regex, usize)>,
    pub(crate) username_field: Option<Box<str>>,
}

/// The salt's key: one per instance.
pub(crate) struct Salt(hmac::Key);

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(..)")
    }
}

impl Salt {
    /// The salt from `routes.login_salt_env`, or a random one.
    pub(crate) fn from_config(config: &Config) -> Result<Salt, ProxyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &config.routes.login_salt_env {
            Some(var) => {
                let value = std::env::var(var).map_err(|_| ProxyError::Config {
                    key: "routes.login_salt_env",
                    message: format!(
                        "the environment variable {var} is not set; set it to a secret of \
                         at least 16 characters, the same on every replica"
                    ),
                })?;
                if value.len() < 16 {
                    return Err(ProxyError::Config {
                        key: "routes.login_salt_env",
                        message: format!("{var} is shorter than 16 characters"),
                    });
                }
                Ok(Salt(hmac::Key::new(hmac::HMAC_SHA256, value.as_bytes())))
            }
            None => hmac::Key::generate(hmac::HMAC_SHA256, &rng)
                .map(Salt)
                .map_err(|_| ProxyError::Config {
                    key: "routes.login_salt_env",
                    message: "cannot generate a random salt".into(),
                }),
        }
    }

    fn hash(&self, username: &str) -> UsernameHash {
        let normal = username.trim().to_lowercase();
        let tag = hmac::sign(&self.0, normal.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        UsernameHash(out)
    }
}

impl LoginPolicy {
    pub(crate) fn build(c: &LoginConfig) -> Result<LoginPolicy, ProxyError> {
        let failed_header = c
            .failed_header
            .as_ref()
            .map(|h| HeaderName::from_bytes(h.as_bytes()))
            .transpose()
            .map_err(|e| ProxyError::Config {
                key: "route.login.failed_header",
                message: e.to_string(),
            })?;
        Ok(LoginPolicy {
            failed_status: c.failed_status.clone(),
            failed_header,
            failed_body: c
                .failed_body
                .as_ref()
                .map(|p| (p.get().0.clone(), c.body_bytes)),
            username_field: c.username_field.as_deref().map(Into::into),
        })
    }

    /// True when the response body must be read to judge the outcome; the
    /// upstream is then asked not to compress it.
    pub(crate) fn reads_body(&self) -> bool {
        self.failed_body.is_some()
    }

    /// The outcome as far as the response head tells it, or a watch when the
    /// body decides.
    pub(crate) fn judge_head(&self, status: StatusCode, headers: &HeaderMap) -> Judged {
        if self.failed_status.contains(&status.as_u16())
            || self
                .failed_header
                .as_ref()
                .is_some_and(|h| headers.contains_key(h))
        {
            return Judged::Known(Some(LoginOutcome::Failed));
        }
        let ok = (status.is_success() || status.is_redirection()).then_some(LoginOutcome::Ok);
        match &self.failed_body {
            Some((re, max)) => Judged::Watch(BodyWatch {
                re: re.clone(),
                max: *max,
                seen: BytesMut::new(),
                otherwise: ok,
            }),
            None => Judged::Known(ok),
        }
    }

    /// The salted hash of the username in a request body read ahead, if the
    /// route names its field and the body (JSON or form) has it as a string.
    pub(crate) fn username(
        &self,
        salt: &Salt,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<UsernameHash> {
        let field = self.username_field.as_deref()?;
        let ct = headers
            .get(CONTENT_TYPE)?
            .to_str()
            .ok()?
            .to_ascii_lowercase();
        let name = if ct.starts_with("application/json") || ct.contains("+json") {
            let doc: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(body).ok()?;
            doc.get(field)?.as_str()?.to_owned()
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            form_urlencoded::parse(body)
                .find(|(k, _)| k == field)
                .map(|(_, v)| v.into_owned())?
        } else {
            return None;
        };
        (!name.trim().is_empty()).then(|| salt.hash(&name))
    }
}

/// What the response head says of a login.
#[derive(Debug)]
pub(crate) enum Judged {
    /// Decided (None: neither a failure nor a success, such as a 502).
    Known(Option<LoginOutcome>),
    /// The body decides.
    Watch(BodyWatch),
}

/// Reads the first bytes of a login response for the failure pattern.
#[derive(Debug)]
pub(crate) struct BodyWatch {
    re: regex::bytes::Regex,
    max: usize,
    seen: BytesMut,
    /// The outcome if the pattern does not match.
    otherwise: Option<LoginOutcome>,
}

impl BodyWatch {
    /// Takes a data frame; returns true once enough has been seen.
    pub(crate) fn feed(&mut self, data: &[u8]) -> bool {
        let room = self.max.saturating_sub(self.seen.len());
        self.seen.extend_from_slice(&data[..data.len().min(room)]);
        self.seen.len() >= self.max
    }

    pub(crate) fn verdict(&self) -> Option<LoginOutcome> {
        if self.re.is_match(&self.seen) {
            Some(LoginOutcome::Failed)
        } else {
            self.otherwise
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Judged {
        fn known(self) -> Option<LoginOutcome> {
            match self {
                Judged::Known(o) => o,
                Judged::Watch(_) => panic!("expected a decision, got a body watch"),
            }
        }

        fn watch(self) -> BodyWatch {
            match self {
                Judged::Watch(w) => w,
                Judged::Known(o) => panic!("expected a body watch, got {o:?}"),
            }
        }
    }

    fn policy(login: &str) -> LoginPolicy {
        let text = format!(
            "[upstream]\nurl = \"http://127.0.0.1:1\"\n[[route]]\npath = \"/login\"\nlogin = {login}"
        );
        let config = Config::parse(&text).unwrap();
        LoginPolicy::build(config.route[0].login.as_ref().unwrap()).unwrap()
    }

    fn salt() -> Salt {
        Salt(hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef"))
    }

    #[test]
    fn status_header_and_body_decide() {
        let p = policy("{}");
        let h = HeaderMap::new();
        assert_eq!(
            p.judge_head(StatusCode::UNAUTHORIZED, &h).known(),
            Some(LoginOutcome::Failed)
        );
        assert_eq!(
            p.judge_head(StatusCode::OK, &h).known(),
            Some(LoginOutcome::Ok)
        );
        assert_eq!(p.judge_head(StatusCode::BAD_GATEWAY, &h).known(), None);

        let p = policy(r#"{ failed_status = [], failed_header = "x-login-failed" }"#);
        let mut failed = HeaderMap::new();
        failed.insert("x-login-failed", "1".parse().unwrap());
        assert_eq!(
            p.judge_head(StatusCode::OK, &failed).known(),
            Some(LoginOutcome::Failed)
        );
        assert_eq!(p.judge_head(StatusCode::UNAUTHORIZED, &h).known(), None);

        let p = policy(r#"{ failed_body = "(?i)invalid password", body_bytes = 16 }"#);
        let mut w = p.judge_head(StatusCode::OK, &h).watch();
        assert!(!w.feed(b"{\"error\":\"Inval"));
        assert!(w.feed(b"id password\"}"));
        // Only the first 16 bytes are read: the pattern spans past them.
        assert_eq!(w.verdict(), Some(LoginOutcome::Ok));
        let mut w = p.judge_head(StatusCode::OK, &h).watch();
        w.feed(b"INVALID PASSWORD");
        assert_eq!(w.verdict(), Some(LoginOutcome::Failed));
        let mut w = p.judge_head(StatusCode::INTERNAL_SERVER_ERROR, &h).watch();
        w.feed(b"oops");
        assert_eq!(w.verdict(), None, "a 500 without the pattern is no outcome");
    }

    #[test]
    fn usernames_are_hashed_from_json_and_forms() {
        let p = policy(r#"{ username_field = "email" }"#);
        let s = salt();
        let json: HeaderMap = [(CONTENT_TYPE, "application/json".parse().unwrap())]
            .into_iter()
            .collect();
        let form: HeaderMap = [(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        )]
        .into_iter()
        .collect();
        let a = p.username(
            &s,
            &json,
            &Bytes::from_static(br#"{"email":"Alice@Example.com","password":"x"}"#),
        );
        let b = p.username(
            &s,
            &form,
            &Bytes::from_static(b"password=x&email=+alice%40example.com"),
        );
        assert!(a.is_some());
        assert_eq!(a, b, "same user, normalised, same hash");
        let c = p.username(
            &s,
            &json,
            &Bytes::from_static(br#"{"email":"bob@example.com"}"#),
        );
        assert_ne!(a, c);
        assert_eq!(
            p.username(&s, &json, &Bytes::from_static(b"{\"email\":")),
            None
        );
        assert_eq!(
            p.username(&s, &json, &Bytes::from_static(br#"{"email":42}"#)),
            None
        );
        assert_eq!(
            p.username(&s, &HeaderMap::new(), &Bytes::from_static(b"email=a")),
            None
        );
        let other = Salt(hmac::Key::new(hmac::HMAC_SHA256, b"fedcba9876543210"));
        assert_ne!(
            p.username(
                &other,
                &json,
                &Bytes::from_static(br#"{"email":"alice@example.com"}"#)
            ),
            a,
            "the hash depends on the salt"
        );
        assert!(!format!("{:?}", a.unwrap()).contains("alice"));
    }
}
