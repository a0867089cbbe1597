//! Owns the decoding of a compressed request body's read-ahead for the
//! signature engine: which `Content-Encoding`s are decoded (gzip, x-gzip,
//! deflate), what any other coding, a corrupt stream, and a decompression bomb
//! are, and the bounds on the work (at most `keep` decompressed bytes kept, at
//! most `max_ratio` × the compressed input produced, in 1 KiB steps, and no
//! more input fed once the window is full and `keep` compressed bytes were).
//!
//! Must never touch the body sent upstream: it decodes a copy of the bytes read
//! ahead, and the upstream receives the client's bytes as they came. Must never
//! allocate more than `keep` bytes plus the inflater's fixed state, whatever the
//! input claims.

use std::io::{self, Write};

use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use http::HeaderMap;
use http::header::CONTENT_ENCODING;

/// Compressed bytes fed to the decoder at a time: the ratio is checked at
/// least this often, so a bomb stops after one step's output.
const STEP: usize = 1024;

/// What the inspection sees of a body (public for the fuzz target only:
/// `fuzzing::BodyWindow`).
#[derive(Debug, PartialEq, Eq)]
pub enum Window {
    /// No content coding (or only `identity`): inspect the bytes as read.
    Plain,
    /// The first decompressed bytes, at most the window's size.
    Decoded(Vec<u8>),
    /// A coding Palisade does not decode, or more than one stacked.
    Unsupported,
    /// The compressed stream is malformed (or ends early in a whole body, or has
    /// bytes after its end).
    Corrupt,
    /// The body expands past the ratio cap.
    Bomb,
}

impl Window {
    /// Operator-facing reason for the deny log (never sent to the client).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Window::Plain | Window::Decoded(_) => "",
            Window::Unsupported => {
                "request body Content-Encoding cannot be inspected (only gzip, x-gzip and \
                 deflate are decoded; one coding at most)"
            }
            Window::Corrupt => "compressed request body is corrupt",
            Window::Bomb => {
                "compressed request body expands past signatures.max_compression_ratio \
                 (a decompression bomb)"
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Coding {
    Gzip,
    Deflate,
}

/// Decodes the body's read-ahead `ahead` by its Content-Encoding, keeping at
/// most `keep` decompressed bytes. `whole` says `ahead` is the entire body, so
/// a stream that stops short of its end is corrupt rather than cut by the
/// read-ahead.
pub(crate) fn window(
    headers: &HeaderMap,
    ahead: &[u8],
    whole: bool,
    keep: usize,
    max_ratio: u32,
) -> Window {
    let mut coding = None;
    for value in headers.get_all(CONTENT_ENCODING) {
        let Ok(value) = value.to_str() else {
            return Window::Unsupported;
        };
        for token in value.split(',').map(str::trim) {
            if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                continue;
            }
            let c = if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                Coding::Gzip
            } else if token.eq_ignore_ascii_case("deflate") {
                Coding::Deflate
            } else {
                return Window::Unsupported;
            };
            if coding.replace(c).is_some() {
                // Stacked codings: a second layer could hide what the first shows.
                return Window::Unsupported;
            }
        }
    }
    let Some(coding) = coding else {
        return Window::Plain;
    };
    if ahead.is_empty() {
        return Window::Decoded(Vec::new());
    }
    let sink = Sink {
        kept: Vec::with_capacity(keep.min(ahead.len().saturating_mul(4))),
        keep,
        total: 0,
        budget: 0,
    };
    match coding {
        Coding::Gzip => run(MultiGzDecoder::new(sink), ahead, whole, max_ratio),
        // RFC 9110 §8.4.1.2: "deflate" is the zlib format, but clients also send
        // raw deflate, and servers accept both: decode what the upstream would.
        Coding::Deflate if zlib_header(ahead) => {
            run(ZlibDecoder::new(sink), ahead, whole, max_ratio)
        }
        Coding::Deflate => run(DeflateDecoder::new(sink), ahead, whole, max_ratio),
    }
}

/// A zlib stream's first two bytes: deflate method, a window of at most 32 KiB,
/// and a header checksum (RFC 1950 §2.2).
fn zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// The three flate2 write-side decoders, seen alike.
trait Decoder: Write {
    fn sink(&mut self) -> &mut Sink;
    fn finish_stream(&mut self) -> io::Result<()>;
}

macro_rules! decoder {
    ($t:ident) => {
        impl Decoder for $t<Sink> {
            fn sink(&mut self) -> &mut Sink {
                self.get_mut()
            }
            fn finish_stream(&mut self) -> io::Result<()> {
                self.try_finish()
            }
        }
    };
}
decoder!(MultiGzDecoder);
decoder!(ZlibDecoder);
decoder!(DeflateDecoder);

fn run<D: Decoder>(mut d: D, ahead: &[u8], whole: bool, max_ratio: u32) -> Window {
    let mut fed = 0usize;
    let mut cut = false;
    for step in ahead.chunks(STEP) {
        let sink = d.sink();
        if sink.kept.len() >= sink.keep && fed >= sink.keep {
            // The window is full and the ratio measured over as many compressed
            // bytes: the rest of a long read-ahead would only cost time.
            cut = true;
            break;
        }
        fed += step.len();
        sink.budget = u64::from(max_ratio) * fed.max(STEP) as u64;
        if d.write_all(step).is_err() {
            return failure(&mut d);
        }
    }
    // Push out what the decoder still holds; a whole body must also end its stream.
    let end = if whole && !cut {
        d.finish_stream()
    } else {
        d.flush()
    };
    if end.is_err() {
        return failure(&mut d);
    }
    Window::Decoded(std::mem::take(&mut d.sink().kept))
}

fn failure<D: Decoder>(d: &mut D) -> Window {
    if d.sink().over_budget() {
        Window::Bomb
    } else {
        Window::Corrupt
    }
}

/// Keeps the first `keep` decompressed bytes, counts the rest, and fails once
/// the count passes `budget`.
struct Sink {
    kept: Vec<u8>,
    keep: usize,
    total: u64,
    budget: u64,
}

impl Sink {
    fn over_budget(&self) -> bool {
        self.total > self.budget
    }
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let room = self.keep.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&b[..room.min(b.len())]);
        self.total += b.len() as u64;
        if self.over_budget() {
            return Err(io::Error::other("decompression ratio cap"));
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
