//! A strict decoder of the CEF lines Palisade writes, the oracle of the
//! `siem_cef` and `siem_syslog` targets: seven header fields split on unescaped
//! `|` (escapes `\\` and `\|` only), then `key=value` extensions split on
//! unescaped `=` (escapes `\\`, `\=`, `\n`, `\r` only).
//!
//! Must refuse anything a careful receiver could read two ways: an unknown
//! escape, a control character, a key that is not alphanumeric, a duplicate
//! key. Test code: errors are strings for the assertion message.

/// A decoded line: the six header fields after `CEF:0` (vendor, product,
/// version, signature id, name, severity), and the extensions
/// in order.
#[derive(Debug)]
pub(super) struct Cef {
    pub(super) header: Vec<String>,
    pub(super) ext: Vec<(String, String)>,
}

impl Cef {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.ext
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn decode(line: &str) -> Result<Cef, String> {
    if let Some(c) = line.chars().find(|c| c.is_control()) {
        return Err(format!("control character {c:?} in the line"));
    }
    let rest = line
        .strip_prefix("CEF:0|")
        .ok_or("the line does not start with CEF:0|")?;
    let mut header = Vec::new();
    let mut field = String::new();
    let mut chars = rest.char_indices();
    let mut ext_start = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '|'))) => field.push(e),
                other => return Err(format!("header escape {other:?}")),
            },
            '|' => {
                header.push(std::mem::take(&mut field));
                if header.len() == 6 {
                    ext_start = Some(i + 1);
                    break;
                }
            }
            c => field.push(c),
        }
    }
    let ext_start = ext_start.ok_or("fewer than seven header fields")?;
    Ok(Cef {
        header,
        ext: extensions(&rest[ext_start..])?,
    })
}

/// `key=value` pairs: a key is the alphanumeric run before an unescaped `=`,
/// after a space (or at the start); its value runs to the space before the
/// next key.
fn extensions(text: &str) -> Result<Vec<(String, String)>, String> {
    // (byte offset of an unescaped `=`)
    let mut equals = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' => {
                equals.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    let mut keys = Vec::new();
    for &eq in &equals {
        let start = text[..eq].rfind(' ').map_or(0, |s| s + 1);
        let key = &text[start..eq];
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("bad key {key:?}"));
        }
        keys.push((start, eq));
    }
    if keys.first().is_some_and(|&(start, _)| start != 0) {
        return Err("text before the first key".into());
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, &(start, eq)) in keys.iter().enumerate() {
        let end = match keys.get(n + 1) {
            // The space before the next key is the separator.
            Some(&(next, _)) => next - 1,
            None => text.len(),
        };
        if end < eq + 1 {
            return Err("a key without a value".into());
        }
        let key = text[start..eq].to_string();
        if out.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate key {key}"));
        }
        out.push((key, unescape(&text[eq + 1..end])?));
    }
    if keys.is_empty() && !text.is_empty() {
        return Err("extension text without a key".into());
    }
    Ok(out)
}

fn unescape(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | '=')) => out.push(e),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                other => return Err(format!("extension escape {other:?}")),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}
