//! Owns header hygiene between client and upstream: hop-by-hop headers removed
//! both ways (RFC 9110 §7.6.1), `X-Forwarded-*` set (a client's own copies believed
//! only from trusted proxies), spoofable identity headers stripped and replaced by
//! ours, and the request id passed on.
//!
//! Must not drop end-to-end headers, and must never pass a client's copy of a
//! header we vouch for.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::jwt::{Identity, JwtUpstreamHeaders};
use crate::settings::Settings;

/// Hop-by-hop headers, always removed (on top of those `Connection` names).
/// Proxy-Authorization is a credential for us, not for the upstream; Upgrade is
/// removed because upgrades are not proxied. A `static`, not a `const`: a const
/// array is built and dropped again at every use. `hop_index` knows this order.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names (cheap comparisons) finds which are present, so
    // only those pay for a hash-and-probe removal. Most messages carry none, or
    // only `Connection: keep-alive`.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = hop_index(name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 && !only_persistence(headers) {
        for name in connection_listed(headers) {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

/// Where `name` is in `HOP_BY_HOP`, if it is there. A match on the text, which
/// turns most names away on their length alone; comparing each header with the
/// nine names in turn cost ~265 more instructions per proxied request
/// (`FULL=1 bench/instructions.sh`).
fn hop_index(name: &HeaderName) -> Option<usize> {
    Some(match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "upgrade" => 8,
        _ => return None,
    })
}

/// True for the usual `Connection: keep-alive` or `close`, which name no header.
fn only_persistence(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONNECTION).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => {
            let v = v.as_bytes();
            v.eq_ignore_ascii_case(b"keep-alive") || v.eq_ignore_ascii_case(b"close")
        }
        _ => false,
    }
}

/// Extra headers the `Connection` header declares hop-by-hop: its tokens other
/// than `close`, `keep-alive` and names removed anyway.
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names = Vec::new();
    for v in headers.get_all(header::CONNECTION) {
        let Ok(text) = v.to_str() else { continue };
        for token in text.split(',').map(str::trim) {
            if token.is_empty()
                || token.eq_ignore_ascii_case("close")
                || HOP_BY_HOP
                    .iter()
                    .any(|h| token.eq_ignore_ascii_case(h.as_str()))
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                // Never let a client make us drop the headers we rely on.
                if name != header::HOST && name != header::CONTENT_LENGTH {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// What the request's client looked like, for the forwarded headers.
pub(crate) struct Forwarded<'a> {
    pub peer: IpAddr,
    /// The peer address as a header value (formatted once per connection).
    pub peer_value: &'a HeaderValue,
    pub client: IpAddr,
    pub peer_trusted: bool,
    pub tls: bool,
    /// The Host or :authority the client asked for.
    pub host: Option<&'a HeaderValue>,
    pub request_id: &'a HeaderValue,
    /// The id of the valid API key the client presented.
    pub api_key_id: Option<&'a str>,
    /// The verified JWT's identity, and where the upstream gets it; the header
    /// names are given whenever JWT is configured, so client copies are removed.
    pub identity: Option<&'a Identity>,
    pub identity_headers: Option<&'a JwtUpstreamHeaders>,
}

/// Prepares a client's request headers for the upstream (after hop-by-hop removal).
pub(crate) fn upstream_request(headers: &mut HeaderMap, f: &Forwarded<'_>, s: &Settings) {
    // One pass finds what the client sent that we replace or must vet.
    let mut spoofable = false;
    let mut identity = false;
    for name in headers.keys() {
        spoofable |= name == header::FORWARDED
            || name == X_REAL_IP
            || name == X_FORWARDED_PROTO
            || name == X_FORWARDED_HOST
            || name == X_FORWARDED_FOR;
        identity |= name.as_str().starts_with(&s.identity_prefix);
    }
    if identity {
        strip_identity(headers, &s.identity_prefix);
    }
    if let Some(h) = f.identity_headers {
        for name in [&h.subject, &h.scopes, &h.token_id] {
            if !name.as_str().starts_with(&s.identity_prefix) {
                headers.remove(name);
            }
        }
    }
    let prior = if spoofable && f.peer_trusted {
        joined(headers, &X_FORWARDED_FOR)
    } else {
        if spoofable {
            headers.remove(header::FORWARDED);
            headers.remove(&X_REAL_IP);
            headers.remove(&X_FORWARDED_PROTO);
            headers.remove(&X_FORWARDED_HOST);
        }
        None
    };
    // Up to five inserts follow: grow the table once, not per insert.
    headers.reserve(5);
    match prior {
        Some(prior) => insert_str(
            headers,
            X_FORWARDED_FOR.clone(),
            &format!("{prior}, {}", f.peer),
        ),
        None => {
            headers.insert(X_FORWARDED_FOR.clone(), f.peer_value.clone());
        }
    }
    if !(spoofable && headers.contains_key(&X_FORWARDED_PROTO)) {
        let proto = if f.tls { "https" } else { "http" };
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    }
    if !(spoofable && headers.contains_key(&X_FORWARDED_HOST))
        && let Some(host) = f.host
    {
        headers.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
    let client = if f.client == f.peer {
        f.peer_value.clone()
    } else {
        ip_value(f.client)
    };
    headers.insert(s.client_ip_header.clone(), client);
    headers.insert(s.request_id_header.clone(), f.request_id.clone());
    if let Some(id) = f.api_key_id {
        insert_str(headers, s.api_key_id_header.clone(), id);
    }
    if let (Some(who), Some(h)) = (f.identity, f.identity_headers) {
        let v = &who.values;
        for (name, value) in [
            (&h.subject, &v.subject),
            (&h.scopes, &v.scopes),
            (&h.token_id, &v.token_id),
        ] {
            if let Some(value) = value {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

/// An address as a header value, formatted without a temporary String.
pub(crate) fn ip_value(ip: IpAddr) -> HeaderValue {
    use std::io::Write as _;
    let mut buf = [0u8; 48];
    let mut cursor = &mut buf[..];
    let _ = write!(cursor, "{ip}");
    let len = 48 - cursor.len();
    // INVARIANT: a formatted address is ASCII digits, dots, colons and hex.
    HeaderValue::from_bytes(&buf[..len]).expect("an IP address is a valid header value")
}

/// Prepares the upstream's response headers for the client.
pub(crate) fn client_response(headers: &mut HeaderMap, request_id: &HeaderValue, s: &Settings) {
    strip_hop_by_hop(headers);
    headers.insert(s.request_id_header.clone(), request_id.clone());
}

/// Removes every header whose name starts with our identity prefix: only we may
/// tell the upstream who the client is.
fn strip_identity(headers: &mut HeaderMap, prefix: &str) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with(prefix))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
}

fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let Ok(text) = v.to_str() else { continue };
        match &mut out {
            None => out = Some(text.to_string()),
            Some(s) => {
                s.push_str(", ");
                s.push_str(text);
            }
        }
    }
    out
}

fn insert_str(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

#[cfg(test)]
mod tests;
