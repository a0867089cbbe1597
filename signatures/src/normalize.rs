//! Normalisation: the forms of a request part the rules read. The base form is
//! percent-decoded (repeatedly, bounded; `+` as space where the part is
//! form-encoded; `%uXXXX`), with overlong UTF-8 folded to ASCII, HTML entities and
//! JavaScript escapes decoded, null bytes dropped, ASCII lowercased, whitespace
//! compacted and SQL block comments replaced by a space. A part with nothing
//! to decode or compact is its own base form, in its original case: every
//! rule matches ASCII case-insensitively, so lowercasing it would only copy it. Paths also get `\` as
//! `/` and runs of `/` squeezed. The shell form removes the quoting tricks shells
//! ignore (`w'h'o\am"i"`, `c$@at`, `cat$u`).
//!
//! Must not allocate once the caller's buffers have grown, and must stay linear in
//! the input (no backtracking, a fixed number of decoding rounds).

use crate::byteset::ByteSet;

/// Percent-decoding rounds: enough for double and triple encoding, bounded so a
/// deeply nested input cannot cost more.
const DECODE_ROUNDS: usize = 3;

/// The base form of `src` and the bytes it holds (ASCII folded to lower case).
/// When nothing but case would change, the base form is `src` itself: rules
/// match case-insensitively, so lowercasing a plain part would only cost a
/// copy. Otherwise it is decoded and cleaned into `out` (`tmp` is a second
/// work buffer). `plus_space`: the part is form-encoded, so `+` is a space.
/// `path`: the part is a URL path.
pub(crate) fn base<'a>(
    src: &'a [u8],
    plus_space: bool,
    path: bool,
    out: &'a mut Vec<u8>,
    tmp: &mut Vec<u8>,
) -> (&'a [u8], ByteSet) {
    if let Some(bytes) = plain(src, plus_space, path) {
        return (src, bytes);
    }
    // A percent-encoded value with `+` and no space was form-encoded,
    // wherever it was found (an XML attribute, a JSON string, a header).
    let plus_space = plus_space
        || (memchr::memchr(b'+', src).is_some()
            && memchr::memchr(b' ', src).is_none()
            && has_escape(src));
    tmp.clear();
    percent_decode(src, plus_space, tmp);
    for _ in 1..DECODE_ROUNDS {
        if !has_escape(tmp) {
            break;
        }
        out.clear();
        percent_decode(tmp, false, out);
        std::mem::swap(out, tmp);
    }
    out.clear();
    clean(tmp, path, out);
    let bytes = ByteSet::of(out);
    (out, bytes)
}

/// One part's forms as the engine reads them, owned. See [`normal_forms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalForms {
    /// The base form (the part itself when nothing but case would change).
    pub base: Vec<u8>,
    /// True when `base` is the part as it was (only case would change).
    pub plain: bool,
    /// The bytes the engine believes `base` holds, ASCII folded to lower
    /// case, ascending: rules needing a byte outside it are skipped.
    pub bytes: Vec<u8>,
    /// The shell form, when the base form has something it changes.
    pub shell: Option<Vec<u8>>,
}

/// The base and shell forms of `raw` (and the byte set the prefilter skips
/// rules by), made by the same calls `Engine::inspect` makes for each part;
/// `plus_space` and `path` as `base` takes them. For the fuzz targets
/// (`fuzz/`) and rule work: it allocates, so it is not for the request path.
pub fn normal_forms(raw: &[u8], plus_space: bool, path: bool) -> NormalForms {
    let (mut out, mut tmp) = (Vec::new(), Vec::new());
    let (text, bytes) = base(raw, plus_space, path, &mut out, &mut tmp);
    let plain = std::ptr::eq(text, raw);
    let base = text.to_vec();
    let shell = has_shell_tricks(&bytes).then(|| {
        let mut s = Vec::new();
        shell(&base, &mut s);
        s
    });
    NormalForms {
        base,
        plain,
        bytes: bytes.iter().collect(),
        shell,
    }
}

/// Bytes the base form changes wherever they are (besides non-ASCII): an
/// escape, an entity, a backslash escape, a control byte.
const ALWAYS_CHANGED: ByteSet = {
    let mut s = ByteSet::of_const(b"%&\\\x7f");
    let mut b = 0;
    while b < 0x20 {
        s = s.with(b);
        b += 1;
    }
    s
};

/// When `src` has nothing the base form would change but case (no escape,
/// entity, comment, control or non-ASCII byte, and no whitespace run), the
/// bytes of its lowercase form. The byte set is taken first: it rules out
/// most changes at once, and only a part holding a space or a `/` needs a
/// second look, for the pairs that change.
fn plain(src: &[u8], plus_space: bool, path: bool) -> Option<ByteSet> {
    /// Bytes from which a part is searched for spaces rather than scanned.
    const LONG: usize = 64;
    const SPACE: ByteSet = ByteSet::of_const(b" ");
    const SLASH: ByteSet = ByteSet::of_const(b"/");
    const STAR: ByteSet = ByteSet::of_const(b"*");
    const PLUS: ByteSet = ByteSet::of_const(b"+");
    let bytes = ByteSet::of_ascii_folded(src)?;
    if bytes.intersects(&ALWAYS_CHANGED) || (plus_space && bytes.intersects(&PLUS)) {
        return None;
    }
    // A whitespace run; in a long part (a User-Agent: a few spaces in many
    // bytes) looked for only after each space, where a call per space costs
    // less than a look at every byte. A comment opening, and in a path a
    // doubled slash.
    let spaces = bytes.intersects(&SPACE)
        && if src.len() >= LONG {
            memchr::memchr_iter(b' ', src).any(|i| src.get(i + 1) == Some(&b' '))
        } else {
            src.windows(2).any(|w| w == b"  ")
        };
    let slash = bytes.intersects(&SLASH);
    if spaces
        || (slash
            && (path || bytes.intersects(&STAR))
            && src.windows(2).any(|w| w == b"/*" || (path && w == b"//")))
    {
        return None;
    }
    Some(bytes)
}

/// Whether a text with these bytes has something the shell form would change.
pub(crate) fn has_shell_tricks(bytes: &ByteSet) -> bool {
    const TRICKS: ByteSet = ByteSet::of_const(b"\\'\"^`$<>[");
    bytes.intersects(&TRICKS)
}

/// Writes the shell form of a base-form `text` into `out`.
pub(crate) fn shell(text: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        match b {
            b'\\' | b'\'' | b'"' | b'^' | b'`' => {}
            b'$' => {
                let attached = out
                    .last()
                    .is_some_and(|p| p.is_ascii_alphanumeric() || *p == b'/');
                match text.get(i + 1) {
                    // `$@`, `$*`, `$1`: expand to nothing in an ordinary shell;
                    // `$?`, `$$`, `$_` (status, pid, last argument) inside a
                    // word are there to break it up.
                    Some(b'@' | b'*' | b'#' | b'!' | b'-' | b'0'..=b'9' | b'?' | b'$') => {
                        i += 1;
                    }
                    Some(b'_') if attached => i += 1,
                    Some(b'(') if text.get(i + 2) == Some(&b')') => i += 2,
                    Some(b'{') if attached => match text[i + 2..].iter().position(|&c| c == b'}') {
                        Some(end) if end < 32 => i += end + 2,
                        _ => out.push(b),
                    },
                    Some(c) if attached && (c.is_ascii_alphabetic() || *c == b'_') => {
                        i += 1;
                        while text
                            .get(i + 1)
                            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                        {
                            i += 1;
                        }
                    }
                    _ => out.push(b),
                }
            }
            // `pi<()ng`, `pi>()ng`: an empty process substitution.
            b'<' | b'>' if text.get(i + 1..i + 3) == Some(b"()") => i += 2,
            // `adduse[r]`: a one-character glob inside a word.
            b'[' if out.last().is_some_and(u8::is_ascii_alphanumeric)
                && text.get(i + 2) == Some(&b']')
                && text.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                out.push(text[i + 1]);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
}

fn has_escape(s: &[u8]) -> bool {
    memchr::memchr_iter(b'%', s).any(|i| {
        let rest = &s[i + 1..];
        matches!(rest, [a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit())
            || matches!(rest, [b'u' | b'U', a, ..] if a.is_ascii_hexdigit())
    })
}

fn hex(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

fn hex_run(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, &b| Some(acc * 16 + hex(b)?))
}

fn push_char(cp: u32, out: &mut Vec<u8>) {
    match char::from_u32(cp) {
        Some(c) if c.is_ascii() => out.push(c as u8),
        Some(c) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        None => out.push(b'?'),
    }
}

/// One round of `%HH` / `%uHHHH` decoding. Invalid escapes are kept as they are.
fn percent_decode(src: &[u8], plus_space: bool, out: &mut Vec<u8>) {
    out.reserve(src.len());
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b == b'%' {
            if let Some(v) = src.get(i + 1..i + 3).and_then(hex_run) {
                out.push(v as u8);
                i += 3;
                continue;
            }
            if matches!(src.get(i + 1), Some(b'u' | b'U'))
                && let Some(v) = src.get(i + 2..i + 6).and_then(hex_run)
            {
                push_char(v, out);
                i += 6;
                continue;
            }
        }
        out.push(if plus_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
}

/// Named HTML entities worth decoding: the ones that spell markup, quotes,
/// separators and the characters XSS filters look for.
const ENTITIES: &[(&[u8], u8)] = &[
    (b"lt", b'<'),
    (b"gt", b'>'),
    (b"quot", b'"'),
    (b"apos", b'\''),
    (b"amp", b'&'),
    (b"colon", b':'),
    (b"semi", b';'),
    (b"lpar", b'('),
    (b"rpar", b')'),
    (b"sol", b'/'),
    (b"bsol", b'\\'),
    (b"tab", b'\t'),
    (b"newline", b'\n'),
    (b"nbsp", b' '),
    (b"grave", b'`'),
    (b"lbrace", b'{'),
    (b"rbrace", b'}'),
    (b"lsqb", b'['),
    (b"rsqb", b']'),
    (b"equals", b'='),
    (b"excl", b'!'),
    (b"dollar", b'$'),
    (b"period", b'.'),
    (b"comma", b','),
    (b"plus", b'+'),
];

/// Decodes an entity at `s` (which starts after `&`); returns the code point and
/// the bytes consumed after the `&`.
fn entity(s: &[u8]) -> Option<(u32, usize)> {
    if let Some(rest) = s.strip_prefix(b"#") {
        let (digits, radix, skip) = match rest.first() {
            Some(b'x' | b'X') => (&rest[1..], 16, 2),
            _ => (rest, 10, 1),
        };
        let n = digits
            .iter()
            .take(8)
            .take_while(|b| (**b as char).is_digit(radix))
            .count();
        if n == 0 {
            return None;
        }
        let cp = digits[..n].iter().try_fold(0u32, |acc, &b| {
            Some(acc * radix + (b as char).to_digit(radix)?)
        })?;
        let semi = usize::from(digits.get(n) == Some(&b';'));
        return Some((cp, skip + n + semi));
    }
    let n = s
        .iter()
        .take(8)
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    if s.get(n) != Some(&b';') {
        return None;
    }
    let name = &s[..n];
    ENTITIES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(name))
        .map(|&(_, c)| (u32::from(c), n + 1))
}

/// The final pass over decoded bytes; see the module header.
fn clean(src: &[u8], path: bool, out: &mut Vec<u8>) {
    out.reserve(src.len());
    let mut i = 0;
    let mut in_versioned = false;
    while i < src.len() {
        let b = src[i];
        let next = src.get(i + 1).copied().unwrap_or(0);
        let mut c = b;
        let mut step = 1;
        match b {
            0 => {
                i += 1;
                continue;
            }
            // Overlong two-byte UTF-8 (`%c0%af` is `/`): invalid, but some
            // decoders accept it.
            0xc0 | 0xc1 if (0x80..0xc0).contains(&next) => {
                c = ((b & 1) << 6) | (next & 0x3f);
                step = 2;
            }
            // Typographic quotes and the acute accent: some collations and
            // application layers fold them to ASCII quotes, so attackers use
            // them to close strings past filters that look for `'`.
            0xe2 if next == 0x80 && matches!(src.get(i + 2), Some(0x98..=0x9b)) => {
                c = b'\'';
                step = 3;
            }
            0xe2 if next == 0x80 && matches!(src.get(i + 2), Some(0x9c..=0x9f)) => {
                c = b'"';
                step = 3;
            }
            0xc2 if next == 0xb4 => {
                c = b'\'';
                step = 2;
            }
            0xe0 if (0x80..0xa0).contains(&next) => {
                if let Some(&n2) = src.get(i + 2) {
                    let cp = (u32::from(next & 0x3f) << 6) | u32::from(n2 & 0x3f);
                    if cp < 0x80 {
                        c = cp as u8;
                        step = 3;
                    }
                }
            }
            b'&' => {
                if let Some((mut cp, used)) = entity(&src[i + 1..]) {
                    i += 1 + used;
                    // `&amp;lt;`: an entity escaped once more, as XML bodies
                    // and double-escaping templates carry them.
                    if cp == u32::from(b'&')
                        && let Some((inner, more)) = entity(&src[i..])
                    {
                        cp = inner;
                        i += more;
                    }
                    if cp < 0x80 {
                        push_clean(cp as u8, path, out);
                    } else {
                        push_char(cp, out);
                    }
                    continue;
                }
            }
            b'\\' if matches!(next, b'u' | b'U') => {
                if let Some(cp) = src.get(i + 2..i + 6).and_then(hex_run) {
                    i += 6;
                    if cp < 0x80 {
                        push_clean(cp as u8, path, out);
                    } else {
                        push_char(cp, out);
                    }
                    continue;
                }
            }
            b'\\' if matches!(next, b'x' | b'X') => {
                if let Some(v) = src.get(i + 2..i + 4).and_then(hex_run) {
                    i += 4;
                    push_clean(v as u8, path, out);
                    continue;
                }
            }
            b'/' if next == b'*' => {
                // `/*!50000 select*/`: MySQL runs the inside; keep it.
                if src.get(i + 2) == Some(&b'!') {
                    i += 3;
                    while src.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    in_versioned = true;
                    push_clean(b' ', path, out);
                    continue;
                }
                if let Some(end) = memchr::memmem::find(&src[i + 2..], b"*/") {
                    i += 2 + end + 2;
                    push_clean(b' ', path, out);
                    continue;
                }
            }
            b'*' if next == b'/' && in_versioned => {
                in_versioned = false;
                i += 2;
                push_clean(b' ', path, out);
                continue;
            }
            _ => {}
        }
        push_clean(c, path, out);
        i += step;
    }
}

/// Pushes one decoded byte: lowercased, whitespace compacted, path slashes
/// squeezed.
fn push_clean(c: u8, path: bool, out: &mut Vec<u8>) {
    let c = match c {
        b'\t' | b'\x0b' | b'\x0c' | b' ' => b' ',
        b'\r' => b'\n',
        b'\\' if path => b'/',
        0 => return,
        _ => c.to_ascii_lowercase(),
    };
    let last = out.last().copied();
    if (c == b' ' && matches!(last, Some(b' ' | b'\n')))
        || (c == b'\n' && last == Some(b'\n'))
        || (path && c == b'/' && last == Some(b'/'))
    {
        return;
    }
    if c == b'\n' && last == Some(b' ') {
        out.pop();
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The base form, lowercased (a plain part is returned as it is).
    fn form(s: &str, plus_space: bool, path: bool) -> String {
        let (mut out, mut tmp) = (Vec::new(), Vec::new());
        let (text, bytes) = base(s.as_bytes(), plus_space, path, &mut out, &mut tmp);
        let lower = text.to_ascii_lowercase();
        assert_eq!(bytes, ByteSet::of(&lower), "the byte set of {s:?}");
        String::from_utf8_lossy(&lower).into_owned()
    }

    fn b(s: &str) -> String {
        form(s, true, false)
    }

    fn p(s: &str) -> String {
        form(s, false, true)
    }

    #[test]
    fn a_plain_part_is_not_copied() {
        let (mut out, mut tmp) = (Vec::new(), Vec::new());
        let src = b"Leave it at the BACK door.";
        let (text, bytes) = base(src, true, false, &mut out, &mut tmp);
        assert!(std::ptr::eq(text, &src[..]));
        assert!(bytes.contains(b'b') && !bytes.contains(b'B'));
        let (text, _) = base(b"a%20b", true, false, &mut out, &mut tmp);
        assert_eq!(text, b"a b");
    }

    #[test]
    fn a_whitespace_run_is_found_in_short_and_long_parts() {
        let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert!(ua.len() >= 64);
        assert!(normal_forms(ua.as_bytes(), false, false).plain);
        for s in [
            ua.replacen(' ', "  ", 1),
            ua.replace(' ', "").replacen('/', "  /", 5),
        ] {
            let f = normal_forms(s.as_bytes(), false, false);
            assert!(!f.plain && !f.base.windows(2).any(|w| w == b"  "), "{s}");
        }
        assert!(!normal_forms(b"a  b", false, false).plain);
        assert!(normal_forms(b"a b", false, false).plain);
    }

    fn sh(s: &str) -> String {
        let mut out = Vec::new();
        shell(b(s).as_bytes(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn decodes_repeatedly_but_bounded() {
        assert_eq!(b("%2527"), "'");
        assert_eq!(b("%252527"), "'");
        assert_eq!(b("%25252527"), "%27");
        assert_eq!(b("a+b%20c"), "a b c");
        assert_eq!(b("%u0027%U003C"), "'<");
        assert_eq!(b("100%"), "100%");
        // Not form-encoded as a part, but evidently form-encoded.
        assert_eq!(form("%22+waitfor+delay", false, false), "\" waitfor delay");
        assert_eq!(form("a+b %22", false, false), "a+b \"");
        assert_eq!(form("c++", false, false), "c++");
    }

    #[test]
    fn folds_case_whitespace_comments_and_nulls() {
        assert_eq!(b("SeLeCt/**/*%09FROM\t\tx"), "select * from x");
        assert_eq!(b("un%00ion"), "union");
        assert_eq!(b("/*!50000UNION*/ SELECT"), " union select");
        assert_eq!(b("a\r\n\r\nb"), "a\nb");
        assert_eq!(b("open /* no end"), "open /* no end");
    }

    #[test]
    fn decodes_entities_and_escapes() {
        assert_eq!(b("&lt;script&gt;"), "<script>");
        assert_eq!(b("&#x3C;img&#62"), "<img>");
        assert_eq!(b("java&Tab;script&colon;"), "java script:");
        assert_eq!(b("c\\u006fnsole"), "console");
        assert_eq!(b("\\x3cscript"), "<script");
        assert_eq!(b("AT&T and R&D"), "at&t and r&d");
        assert_eq!(b("ja&amp;tab;va&amp;#115;"), "ja vas");
    }

    #[test]
    fn folds_overlong_utf8_and_normalises_paths() {
        assert_eq!(b("..%c0%af..%c0%afetc"), "../../etc");
        assert_eq!(b("%e0%80%ae%e0%80%ae/"), "../");
        assert_eq!(b("1%E2%80%99 or %C2%B4a%E2%80%9D"), "1' or 'a\"");
        assert_eq!(p("/a//b\\..\\..\\WIN.ini"), "/a/b/../../win.ini");
    }

    #[test]
    fn shell_form_drops_quoting_tricks() {
        assert_eq!(sh("w'h'o\\am\"i\""), "whoami");
        assert_eq!(sh("c$@at /et$*c/pas$*swd"), "cat /etc/passwd");
        assert_eq!(sh("cat$u /etc${u}/passwd"), "cat /etc/passwd");
        assert_eq!(sh("$c $a$b"), "$c $a");
        assert_eq!(sh("pi$()ng"), "ping");
        assert_eq!(sh("c$?at /et$_c/pas$$swd"), "cat /etc/passwd");
        assert_eq!(
            sh("pi<()ng pi>()ng adduse[r] [a] x[ab]"),
            "ping ping adduser [a] x[ab]"
        );
    }
}
