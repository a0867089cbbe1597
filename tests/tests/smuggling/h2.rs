//! HTTP/2 downgrade: requests sent as raw frames (`h2raw.rs`) that would be
//! ambiguous or malformed once forwarded as HTTP/1.1.

use palisade_tests::eventually;
use palisade_tests::framing::{self, Framing};
use palisade_tests::h2raw::{self, H2Conn, Outcome};

use super::{AHEAD, assert_upstream_unambiguous, forwarded, setup};

/// One HTTP/2 case: extra fields after the pseudo-headers, the DATA frames,
/// what the client must see, and how many requests reach the upstream.
struct H2Case {
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    /// Replaces the default pseudo-headers when set.
    pseudo: Option<&'static [(&'static str, &'static str)]>,
    data: &'static [&'static str],
    expect: Outcome,
    upstream: usize,
}

const POST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/a"),
    (":authority", "x"),
];

const fn reset(
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    data: &'static [&'static str],
) -> H2Case {
    H2Case {
        name,
        fields,
        pseudo: None,
        data,
        expect: Outcome::Reset(h2raw::PROTOCOL_ERROR),
        upstream: 0,
    }
}

/// hyper's h2 (the h2 crate) ends the whole connection for bytes HPACK
/// decoding refuses in a field (names with uppercase, space, colon or control
/// bytes; CR, LF or NUL in values; unknown or mangled pseudo-headers): GOAWAY
/// with PROTOCOL_ERROR. RFC 9113 §5.4.1 lets a stream error be treated as a
/// connection error; it is the stricter answer, and nothing is forwarded.
const fn goaway(
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    pseudo: Option<&'static [(&'static str, &'static str)]>,
) -> H2Case {
    H2Case {
        name,
        fields,
        pseudo,
        data: &[],
        expect: Outcome::GoAway(h2raw::PROTOCOL_ERROR),
        upstream: 0,
    }
}

const fn bad_pseudo(name: &'static str, pseudo: &'static [(&'static str, &'static str)]) -> H2Case {
    H2Case {
        name,
        fields: &[],
        pseudo: Some(pseudo),
        data: &[],
        expect: Outcome::Reset(h2raw::PROTOCOL_ERROR),
        upstream: 0,
    }
}

/// Why these outcomes are right: RFC 9113 §8.1.1 makes a request with
/// connection-specific fields, a `te` other than `trailers`, uppercase names,
/// CR/LF/NUL in values, bad pseudo-headers or a content-length that disagrees
/// with the DATA frames malformed, to be treated as a stream error of type
/// PROTOCOL_ERROR, and an intermediary must not forward it. hyper's h2 does
/// exactly that (RST_STREAM, or GOAWAY for bytes HPACK decoding refuses),
/// before the request reaches Palisade's pipeline. What would still read two
/// ways once sent as HTTP/1.1 (two Host or content-length fields, `_`
/// lookalikes) the accept phase answers 400.
const H2_CASES: &[H2Case] = &[
    reset(
        "content-length above the data",
        &[("content-length", "10")],
        &["hello"],
    ),
    reset(
        "content-length below the data",
        &[("content-length", "3")],
        &["hello"],
    ),
    reset(
        "content-length below the data, across frames",
        &[("content-length", "4")],
        &["he", "llo"],
    ),
    reset(
        "two different content-lengths",
        &[("content-length", "5"), ("content-length", "6")],
        &["hello"],
    ),
    reset(
        "content-length with a sign",
        &[("content-length", "+5")],
        &["hello"],
    ),
    reset(
        "content-length list",
        &[("content-length", "5, 5")],
        &["hello"],
    ),
    reset("connection", &[("connection", "keep-alive")], &["hello"]),
    reset(
        "connection naming a header",
        &[("connection", "x-a"), ("x-a", "1")],
        &[],
    ),
    reset(
        "transfer-encoding",
        &[("transfer-encoding", "chunked")],
        &["5\r\nhello\r\n0\r\n\r\n"],
    ),
    reset(
        "transfer-encoding with content-length",
        &[("content-length", "5"), ("transfer-encoding", "chunked")],
        &["hello"],
    ),
    reset("keep-alive", &[("keep-alive", "timeout=5")], &[]),
    reset(
        "proxy-connection",
        &[("proxy-connection", "keep-alive")],
        &[],
    ),
    reset("upgrade", &[("upgrade", "websocket")], &[]),
    reset("te other than trailers", &[("te", "gzip")], &[]),
    reset("te list with trailers", &[("te", "trailers, gzip")], &[]),
    goaway(
        "CRLF in a value (header injection on downgrade)",
        &[("x-a", "1\r\nTransfer-Encoding: chunked")],
        None,
    ),
    goaway("LF in a value", &[("x-a", "1\nContent-Length: 0")], None),
    goaway("NUL in a value", &[("x-a", "1\0")], None),
    goaway("uppercase name", &[("Transfer-Encoding", "chunked")], None),
    goaway(
        "space in a name",
        &[("transfer-encoding ", "chunked")],
        None,
    ),
    goaway("colon in a name", &[("x:a", "b")], None),
    bad_pseudo(
        "CRLF in :path",
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a HTTP/1.1\r\nHost: evil"),
            (":authority", "x"),
        ],
    ),
    bad_pseudo(
        "space in :path",
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a b"),
            (":authority", "x"),
        ],
    ),
    goaway(
        "space in :method",
        &[],
        Some(&[
            (":method", "GET /x"),
            (":scheme", "http"),
            (":path", "/a"),
            (":authority", "x"),
        ]),
    ),
    bad_pseudo(
        "empty :path",
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", ""),
            (":authority", "x"),
        ],
    ),
    bad_pseudo(
        "no :path",
        &[(":method", "GET"), (":scheme", "http"), (":authority", "x")],
    ),
    bad_pseudo(
        "pseudo-header after a regular one",
        &[
            (":method", "GET"),
            (":scheme", "http"),
            ("x-a", "1"),
            (":path", "/a"),
            (":authority", "x"),
        ],
    ),
    goaway(
        "unknown pseudo-header",
        &[],
        Some(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a"),
            (":authority", "x"),
            (":x", "1"),
        ]),
    ),
    H2Case {
        name: "te: trailers is allowed (and not forwarded: it is hop-by-hop)",
        fields: &[("te", "trailers")],
        pseudo: None,
        data: &["hello"],
        expect: Outcome::Response(200),
        upstream: 1,
    },
    H2Case {
        name: "content-length that matches the data",
        fields: &[("content-length", "5")],
        pseudo: None,
        data: &["he", "llo"],
        expect: Outcome::Response(200),
        upstream: 1,
    },
    H2Case {
        // hyper's h2 accepts equal ones and would forward both: refused in the
        // accept phase, as the HTTP/1 guard refuses them.
        name: "two equal content-lengths",
        fields: &[("content-length", "5"), ("content-length", "5")],
        pseudo: None,
        data: &["hello"],
        expect: Outcome::Response(400),
        upstream: 0,
    },
    H2Case {
        name: "no content-length",
        fields: &[],
        pseudo: None,
        data: &["hel", "lo"],
        expect: Outcome::Response(200),
        upstream: 1,
    },
    H2Case {
        name: "Host beside :authority, and a second Host",
        fields: &[("host", "y"), ("host", "z")],
        pseudo: None,
        data: &["hello"],
        expect: Outcome::Response(400),
        upstream: 0,
    },
    H2Case {
        name: "transfer_encoding with an underscore",
        fields: &[("transfer_encoding", "chunked")],
        pseudo: None,
        data: &["hello"],
        expect: Outcome::Response(400),
        upstream: 0,
    },
];

#[tokio::test]
async fn http2_downgrade_cases_are_reset_or_forwarded_with_one_framing() {
    let (up, side) = setup().await;
    let mut failures = Vec::new();
    for case in H2_CASES {
        let before = forwarded(&up).len();
        let mut c = H2Conn::connect(side.addr).await;
        let mut fields: Vec<(&[u8], &[u8])> = case
            .pseudo
            .unwrap_or(POST)
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        fields.extend(
            case.fields
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        );
        c.headers(1, &fields, case.data.is_empty()).await;
        for (i, d) in case.data.iter().enumerate() {
            c.data(1, d.as_bytes(), i + 1 == case.data.len()).await;
        }
        let got = c.outcome(1).await;
        let new = forwarded(&up).split_off(before);
        if got != case.expect || new.len() != case.upstream {
            failures.push(format!(
                "{}: {got:?} with {} forwarded, expected {:?} with {}: {new:?}",
                case.name,
                new.len(),
                case.expect,
                case.upstream
            ));
            continue;
        }
        if case.upstream == 1 {
            let m = &new[0];
            if m.body != b"hello" || !m.header_values("te").is_empty() {
                failures.push(format!("{}: forwarded as {m:?}", case.name));
            }
        }
    }
    assert_upstream_unambiguous(&up).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn http2_data_past_content_length_after_forwarding_began_cuts_the_upstream_request() {
    let (up, side) = setup().await;
    let mut c = H2Conn::connect(side.addr).await;
    let mut fields: Vec<(&[u8], &[u8])> = POST
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let len = (AHEAD + 5).to_string();
    fields.push((b"content-length", len.as_bytes()));
    c.headers(1, &fields, false).await;
    c.data(1, &vec![b'a'; AHEAD], false).await;
    eventually("the first bytes reach the upstream", || {
        up.all_bytes().iter().filter(|&&b| b == b'a').count() >= AHEAD
    })
    .await;
    c.data(1, b"bbbbb and more", true).await;
    assert_eq!(c.outcome(1).await, Outcome::Reset(h2raw::PROTOCOL_ERROR));
    let first = up.connections()[0].clone();
    eventually("the upstream connection is closed", || first.closed()).await;
    let msgs = framing::unambiguous(&first).expect("unambiguous");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].framing, Framing::Length(AHEAD as u64 + 5));
    assert_eq!(msgs[0].body.len(), AHEAD);
    assert!(!msgs[0].complete);
}
