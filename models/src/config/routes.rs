//! Owns the `[routes]` section and the `[[route]]` entries: the endpoints the
//! service declares, their per-route policy, and what happens to requests that
//! match none of them. Templates are checked here with the same radix-tree
//! library the proxy matches with, so a config that passes `check` builds.

use serde::Deserialize;

use super::Problems;
use super::limits::RouteRateLimit;
use super::login::LoginConfig;

/// `[routes]`: defaults for every route, and the undeclared-path policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesConfig {
    /// Requests that match no declared route: "deny" answers 404 `unknown_route`
    /// (the production default); "allow" forwards them and marks their events
    /// undeclared, so analytics can report shadow endpoints. Default: "deny".
    #[serde(default)]
    pub unknown: UnknownRoutes,
    /// Largest request body, in bytes, for routes that set none and for
    /// undeclared paths let through; larger is answered 413. Default: 1048576.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// Environment variable holding the secret salt for login username hashes,
    /// so hashes match across restarts and replicas. Default: none (a random
    /// salt per start).
    #[serde(default)]
    pub login_salt_env: Option<String>,
    /// Rate limits for routes that set none and for undeclared paths let
    /// through, e.g. `{ client = "600/min" }`. Default: none.
    #[serde(default)]
    pub rate_limit: Option<RouteRateLimit>,
}

/// What to do with a request no declared route matches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownRoutes {
    #[default]
    Deny,
    Allow,
}

/// `[[route]]`: one declared endpoint, or the policy of an OpenAPI operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path template: literal segments, `{name}` for one segment, `{*name}` for
    /// the rest of the path, e.g. "/api/users/{id}" or "/files/{*path}".
    /// Required unless `operation_id` is set. A path and methods equal to an
    /// OpenAPI operation's set that operation's policy instead of adding a route.
    #[serde(default)]
    pub path: String,
    /// The `operationId` of the OpenAPI operation (`[openapi] spec`) whose
    /// policy this entry sets, instead of declaring a route of its own.
    /// Default: none.
    #[serde(default)]
    pub operation_id: Option<String>,
    /// OpenAPI request validation on this operation: "block", "detect" or
    /// "off". Default: `openapi.validation`.
    #[serde(default)]
    pub validation: Option<super::ValidationMode>,
    /// Query parameters the operation does not declare: "allow", "flag" or
    /// "reject". Default: `openapi.unknown_query`.
    #[serde(default)]
    pub unknown_query: Option<super::UnknownPolicy>,
    /// Body properties the operation does not declare: "allow", "flag" or
    /// "reject". Default: `openapi.unknown_fields`.
    #[serde(default)]
    pub unknown_fields: Option<super::UnknownPolicy>,
    /// Methods the route serves, e.g. ["GET", "PUT"]. Default: [] (any method).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Largest request body in bytes; larger is answered 413.
    /// Default: `routes.max_body_bytes`.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Who may call the route: "none", "api_key" (a key from `[auth.api_keys]`),
    /// "jwt" (a bearer token verified by `[auth.jwt]`), or "jwt_or_api_key".
    /// Without a valid credential: 401 `unauthenticated`. Default: "none"; for
    /// an OpenAPI operation, what its security requirements ask for.
    #[serde(default)]
    pub auth: Option<RouteAuth>,
    /// Scopes the caller's credential must all grant; otherwise 403 `forbidden`.
    /// Default: [].
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Rate limits: `{ client = "100/min", client_burst = 20, global = "2000/s" }`;
    /// beyond them 429 `rate_limited` with `Retry-After`. Per-client limits count
    /// each client by `[rate_limits].client_key`. Default: `routes.rate_limit`.
    #[serde(default)]
    pub rate_limit: Option<RouteRateLimit>,
    /// Largest request head (header names and values), in bytes, for this
    /// route; larger is answered 431. At most `proxy.limits.max_header_bytes`,
    /// which applies before any route is known. Default: that cap.
    #[serde(default)]
    pub max_header_bytes: Option<usize>,
    /// Longest request target (path and query), in bytes, for this route;
    /// longer is answered 414. At most `proxy.limits.max_url_bytes`.
    /// Default: that cap.
    #[serde(default)]
    pub max_url_bytes: Option<usize>,
    /// Marks a login endpoint and says how a failed login looks:
    /// `{ failed_status = [401, 403], failed_header = "…", failed_body = "regex",
    /// username_field = "email" }`. Each event then carries `login_ok` or
    /// `login_failed`. Default: not a login route.
    #[serde(default)]
    pub login: Option<LoginConfig>,
    /// Attack signatures on this route: "block", "detect" or "off".
    /// Default: `signatures.mode`.
    #[serde(default)]
    pub inspect: Option<super::InspectMode>,
}

/// The credential a route requires.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAuth {
    #[default]
    None,
    ApiKey,
    Jwt,
    JwtOrApiKey,
}

fn default_max_body() -> u64 {
    1024 * 1024
}

impl Default for RoutesConfig {
    fn default() -> Self {
        Self {
            unknown: UnknownRoutes::Deny,
            max_body_bytes: default_max_body(),
            rate_limit: None,
            login_salt_env: None,
        }
    }
}

const TEMPLATE_HINT: &str =
    "write a path starting with /, with {name} for a segment and {*name} for the rest";

/// Checks the routes as a whole: templates, methods, duplicates, and that a
/// `deny` policy has something to allow.
pub(crate) fn validate(
    routes: &RoutesConfig,
    declared: &[RouteConfig],
    spec: bool,
    p: &mut Problems,
) {
    if routes.unknown == UnknownRoutes::Deny && declared.is_empty() && !spec {
        p.push(
            "routes.unknown",
            "no [[route]] is declared and undeclared paths are denied: every request would get 404",
            "declare the service's endpoints with [[route]], or set routes.unknown = \"allow\"",
        );
    }
    // One router per method plus one for "any", as the proxy builds them, so a
    // conflict is reported exactly where it would fail.
    let mut seen: Vec<(String, Option<String>)> = Vec::new();
    let mut routers: std::collections::HashMap<Option<String>, matchit::Router<()>> =
        std::collections::HashMap::new();
    for (i, r) in declared.iter().enumerate() {
        let key = format!("route[{i}]");
        if validate_operation(r, &key, spec, p) {
            validate_template(r, &key, &mut seen, &mut routers, p);
        }
        if r.max_body_bytes.is_some_and(|b| b > MAX_BODY_CAP) {
            p.push(
                format!("{key}.max_body_bytes"),
                "more than 1 TiB",
                "bodies stream, so large caps are fine, but not beyond 1 TiB",
            );
        }
        if let Some(l) = &r.rate_limit {
            l.validate(&format!("{key}.rate_limit"), p);
        }
        if let Some(l) = &r.login {
            l.validate(&format!("{key}.login"), p);
        }
    }
    if let Some(l) = &routes.rate_limit {
        l.validate("routes.rate_limit", p);
    }
    if routes.max_body_bytes > MAX_BODY_CAP {
        p.push(
            "routes.max_body_bytes",
            "more than 1 TiB",
            "bodies stream, so large caps are fine, but not beyond 1 TiB",
        );
    }
}

const MAX_BODY_CAP: u64 = 1 << 40;

/// Checks one entry's template and methods, as the proxy will insert them.
fn validate_template(
    r: &RouteConfig,
    key: &str,
    seen: &mut Vec<(String, Option<String>)>,
    routers: &mut std::collections::HashMap<Option<String>, matchit::Router<()>>,
    p: &mut Problems,
) {
    if !r.path.starts_with('/') {
        p.push(
            format!("{key}.path"),
            format!("`{}` does not start with /", r.path),
            TEMPLATE_HINT,
        );
        return;
    }
    let methods: Vec<Option<String>> = if r.methods.is_empty() {
        vec![None]
    } else {
        r.methods.iter().map(|m| Some(m.to_string())).collect()
    };
    for (j, m) in methods.iter().enumerate() {
        if let Some(m) = m
            && (http::Method::from_bytes(m.as_bytes()).is_err()
                || m.bytes().any(|b| b.is_ascii_lowercase()))
        {
            p.push(
                format!("{key}.methods[{j}]"),
                format!("`{m}` is not an HTTP method"),
                "write methods in capitals, such as GET, POST, PUT, PATCH, DELETE",
            );
            continue;
        }
        if seen.contains(&(r.path.clone(), m.clone())) {
            p.push(
                format!("{key}.path"),
                format!(
                    "`{}` is declared twice for {}",
                    r.path,
                    m.as_deref().unwrap_or("any method")
                ),
                "declare each path and method once",
            );
            continue;
        }
        seen.push((r.path.clone(), m.clone()));
        if let Err(e) = routers
            .entry(m.clone())
            .or_default()
            .insert(r.path.clone(), ())
        {
            p.push(
                format!("{key}.path"),
                format!("`{}`: {e}", r.path),
                TEMPLATE_HINT,
            );
        }
    }
}

/// Checks the OpenAPI keys of one entry; false when the entry names an
/// operation by id, so it has no template of its own to check.
fn validate_operation(r: &RouteConfig, key: &str, spec: bool, p: &mut Problems) -> bool {
    let openapi = r.operation_id.is_some()
        || r.validation.is_some()
        || r.unknown_query.is_some()
        || r.unknown_fields.is_some();
    if openapi && !spec {
        p.push(
            key.to_string(),
            "sets OpenAPI policy (operation_id, validation, unknown_query or unknown_fields) \
             but openapi.spec is not set",
            "set openapi.spec to the service's OpenAPI document, or remove these keys",
        );
    }
    match &r.operation_id {
        Some(id) if id.is_empty() => {
            p.push(
                format!("{key}.operation_id"),
                "an empty operation id",
                "write the operationId as the spec spells it",
            );
            false
        }
        Some(_) if !r.path.is_empty() || !r.methods.is_empty() => {
            p.push(
                format!("{key}.operation_id"),
                "names an operation and also sets path or methods",
                "name the operation either by operation_id or by path and methods, not both",
            );
            false
        }
        Some(_) => false,
        None if r.path.is_empty() => {
            p.push(
                format!("{key}.path"),
                "missing",
                "set path (such as \"/api/users/{id}\"), or operation_id to name an OpenAPI operation",
            );
            false
        }
        None => true,
    }
}

/// Checks each route's auth against the credentials configured.
pub(crate) fn validate_auth(
    declared: &[RouteConfig],
    auth: &super::AuthConfig,
    spec: bool,
    p: &mut Problems,
) {
    for (i, r) in declared.iter().enumerate() {
        let key = format!("route[{i}].auth");
        match r.auth.unwrap_or_default() {
            RouteAuth::Jwt if auth.jwt.key.is_empty() => p.push(
                key,
                "the route requires a JWT but no [[auth.jwt.key]] is configured",
                "configure the keys that verify tokens under [[auth.jwt.key]]",
            ),
            RouteAuth::JwtOrApiKey if auth.jwt.key.is_empty() && auth.api_keys.key.is_empty() => p
                .push(
                    key,
                    "the route takes a JWT or an API key but neither is configured",
                    "configure [[auth.jwt.key]] or [[auth.api_keys.key]]",
                ),
            RouteAuth::ApiKey if auth.api_keys.key.is_empty() => p.push(
                key,
                "the route requires an API key but no [[auth.api_keys.key]] is configured",
                "add the keys' SHA-256 digests under [[auth.api_keys.key]]",
            ),
            // An OpenAPI operation's credential may come from its spec; the
            // proxy checks those once the spec is read.
            RouteAuth::None
                if !r.scopes.is_empty()
                    && (r.auth.is_some() || (!spec && r.operation_id.is_none())) =>
            {
                p.push(
                    format!("route[{i}].scopes"),
                    "scopes are required but the route takes no credential to grant them",
                    "set auth = \"jwt\" or \"api_key\", or remove scopes",
                )
            }
            _ => {}
        }
    }
}
