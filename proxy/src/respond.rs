//! Owns the one mapping from a denial to what the client receives: status, JSON
//! body `{"status":…,"reason":"<code>","request_id":"…"}` and headers. Both hyper
//! responses and the raw bytes written outside hyper (408, ambiguous framing) come
//! from here. Must never put internals (block reasons, upstream errors) in a body.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Response, StatusCode};

use palisade_models::{Denial, DenyCode};

use crate::body::ProxyBody;
use crate::limits::Limited;

/// The status a deny code answers with.
pub(crate) fn status_of(code: DenyCode) -> StatusCode {
    match code {
        DenyCode::BadRequest | DenyCode::Schema => StatusCode::BAD_REQUEST,
        DenyCode::HeaderTimeout => StatusCode::REQUEST_TIMEOUT,
        DenyCode::UrlTooLong => StatusCode::URI_TOO_LONG,
        DenyCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        DenyCode::Blocked | DenyCode::Forbidden | DenyCode::Signature => StatusCode::FORBIDDEN,
        DenyCode::UnknownRoute => StatusCode::NOT_FOUND,
        DenyCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        DenyCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        DenyCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        DenyCode::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        DenyCode::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
        DenyCode::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        DenyCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The JSON body of a denial. `request_id` is either ours (a UUID) or a client
/// id that passed `context::valid_request_id`, so it needs no escaping.
fn body(code: DenyCode, request_id: &str) -> String {
    format!(
        "{{\"status\":{},\"reason\":\"{}\",\"request_id\":\"{}\"}}\n",
        status_of(code).as_u16(),
        code.as_str(),
        request_id
    )
}

/// The response for a denial inside the request pipeline; `limited` says which
/// rate limit refused it, for a 429's `Retry-After` and RateLimit headers
/// (draft-ietf-httpapi-ratelimit-headers: limit, remaining, reset, policy).
pub(crate) fn denial(
    d: Denial,
    request_id: &HeaderValue,
    request_id_header: &HeaderName,
    limited: Option<Limited>,
) -> Response<ProxyBody> {
    let id = request_id.to_str().unwrap_or_default();
    let body = body(d.code, id);
    let mut resp = Response::new(ProxyBody::local(Bytes::from(body)));
    *resp.status_mut() = status_of(d.code);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(request_id_header.clone(), request_id.clone());
    if d.code == DenyCode::Overloaded {
        h.insert(RETRY_AFTER, HeaderValue::from(OVERLOADED_RETRY_AFTER_SECS));
    }
    if let Some(l) = limited {
        let retry = HeaderValue::from(l.retry_after_secs);
        h.insert(RETRY_AFTER, retry.clone());
        h.insert(RATELIMIT_LIMIT, HeaderValue::from(l.policy.limit));
        h.insert(RATELIMIT_REMAINING, HeaderValue::from_static("0"));
        h.insert(RATELIMIT_RESET, retry);
        let policy = format!("{};w={}", l.policy.limit, l.policy.window_secs);
        if let Ok(v) = HeaderValue::from_str(&policy) {
            h.insert(RATELIMIT_POLICY, v);
        }
    }
    resp
}

/// Seconds a shed client is asked to wait: overload is measured in requests in
/// flight, which clear within a response time, so a second is plenty and keeps
/// well-behaved clients from coming back in a synchronised wave much later.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// A complete HTTP/1.1 response for a denial made below hyper (the connection
/// closes after it).
pub(crate) fn raw_denial(
    code: DenyCode,
    request_id: &HeaderValue,
    request_id_header: &HeaderName,
) -> Vec<u8> {
    let status = status_of(code);
    let id = request_id.to_str().unwrap_or_default();
    let body = body(code, id);
    format!(
        "HTTP/1.1 {} {}\r\n{CONTENT_TYPE}: application/json\r\n{CONTENT_LENGTH}: {}\r\n{request_id_header}: {id}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_denials_are_complete_responses() {
        let id = HeaderValue::from_static("abc");
        let name = HeaderName::from_static("x-request-id");
        let raw = String::from_utf8(raw_denial(DenyCode::HeaderTimeout, &id, &name)).unwrap();
        assert!(raw.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{raw}");
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("x-request-id: abc"));
        assert!(body.contains("\"reason\":\"header_timeout\""));
        assert!(body.contains("\"request_id\":\"abc\""));
    }

    #[test]
    fn a_shed_request_gets_503_with_retry_after() {
        let id = HeaderValue::from_static("abc");
        let name = HeaderName::from_static("x-request-id");
        let d = Denial {
            phase: palisade_models::Phase::Accept,
            code: DenyCode::Overloaded,
        };
        let resp = denial(d, &id, &name, None);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[RETRY_AFTER], "1");
        assert!(resp.headers().get(RATELIMIT_LIMIT).is_none());
    }

    #[test]
    fn every_code_has_an_error_status() {
        for code in DenyCode::ALL {
            let s = status_of(code);
            assert!(s.is_client_error() || s.is_server_error(), "{code}");
        }
    }
}
