//! Owns `Spec` and `Operation`: a document's operations read into routes
//! (method, path template with the base path, operationId, deprecation), their
//! security requirements mapped to the credential Palisade checks, and each
//! operation's validator (parameters and body) compiled once.
//!
//! Must not be built per request; `Operation::check_head` and `check_body` are
//! what the request path calls.

use std::path::Path;
use std::sync::Arc;

use http::{HeaderMap, Method};
use palisade_models::config::{OpenApiConfig, RouteAuth, UnknownPolicy};
use palisade_models::{ParamLocation, event::SCHEMA_NAME_MAX};
use serde_json::Value;

use crate::body::{BodyInput, BodySpec, JsonBody, is_json};
use crate::load::{Document, Version};
use crate::params::{Param, Params};
use crate::schema::{self, Shape};
use crate::{OpenApiError, Report};

const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];

/// What the config says about reading a spec.
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    /// Overrides the base path taken from `servers`.
    pub base_path: Option<String>,
    /// Property names that make an undeclared body field a mass assignment.
    pub mass_assignment_fields: Vec<String>,
}

impl SpecOptions {
    pub fn from_config(c: &OpenApiConfig) -> SpecOptions {
        SpecOptions {
            base_path: c.base_path.clone(),
            mass_assignment_fields: c.mass_assignment_fields.clone(),
        }
    }
}

/// A loaded, compiled spec.
#[derive(Debug)]
pub struct Spec {
    pub version: Version,
    /// `info.title`, for logs.
    pub title: String,
    /// Prefix of every operation's path ("" for none).
    pub base_path: String,
    pub operations: Vec<Operation>,
    /// Security schemes Palisade cannot check (HTTP basic, cookie or query API
    /// keys, mutual TLS), by operation, for a warning at load.
    pub unchecked_security: Vec<String>,
}

/// One operation of the spec.
#[derive(Debug)]
pub struct Operation {
    pub method: Method,
    /// The template clients call: base path + the spec's path, `{name}` params.
    pub path: String,
    /// The path as the spec writes it.
    pub spec_path: String,
    pub operation_id: Option<String>,
    pub deprecated: bool,
    pub security: Security,
    /// Declared query parameter names, for drift.
    pub query_params: Vec<String>,
    validator: Arc<Validators>,
}

/// The credential an operation's security requirements ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    pub auth: RouteAuth,
    /// Scopes required, when the operation has one requirement that lists them.
    pub scopes: Vec<String>,
}

#[derive(Debug)]
struct Validators {
    params: Params,
    body: Option<BodySpec>,
}

impl Operation {
    /// `GET /users/{id}`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Checks the request head: path parameters (`path` gives each one's raw
    /// text by name), query and headers.
    pub fn check_head<'a>(
        &self,
        path: impl Fn(&str) -> Option<&'a str>,
        query: Option<&str>,
        headers: &HeaderMap,
        unknown_query: UnknownPolicy,
        out: &mut Report,
    ) {
        self.validator
            .params
            .check(path, query, headers, unknown_query, out);
    }

    /// True when the operation declares a request body to check.
    pub fn has_body(&self) -> bool {
        self.validator.body.is_some()
    }

    /// True when the body is JSON the operation has a schema for, so the proxy
    /// should read it whole (up to its cap) before checking.
    pub fn wants_json_body(&self, content_type: Option<&[u8]>) -> bool {
        self.validator
            .body
            .as_ref()
            .is_some_and(|b| b.json.is_some() && content_type.is_some_and(|c| is_json(media_of(c))))
    }

    /// Checks the body.
    pub fn check_body(&self, body: BodyInput<'_>, unknown_fields: UnknownPolicy, out: &mut Report) {
        if let Some(b) = &self.validator.body {
            b.check(body, unknown_fields, out);
        }
    }

    /// True when the operation declares query parameter `name`.
    pub fn declares_query(&self, name: &str) -> bool {
        self.validator.params.declares_query(name)
    }
}

fn media_of(v: &[u8]) -> &str {
    std::str::from_utf8(v)
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
}

impl Spec {
    /// Reads, parses and compiles the spec at `path`.
    pub fn load(path: &Path, options: &SpecOptions) -> Result<Spec, OpenApiError> {
        Spec::build(Document::read(path)?, options)
    }

    /// The same from text already read (`path` names it in errors).
    pub fn parse(path: &Path, text: String, options: &SpecOptions) -> Result<Spec, OpenApiError> {
        Spec::build(Document::parse(path, text)?, options)
    }

    fn build(doc: Document, options: &SpecOptions) -> Result<Spec, OpenApiError> {
        let base_path = match &options.base_path {
            Some(b) => b.clone(),
            None => server_path(&doc.root),
        };
        let Some(paths) = doc.root.get("paths").and_then(Value::as_object) else {
            return Err(doc.error(
                &["paths"],
                "no `paths` object: the spec declares no operation".into(),
                "list the service's operations under paths",
            ));
        };
        let mass: Vec<Box<str>> = options
            .mass_assignment_fields
            .iter()
            .map(|s| s.to_ascii_lowercase().into())
            .collect();
        let mut spec = Spec {
            version: doc.version,
            title: doc
                .root
                .pointer("/info/title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            base_path,
            operations: Vec::new(),
            unchecked_security: Vec::new(),
        };
        for (template, item) in paths {
            let at_path = ["paths", template.as_str()];
            if !template.starts_with('/') {
                return Err(doc.error(
                    &at_path,
                    format!("path `{template}` does not start with /"),
                    "write paths as the spec requires, such as /users/{id}",
                ));
            }
            let item = doc.resolve(item, &at_path)?;
            let shared = item.get("parameters");
            for (name, method) in &METHODS {
                let Some(op) = item.get(*name) else {
                    continue;
                };
                let at = ["paths", template.as_str(), name];
                let operation = read_operation(
                    &doc,
                    &spec.base_path,
                    template,
                    method.clone(),
                    op,
                    shared,
                    &mass,
                    &at,
                )?;
                if operation.security.auth == RouteAuth::None
                    && let Some(s) = unchecked(&doc, op)
                {
                    spec.unchecked_security
                        .push(format!("{} ({s})", operation.name()));
                }
                spec.operations.push(operation);
            }
        }
        Ok(spec)
    }

    /// The operation named `id`.
    pub fn by_id(&self, id: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.operation_id.as_deref() == Some(id))
    }
}

/// The path of the first `servers` URL ("https://x/api/v1" → "/api/v1"); ""
/// when there is none or it has variables.
fn server_path(root: &Value) -> String {
    let Some(url) = root.pointer("/servers/0/url").and_then(Value::as_str) else {
        return String::new();
    };
    let path = match url.find("://") {
        Some(i) => url[i + 3..].find('/').map_or("", |j| &url[i + 3 + j..]),
        None => url,
    };
    if path.contains('{') || !path.starts_with('/') {
        return String::new();
    }
    path.trim_end_matches('/').to_string()
}

#[allow(clippy::too_many_arguments)]
fn read_operation(
    doc: &Document,
    base: &str,
    template: &str,
    method: Method,
    op: &Value,
    shared: Option<&Value>,
    mass: &[Box<str>],
    at: &[&str],
) -> Result<Operation, OpenApiError> {
    let params = read_params(doc, op.get("parameters"), shared, at)?;
    let mut sensitive: Vec<Box<str>> = mass.to_vec();
    sensitive.extend(response_names(doc, op).map(|n| n.to_ascii_lowercase().into()));
    let body = match op.get("requestBody") {
        Some(b) => Some(read_body(doc, b, sensitive, at)?),
        None => None,
    };
    let query_params = params.query.iter().map(|p| p.name.to_string()).collect();
    Ok(Operation {
        method,
        path: format!("{base}{template}"),
        spec_path: template.to_string(),
        operation_id: op
            .get("operationId")
            .and_then(Value::as_str)
            .map(String::from),
        deprecated: op.get("deprecated") == Some(&Value::Bool(true)),
        security: security(doc, op),
        query_params,
        validator: Arc::new(Validators { params, body }),
    })
}

/// Path-level parameters, overridden by the operation's own of the same name
/// and location.
fn read_params(
    doc: &Document,
    own: Option<&Value>,
    shared: Option<&Value>,
    at: &[&str],
) -> Result<Params, OpenApiError> {
    let mut out = Params::default();
    let lists = [(own, "parameters"), (shared, "parameters")];
    for (list, key) in lists {
        let Some(list) = list.and_then(Value::as_array) else {
            continue;
        };
        for (i, p) in list.iter().enumerate() {
            let index = i.to_string();
            let mut here: Vec<&str> = at.to_vec();
            here.extend([key, index.as_str()]);
            let p = doc.resolve(p, &here)?;
            let (Some(name), Some(location)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str),
            ) else {
                return Err(doc.error(
                    &here,
                    "a parameter without `name` or `in`".into(),
                    "give each parameter a name and in (path, query, header or cookie)",
                ));
            };
            let location = match location {
                "path" => ParamLocation::Path,
                "query" => ParamLocation::Query,
                "header" => ParamLocation::Header,
                // Cookies may carry secrets: never read.
                "cookie" => continue,
                other => {
                    return Err(doc.error(
                        &here,
                        format!("parameter `{name}` is in `{other}`"),
                        "`in` is one of path, query, header or cookie",
                    ));
                }
            };
            let list = match location {
                ParamLocation::Path => &mut out.path,
                ParamLocation::Query => &mut out.query,
                _ => &mut out.header,
            };
            let name = if location == ParamLocation::Header {
                // Header names compare lowercase; these three the spec says to ignore.
                let lower = name.to_ascii_lowercase();
                if matches!(lower.as_str(), "accept" | "content-type" | "authorization") {
                    continue;
                }
                lower
            } else {
                name.to_string()
            };
            if list.iter().any(|q| *q.name == *name) {
                continue;
            }
            if name.len() > SCHEMA_NAME_MAX {
                return Err(doc.error(
                    &here,
                    format!("parameter name `{name}` is longer than {SCHEMA_NAME_MAX} bytes"),
                    "shorten the parameter name",
                ));
            }
            let schema_at: Vec<&str> = here.iter().copied().chain(["schema"]).collect();
            let (compiled, primitive) = match p.get("schema") {
                Some(s) => (
                    Some(schema::compile(doc, s, &schema_at)?),
                    schema::primitive(doc, s, &schema_at),
                ),
                None => (None, schema::Primitive::Other),
            };
            list.push(Param {
                name: name.into(),
                location,
                required: location == ParamLocation::Path
                    || p.get("required") == Some(&Value::Bool(true)),
                primitive,
                explode: p.get("explode").and_then(Value::as_bool).unwrap_or(
                    p.get("style")
                        .and_then(Value::as_str)
                        .is_none_or(|s| s == "form"),
                ),
                schema: compiled,
            });
        }
    }
    Ok(out)
}

fn read_body(
    doc: &Document,
    body: &Value,
    sensitive: Vec<Box<str>>,
    at: &[&str],
) -> Result<BodySpec, OpenApiError> {
    let mut here: Vec<&str> = at.to_vec();
    here.push("requestBody");
    let body = doc.resolve(body, &here)?;
    let mut spec = BodySpec {
        required: body.get("required") == Some(&Value::Bool(true)),
        media: Vec::new(),
        json: None,
    };
    let Some(content) = body.get("content").and_then(Value::as_object) else {
        return Ok(spec);
    };
    for (media, m) in content {
        spec.media.push(media.to_ascii_lowercase().into());
        if spec.json.is_some() || !is_json(media) {
            continue;
        }
        let Some(s) = m.get("schema") else {
            continue;
        };
        let schema_at: Vec<&str> = here
            .iter()
            .copied()
            .chain(["content", media.as_str(), "schema"])
            .collect();
        spec.json = Some(JsonBody {
            schema: schema::compile(doc, s, &schema_at)?,
            shape: Shape::of(doc, s),
            sensitive: sensitive.clone().into_boxed_slice(),
        });
    }
    Ok(spec)
}

/// Top-level property names of the operation's first 2xx JSON response: the
/// resource as the server shows it. A client sending one of them where the
/// request does not accept it is trying to set it.
fn response_names<'a>(doc: &'a Document, op: &'a Value) -> impl Iterator<Item = String> + 'a {
    let schema = op
        .get("responses")
        .and_then(Value::as_object)
        .and_then(|r| {
            r.iter()
                .filter(|(code, _)| code.starts_with('2'))
                .find_map(|(_, resp)| {
                    let resp = doc.resolve(resp, &[]).ok()?;
                    let content = resp.get("content")?.as_object()?;
                    content
                        .iter()
                        .find(|(m, _)| is_json(m))
                        .and_then(|(_, m)| m.get("schema"))
                })
        });
    let names: Vec<String> = schema
        .map(|s| Shape::of(doc, s).names().map(String::from).collect())
        .unwrap_or_default();
    names.into_iter()
}

/// The operation's security (its own, else the document's) as a credential.
fn security(doc: &Document, op: &Value) -> Security {
    let none = Security {
        auth: RouteAuth::None,
        scopes: Vec::new(),
    };
    let Some(reqs) = op
        .get("security")
        .or_else(|| doc.root.get("security"))
        .and_then(Value::as_array)
    else {
        return none;
    };
    let (mut jwt, mut key) = (false, false);
    for req in reqs {
        let Some(req) = req.as_object() else { continue };
        // `{}` makes the credential optional.
        if req.is_empty() {
            return none;
        }
        for name in req.keys() {
            match scheme_kind(doc, name) {
                Some(RouteAuth::Jwt) => jwt = true,
                Some(RouteAuth::ApiKey) => key = true,
                _ => {}
            }
        }
    }
    let auth = match (jwt, key) {
        (true, true) => RouteAuth::JwtOrApiKey,
        (true, false) => RouteAuth::Jwt,
        (false, true) => RouteAuth::ApiKey,
        (false, false) => RouteAuth::None,
    };
    let scopes = match reqs.as_slice() {
        [one] => one
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    Security { auth, scopes }
}

/// The credential a security scheme is: bearer, OAuth2 and OpenID Connect
/// tokens are JWTs; an API key in a header is an API key; others Palisade
/// does not check.
fn scheme_kind(doc: &Document, name: &str) -> Option<RouteAuth> {
    let s = doc.root.pointer(&format!(
        "/components/securitySchemes/{}",
        name.replace('~', "~0").replace('/', "~1")
    ))?;
    let s = doc.resolve(s, &[]).ok()?;
    match s.get("type")?.as_str()? {
        "http"
            if s.get("scheme")
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case("bearer")) =>
        {
            Some(RouteAuth::Jwt)
        }
        "oauth2" | "openIdConnect" => Some(RouteAuth::Jwt),
        "apiKey" if s.get("in").and_then(Value::as_str) == Some("header") => {
            Some(RouteAuth::ApiKey)
        }
        _ => None,
    }
}

/// The names of security schemes an operation requires that map to nothing
/// Palisade checks.
fn unchecked(doc: &Document, op: &Value) -> Option<String> {
    let reqs = op
        .get("security")
        .or_else(|| doc.root.get("security"))?
        .as_array()?;
    let names: Vec<&str> = reqs
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys())
        .map(String::as_str)
        .filter(|n| scheme_kind(doc, n).is_none())
        .collect();
    (!names.is_empty()
        && !reqs
            .iter()
            .any(|r| r.as_object().is_some_and(|m| m.is_empty())))
    .then(|| names.join(", "))
}

#[cfg(test)]
mod tests;
