//! Target `sig_engine`: the signature engine on a whole request. Half the
//! inputs are raw HTTP/1.x bytes (parsed by the corpus tooling's tolerant
//! parser, as `palisade rules test` reads the CRS corpus); the other half are
//! built field by field from the bytes (method, path, query, headers, content
//! type, body), reaching parts a raw request would need to be well formed for.
//!
//! Asserts that each verdict is consistent and does not depend on the
//! scratch's memo (see `inspect_checked`).

use arbitrary::{Arbitrary, Unstructured};
use palisade_signatures::Request;
use palisade_signatures::corpus::RawRequest;

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND",
];

pub(super) const CONTENT_TYPES: [&str; 9] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "text/xml",
    "application/vnd.api+json; charset=utf-8",
    "application/soap+xml",
    "text/plain",
    "application/octet-stream",
    "",
];

#[derive(Arbitrary, Debug)]
struct Fields<'a> {
    method: u8,
    path: &'a [u8],
    query: Option<&'a [u8]>,
    headers: Vec<(&'a str, &'a [u8])>,
    content_type: u8,
    body: &'a [u8],
}

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let raw = RawRequest::parse(rest);
        let headers: Vec<(&str, &[u8])> = raw
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = Request {
            method: &raw.method,
            path: &raw.path,
            query: raw.query.as_deref(),
            headers: &headers,
            host: None,
            content_type: raw.content_type.as_deref(),
            body: &raw.body,
        };
        super::inspect_checked(&req);
        return;
    }
    let Ok(f) = Fields::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    let ct = CONTENT_TYPES[usize::from(f.content_type) % CONTENT_TYPES.len()];
    let req = Request {
        method: METHODS[usize::from(f.method) % METHODS.len()],
        path: f.path,
        query: f.query,
        headers: &f.headers,
        host: None,
        content_type: (!ct.is_empty()).then_some(ct),
        body: f.body,
    };
    super::inspect_checked(&req);
}
