//! Owns reading an OpenAPI document: the file's text into a `serde_json::Value`
//! (JSON, or YAML through serde-saphyr with input budgets), its version, local
//! `$ref` resolution, and the OpenAPI 3.0 schema dialect turned into JSON Schema
//! draft 4 (`nullable`). Errors name the line: the parser's for syntax, and a
//! search of the text along the failing key path for everything else.
//!
//! Must not fetch anything: only `#/…` references are followed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::OpenApiError;

/// Largest spec file read, in bytes.
const MAX_SPEC_BYTES: u64 = 32 * 1024 * 1024;
/// Deepest `$ref` chain followed before giving up (a cycle, or nonsense).
const MAX_REF_HOPS: usize = 32;

/// The OpenAPI versions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 3.0.x: schemas are the OpenAPI dialect of JSON Schema draft 4/5.
    V30,
    /// 3.1.x: schemas are JSON Schema 2020-12.
    V31,
}

/// A parsed document and where it came from, for error messages.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    pub(crate) root: Value,
    pub(crate) version: Version,
}

impl Document {
    /// Reads and parses the file at `path`.
    pub(crate) fn read(path: &Path) -> Result<Document, OpenApiError> {
        let read = |source| OpenApiError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_SPEC_BYTES {
            return Err(OpenApiError::invalid(
                path,
                "",
                None,
                format!("the file is {len} bytes, more than 32 MiB"),
                "point openapi.spec at the service's OpenAPI document",
            ));
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Document::parse(path, text)
    }

    /// Parses `text` (read from `path`).
    pub(crate) fn parse(path: &Path, text: String) -> Result<Document, OpenApiError> {
        let root = parse_text(path, &text)?;
        let mut doc = Document {
            path: path.to_path_buf(),
            text,
            root,
            version: Version::V31,
        };
        doc.version = doc.read_version()?;
        if doc.version == Version::V30 {
            dialect_30(&mut doc.root);
        }
        Ok(doc)
    }

    fn read_version(&self) -> Result<Version, OpenApiError> {
        let hint = "Palisade reads OpenAPI 3.0 and 3.1 documents; convert Swagger 2.0 first";
        let Some(v) = self.root.get("openapi").and_then(Value::as_str) else {
            let swagger = self.root.get("swagger").is_some();
            return Err(self.error(
                &["openapi"],
                if swagger {
                    "a Swagger 2.0 document, not OpenAPI 3".to_string()
                } else {
                    "no `openapi` version field: not an OpenAPI document".to_string()
                },
                hint,
            ));
        };
        if v.starts_with("3.0.") || v == "3.0" {
            Ok(Version::V30)
        } else if v.starts_with("3.1.") || v == "3.1" {
            Ok(Version::V31)
        } else {
            Err(self.error(
                &["openapi"],
                format!("version `{v}` is not 3.0 or 3.1"),
                hint,
            ))
        }
    }

    /// An error about the value at `at` (key path segments), with the line the
    /// key is on when it can be found.
    pub(crate) fn error(&self, at: &[&str], message: String, hint: &'static str) -> OpenApiError {
        OpenApiError::invalid(
            &self.path,
            &at.join("."),
            locate(&self.text, at),
            message,
            hint,
        )
    }

    /// Follows `value`'s `$ref` chain to the value it names. `at` is where
    /// `value` sits, for errors.
    pub(crate) fn resolve<'a>(
        &'a self,
        mut value: &'a Value,
        at: &[&str],
    ) -> Result<&'a Value, OpenApiError> {
        for _ in 0..MAX_REF_HOPS {
            let Some(r) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(value);
            };
            value = self.pointer(r, at)?;
        }
        Err(self.error(
            at,
            "a $ref chain longer than 32 hops (a cycle?)".into(),
            "make each $ref name the schema, parameter or body it means",
        ))
    }

    /// The value a local reference (`#/components/…`) names.
    pub(crate) fn pointer(&self, r: &str, at: &[&str]) -> Result<&Value, OpenApiError> {
        let Some(pointer) = r.strip_prefix('#') else {
            return Err(self.error(
                at,
                format!("$ref `{r}` points outside the document"),
                "only local references (#/components/…) are followed: bundle the spec into one file",
            ));
        };
        self.root.pointer(pointer).ok_or_else(|| {
            self.error(
                at,
                format!("$ref `{r}` names nothing in the document"),
                "fix the reference, or add what it names under components",
            )
        })
    }
}

/// JSON when the text starts like JSON, else YAML (a superset of JSON anyway).
fn parse_text(path: &Path, text: &str) -> Result<Value, OpenApiError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(text).map_err(|e| OpenApiError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        });
    }
    // Budgets bound what a hostile or broken file costs (alias bombs, depth).
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 256,
            max_anchors: 10_000,
        },
    };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
        OpenApiError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: first_line(&e.to_string()),
        }
    })
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// The 1-based line of the key path `at` in `text`: each key is searched for
/// after the line of the one before it (array indexes are skipped). Good for
/// YAML and pretty JSON; None when a key is not found.
pub(crate) fn locate(text: &str, at: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut found = None;
    for key in at {
        let hit = match key.parse::<usize>() {
            Ok(n) => nth_item(&lines[from..], n),
            Err(_) => lines[from..].iter().position(|l| is_key_line(l, key)),
        };
        let Some(hit) = hit else {
            // An index not found (flow style, JSON): keep the line so far.
            if key.parse::<usize>().is_ok() {
                continue;
            }
            return None;
        };
        from += hit;
        found = Some(from + 1);
        from += 1;
    }
    found
}

fn is_key_line(line: &str, key: &str) -> bool {
    let t = line.trim_start().trim_start_matches("- ");
    let after = |k: &str| {
        t.strip_prefix(k)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    };
    let quoted = format!("\"{key}\"");
    after(key) || after(&format!("'{key}'")) || after(&quoted) || t.contains(&format!("{quoted}:"))
}

/// The offset of the `n`th YAML block-sequence item (`- `) at the indentation
/// of the first one in `lines`.
fn nth_item(lines: &[&str], n: usize) -> Option<usize> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let first = lines
        .iter()
        .position(|l| l.trim_start().starts_with("- "))?;
    let level = indent(lines[first]);
    lines
        .iter()
        .enumerate()
        .skip(first)
        .filter(|(_, l)| indent(l) == level && l.trim_start().starts_with("- "))
        .map(|(i, _)| i)
        .nth(n)
}

/// OpenAPI 3.0 schemas into JSON Schema draft 4: `nullable: true` adds "null"
/// to `type` (draft 4 knows no `nullable`). Everything else of the 3.0
/// dialect (boolean exclusiveMinimum, example, readOnly) draft 4 reads as is
/// or ignores.
fn dialect_30(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type")
            {
                let t = Value::String(t.clone());
                map.insert("type".into(), Value::Array(vec![t, "null".into()]));
                if let Some(Value::Array(e)) = map.get_mut("enum")
                    && !e.contains(&Value::Null)
                {
                    e.push(Value::Null);
                }
            }
            map.values_mut().for_each(dialect_30);
        }
        Value::Array(items) => items.iter_mut().for_each(dialect_30),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_located_along_their_path() {
        let yaml = "openapi: 3.1.0\npaths:\n  /a:\n    get:\n      x: 1\n  /b:\n    get:\n      parameters:\n        - name: q\n";
        assert_eq!(locate(yaml, &["paths", "/b", "get"]), Some(7));
        assert_eq!(
            locate(yaml, &["paths", "/b", "get", "parameters", "0"]),
            Some(9)
        );
        assert_eq!(locate(yaml, &["paths", "/c"]), None);
        let json = "{\n  \"paths\": {\n    \"/a\": {\n      \"get\": {}\n    }\n  }\n}";
        assert_eq!(locate(json, &["paths", "/a", "get"]), Some(4));
    }

    #[test]
    fn nullable_becomes_a_null_type() {
        let mut v = serde_json::json!({"type": "string", "nullable": true, "enum": ["a"]});
        dialect_30(&mut v);
        assert_eq!(v["type"], serde_json::json!(["string", "null"]));
        assert_eq!(v["enum"], serde_json::json!(["a", null]));
    }
}
