//! A strict decoder of RFC 5424 messages, the oracle of the `siem_syslog`
//! target: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`, with
//! structured data parsed by the RFC's grammar (6.3): SD-NAMEs of printable
//! US-ASCII without `=`, space, `]` or `"`, and PARAM-VALUEs in which `"`, `\`
//! and `]` must be escaped and nothing else may be.
//!
//! Must refuse what the RFC refuses and what Palisade promises never to write
//! (any control character). Test code: errors are strings for the assertion.

#[derive(Debug)]
pub(super) struct Syslog {
    pub(super) pri: u16,
    pub(super) timestamp: String,
    pub(super) hostname: String,
    pub(super) app_name: String,
    pub(super) procid: String,
    pub(super) msgid: String,
    /// Each SD-ELEMENT: its SD-ID and params in order.
    pub(super) sd: Vec<(String, Vec<(String, String)>)>,
    pub(super) msg: Option<String>,
}

pub(super) fn decode(bytes: &[u8]) -> Result<Syslog, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!("control character {c:?}"));
    }
    let rest = text.strip_prefix('<').ok_or("no PRI")?;
    let close = rest.find('>').ok_or("PRI not closed")?;
    let pri_text = &rest[..close];
    if !(1..=3).contains(&pri_text.len()) || !pri_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("PRI {pri_text:?}"));
    }
    let pri: u16 = pri_text.parse().map_err(|_| "PRI")?;
    if pri > 191 || (pri_text.len() > 1 && pri_text.starts_with('0')) {
        return Err(format!("PRI {pri}"));
    }
    let rest = rest[close + 1..]
        .strip_prefix("1 ")
        .ok_or("VERSION is not 1")?;
    let mut fields = rest.splitn(6, ' ');
    let mut next = |name: &str, max: usize| -> Result<String, String> {
        let f = fields.next().ok_or(format!("no {name}"))?;
        if f.is_empty() || f.len() > max || !f.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(format!("{name} {f:?}"));
        }
        Ok(f.to_string())
    };
    let timestamp = next("TIMESTAMP", 32)?;
    let hostname = next("HOSTNAME", 255)?;
    let app_name = next("APP-NAME", 48)?;
    let procid = next("PROCID", 128)?;
    let msgid = next("MSGID", 32)?;
    let rest = fields.next().ok_or("no STRUCTURED-DATA")?;
    let (sd, after) = structured_data(rest)?;
    let msg = match after {
        "" => None,
        a => Some(
            a.strip_prefix(' ')
                .ok_or("no space before MSG")?
                .to_string(),
        ),
    };
    Ok(Syslog {
        pri,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        sd,
        msg,
    })
}

type Elements = Vec<(String, Vec<(String, String)>)>;

fn structured_data(text: &str) -> Result<(Elements, &str), String> {
    if let Some(after) = text.strip_prefix('-') {
        return Ok((Vec::new(), after));
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(body) = rest.strip_prefix('[') {
        let (id, mut r) = sd_name(body)?;
        let mut params = Vec::new();
        loop {
            if let Some(after) = r.strip_prefix(']') {
                rest = after;
                break;
            }
            let p = r.strip_prefix(' ').ok_or("expected a space or ]")?;
            let (name, p) = sd_name(p)?;
            let p = p.strip_prefix("=\"").ok_or("expected =\"")?;
            let (value, p) = param_value(p)?;
            params.push((name, value));
            r = p;
        }
        out.push((id, params));
    }
    if out.is_empty() {
        return Err("STRUCTURED-DATA is neither - nor an element".into());
    }
    Ok((out, rest))
}

fn sd_name(text: &str) -> Result<(String, &str), String> {
    let end = text
        .find(|c: char| !c.is_ascii_graphic() || matches!(c, '=' | ']' | '"'))
        .unwrap_or(text.len());
    if end == 0 || end > 32 {
        return Err(format!("SD-NAME at {:?}", &text[..end.min(40)]));
    }
    Ok((text[..end].to_string(), &text[end..]))
}

/// A PARAM-VALUE up to its closing quote; returns it unescaped and what follows.
fn param_value(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\' | ']'))) => out.push(e),
                other => return Err(format!("PARAM-VALUE escape {other:?}")),
            },
            ']' => return Err("unescaped ] in a PARAM-VALUE".into()),
            c => out.push(c),
        }
    }
    Err("PARAM-VALUE not closed".into())
}
