//! Owns the route table: the declared routes compiled into radix trees (matchit),
//! one per method plus one for routes that take any method, and each route's
//! policy. Built once at start; read on every request without locks.
//!
//! Must not allocate on lookup.

use std::sync::Arc;

use http::Method;

use palisade_models::Config;
use palisade_models::config::{InspectMode, RouteAuth, UnknownRoutes};

use crate::error::ProxyError;
use crate::login::LoginPolicy;

/// The declared routes and the policy for everything else.
#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    // A short list rather than a map: a service declares a handful of methods.
    by_method: Vec<(Method, matchit::Router<usize>)>,
    any_method: matchit::Router<usize>,
    routes: Vec<Route>,
    pub(crate) unknown: UnknownRoutes,
    pub(crate) default_max_body: u64,
    /// Inspection for undeclared paths let through.
    pub(crate) default_inspect: InspectMode,
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
}

impl RouteTable {
    /// Compiles the config's routes. Validation already reported conflicts with
    /// their key paths; an error here means the two disagree.
    pub(crate) fn build(config: &Config) -> Result<RouteTable, ProxyError> {
        let mut table = RouteTable {
            by_method: Vec::new(),
            any_method: matchit::Router::new(),
            routes: Vec::with_capacity(config.route.len()),
            unknown: config.routes.unknown,
            default_max_body: config.routes.max_body_bytes,
            default_inspect: config.signatures.mode,
        };
        for r in &config.route {
            let index = table.routes.len();
            table.routes.push(Route {
                template: r.path.as_str().into(),
                max_body: r.max_body_bytes.unwrap_or(config.routes.max_body_bytes),
                auth: r.auth,
                scopes: r.scopes.iter().map(|s| s.as_str().into()).collect(),
                max_header_bytes: r.max_header_bytes,
                max_url_bytes: r.max_url_bytes,
                login: r
                    .login
                    .as_ref()
                    .map(|l| LoginPolicy::build(l).map(Arc::new))
                    .transpose()?,
                inspect: r.inspect.unwrap_or(config.signatures.mode),
            });
            let conflict = |e: matchit::InsertError| ProxyError::Config {
                key: "route",
                message: format!("`{}`: {e}", r.path),
            };
            if r.methods.is_empty() {
                table
                    .any_method
                    .insert(r.path.clone(), index)
                    .map_err(conflict)?;
                continue;
            }
            for m in &r.methods {
                let method = Method::from_bytes(m.as_bytes()).map_err(|e| ProxyError::Config {
                    key: "route",
                    message: format!("`{m}`: {e}"),
                })?;
                let at = match table.by_method.iter().position(|(k, _)| *k == method) {
                    Some(i) => i,
                    None => {
                        table.by_method.push((method, matchit::Router::new()));
                        table.by_method.len() - 1
                    }
                };
                table.by_method[at]
                    .1
                    .insert(r.path.clone(), index)
                    .map_err(conflict)?;
            }
        }
        Ok(table)
    }

    /// The route serving `method` on `path`: a method-specific one first.
    pub(crate) fn lookup(&self, method: &Method, path: &str) -> Option<usize> {
        self.by_method
            .iter()
            .find(|(m, _)| m == method)
            .and_then(|(_, r)| r.at(path).ok())
            .or_else(|| self.any_method.at(path).ok())
            .map(|m| *m.value)
    }

    pub(crate) fn get(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    /// The inspection mode for a request on `route` (None: undeclared).
    pub(crate) fn inspect_mode(&self, route: Option<usize>) -> InspectMode {
        route.map_or(self.default_inspect, |i| self.routes[i].inspect)
    }

    /// True when some route (or the undeclared default) inspects requests.
    pub(crate) fn inspects(&self) -> bool {
        self.default_inspect != InspectMode::Off
            || self.routes.iter().any(|r| r.inspect != InspectMode::Off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &str) -> RouteTable {
        let text = format!("[upstream]\nurl = \"http://127.0.0.1:1\"\n{routes}");
        RouteTable::build(&Config::parse(&text).unwrap()).unwrap()
    }

    #[test]
    fn methods_templates_and_wildcards() {
        let t = table(
            r#"
            [[route]]
            path = "/api/users/{id}"
            methods = ["GET", "PUT"]
            [[route]]
            path = "/api/users/me"
            methods = ["GET"]
            [[route]]
            path = "/files/{*rest}"
            [[route]]
            path = "/api/users/{id}"
            methods = ["DELETE"]
            max_body_bytes = 0
            "#,
        );
        let at = |m: Method, p: &str| t.lookup(&m, p).map(|i| &*t.get(i).template);
        assert_eq!(at(Method::GET, "/api/users/42"), Some("/api/users/{id}"));
        assert_eq!(at(Method::PUT, "/api/users/42"), Some("/api/users/{id}"));
        assert_eq!(at(Method::GET, "/api/users/me"), Some("/api/users/me"));
        assert_eq!(at(Method::POST, "/api/users/42"), None);
        assert_eq!(at(Method::GET, "/api/users/42/extra"), None);
        assert_eq!(at(Method::POST, "/files/a/b/c.txt"), Some("/files/{*rest}"));
        assert_eq!(at(Method::GET, "/nope"), None);
        let del = t.lookup(&Method::DELETE, "/api/users/1").unwrap();
        assert_eq!(t.get(del).max_body, 0);
        let get = t.lookup(&Method::GET, "/api/users/1").unwrap();
        assert_eq!(t.get(get).max_body, 1024 * 1024);
    }
}
