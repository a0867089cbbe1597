//! Reads a raw-request corpus file (tests/fixtures/smuggling.txt): cases of
//! bytes a client sends, with what must come of them. The format is meant to be
//! read by people and reused by other tools (fuzz seed corpora):
//!
//! ```text
//! # a comment (only between cases)
//! ### case-name
//! class: cl.te
//! expect: 400            statuses of the responses, in order (comma-separated)
//! upstream: 0            requests that must reach the upstream
//! body: hello            optional: the body the upstream must get (escapes apply)
//! why: one line saying why that outcome is the right one
//!
//! POST / HTTP/1.1\r\n
//! Host: x\r\n\r\n
//! ```
//!
//! After the blank line, every line up to the next `###` is the request; line
//! breaks in the file are not part of it: CR, LF and other bytes are written as
//! escapes (`\r`, `\n`, `\t`, `\0`, `\\`, `\xHH`). A trailing space must be
//! written `\x20` (editors strip them).

use std::collections::BTreeMap;

/// One case of the corpus.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub fields: BTreeMap<String, String>,
    pub bytes: Vec<u8>,
}

impl Case {
    /// A field's value; panics naming the case if it is missing.
    pub fn field(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("case {}: no `{key}:` field", self.name))
    }

    /// The expected statuses, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.field("expect")
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("case {}: expect {s:?}", self.name))
            })
            .collect()
    }
}

/// Parses a corpus; panics with the line number on a malformed file.
pub fn parse(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut in_bytes = false;
    for (n, line) in text.lines().enumerate() {
        if let Some(name) = line.strip_prefix("### ") {
            cases.push(Case {
                name: name.trim().to_string(),
                fields: BTreeMap::new(),
                bytes: Vec::new(),
            });
            in_bytes = false;
            continue;
        }
        let Some(case) = cases.last_mut() else {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "line {}: text before the first case",
                n + 1
            );
            continue;
        };
        if in_bytes {
            case.bytes
                .extend(unescape(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1)));
        } else if line.is_empty() {
            in_bytes = true;
        } else {
            let (k, v) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("line {}: expected `key: value`", n + 1));
            case.fields
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    cases
}

/// Decodes the escapes of one line.
pub fn unescape(line: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(line.len());
    let mut it = line.bytes();
    while let Some(c) = it.next() {
        if c != b'\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = [it.next().unwrap_or(b'?'), it.next().unwrap_or(b'?')];
                let hex = std::str::from_utf8(&hex).map_err(|_| "bad \\x escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad \\x{hex}"))?);
            }
            other => return Err(format!("unknown escape \\{:?}", other.map(char::from))),
        }
    }
    Ok(out)
}
