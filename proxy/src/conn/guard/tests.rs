use super::*;

fn guard() -> H1Guard {
    H1Guard::new(16 * 1024, 100)
}

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const SMUGGLE: &[u8] =
    b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n";

#[test]
fn plain_requests_pass_and_pipeline() {
    let mut g = guard();
    let mut stream = GET.to_vec();
    stream.extend_from_slice(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    stream.extend_from_slice(GET);
    assert_eq!(g.inspect(&stream), Inspect::Pass);
    assert_eq!(g.state, State::Head);
    assert!(g.pending.is_empty());
}

#[test]
fn content_length_with_transfer_encoding_is_rejected_before_its_last_byte() {
    for head in [
        SMUGGLE.to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n".to_vec(),
    ] {
        let mut g = guard();
        assert_eq!(
            g.inspect(&head),
            Inspect::Reject {
                keep: head.len() - 1
            },
            "{}",
            String::from_utf8_lossy(&head)
        );
    }
}

#[test]
fn chunked_in_any_case_is_fine() {
    let mut g = guard();
    let req = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  Chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(g.inspect(req), Inspect::Pass);
    assert_eq!(g.state, State::Head);
}

#[test]
fn a_smuggled_head_after_a_chunked_body_is_found() {
    let mut g = guard();
    let mut stream = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    stream.extend_from_slice(b"4;ext=1\r\nwiki\r\n0\r\nX-Trailer: y\r\n\r\n");
    let start = stream.len();
    stream.extend_from_slice(SMUGGLE);
    assert_eq!(
        g.inspect(&stream),
        Inspect::Reject {
            keep: start + SMUGGLE.len() - 1
        }
    );
}

#[test]
fn a_smuggled_head_is_found_byte_by_byte() {
    let mut g = guard();
    let mut stream = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".to_vec();
    stream.extend_from_slice(SMUGGLE);
    let last = stream.len() - 1;
    for (i, b) in stream.iter().enumerate() {
        let got = g.inspect(std::slice::from_ref(b));
        if i == last {
            assert_eq!(got, Inspect::Reject { keep: 0 });
        } else {
            assert_eq!(got, Inspect::Pass, "byte {i}");
        }
    }
}

#[test]
fn a_content_length_body_that_looks_like_a_head_is_skipped() {
    let mut g = guard();
    let mut stream = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        SMUGGLE.len()
    )
    .into_bytes();
    stream.extend_from_slice(SMUGGLE);
    stream.extend_from_slice(GET);
    assert_eq!(g.inspect(&stream), Inspect::Pass);
    assert_eq!(g.state, State::Head);
}

#[test]
fn bad_chunk_sizes_break_the_connection() {
    // (body, bytes of it hyper still gets: through the bad line or byte)
    for (body, upto) in [
        (&b"zz\r\nGET / HTTP/1.1\r\n\r\n"[..], 4),
        (b"5\r\nhelloXX", 9),
        (b"-1\r\n", 4),
        (b"5\nhello\r\n", 2),
    ] {
        let mut g = guard();
        let mut stream =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let head = stream.len();
        stream.extend_from_slice(body);
        assert_eq!(
            g.inspect(&stream),
            Inspect::Broken { keep: head + upto },
            "{body:?}"
        );
    }
}

#[test]
fn malformed_heads_are_left_to_hyper() {
    let mut g = guard();
    let folded = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n";
    assert_eq!(g.inspect(folded), Inspect::Pass);
    assert_eq!(g.state, State::Off);
    // Once off, even an ambiguous head passes: hyper has already failed the
    // connection on the malformed one.
    assert_eq!(g.inspect(SMUGGLE), Inspect::Pass);
}

#[test]
fn oversized_heads_are_left_to_hyper() {
    let mut g = H1Guard::new(1024, 100);
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    head.extend(std::iter::repeat_n(b'a', 2000));
    assert_eq!(g.inspect(&head[..500]), Inspect::Pass);
    assert_eq!(g.inspect(&head[500..]), Inspect::Pass);
    assert_eq!(g.state, State::Off);
}

#[test]
fn many_headers_use_the_heap_path() {
    let mut g = H1Guard::new(64 * 1024, 200);
    let mut head = b"POST / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..150 {
        head.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(
        g.inspect(&head),
        Inspect::Reject {
            keep: head.len() - 1
        }
    );
}

#[test]
fn content_length_lists_and_non_digits_are_rejected() {
    for v in [
        "5, 5",
        "5,5",
        ",5",
        "+5",
        "-5",
        "0x5",
        "5 5",
        "",
        "18446744073709551616",
    ] {
        let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {v}\r\n\r\n");
        let mut g = guard();
        assert!(
            matches!(g.inspect(head.as_bytes()), Inspect::Reject { .. }),
            "{v:?}"
        );
        assert_eq!(g.rejected().map(|t| t.why), Some(WHY_FRAMING));
    }
}

#[test]
fn framing_lookalikes_and_host_count_are_rejected() {
    for (extra, why) in [
        ("Transfer_Encoding: chunked\r\n", WHY_LOOKALIKE),
        ("content_length: 5\r\n", WHY_LOOKALIKE),
        ("CONTENT_length: 5\r\n", WHY_LOOKALIKE),
        ("Host: y\r\n", WHY_HOST),
    ] {
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let mut g = guard();
        assert!(
            matches!(g.inspect(head.as_bytes()), Inspect::Reject { .. }),
            "{extra:?}"
        );
        assert_eq!(g.rejected().map(|t| t.why), Some(why));
    }
    // A name of the same length that is not a lookalike passes.
    let mut g = guard();
    assert_eq!(
        g.inspect(b"GET / HTTP/1.1\r\nHost: x\r\nX-Content_Leng: 5\r\n\r\n"),
        Inspect::Pass
    );
}

#[test]
fn a_target_that_is_not_a_uri_is_rejected() {
    for target in [
        "/a<b",
        "/a>b",
        "/a`b",
        "/s?q=\"x\"",
        "a/b",
        "http://[::1",
        "http://[::1/x",
    ] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut g = guard();
        assert!(
            matches!(g.inspect(head.as_bytes()), Inspect::Reject { .. }),
            "{target:?}"
        );
        assert_eq!(g.rejected().map(|t| t.why), Some(WHY_TARGET), "{target:?}");
        assert_eq!(g.rejected().map(|t| &*t.target), Some(target));
    }
    for target in [
        "/",
        "/a/b?c=d&e=%22f%22",
        "/a{b}|c^d",
        "/a#frag",
        "//x",
        "*",
        "http://example.com/a?b",
        "http://[::1]:8080/",
    ] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            guard().inspect(head.as_bytes()),
            Inspect::Pass,
            "{target:?}"
        );
        // The fast path agrees with the parser hyper uses.
        assert!(http::Uri::try_from(target).is_ok(), "{target:?}");
    }
}

#[test]
fn host_is_required_in_http_1_1_only() {
    let mut g = guard();
    assert!(matches!(
        g.inspect(b"GET / HTTP/1.1\r\n\r\n"),
        Inspect::Reject { .. }
    ));
    let mut g = guard();
    assert_eq!(g.inspect(b"GET / HTTP/1.0\r\n\r\n"), Inspect::Pass);
}

#[test]
fn an_overlong_chunk_line_cuts_the_stream_before_it() {
    let mut g = guard();
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    assert_eq!(g.inspect(head), Inspect::Pass);
    let mut line = b"5;".to_vec();
    line.extend(std::iter::repeat_n(b'a', MAX_LINE));
    assert_eq!(g.inspect(&line), Inspect::Cut { keep: 0 });
}
