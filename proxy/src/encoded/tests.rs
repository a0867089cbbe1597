use std::io::Write;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use http::HeaderValue;

use super::*;

fn headers(codings: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for c in codings {
        h.append(CONTENT_ENCODING, HeaderValue::from_str(c).unwrap());
    }
    h
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const SQLI: &[u8] = b"{\"q\":\"1' UNION SELECT password FROM users--\"}";

#[test]
fn no_coding_or_identity_is_plain() {
    assert_eq!(
        window(&headers(&[]), b"abc", true, 8192, 100),
        Window::Plain
    );
    assert_eq!(
        window(&headers(&["identity"]), b"abc", true, 8192, 100),
        Window::Plain
    );
}

#[test]
fn gzip_x_gzip_zlib_and_raw_deflate_decode() {
    let z = {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(SQLI).unwrap();
        e.finish().unwrap()
    };
    let raw = {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(SQLI).unwrap();
        e.finish().unwrap()
    };
    for (coding, body) in [
        ("gzip", gzip(SQLI)),
        ("X-GZIP", gzip(SQLI)),
        ("deflate", z),
        ("deflate", raw),
        ("identity, gzip", gzip(SQLI)),
    ] {
        assert_eq!(
            window(&headers(&[coding]), &body, true, 8192, 100),
            Window::Decoded(SQLI.to_vec()),
            "{coding}"
        );
    }
}

#[test]
fn concatenated_gzip_members_are_all_decoded() {
    // Decoders upstream (Go, Python) read every member: so must inspection.
    let mut body = gzip(b"{\"a\":\"benign\",");
    body.extend(gzip(b"\"b\":\"<script>alert(1)</script>\"}"));
    let Window::Decoded(out) = window(&headers(&["gzip"]), &body, true, 8192, 100) else {
        panic!("not decoded");
    };
    assert!(out.ends_with(b"</script>\"}"));
}

#[test]
fn other_and_stacked_codings_are_unsupported() {
    for codings in [
        &["br"][..],
        &["zstd"],
        &["compress"],
        &["x-custom"],
        &["gzip, gzip"],
        &["gzip", "deflate"],
        &["gzip, br"],
    ] {
        assert_eq!(
            window(&headers(codings), &gzip(SQLI), true, 8192, 100),
            Window::Unsupported,
            "{codings:?}"
        );
    }
}

#[test]
fn corrupt_streams_are_corrupt() {
    let good = gzip(SQLI);
    let mut flipped = good.clone();
    flipped[12] ^= 0xff;
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 1;
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"junk after the stream");
    for (what, body) in [
        ("not gzip", b"plain text, not gzip at all".to_vec()),
        ("flipped byte", flipped),
        ("bad crc", bad_crc),
        ("trailing bytes", trailing),
        ("truncated whole body", good[..good.len() / 2].to_vec()),
    ] {
        assert_eq!(
            window(&headers(&["gzip"]), &body, true, 8192, 100),
            Window::Corrupt,
            "{what}"
        );
    }
}

#[test]
fn a_read_ahead_that_stops_midstream_is_not_corrupt() {
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let body = gzip(&big);
    let Window::Decoded(out) = window(&headers(&["gzip"]), &body[..8192], false, 8192, 100) else {
        panic!("a cut read-ahead should decode");
    };
    assert_eq!(out, big[..8192]);
}

#[test]
fn only_keep_bytes_are_kept() {
    let text: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let Window::Decoded(out) = window(&headers(&["gzip"]), &gzip(&text), true, 4096, 100_000)
    else {
        panic!("not decoded");
    };
    assert_eq!(out, text[..4096]);
}

#[test]
fn a_bomb_stops_at_the_ratio_cap() {
    // 64 MiB of zeros is about 64 KiB of gzip: a 1000:1 expansion.
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert_eq!(
        window(&headers(&["gzip"]), &bomb, true, 8192, 100),
        Window::Bomb
    );
    // The same body under a ratio cap it stays within decodes.
    assert!(matches!(
        window(&headers(&["gzip"]), &bomb[..8192], false, 8192, 10_000),
        Window::Decoded(v) if v.len() == 8192
    ));
}
