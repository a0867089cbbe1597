//! Target `query_cookie`: query strings and cookies, as the signature engine
//! splits them into names and values (`&`- and `;`-separated pairs, `+` as a
//! space in queries, base64 values decoded) and as the proxy lists a query's
//! parameter names for its events. The bytes up to the first 0xff are the
//! query, the rest the Cookie header.
//!
//! Asserts the engine's verdicts are consistent (see `inspect_checked`) and
//! that the event's key list never carries a value: no `=`, within its cap,
//! and only names the query has.

use palisade_proxy::fuzzing::query_keys;
use palisade_signatures::Request;

/// `QUERY_KEYS_MAX` in the proxy's context.rs: the longest key list kept.
const QUERY_KEYS_MAX: usize = 512;

pub fn run(data: &[u8]) {
    let (query, cookie) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let headers = [("Cookie", cookie), ("X-Forwarded-Query", query)];
    let req = Request::new("GET", b"/search")
        .query(query)
        .headers(&headers);
    super::inspect_checked(&req);
    let cookie_only = [("cookie", cookie)];
    super::inspect_checked(&Request::new("POST", b"/").headers(&cookie_only));

    // The proxy only sees queries that are valid URI text: ASCII.
    let Ok(q) = std::str::from_utf8(query) else {
        return;
    };
    if let Some(keys) = query_keys(q) {
        assert!(!keys.is_empty() && keys.len() <= QUERY_KEYS_MAX);
        assert!(
            !keys.contains('='),
            "a value reached the key list: {keys:?}"
        );
        let names: Vec<&str> = q
            .split('&')
            .map(|p| p.split('=').next().unwrap_or(""))
            .collect();
        for k in keys.split('&').filter(|k| !k.is_empty()) {
            assert!(names.contains(&k), "{k:?} is not a name of {q:?}");
        }
    }
}
