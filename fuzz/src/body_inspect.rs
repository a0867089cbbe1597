//! Target `body_inspect`: request bodies as the signature engine reads them by
//! content type: the streaming JSON string scanner, form pairs, the multipart
//! splitter (boundary taken from the input), the XML scanner, and raw text;
//! each also cut at a small body cap mid-token. The first byte picks the
//! content type; for multipart the next byte is the boundary's length (up to
//! 90, past RFC 2046's 70) and that many bytes the boundary.
//!
//! Asserts the verdicts are consistent and do not depend on the memo (see
//! `inspect_checked`).

use palisade_signatures::Request;

use super::sig_engine::CONTENT_TYPES;

pub fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let pick = usize::from(pick);
    let (content_type, body) = if pick % (CONTENT_TYPES.len() + 1) == CONTENT_TYPES.len() {
        let Some((&len, rest)) = rest.split_first() else {
            return;
        };
        let len = usize::from(len % 91).min(rest.len());
        let boundary = String::from_utf8_lossy(&rest[..len]);
        let quoted = if pick & 0x80 != 0 { "\"" } else { "" };
        (
            format!("multipart/form-data; charset=utf-8; boundary={quoted}{boundary}{quoted}"),
            &rest[len..],
        )
    } else {
        (
            CONTENT_TYPES[pick % (CONTENT_TYPES.len() + 1)].to_string(),
            rest,
        )
    };
    let req = Request::new("POST", b"/api/upload").body(&content_type, body);
    super::inspect_checked(&req);
}
