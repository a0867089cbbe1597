//! Owns `RequestCtx`: the per-request state the phases read and write (request id,
//! client identity, the event being recorded). Built once when the request head
//! arrives, from what the head says, never from the body.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{HOST, USER_AGENT};
use http::{HeaderValue, Request, Version};
use hyper::body::Incoming;

use palisade_models::event::USER_AGENT_MAX;
use palisade_models::{ClientKeys, Denial, Protocol, RequestEvent, unix_us};
use palisade_openapi::Report;

use crate::auth::Principal;
use crate::conn::ConnInfo;
use crate::jwt::{Identity, JwtError};
use crate::limits::{ClusterAsk, Limited};
use crate::phases::record::Recorder;
use crate::server::Shared;

/// Longest query-key list kept in an event, in bytes.
const QUERY_KEYS_MAX: usize = 512;
/// Longest client-sent request id that is kept.
const REQUEST_ID_MAX: usize = 128;

/// One request's state along the pipeline.
#[derive(Debug)]
pub(crate) struct RequestCtx {
    // Boxed: it travels with the response body through hyper, which moves bodies.
    pub(crate) rec: Box<Recorder>,
    pub(crate) request_id: HeaderValue,
    /// The matched route's index in the route table.
    pub(crate) route: Option<usize>,
    /// The body cap that applies, in bytes (set by the limit phase).
    pub(crate) max_body: u64,
    /// The verified credential's owner, if the request presented a valid one.
    pub(crate) principal: Option<Arc<Principal>>,
    /// The verified JWT's owner, if the request presented a valid token.
    pub(crate) identity: Option<Arc<Identity>>,
    /// Why a presented token was refused (none when absent or valid).
    pub(crate) jwt_error: Option<JwtError>,
    /// Operator-only detail of a denial, for the deny log (never the client).
    pub(crate) deny_detail: Option<&'static str>,
    /// The rate limit that refused the request, for the 429's headers.
    pub(crate) limited: Option<Limited>,
    /// What OpenAPI validation found (empty, unallocated, when nothing).
    pub(crate) schema: Report,
    /// True when the validate phase refused the request.
    pub(crate) schema_denied: bool,
    /// What a cluster limit still needs from the fleet (`limit_cluster`).
    pub(crate) cluster_ask: Option<ClusterAsk>,
    pub(crate) conn: Arc<ConnInfo>,
}

impl RequestCtx {
    pub(crate) fn new(req: &Request<Incoming>, shared: Arc<Shared>, conn: Arc<ConnInfo>) -> Self {
        let start = Instant::now();
        let wall = SystemTime::now();
        let s = &shared.settings;
        let request_id = req
            .headers()
            .get(&s.request_id_header)
            .filter(|v| valid_request_id(v.as_bytes()))
            .cloned()
            .unwrap_or_else(|| request_id_at(wall));
        let peer_ip = conn.peer.ip();
        let uri = req.uri();
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()))
            .map(|h| h.rsplit('@').next().unwrap_or(h).into());
        let event = RequestEvent {
            ts_unix_us: unix_us(wall),
            request_id: request_id.to_str().unwrap_or_default().into(),
            client_ip: peer_ip,
            peer_ip,
            peer_port: conn.peer.port(),
            subject: None,
            api_key_id: None,
            token_id: None,
            scopes: None,
            method: req.method().clone(),
            host,
            path: uri.path().into(),
            query_keys: uri.query().and_then(query_keys),
            route: None,
            undeclared: false,
            status: 0,
            deny: None,
            latency_us: 0,
            upstream_latency_us: None,
            bytes_in: 0,
            bytes_out: 0,
            user_agent: req
                .headers()
                .get(USER_AGENT)
                .map(|v| truncate_lossy(v.as_bytes(), USER_AGENT_MAX)),
            protocol: match req.version() {
                Version::HTTP_2 => Protocol::Http2,
                Version::HTTP_10 | Version::HTTP_09 => Protocol::Http10,
                _ => Protocol::Http11,
            },
            tls: conn.tls,
            login: None,
            signatures: None,
            schema: None,
        };
        RequestCtx {
            rec: Box::new(Recorder::new(event, start, shared, conn.clone())),
            request_id,
            route: None,
            max_body: u64::MAX,
            principal: None,
            identity: None,
            jwt_error: None,
            deny_detail: None,
            limited: None,
            schema: Report::default(),
            schema_denied: false,
            cluster_ask: None,
            conn,
        }
    }

    /// The client's keys as far as they are known now.
    pub(crate) fn client(&mut self) -> ClientKeys<'_> {
        let ev = self.rec.event();
        ClientKeys {
            ip: ev.client_ip,
            subject: ev.subject.as_deref(),
            api_key_id: ev.api_key_id.as_deref(),
        }
    }

    /// Notes the denial in the event.
    pub(crate) fn deny(&mut self, d: Denial) {
        self.rec.event().deny = Some(d);
    }
}

/// A client request id is kept only if it is short and made of characters that
/// need no escaping anywhere we write it (JSON, logs, headers).
pub(crate) fn valid_request_id(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= REQUEST_ID_MAX
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh request id: a UUIDv7, so ids sort by time.
pub(crate) fn new_request_id() -> HeaderValue {
    request_id_at(SystemTime::now())
}

/// A UUIDv7 for a request that arrived at `wall`. Its 74 random bits make it
/// unique without uuid's shared counter, a mutex every worker would contend for.
fn request_id_at(wall: SystemTime) -> HeaderValue {
    let since = wall
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), since.subsec_nanos());
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let s = uuid::Uuid::new_v7(ts).hyphenated().encode_lower(&mut buf);
    // INVARIANT: a hyphenated UUID is ASCII hex and dashes, a valid header value.
    HeaderValue::from_str(s).expect("uuid is a valid header value")
}

/// The names of the query's parameters, in order, `&`-separated; never values.
pub(crate) fn query_keys(query: &str) -> Option<Box<str>> {
    let mut out = Vec::with_capacity(query.len().min(QUERY_KEYS_MAX));
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let key = pair.split('=').next().unwrap_or_default();
        if out.len() + key.len() + 1 > QUERY_KEYS_MAX {
            break;
        }
        if !out.is_empty() {
            out.push(b'&');
        }
        let _ = out.write_all(key.as_bytes());
    }
    if out.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(&out).into())
}

/// At most `max` bytes of `v` as text, cut on a character boundary.
fn truncate_lossy(v: &[u8], max: usize) -> Box<str> {
    let s = String::from_utf8_lossy(v);
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keys_drop_values() {
        assert_eq!(
            query_keys("q=secret&page=2&flag&&x=").as_deref(),
            Some("q&page&flag&x")
        );
        assert_eq!(query_keys("").as_deref(), None);
        let long = "k".repeat(600) + "=v";
        assert_eq!(query_keys(&long).as_deref(), None);
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(valid_request_id(b"abc-123_x.y:z"));
        assert!(!valid_request_id(b""));
        assert!(!valid_request_id(b"has space"));
        assert!(!valid_request_id(b"quote\""));
        assert!(!valid_request_id(&[b'a'; 129]));
        let generated = new_request_id();
        assert!(valid_request_id(generated.as_bytes()));
        assert_ne!(generated, new_request_id());
    }

    #[test]
    fn user_agents_are_cut_on_char_boundaries() {
        let ua = "é".repeat(200);
        let t = truncate_lossy(ua.as_bytes(), 255);
        assert_eq!(t.len(), 254);
    }
}
