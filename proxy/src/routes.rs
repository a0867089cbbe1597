//! Owns the route table: the declared routes (the config's `[[route]]` entries
//! and the OpenAPI spec's operations, each with the policy the config gives it)
//! compiled into radix trees (matchit), one per method plus one for routes that
//! take any method. The table is immutable; a new spec builds a new one, which
//! the server swaps in (arc-swap), keeping each route's rate limiter by key so a
//! reload does not reset anyone's counts.
//!
//! Must not allocate on lookup.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;

use palisade_models::Config;
use palisade_models::config::{
    InspectMode, OpenApiConfig, RouteAuth, RouteConfig, RoutesConfig, UnknownPolicy, UnknownRoutes,
    ValidationMode,
};
use palisade_openapi::{Operation, Spec};

use crate::error::ProxyError;
use crate::limits::{RateLimits, RouteLimiter};
use crate::login::LoginPolicy;

/// The declared routes and the policy for everything else.
#[derive(Debug)]
pub(crate) struct RouteTable {
    // A short list rather than a map: a service declares a handful of methods.
    by_method: Vec<(Method, matchit::Router<usize>)>,
    any_method: matchit::Router<usize>,
    routes: Vec<Route>,
    pub(crate) unknown: UnknownRoutes,
    pub(crate) default_max_body: u64,
    /// Inspection for undeclared paths let through.
    pub(crate) default_inspect: InspectMode,
    /// The spec whose operations are routes here, if one is configured.
    pub(crate) spec: Option<Arc<Spec>>,
    /// Each limiter by its key (`route[3]`, `op:GET /users/{id}`), for the
    /// next table to take over.
    limiters: HashMap<Box<str>, Arc<RouteLimiter>>,
}

/// One declared route's policy.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The template as declared, shared into every event that matches it.
    pub(crate) template: Arc<str>,
    pub(crate) max_body: u64,
    pub(crate) auth: RouteAuth,
    /// Scopes the caller must hold, all of them.
    pub(crate) scopes: Vec<Box<str>>,
    /// Caps lower than the proxy-wide ones, if the route sets them.
    pub(crate) max_header_bytes: Option<usize>,
    pub(crate) max_url_bytes: Option<usize>,
    /// Set on login routes.
    pub(crate) login: Option<Arc<LoginPolicy>>,
    pub(crate) inspect: InspectMode,
    pub(crate) limiter: Option<Arc<RouteLimiter>>,
    /// Set on OpenAPI operations whose validation is not off.
    pub(crate) validation: Option<Validation>,
}

/// How a route is validated against its operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validation {
    /// The operation's index in the table's spec.
    pub(crate) op: usize,
    /// Detect or block (off routes carry no `Validation`).
    pub(crate) block: bool,
    pub(crate) unknown_query: UnknownPolicy,
    pub(crate) unknown_fields: UnknownPolicy,
}

/// What a route table is built from besides the spec: the config's routes and
/// defaults, kept so that a new spec can be routed without the config.
#[derive(Debug, Clone)]
pub(crate) struct RouteSource {
    routes: RoutesConfig,
    route: Vec<RouteConfig>,
    openapi: OpenApiConfig,
    inspect: InspectMode,
    /// Which credentials are configured, for the spec's security requirements.
    jwt: bool,
    api_keys: bool,
}

impl RouteSource {
    pub(crate) fn from_config(config: &Config) -> RouteSource {
        RouteSource {
            routes: config.routes.clone(),
            route: config.route.clone(),
            openapi: config.openapi.clone(),
            inspect: config.signatures.mode,
            jwt: !config.auth.jwt.key.is_empty(),
            api_keys: !config.auth.api_keys.key.is_empty(),
        }
    }

    /// True when some route (or the undeclared default) may inspect requests,
    /// whatever the spec holds: spec operations take the default or an entry's.
    pub(crate) fn inspects(&self) -> bool {
        self.inspect != InspectMode::Off
            || self
                .route
                .iter()
                .any(|r| r.inspect.unwrap_or(self.inspect) != InspectMode::Off)
    }
}

fn config_error(key: impl Into<String>, message: String, hint: &'static str) -> ProxyError {
    ProxyError::OpenApi {
        key: key.into(),
        message,
        hint,
    }
}

impl RouteTable {
    /// Compiles the config's routes, without a spec.
    #[cfg(test)]
    pub(crate) fn build(config: &Config, limits: &RateLimits) -> Result<RouteTable, ProxyError> {
        RouteTable::build_from(&RouteSource::from_config(config), None, limits, None)
    }

    /// Compiles `src`'s routes and `spec`'s operations, taking over the
    /// limiters of `previous` by key. Validation already reported conflicts
    /// among the config's routes with their key paths; an error about them
    /// here means the two disagree.
    pub(crate) fn build_from(
        src: &RouteSource,
        spec: Option<Arc<Spec>>,
        limits: &RateLimits,
        previous: Option<&RouteTable>,
    ) -> Result<RouteTable, ProxyError> {
        let mut table = RouteTable {
            by_method: Vec::new(),
            any_method: matchit::Router::new(),
            routes: Vec::with_capacity(src.route.len()),
            unknown: src.routes.unknown,
            default_max_body: src.routes.max_body_bytes,
            default_inspect: src.inspect,
            spec: None,
            limiters: HashMap::new(),
        };
        let ops = spec.as_deref().map_or(&[][..], |s| &s.operations[..]);
        let overrides = assign_overrides(src, ops)?;
        for (i, r) in src.route.iter().enumerate() {
            if overrides.contains(&Some(i)) || r.operation_id.is_some() {
                continue;
            }
            if r.validation.is_some() || r.unknown_query.is_some() || r.unknown_fields.is_some() {
                return Err(config_error(
                    format!("route[{i}]"),
                    format!(
                        "sets OpenAPI validation, but no operation of the spec has path `{}` and its methods",
                        r.path
                    ),
                    "match an operation's path (with the base path) and method, or name it by operation_id",
                ));
            }
            if r.auth.is_none() && !r.scopes.is_empty() {
                return Err(config_error(
                    format!("route[{i}].scopes"),
                    "scopes are required but the route takes no credential to grant them".into(),
                    "set auth = \"jwt\" or \"api_key\", or remove scopes",
                ));
            }
            let route = table.route_for(src, Some(i), None, limits, previous)?;
            let methods: Vec<Method> = r
                .methods
                .iter()
                .map(|m| {
                    Method::from_bytes(m.as_bytes()).map_err(|e| ProxyError::Config {
                        key: "route",
                        message: format!("`{m}`: {e}"),
                    })
                })
                .collect::<Result<_, _>>()?;
            let index = table.push(route);
            table
                .insert(&methods, &r.path, index)
                .map_err(|message| ProxyError::Config {
                    key: "route",
                    message,
                })?;
        }
        for (n, op) in ops.iter().enumerate() {
            let route = table.route_for(src, overrides[n], Some((n, op)), limits, previous)?;
            let index = table.push(route);
            table
                .insert(std::slice::from_ref(&op.method), &op.path, index)
                .map_err(|e| {
                    config_error(
                        "openapi.spec",
                        format!("operation {}: {e}", op.name()),
                        "give paths that share a position the same parameter name, and \
                         declare each path and method once across the spec and [[route]]",
                    )
                })?;
        }
        table.spec = spec;
        Ok(table)
    }

    fn push(&mut self, route: Route) -> usize {
        self.routes.push(route);
        self.routes.len() - 1
    }

    fn insert(&mut self, methods: &[Method], path: &str, index: usize) -> Result<(), String> {
        let conflict = |e: matchit::InsertError| format!("`{path}`: {e}");
        if methods.is_empty() {
            return self
                .any_method
                .insert(path.to_string(), index)
                .map_err(conflict);
        }
        for method in methods {
            let at = match self.by_method.iter().position(|(k, _)| k == method) {
                Some(i) => i,
                None => {
                    self.by_method
                        .push((method.clone(), matchit::Router::new()));
                    self.by_method.len() - 1
                }
            };
            self.by_method[at]
                .1
                .insert(path.to_string(), index)
                .map_err(conflict)?;
        }
        Ok(())
    }

    /// The policy of config entry `entry` (a plain route, or the override of
    /// `op`), or of `op` alone with the defaults.
    fn route_for(
        &mut self,
        src: &RouteSource,
        entry: Option<usize>,
        op: Option<(usize, &Operation)>,
        limits: &RateLimits,
        previous: Option<&RouteTable>,
    ) -> Result<Route, ProxyError> {
        let r = entry.map(|i| &src.route[i]);
        let template: Arc<str> = match (op, r) {
            (Some((_, o)), _) => o.path.as_str().into(),
            (None, Some(r)) => r.path.as_str().into(),
            (None, None) => "/".into(),
        };
        let (auth, scopes) = match (r.and_then(|r| r.auth), op) {
            (Some(a), _) => (a, r.map(|r| r.scopes.clone()).unwrap_or_default()),
            (None, Some((_, o))) if src.openapi.auth_from_spec => {
                check_credentials(src, o)?;
                let own = r.map(|r| r.scopes.clone()).unwrap_or_default();
                let scopes = if own.is_empty() {
                    o.security.scopes.clone()
                } else {
                    own
                };
                (o.security.auth, scopes)
            }
            (None, _) => (
                RouteAuth::None,
                r.map(|r| r.scopes.clone()).unwrap_or_default(),
            ),
        };
        let limit = r
            .and_then(|r| r.rate_limit.as_ref())
            .or(src.routes.rate_limit.as_ref());
        let key: Box<str> = match (entry, op) {
            (Some(i), _) => format!("route[{i}]").into(),
            (None, Some((_, o))) => format!("op:{}", o.name()).into(),
            (None, None) => "route".into(),
        };
        let limiter = match limit {
            None => None,
            Some(l) => {
                let reused = self
                    .limiters
                    .get(&key)
                    .or_else(|| previous.and_then(|p| p.limiters.get(&key)))
                    .cloned();
                let l = match reused {
                    Some(l) => l,
                    None => limits.route_limiter(l, &format!("{template}#{key}"))?,
                };
                self.limiters.insert(key, l.clone());
                Some(l)
            }
        };
        let validation = op.and_then(|(n, _)| {
            let mode = r
                .and_then(|r| r.validation)
                .unwrap_or(src.openapi.validation);
            (mode != ValidationMode::Off).then(|| Validation {
                op: n,
                block: mode == ValidationMode::Block,
                unknown_query: r
                    .and_then(|r| r.unknown_query)
                    .unwrap_or(src.openapi.unknown_query),
                unknown_fields: r
                    .and_then(|r| r.unknown_fields)
                    .unwrap_or(src.openapi.unknown_fields),
            })
        });
        Ok(Route {
            template,
            max_body: r
                .and_then(|r| r.max_body_bytes)
                .unwrap_or(src.routes.max_body_bytes),
            auth,
            scopes: scopes.iter().map(|s| s.as_str().into()).collect(),
            max_header_bytes: r.and_then(|r| r.max_header_bytes),
            max_url_bytes: r.and_then(|r| r.max_url_bytes),
            login: r
                .and_then(|r| r.login.as_ref())
                .map(|l| LoginPolicy::build(l).map(Arc::new))
                .transpose()?,
            inspect: r.and_then(|r| r.inspect).unwrap_or(src.inspect),
            limiter,
            validation,
        })
    }

    /// The route serving `method` on `path`: a method-specific one first.
    pub(crate) fn lookup(&self, method: &Method, path: &str) -> Option<usize> {
        self.lookup_match(method, path).map(|m| *m.value)
    }

    /// The same, with the path parameters.
    pub(crate) fn lookup_match<'t, 'p>(
        &'t self,
        method: &Method,
        path: &'p str,
    ) -> Option<matchit::Match<'t, 'p, &'t usize>> {
        self.by_method
            .iter()
            .find(|(m, _)| m == method)
            .and_then(|(_, r)| r.at(path).ok())
            .or_else(|| self.any_method.at(path).ok())
    }

    pub(crate) fn get(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    /// The operation a validated route checks against.
    pub(crate) fn operation(&self, v: &Validation) -> Option<&Operation> {
        self.spec.as_ref().and_then(|s| s.operations.get(v.op))
    }

    /// The inspection mode for a request on `route` (None: undeclared).
    pub(crate) fn inspect_mode(&self, route: Option<usize>) -> InspectMode {
        route.map_or(self.default_inspect, |i| self.routes[i].inspect)
    }

    /// How many routes the table holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }
}

/// For each operation, the config entry that sets its policy, if any: by
/// `operation_id`, or by the same path and a listed method (any, when none).
fn assign_overrides(
    src: &RouteSource,
    ops: &[Operation],
) -> Result<Vec<Option<usize>>, ProxyError> {
    let mut assigned: Vec<Option<usize>> = vec![None; ops.len()];
    for (i, r) in src.route.iter().enumerate() {
        let hits: Vec<usize> = match &r.operation_id {
            Some(id) => {
                let hit = ops
                    .iter()
                    .position(|o| o.operation_id.as_deref() == Some(id.as_str()));
                match hit {
                    Some(n) => vec![n],
                    None => {
                        return Err(config_error(
                            format!("route[{i}].operation_id"),
                            format!("the spec has no operation `{id}`"),
                            "use an operationId the spec declares (they are case-sensitive)",
                        ));
                    }
                }
            }
            None => ops
                .iter()
                .enumerate()
                .filter(|(_, o)| {
                    o.path == r.path
                        && (r.methods.is_empty()
                            || r.methods.iter().any(|m| m == o.method.as_str()))
                })
                .map(|(n, _)| n)
                .collect(),
        };
        for n in hits {
            if let Some(j) = assigned[n] {
                return Err(config_error(
                    format!("route[{i}]"),
                    format!(
                        "sets the policy of {}, which route[{j}] already sets",
                        ops[n].name()
                    ),
                    "give each operation one [[route]] entry",
                ));
            }
            assigned[n] = Some(i);
        }
    }
    Ok(assigned)
}

/// A credential the spec requires must be one Palisade can verify.
fn check_credentials(src: &RouteSource, op: &Operation) -> Result<(), ProxyError> {
    let missing = match op.security.auth {
        RouteAuth::Jwt if !src.jwt => "a bearer token, but no [[auth.jwt.key]] is configured",
        RouteAuth::ApiKey if !src.api_keys => {
            "an API key, but no [[auth.api_keys.key]] is configured"
        }
        RouteAuth::JwtOrApiKey if !src.jwt && !src.api_keys => {
            "a bearer token or an API key, but neither is configured"
        }
        _ => return Ok(()),
    };
    Err(config_error(
        "openapi.spec",
        format!(
            "operation {}{} requires {missing}",
            op.name(),
            op.operation_id
                .as_deref()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default()
        ),
        "configure the credential under [auth], set auth on a [[route]] for the operation, \
         or set openapi.auth_from_spec = false",
    ))
}

#[cfg(test)]
mod tests;
