//! Owns an operation's request body compiled for checking: the media types it
//! accepts, the JSON schema (compiled once) and the shape of declared
//! properties; and the check of a body: presence, media type, size, JSON
//! syntax, schema rules, then undeclared properties (mass assignment when the
//! name is privileged, `readOnly`, or part of the resource the operation
//! returns).
//!
//! Must never keep a body value: only property names and JSON pointers leave.

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use palisade_models::config::UnknownPolicy;
use palisade_models::event::SCHEMA_VIOLATIONS_MAX;
use palisade_models::{ParamLocation, ViolationKind};
use serde_json::Value;

use crate::Report;
use crate::schema::{self, Shape};

/// A request body as the operation declares it.
#[derive(Debug)]
pub(crate) struct BodySpec {
    pub(crate) required: bool,
    /// Declared media types, lowercased, such as "application/json",
    /// "application/*" or "*/*".
    pub(crate) media: Vec<Box<str>>,
    /// The JSON media type's schema, when one is declared.
    pub(crate) json: Option<JsonBody>,
}

#[derive(Debug)]
pub(crate) struct JsonBody {
    pub(crate) schema: Validator,
    pub(crate) shape: Shape,
    /// Lowercased names that make an undeclared property a mass assignment:
    /// the config's list and what the operation's 2xx response declares.
    pub(crate) sensitive: Box<[Box<str>]>,
}

/// What the body phase knows about the body it hands over.
#[derive(Debug, Clone, Copy)]
pub struct BodyInput<'a> {
    /// The Content-Type header, if any.
    pub content_type: Option<&'a [u8]>,
    /// The body, or its first bytes when `complete` is false.
    pub bytes: &'a [u8],
    /// True when `bytes` is the whole body.
    pub complete: bool,
}

impl BodySpec {
    pub(crate) fn check(&self, body: BodyInput<'_>, unknown: UnknownPolicy, out: &mut Report) {
        if body.bytes.is_empty() && body.complete {
            if self.required {
                out.invalid(ParamLocation::Body, "", "missing");
            }
            return;
        }
        let media = body.content_type.map(media_type).unwrap_or("");
        let Some(declared) = self.media.iter().find(|m| matches_media(m, media)) else {
            out.invalid(ParamLocation::Body, "", "content_type");
            return;
        };
        let Some(json) = &self.json else {
            return;
        };
        if !is_json(declared) && !is_json(media) {
            return;
        }
        if !body.complete {
            out.invalid(ParamLocation::Body, "", "max_body_bytes");
            return;
        }
        let value: Value = match serde_json::from_slice(body.bytes) {
            Ok(v) => v,
            Err(_) => {
                out.invalid(ParamLocation::Body, "", "json");
                return;
            }
        };
        json.check(&value, unknown, out);
    }
}

impl JsonBody {
    pub(crate) fn check(&self, value: &Value, unknown: UnknownPolicy, out: &mut Report) {
        if !self.schema.is_valid(value) {
            for e in self.schema.iter_errors(value).take(SCHEMA_VIOLATIONS_MAX) {
                let at = e.instance_path().as_str();
                match e.kind() {
                    ValidationErrorKind::Required { property } => {
                        let name = property.as_str().unwrap_or("");
                        out.invalid(ParamLocation::Body, &format!("{at}/{name}"), "required");
                    }
                    ValidationErrorKind::AdditionalProperties { unexpected } => {
                        for name in unexpected {
                            let kind = match self.kind_of(name) {
                                ViolationKind::MassAssignment => ViolationKind::MassAssignment,
                                _ => ViolationKind::Invalid,
                            };
                            let pointer = format!("{at}/{name}");
                            out.push(
                                ParamLocation::Body,
                                &pointer,
                                "additionalProperties",
                                kind,
                                true,
                            );
                        }
                    }
                    kind => out.invalid(ParamLocation::Body, at, schema::rule_of(kind)),
                }
            }
        }
        if unknown == UnknownPolicy::Allow {
            return;
        }
        let mut path = crate::schema::Path::new();
        let mut budget = SCHEMA_VIOLATIONS_MAX;
        self.shape
            .walk(value, &mut path, &mut budget, &mut |at, name, read_only| {
                let kind = if read_only {
                    ViolationKind::MassAssignment
                } else {
                    self.kind_of(name)
                };
                let rule = if read_only { "readOnly" } else { "unknown" };
                let (kind, denies) = match (kind, unknown) {
                    (ViolationKind::Unknown, UnknownPolicy::Reject) => {
                        (ViolationKind::Invalid, true)
                    }
                    (k, UnknownPolicy::Reject) => (k, true),
                    (k, _) => (k, false),
                };
                out.push(ParamLocation::Body, &at.pointer(), rule, kind, denies);
            });
    }

    fn kind_of(&self, name: &str) -> ViolationKind {
        if self.sensitive.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            ViolationKind::MassAssignment
        } else {
            ViolationKind::Unknown
        }
    }
}

/// The media type of a Content-Type value, without parameters; lowercase
/// compare is done by `matches_media`.
fn media_type(v: &[u8]) -> &str {
    let s = std::str::from_utf8(v).unwrap_or("");
    s.split(';').next().unwrap_or("").trim()
}

fn matches_media(declared: &str, sent: &str) -> bool {
    if declared == "*/*" {
        return true;
    }
    match declared.strip_suffix("/*") {
        Some(kind) => sent
            .split_once('/')
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case(kind)),
        None => declared.eq_ignore_ascii_case(sent),
    }
}

/// application/json, or any `+json` type (application/merge-patch+json, …).
pub(crate) fn is_json(media: &str) -> bool {
    let m = media.as_bytes();
    m.eq_ignore_ascii_case(b"application/json")
        || (m.len() > 5 && m[m.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_match_with_wildcards_and_parameters() {
        assert_eq!(
            media_type(b"application/json; charset=utf-8"),
            "application/json"
        );
        assert!(matches_media("application/json", "Application/JSON"));
        assert!(matches_media("application/*", "application/xml"));
        assert!(matches_media("*/*", "text/plain"));
        assert!(!matches_media("application/json", "text/plain"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/json-ish"));
    }
}
