//! Owns `RequestEvent`: the metadata of one exchange, allowed or denied, as the
//! proxy's record phase writes it into the tee and the analytics worker reads it.
//!
//! Must never carry a secret: there is deliberately no field for a token, an API
//! key, an Authorization or Cookie value, a body, or a query-string value.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// One request/response exchange as seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEvent {
    /// When the request head arrived, in microseconds since the Unix epoch.
    pub ts_unix_us: u64,
    /// The `X-Request-Id` sent upstream and returned to the client.
    pub request_id: Box<str>,
    /// The client address: the peer, or the first untrusted hop of a trusted
    /// proxy's `X-Forwarded-For`.
    pub client_ip: IpAddr,
    /// The TCP peer address.
    pub peer_ip: IpAddr,
    /// The TCP source port of the connection.
    pub peer_port: u16,
    /// The verified JWT subject, when the request carried a valid token.
    pub subject: Option<Box<str>>,
    /// The id (never the secret) of a verified API key.
    pub api_key_id: Option<Box<str>>,
    /// The verified JWT's id (`jti`), if it has one.
    pub token_id: Option<Arc<str>>,
    /// The verified credential's scopes, space-separated.
    pub scopes: Option<Arc<str>>,
    pub method: http::Method,
    /// The Host header or `:authority`, without user info.
    pub host: Option<Box<str>>,
    /// The path, without the query string.
    pub path: Box<str>,
    /// Query parameter names only, `&`-separated in order of appearance; never values.
    pub query_keys: Option<Box<str>>,
    /// The declared route template the request matched, if any.
    pub route: Option<Arc<str>>,
    /// True when no declared route matched and the request was let through.
    pub undeclared: bool,
    /// The status returned to the client (0 if the connection ended before one).
    pub status: u16,
    /// Why Palisade denied or failed the request, if it did.
    pub deny: Option<Denial>,
    /// From the request head's arrival to the end of the response body, in µs.
    pub latency_us: u64,
    /// From sending upstream to the upstream's response head, in µs.
    pub upstream_latency_us: Option<u64>,
    /// Request body bytes received from the client.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// The User-Agent, truncated to `USER_AGENT_MAX` bytes.
    pub user_agent: Option<Box<str>>,
    pub protocol: Protocol,
    /// True when the client connected over TLS.
    pub tls: bool,
    /// On a login route: how the attempt ended.
    pub login: Option<Login>,
    /// Attack signatures that matched, in detect or block mode.
    pub signatures: Option<Box<SignatureMatch>>,
    /// What OpenAPI validation found wrong or undeclared in the request.
    pub schema: Option<Box<SchemaReport>>,
}

/// A login attempt's outcome, as the route's `login` settings read the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Login {
    pub outcome: LoginOutcome,
    /// Salted hash of the username, when the route names the body field that
    /// carries it; never the username itself.
    pub username_hash: Option<UsernameHash>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    Ok,
    Failed,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Ok => "login_ok",
            LoginOutcome::Failed => "login_failed",
        }
    }
}

/// 128 bits of a keyed hash (HMAC-SHA-256 with the instance's salt) of a
/// normalised username: enough to count distinct usernames, useless to recover one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsernameHash(pub [u8; 16]);

impl fmt::Display for UsernameHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for UsernameHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UsernameHash({self})")
    }
}

/// What the signature engine found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureMatch {
    /// The anomaly score: the sum of the matched rules' severities.
    pub score: u32,
    /// The matched rules' ids.
    pub rule_ids: Box<[Box<str>]>,
    /// True when the score reached the threshold: blocked in block mode,
    /// "would block" in detect mode.
    pub over_threshold: bool,
}

/// What the validate phase found: each broken rule and undeclared parameter,
/// by name, never by value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaReport {
    /// At most `SCHEMA_VIOLATIONS_MAX`, in the order found.
    pub violations: Box<[Violation]>,
    /// True when the request was refused for them (block mode).
    pub denied: bool,
}

/// Most violations one event keeps; a request breaking more keeps the first.
pub const SCHEMA_VIOLATIONS_MAX: usize = 8;
/// Longest parameter or property name kept, in bytes.
pub const SCHEMA_NAME_MAX: usize = 64;

/// One parameter or body property that broke the operation's schema, or that
/// the operation does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub location: ParamLocation,
    /// The parameter's name, or the body property's JSON pointer (`/address/zip`;
    /// empty for the body as a whole). Only printable ASCII; at most
    /// `SCHEMA_NAME_MAX` bytes.
    pub name: Box<str>,
    /// The rule broken: a JSON Schema keyword (`type`, `maxLength`, `enum`,
    /// `required`, `additionalProperties`, `format`, …) or one of `unknown`
    /// (undeclared), `missing` (a required parameter or body absent),
    /// `content_type`, `json` (not parseable), `max_body_bytes`.
    pub rule: &'static str,
    pub kind: ViolationKind,
}

/// Where a parameter was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamLocation {
    Path,
    Query,
    Header,
    Body,
}

impl ParamLocation {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
            ParamLocation::Header => "header",
            ParamLocation::Body => "body",
        }
    }
}

/// How a violation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A declared rule was broken; denied in block mode.
    Invalid,
    /// An undeclared query parameter or body property under a "flag" policy:
    /// recorded, never denied.
    Unknown,
    /// An undeclared body property that grants privileges or changes state the
    /// client must not set (`role`, `is_admin`, a `readOnly` property):
    /// recorded as a mass-assignment attempt; denied under "reject".
    MassAssignment,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.location.as_str();
        if self.name.is_empty() {
            write!(f, "{at}: {}", self.rule)
        } else if self.location == ParamLocation::Body {
            write!(f, "{at}{}: {}", self.name, self.rule)
        } else {
            write!(f, "{at}.{}: {}", self.name, self.rule)
        }
    }
}

impl RequestEvent {
    /// Whether the server error is the upstream's (or its absence: 502, 504),
    /// not the proxy's own 503 when it sheds load (`proxy.limits.max_in_flight`):
    /// a shed request says nothing about the endpoint or the client.
    pub fn server_error(&self) -> bool {
        Denial::server_error(self.status, self.deny)
    }

    /// An allowed `GET /` from 127.0.0.1 answered 200: a base that tests and
    /// benchmarks change with struct-update syntax.
    #[cfg(any(test, feature = "test-util"))]
    pub fn example() -> Self {
        let localhost = IpAddr::from([127, 0, 0, 1]);
        RequestEvent {
            ts_unix_us: 0,
            request_id: "example".into(),
            client_ip: localhost,
            peer_ip: localhost,
            peer_port: 0,
            subject: None,
            api_key_id: None,
            token_id: None,
            scopes: None,
            method: http::Method::GET,
            host: None,
            path: "/".into(),
            query_keys: None,
            route: None,
            undeclared: false,
            status: 200,
            deny: None,
            latency_us: 1,
            upstream_latency_us: None,
            bytes_in: 0,
            bytes_out: 0,
            user_agent: None,
            protocol: Protocol::Http11,
            tls: false,
            login: None,
            signatures: None,
            schema: None,
        }
    }
}

/// Longest User-Agent kept in an event, in bytes.
pub const USER_AGENT_MAX: usize = 256;

/// The wire protocol a client spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http10,
    Http11,
    Http2,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http10 => "HTTP/1.0",
            Protocol::Http11 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        }
    }
}

/// Where and why a request was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Denial {
    pub phase: Phase,
    pub code: DenyCode,
}

impl Denial {
    /// Whether an answer of `status`, denied by `deny`, is a server error of
    /// the upstream's (or its absence: 502, 504) rather than the proxy's own
    /// 503 when it sheds load. See [`RequestEvent::server_error`].
    pub fn server_error(status: u16, deny: Option<Denial>) -> bool {
        (500..=599).contains(&status) && deny.is_none_or(|d| d.code != DenyCode::Overloaded)
    }
}

/// The proxy's request-path phases, in order (see DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Accept,
    Identify,
    Block,
    Route,
    Authenticate,
    Authorize,
    Validate,
    Limit,
    Inspect,
    Forward,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Accept => "accept",
            Phase::Identify => "identify",
            Phase::Block => "block",
            Phase::Route => "route",
            Phase::Authenticate => "authenticate",
            Phase::Authorize => "authorize",
            Phase::Validate => "validate",
            Phase::Limit => "limit",
            Phase::Inspect => "inspect",
            Phase::Forward => "forward",
        }
    }
}

/// The reason code of a denial or failure; its `as_str` is what clients see in
/// the JSON body and what operators see in logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyCode {
    /// The request was malformed or its framing ambiguous (smuggling attempt).
    BadRequest,
    /// The client did not send a complete request head in time.
    HeaderTimeout,
    /// The request URL is longer than the configured cap.
    UrlTooLong,
    /// Too many request headers, or too many header bytes.
    HeadersTooLarge,
    /// A client key is in the block table.
    Blocked,
    /// No declared route matches and undeclared routes are denied.
    UnknownRoute,
    Unauthenticated,
    Forbidden,
    /// The request does not match the route's schema.
    Schema,
    RateLimited,
    BodyTooLarge,
    /// An attack signature matched.
    Signature,
    /// The request body's Content-Encoding cannot be decoded for inspection.
    UnsupportedEncoding,
    /// The upstream refused or dropped the connection.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// `proxy.limits.max_in_flight` requests were in flight: shed at once.
    Overloaded,
}

impl DenyCode {
    /// Every code, in declaration order (`code as usize` indexes this array).
    pub const ALL: [DenyCode; 16] = [
        DenyCode::BadRequest,
        DenyCode::HeaderTimeout,
        DenyCode::UrlTooLong,
        DenyCode::HeadersTooLarge,
        DenyCode::Blocked,
        DenyCode::UnknownRoute,
        DenyCode::Unauthenticated,
        DenyCode::Forbidden,
        DenyCode::Schema,
        DenyCode::RateLimited,
        DenyCode::BodyTooLarge,
        DenyCode::Signature,
        DenyCode::UnsupportedEncoding,
        DenyCode::UpstreamUnavailable,
        DenyCode::UpstreamTimeout,
        DenyCode::Overloaded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DenyCode::BadRequest => "bad_request",
            DenyCode::HeaderTimeout => "header_timeout",
            DenyCode::UrlTooLong => "url_too_long",
            DenyCode::HeadersTooLarge => "headers_too_large",
            DenyCode::Blocked => "blocked",
            DenyCode::UnknownRoute => "unknown_route",
            DenyCode::Unauthenticated => "unauthenticated",
            DenyCode::Forbidden => "forbidden",
            DenyCode::Schema => "schema",
            DenyCode::RateLimited => "rate_limited",
            DenyCode::BodyTooLarge => "body_too_large",
            DenyCode::Signature => "signature",
            DenyCode::UnsupportedEncoding => "unsupported_encoding",
            DenyCode::UpstreamUnavailable => "upstream_unavailable",
            DenyCode::UpstreamTimeout => "upstream_timeout",
            DenyCode::Overloaded => "overloaded",
        }
    }
}

impl fmt::Display for DenyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
