//! Target `body_decode`: a compressed request body's read-ahead as the proxy
//! decodes it for the signature engine (`palisade_proxy::fuzzing::body_window`,
//! i.e. `proxy/src/encoded.rs`): gzip, x-gzip and deflate (zlib or raw), the
//! cap on decompressed bytes kept, the ratio cap, stacked and unknown codings.
//!
//! Framing: byte 0 picks the mode and the Content-Encoding, byte 1 the cap on
//! bytes kept (64 to 1,024), whether the read-ahead is the whole body, and the
//! ratio cap; the rest is the body.
//!
//! - mode 0: the rest is the compressed stream as sent, under a coding from
//!   `CODINGS`. Asserts the coding is classified as the table says (plain,
//!   unsupported, or decoded) and that no more than the cap is ever kept.
//! - mode 1: the rest is the *decompressed* body. It is compressed here with
//!   flate2's encoder for a supported coding and decoded by the proxy, whole
//!   or cut anywhere (byte 2 picks where): the proxy must give back exactly the
//!   body's first bytes (all of them up to the cap when whole, a prefix when
//!   cut), never call a valid stream corrupt, and never call it a bomb below
//!   the ratio cap.
//! - mode 2: the Content-Encoding value itself comes from the input (byte 2 its
//!   length, may be invalid header bytes): only the bounds are asserted.

use std::io::Write;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use http::header::CONTENT_ENCODING;
use http::{HeaderMap, HeaderValue};
use palisade_proxy::fuzzing::{BodyWindow, body_window};

/// How the proxy must classify a `Content-Encoding` header (or several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Plain,
    Gzip,
    Deflate,
    Unsupported,
}

/// Header values (one entry per header line) and what each must be.
const CODINGS: [(&[&str], Expect); 14] = [
    (&[], Expect::Plain),
    (&["identity"], Expect::Plain),
    (&["gzip"], Expect::Gzip),
    (&["x-gzip"], Expect::Gzip),
    (&["GZip"], Expect::Gzip),
    (&["gzip, identity"], Expect::Gzip),
    (&["deflate"], Expect::Deflate),
    (&["identity", "Deflate"], Expect::Deflate),
    (&["br"], Expect::Unsupported),
    (&["zstd"], Expect::Unsupported),
    (&["compress"], Expect::Unsupported),
    (&["gzip, gzip"], Expect::Unsupported),
    (&["gzip", "deflate"], Expect::Unsupported),
    (&["gzip;q=1"], Expect::Unsupported),
];

fn headers(values: &[&'static str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(CONTENT_ENCODING, HeaderValue::from_static(v));
    }
    h
}

pub fn run(data: &[u8]) {
    let Some((&[pick, knobs], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let keep = 64 * (1 + usize::from(knobs & 0x0f));
    let whole = knobs & 0x10 != 0;
    // 1, 4, 16, 100 (the default), 1000: small caps are reached by short input.
    let ratio = [1, 4, 16, 100, 1000, 100, 100, 100][usize::from(knobs >> 5)];
    match pick % 3 {
        0 => raw(
            CODINGS[usize::from(pick / 3) % CODINGS.len()],
            rest,
            whole,
            keep,
            ratio,
        ),
        1 => round_trip(pick / 3, rest, whole, keep),
        _ => {
            let Some((&len, rest)) = rest.split_first() else {
                return;
            };
            let len = usize::from(len).min(rest.len());
            let Ok(value) = HeaderValue::from_bytes(&rest[..len]) else {
                return;
            };
            let mut h = HeaderMap::new();
            h.insert(CONTENT_ENCODING, value);
            bounded(&body_window(&h, &rest[len..], whole, keep, ratio), keep);
        }
    }
}

fn bounded(w: &BodyWindow, keep: usize) {
    if let BodyWindow::Decoded(v) = w {
        assert!(
            v.len() <= keep,
            "kept {} decompressed bytes, cap {keep}",
            v.len()
        );
    }
}

fn raw(coding: (&[&'static str], Expect), body: &[u8], whole: bool, keep: usize, ratio: u32) {
    let (values, expect) = coding;
    let w = body_window(&headers(values), body, whole, keep, ratio);
    bounded(&w, keep);
    match expect {
        Expect::Plain => assert_eq!(w, BodyWindow::Plain, "{values:?}"),
        Expect::Unsupported => assert_eq!(w, BodyWindow::Unsupported, "{values:?}"),
        Expect::Gzip | Expect::Deflate => assert!(
            !matches!(w, BodyWindow::Plain | BodyWindow::Unsupported),
            "{values:?} was not decoded: {w:?}"
        ),
    }
}

fn round_trip(pick: u8, rest: &[u8], whole: bool, keep: usize) {
    let Some((&cut, body)) = rest.split_first() else {
        return;
    };
    let (values, stream): (&[&'static str], Vec<u8>) = match pick % 4 {
        0 => (
            &["gzip"],
            encode(GzEncoder::new(Vec::new(), level(pick)), body),
        ),
        1 => (
            &["x-gzip"],
            encode(GzEncoder::new(Vec::new(), level(pick)), body),
        ),
        2 => (
            &["deflate"],
            encode(ZlibEncoder::new(Vec::new(), level(pick)), body),
        ),
        _ => (
            &["deflate"],
            encode(DeflateEncoder::new(Vec::new(), level(pick)), body),
        ),
    };
    // The budget is at least 1000 x 1 KiB: a body no larger than that can never
    // be a bomb, however well it compresses. Larger ones may rightly be.
    let ratio = 1000;
    if body.len() > 1000 * 1024 {
        bounded(
            &body_window(&headers(values), &stream, whole, keep, ratio),
            keep,
        );
        return;
    }
    if whole {
        let w = body_window(&headers(values), &stream, true, keep, ratio);
        let want = &body[..body.len().min(keep)];
        assert_eq!(w, BodyWindow::Decoded(want.to_vec()), "{values:?} whole");
    } else {
        let at = stream.len() * usize::from(cut) / 255;
        let w = body_window(&headers(values), &stream[..at], false, keep, ratio);
        let BodyWindow::Decoded(v) = w else {
            panic!("{values:?} cut at {at} of {}: {w:?}", stream.len());
        };
        assert!(
            v.len() <= keep.min(body.len()),
            "{values:?} cut at {at}: too long"
        );
        assert_eq!(v, body[..v.len()], "{values:?} cut at {at}: not a prefix");
    }
}

fn level(pick: u8) -> Compression {
    Compression::new(u32::from(pick / 4) % 10)
}

fn encode<W: Write + Finish>(mut e: W, body: &[u8]) -> Vec<u8> {
    // INVARIANT: writing into a Vec cannot fail.
    e.write_all(body).expect("compress into memory");
    e.done()
}

/// flate2's encoders each have their own `finish`.
trait Finish {
    fn done(self) -> Vec<u8>;
}

macro_rules! finish {
    ($t:ident) => {
        impl Finish for $t<Vec<u8>> {
            fn done(self) -> Vec<u8> {
                // INVARIANT: as above.
                self.finish().expect("compress into memory")
            }
        }
    };
}
finish!(GzEncoder);
finish!(ZlibEncoder);
finish!(DeflateEncoder);
