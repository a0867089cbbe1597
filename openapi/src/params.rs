//! Owns an operation's parameters (path, query, header) compiled for checking:
//! each one's name, whether it is required, how its text is read (type,
//! array style) and its compiled schema; and the check of a request head
//! against them, with undeclared query parameters flagged or rejected.
//!
//! Must not allocate for a parameter that passes, beyond the JSON value its
//! text becomes; must never keep a value, only names.

use http::HeaderMap;
use jsonschema::Validator;
use palisade_models::config::UnknownPolicy;
use palisade_models::{ParamLocation, ViolationKind};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::Report;
use crate::schema::{self, Primitive, Scalar};

/// One declared parameter.
#[derive(Debug)]
pub(crate) struct Param {
    pub(crate) name: Box<str>,
    pub(crate) location: ParamLocation,
    pub(crate) required: bool,
    pub(crate) primitive: Primitive,
    /// Query arrays: repeated keys (`explode`, the default) or one
    /// comma-separated value. Path and header arrays are comma-separated.
    pub(crate) explode: bool,
    /// None when the parameter declares no schema.
    pub(crate) schema: Option<Validator>,
}

/// An operation's parameters, split by where they are sent.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub(crate) path: Vec<Param>,
    /// At most `MAX_QUERY` are checked for presence; the rest only when sent.
    pub(crate) query: Vec<Param>,
    pub(crate) header: Vec<Param>,
}

/// Query parameters whose presence is tracked (a bit each).
const MAX_QUERY: usize = 128;

impl Params {
    /// Checks what the head carries: `path` gives a path parameter's raw
    /// (percent-encoded) text by name.
    pub(crate) fn check<'a>(
        &self,
        path: impl Fn(&str) -> Option<&'a str>,
        query: Option<&str>,
        headers: &HeaderMap,
        unknown_query: UnknownPolicy,
        out: &mut Report,
    ) {
        for p in &self.path {
            match path(&p.name) {
                Some(raw) => {
                    let text = percent_decode_str(raw).decode_utf8_lossy();
                    check_text(p, &text, out);
                }
                None => out.invalid(ParamLocation::Path, &p.name, "missing"),
            }
        }
        self.check_query(query.unwrap_or(""), unknown_query, out);
        for p in &self.header {
            let mut values = headers.get_all(&*p.name).iter();
            match values.next() {
                None if p.required => out.invalid(ParamLocation::Header, &p.name, "missing"),
                None => {}
                Some(v) => match v.to_str() {
                    Ok(text) => check_text(p, text, out),
                    Err(_) => out.invalid(ParamLocation::Header, &p.name, "type"),
                },
            }
        }
    }

    fn check_query(&self, query: &str, unknown: UnknownPolicy, out: &mut Report) {
        let mut seen = 0u128;
        // Exploded arrays gather their values first; rare, so allocated on demand.
        let mut arrays: Vec<(usize, Vec<Value>)> = Vec::new();
        if !query.is_empty() {
            for (key, value) in form_urlencoded::parse(query.as_bytes()) {
                let Some(i) = self.query.iter().position(|p| *p.name == *key) else {
                    unknown_param(&key, unknown, out);
                    continue;
                };
                if i < MAX_QUERY {
                    seen |= 1 << i;
                }
                let p = &self.query[i];
                match p.primitive {
                    Primitive::Array(s) if p.explode => {
                        let v = schema::coerce(&value, s);
                        match arrays.iter_mut().find(|(j, _)| *j == i) {
                            Some((_, items)) => items.push(v),
                            None => arrays.push((i, vec![v])),
                        }
                    }
                    _ => check_text(p, &value, out),
                }
            }
        }
        for (i, items) in arrays {
            check_value(&self.query[i], &Value::Array(items), out);
        }
        for (i, p) in self.query.iter().enumerate().take(MAX_QUERY) {
            if p.required && seen & (1 << i) == 0 {
                out.invalid(ParamLocation::Query, &p.name, "missing");
            }
        }
    }

    /// True when the operation declares a query parameter named `name`.
    pub(crate) fn declares_query(&self, name: &str) -> bool {
        self.query.iter().any(|p| *p.name == *name)
    }
}

fn unknown_param(key: &str, policy: UnknownPolicy, out: &mut Report) {
    match policy {
        UnknownPolicy::Allow => {}
        UnknownPolicy::Flag => out.push(
            ParamLocation::Query,
            key,
            "unknown",
            ViolationKind::Unknown,
            false,
        ),
        UnknownPolicy::Reject => out.invalid(ParamLocation::Query, key, "unknown"),
    }
}

/// Reads `text` as the parameter's type and checks it.
fn check_text(p: &Param, text: &str, out: &mut Report) {
    if p.schema.is_none() {
        return;
    }
    let value = match p.primitive {
        Primitive::String | Primitive::Other => Value::String(text.to_string()),
        Primitive::Integer => schema::coerce(text, Scalar::Integer),
        Primitive::Number => schema::coerce(text, Scalar::Number),
        Primitive::Boolean => schema::coerce(text, Scalar::Boolean),
        Primitive::Array(s) => Value::Array(
            text.split(',')
                .filter(|t| !t.is_empty())
                .map(|t| schema::coerce(t, s))
                .collect(),
        ),
    };
    check_value(p, &value, out);
}

fn check_value(p: &Param, value: &Value, out: &mut Report) {
    let Some(v) = &p.schema else {
        return;
    };
    if v.is_valid(value) {
        return;
    }
    // The first broken rule names the problem; parameters are small.
    if let Some(e) = v.iter_errors(value).next() {
        out.invalid(p.location, &p.name, schema::rule_of(e.kind()));
    }
}
