//! Owns turning one schema of the spec into what requests are checked with: a
//! jsonschema `Validator` compiled once (draft 4 for OpenAPI 3.0, 2020-12 for
//! 3.1, formats checked, nothing fetched), the primitive type a parameter's text
//! is read as, and the `Shape` that tells declared body properties from
//! undeclared ones. Also the one mapping from jsonschema's error kinds to the
//! rule names events carry.
//!
//! Must not be called per request except `rule_of` and `Shape::walk`.

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Validator};
use serde_json::{Map, Value};

use crate::OpenApiError;
use crate::load::{Document, Version};

/// Deepest schema nesting `Shape` follows (recursive schemas stop here, open).
const MAX_SHAPE_DEPTH: usize = 16;

/// Compiles `schema` (found at `at`) with the document's components in reach of
/// its `#/components/…` references.
pub(crate) fn compile(
    doc: &Document,
    schema: &Value,
    at: &[&str],
) -> Result<Validator, OpenApiError> {
    let mut root = schema.clone();
    // References resolve against the root of the schema compiled: give it the
    // document's components (JSON Schema ignores the unknown keyword itself).
    if let (Value::Object(map), Some(components)) = (&mut root, doc.root.get("components"))
        && has_ref(schema)
    {
        map.insert("components".into(), components.clone());
    }
    let draft = match doc.version {
        Version::V30 => Draft::Draft4,
        Version::V31 => Draft::Draft202012,
    };
    let mut options = jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true);
    if doc.version == Version::V30 {
        // Draft 4 predates the uuid format, which 3.0 specs use all the time.
        options = options.with_format("uuid", is_uuid);
    }
    options.build(&root).map_err(|e| {
        doc.error(
            at,
            format!("schema does not compile: {e}"),
            "fix the schema (a bad pattern, type or $ref); the running spec stays in force",
        )
    })
}

fn has_ref(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("$ref") || m.values().any(has_ref),
        Value::Array(a) => a.iter().any(has_ref),
        _ => false,
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// How a parameter's text becomes a JSON value before it is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Primitive {
    String,
    Integer,
    Number,
    Boolean,
    /// An array of the inner primitive.
    Array(Scalar),
    /// Objects and anything unknown: checked as a string.
    Other,
}

/// The element type of an array parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Integer,
    Number,
    Boolean,
}

/// The primitive a schema reads as (its `type`, after `$ref`; a 3.1 type list
/// with "null" counts as the other type).
pub(crate) fn primitive(doc: &Document, schema: &Value, at: &[&str]) -> Primitive {
    let Ok(schema) = doc.resolve(schema, at) else {
        return Primitive::Other;
    };
    match type_name(schema) {
        Some("string") => Primitive::String,
        Some("integer") => Primitive::Integer,
        Some("number") => Primitive::Number,
        Some("boolean") => Primitive::Boolean,
        Some("array") => {
            let items = schema
                .get("items")
                .and_then(|i| doc.resolve(i, at).ok())
                .and_then(type_name);
            Primitive::Array(match items {
                Some("integer") => Scalar::Integer,
                Some("number") => Scalar::Number,
                Some("boolean") => Scalar::Boolean,
                _ => Scalar::String,
            })
        }
        _ => Primitive::Other,
    }
}

fn type_name(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(s) => Some(s),
        Value::Array(a) => a.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// Reads parameter text as `p`: a number that does not parse stays a string,
/// so the schema's `type` rule reports it.
pub(crate) fn coerce(text: &str, p: Scalar) -> Value {
    match p {
        Scalar::String => Value::String(text.to_string()),
        Scalar::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_string())),
        Scalar::Number => text
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .unwrap_or_else(|| Value::String(text.to_string())),
        Scalar::Boolean => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_string()),
        },
    }
}

/// The rule name an event carries for a jsonschema error kind.
pub(crate) fn rule_of(kind: &ValidationErrorKind) -> &'static str {
    use ValidationErrorKind as K;
    match kind {
        K::AdditionalItems { .. } => "additionalItems",
        K::AdditionalProperties { .. } => "additionalProperties",
        K::AnyOf { .. } => "anyOf",
        K::Constant { .. } => "const",
        K::Contains => "contains",
        K::Enum { .. } => "enum",
        K::ExclusiveMaximum { .. } => "exclusiveMaximum",
        K::ExclusiveMinimum { .. } => "exclusiveMinimum",
        K::FalseSchema => "false",
        K::Format { .. } => "format",
        K::MaxItems { .. } => "maxItems",
        K::Maximum { .. } => "maximum",
        K::MaxLength { .. } => "maxLength",
        K::MaxProperties { .. } => "maxProperties",
        K::MinItems { .. } => "minItems",
        K::Minimum { .. } => "minimum",
        K::MinLength { .. } => "minLength",
        K::MinProperties { .. } => "minProperties",
        K::MultipleOf { .. } => "multipleOf",
        K::Not { .. } => "not",
        K::OneOfMultipleValid { .. } | K::OneOfNotValid { .. } => "oneOf",
        K::Pattern { .. } | K::BacktrackLimitExceeded { .. } | K::RegexEngineFailure { .. } => {
            "pattern"
        }
        K::PropertyNames { .. } => "propertyNames",
        K::Required { .. } => "required",
        K::Type { .. } => "type",
        K::UnevaluatedItems { .. } => "unevaluatedItems",
        K::UnevaluatedProperties { .. } => "unevaluatedProperties",
        K::UniqueItems => "uniqueItems",
        _ => "schema",
    }
}

/// Which body properties a schema declares, level by level.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// Anything goes here (free-form object, explicit additionalProperties,
    /// a recursion cut, or not an object).
    Open,
    Object {
        props: Box<[Prop]>,
        /// `additionalProperties: false`: jsonschema reports extras itself.
        closed: bool,
    },
    Array(Box<Shape>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prop {
    pub(crate) name: Box<str>,
    pub(crate) shape: Shape,
    /// `readOnly: true`: the server sets it; a client sending it is suspect.
    pub(crate) read_only: bool,
}

impl Shape {
    /// The shape of `schema`, merging `allOf`, `anyOf` and `oneOf` branches (a
    /// property any branch declares is declared).
    pub(crate) fn of(doc: &Document, schema: &Value) -> Shape {
        Shape::build(doc, schema, 0)
    }

    fn build(doc: &Document, schema: &Value, depth: usize) -> Shape {
        if depth > MAX_SHAPE_DEPTH {
            return Shape::Open;
        }
        let Ok(schema) = doc.resolve(schema, &[]) else {
            return Shape::Open;
        };
        if type_name(schema) == Some("array") {
            return match schema.get("items") {
                Some(items) => match Shape::build(doc, items, depth + 1) {
                    Shape::Open => Shape::Open,
                    s => Shape::Array(Box::new(s)),
                },
                None => Shape::Open,
            };
        }
        let mut props: Vec<Prop> = Vec::new();
        let mut closed = false;
        let mut open = false;
        let mut saw_object = false;
        collect(
            doc,
            schema,
            depth,
            &mut props,
            &mut closed,
            &mut open,
            &mut saw_object,
        );
        if open || !saw_object {
            return Shape::Open;
        }
        Shape::Object {
            props: props.into_boxed_slice(),
            closed,
        }
    }

    /// Undeclared properties of `value`, given to `found` with where they
    /// are and whether the property is declared `readOnly` (then it is
    /// declared but still reported). Stops after `max` reports. Allocates
    /// nothing: the path is a stack of borrowed segments, written out only for
    /// a report.
    pub(crate) fn walk<'v>(
        &self,
        value: &'v Value,
        path: &mut Path<'v>,
        max: &mut usize,
        found: &mut dyn FnMut(&Path<'v>, &str, bool),
    ) {
        if *max == 0 || path.len == path.segs.len() {
            return;
        }
        match (self, value) {
            (Shape::Object { props, closed }, Value::Object(map)) => {
                for (k, v) in map {
                    path.segs[path.len] = Seg::Key(k);
                    path.len += 1;
                    match props.iter().find(|p| *p.name == **k) {
                        Some(p) if p.read_only => {
                            *max = max.saturating_sub(1);
                            found(path, k, true);
                        }
                        Some(p) => p.shape.walk(v, path, max, found),
                        // additionalProperties: false is the schema's to report.
                        None if *closed => {}
                        None => {
                            *max = max.saturating_sub(1);
                            found(path, k, false);
                        }
                    }
                    path.len -= 1;
                    if *max == 0 {
                        return;
                    }
                }
            }
            (Shape::Array(inner), Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    path.segs[path.len] = Seg::Index(i);
                    path.len += 1;
                    inner.walk(v, path, max, found);
                    path.len -= 1;
                    if *max == 0 {
                        return;
                    }
                }
            }
            _ => {}
        }
    }

    /// Top-level property names an object shape declares.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        let props: &[Prop] = match self {
            Shape::Object { props, .. } => props,
            _ => &[],
        };
        props.iter().map(|p| &*p.name)
    }
}

/// Where in a body the walk is: at most this many levels deep.
const MAX_PATH: usize = MAX_SHAPE_DEPTH + 8;

/// A JSON pointer as borrowed segments.
#[derive(Debug)]
pub(crate) struct Path<'v> {
    segs: [Seg<'v>; MAX_PATH],
    len: usize,
}

#[derive(Debug, Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

impl<'v> Path<'v> {
    pub(crate) fn new() -> Self {
        Path {
            segs: [Seg::Index(0); MAX_PATH],
            len: 0,
        }
    }

    /// `/address/zip`.
    pub(crate) fn pointer(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for s in &self.segs[..self.len] {
            let _ = match s {
                Seg::Key(k) => write!(out, "/{k}"),
                Seg::Index(i) => write!(out, "/{i}"),
            };
        }
        out
    }
}

#[allow(clippy::too_many_arguments)]
fn collect(
    doc: &Document,
    schema: &Value,
    depth: usize,
    props: &mut Vec<Prop>,
    closed: &mut bool,
    open: &mut bool,
    saw_object: &mut bool,
) {
    let Ok(schema) = doc.resolve(schema, &[]) else {
        *open = true;
        return;
    };
    let Some(map) = schema.as_object() else {
        // `true` or another non-object schema: no constraint on properties.
        *open = true;
        return;
    };
    if let Some(p) = map.get("properties").and_then(Value::as_object) {
        *saw_object = true;
        add_props(doc, map, p, depth, props);
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(false)) => *closed = true,
        // A map of values, or explicitly anything: every name is declared.
        Some(Value::Bool(true)) | Some(Value::Object(_)) => *open = true,
        _ => {}
    }
    if map.contains_key("patternProperties") {
        *open = true;
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = map.get(key).and_then(Value::as_array) {
            for b in branches {
                collect(doc, b, depth, props, closed, open, saw_object);
            }
        }
    }
    if !*saw_object && type_name(schema) == Some("object") && !map.contains_key("properties") {
        // `type: object` with no properties: a free-form object.
        *open = true;
    }
}

fn add_props(
    doc: &Document,
    parent: &Map<String, Value>,
    p: &Map<String, Value>,
    depth: usize,
    props: &mut Vec<Prop>,
) {
    let _ = parent;
    for (name, s) in p {
        if props.iter().any(|x| *x.name == **name) {
            continue;
        }
        let resolved = doc.resolve(s, &[]).unwrap_or(s);
        let read_only = resolved.get("readOnly") == Some(&Value::Bool(true))
            || s.get("readOnly") == Some(&Value::Bool(true));
        props.push(Prop {
            name: name.as_str().into(),
            shape: Shape::build(doc, s, depth + 1),
            read_only,
        });
    }
}
