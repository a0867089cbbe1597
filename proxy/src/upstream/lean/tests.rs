use super::*;

fn parse(text: &[u8], to_head: bool) -> Result<Parsed, LeanError> {
    let mut buf = BytesMut::from(text);
    parse_head(&mut buf, to_head)
}

fn head(text: &[u8]) -> Head {
    match parse(text, false) {
        Ok(Parsed::Head(h)) => h,
        Ok(Parsed::Partial) => panic!("partial"),
        Ok(Parsed::Informational) => panic!("informational"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn content_length_frames_the_body_and_keeps_the_connection() {
    let h = head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\nx-a: 2\r\n\r\nhello");
    assert_eq!(h.framing, Framing::Length(5));
    assert!(h.keep_alive);
    assert_eq!(h.response.status(), StatusCode::OK);
    let values: Vec<_> = h.response.headers().get_all("x-a").iter().collect();
    assert_eq!(values, ["1", "2"]);
}

#[test]
fn no_body_after_head_204_and_304_whatever_the_length_says() {
    let r = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
    match parse(r, true) {
        Ok(Parsed::Head(h)) => assert_eq!(h.framing, Framing::Done),
        _ => panic!("expected a head"),
    }
    for code in [204, 304] {
        let r = format!("HTTP/1.1 {code} X\r\ncontent-length: 5\r\n\r\n");
        assert_eq!(head(r.as_bytes()).framing, Framing::Done, "{code}");
    }
}

#[test]
fn chunked_wins_over_content_length_and_the_connection_is_not_reused() {
    let h =
        head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: gzip, chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked(Chunk::Size));
    assert!(!h.keep_alive);
    assert!(!h.response.headers().contains_key(CONTENT_LENGTH));
}

#[test]
fn without_a_length_the_body_runs_to_the_close() {
    for r in [
        &b"HTTP/1.1 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
    ] {
        let h = head(r);
        assert_eq!(h.framing, Framing::Close);
        assert!(!h.keep_alive);
    }
}

#[test]
fn close_and_http_1_0_end_the_connection() {
    assert!(!head(b"HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n").keep_alive);
    assert!(!head(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").keep_alive);
}

#[test]
fn lengths_in_doubt_are_refused() {
    for r in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n",
    ] {
        assert!(
            matches!(parse(r, false), Err(LeanError::Malformed(_))),
            "{}",
            String::from_utf8_lossy(r)
        );
    }
    // The same value repeated is one length.
    assert_eq!(
        head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 5, 5\r\n\r\n").framing,
        Framing::Length(5)
    );
}

#[test]
fn informational_heads_are_skipped_and_an_upgrade_is_refused() {
    let mut buf = BytesMut::from(
        &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
    );
    assert!(matches!(
        parse_head(&mut buf, false),
        Ok(Parsed::Informational)
    ));
    assert!(matches!(parse_head(&mut buf, false), Ok(Parsed::Head(_))));
    assert!(buf.is_empty());
    assert!(matches!(
        parse(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
            false
        ),
        Err(LeanError::UnaskedUpgrade)
    ));
}

#[test]
fn partial_and_malformed_heads() {
    assert!(matches!(
        parse(b"HTTP/1.1 200 OK\r\ncontent-le", false),
        Ok(Parsed::Partial)
    ));
    assert!(matches!(
        parse(b"HTTP/1.1 2000 OK\r\n\r\n", false),
        Err(LeanError::Malformed(_))
    ));
    assert!(matches!(
        parse(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n", false),
        Err(LeanError::Malformed(_))
    ));
    let many: String = (0..101).map(|i| format!("x-{i}: v\r\n")).collect();
    let r = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
    assert!(matches!(
        parse(r.as_bytes(), false),
        Err(LeanError::Malformed(_))
    ));
}

#[test]
fn a_request_head_is_written_in_origin_form_with_its_headers() {
    let req = http::Request::get("http://ignored.example/a/b?c=d")
        .header("host", "svc")
        .header("x-y", "z")
        .body(())
        .unwrap();
    let (parts, ()) = req.into_parts();
    let mut out = Vec::new();
    encode_head(&parts, &mut out);
    assert_eq!(out, b"GET /a/b?c=d HTTP/1.1\r\nhost: svc\r\nx-y: z\r\n\r\n");
}

/// Decodes a chunked body that arrives in the given pieces.
fn dechunk(pieces: &[&[u8]]) -> Result<(Vec<u8>, Option<HeaderMap>), LeanError> {
    let mut buf = BytesMut::new();
    let mut step = Chunk::Size;
    let mut data = Vec::new();
    let mut pieces = pieces.iter();
    loop {
        if let Chunk::Data(left) = step {
            if buf.is_empty() {
                match pieces.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => return Err(LeanError::ClosedEarly),
                }
                continue;
            }
            let n = (buf.len() as u64).min(left) as usize;
            data.extend_from_slice(&buf.split_to(n));
            step = if left == n as u64 {
                Chunk::DataEnd
            } else {
                Chunk::Data(left - n as u64)
            };
            continue;
        }
        match chunk_step(&mut buf, step)? {
            Step::Next(next) => step = next,
            Step::End(trailers) => return Ok((data, trailers)),
            Step::More => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => return Err(LeanError::ClosedEarly),
            },
        }
    }
}

#[test]
fn chunks_are_decoded_across_reads_with_extensions_and_trailers() {
    let (data, trailers) =
        dechunk(&[b"5\r\nhel", b"lo\r", b"\n3;ext=1\r\n", b"abc\r\n0\r\n\r\n"]).unwrap();
    assert_eq!(data, b"helloabc");
    assert!(trailers.is_none());
    let (data, trailers) = dechunk(&[b"1\r\nx\r\n0\r\nx-sum: 7\r\n\r\n"]).unwrap();
    assert_eq!(data, b"x");
    assert_eq!(trailers.unwrap()["x-sum"], "7");
}

#[test]
fn bad_chunking_is_an_error_not_a_guess() {
    assert!(matches!(
        dechunk(&[b"zz\r\n"]),
        Err(LeanError::Malformed(_))
    ));
    assert!(matches!(
        dechunk(&[b"1\r\nxy\r\n"]),
        Err(LeanError::Malformed(_))
    ));
    let long = vec![b'1'; MAX_CHUNK_LINE + 1];
    assert!(matches!(dechunk(&[&long]), Err(LeanError::Malformed(_))));
    assert!(matches!(
        dechunk(&[b"5\r\nhel"]),
        Err(LeanError::ClosedEarly)
    ));
}
