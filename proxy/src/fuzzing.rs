//! Entry points for the fuzz targets (`fuzz/`): the route and validate phases'
//! checks on a request head and body without a connection, and the query-key
//! list events carry. The phases take hyper's `Request<Incoming>`, which only
//! a live connection makes; these take the same parts as plain values.
//!
//! Must not reimplement anything the request path does: each step calls the
//! function the phase calls, in the phase's order, so a fuzz finding here is a
//! finding in the proxy. Not an API: hidden from the docs, may change any time.

use std::sync::Arc;

use http::{HeaderMap, Method};
use palisade_models::config::UnknownRoutes;
use palisade_models::{Config, SystemClock};
use palisade_openapi::{BodyInput, Report, Spec};

use crate::error::ProxyError;
use crate::limits::RateLimits;
use crate::routes::{RouteSource, RouteTable};

/// A route table as the server builds it from a config and a spec.
#[derive(Debug)]
pub struct Routes {
    table: RouteTable,
}

/// What the route and validate phases made of a request.
#[derive(Debug)]
pub enum Routed {
    /// A dot segment or an encoded backslash: 400 before any matching.
    Ambiguous,
    /// No declared route; `allowed` when `routes.unknown` lets it through.
    Undeclared { allowed: bool },
    /// A declared route, with what validating against its operation found
    /// (empty when the route has no operation or validation is off).
    Route { template: Arc<str>, report: Report },
}

impl Routes {
    /// The table the server would run for `config` and `spec`.
    pub fn build(config: &Config, spec: Option<Spec>) -> Result<Routes, ProxyError> {
        let limits = RateLimits::build(config, Arc::new(SystemClock::new()))?;
        let table = RouteTable::build_from(
            &RouteSource::from_config(config),
            spec.map(Arc::new),
            &limits,
            None,
        )?;
        Ok(Routes { table })
    }

    /// Routes a request and validates it as the pipeline does: `path` and
    /// `query` as the URI splits them, `body` the read-ahead, `whole` whether
    /// it is all of the body.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        whole: bool,
    ) -> Routed {
        let t = &self.table;
        if crate::phases::route::is_ambiguous(path) {
            return Routed::Ambiguous;
        }
        let Some(i) = t.lookup(method, path) else {
            return Routed::Undeclared {
                allowed: t.unknown == UnknownRoutes::Allow,
            };
        };
        let route = t.get(i);
        let mut report = Report::default();
        if let Some(v) = route.validation
            && let Some(op) = t.operation(&v)
            && let Some(matched) = t.lookup_match(method, path)
        {
            op.check_head(
                |name| matched.params.get(name),
                query,
                headers,
                v.unknown_query,
                &mut report,
            );
            if op.has_body() {
                let content_type = headers.get(http::header::CONTENT_TYPE);
                op.check_body(
                    BodyInput {
                        content_type: content_type.map(|c| c.as_bytes()),
                        bytes: body,
                        complete: whole,
                    },
                    v.unknown_fields,
                    &mut report,
                );
            }
        }
        Routed::Route {
            template: route.template.clone(),
            report,
        }
    }
}

/// What the signature engine would see of a request body with these headers:
/// the proxy's own decoder of `Content-Encoding` (gzip, deflate) with its caps.
pub use crate::encoded::Window as BodyWindow;

/// Decodes a body's read-ahead as the inspect phase does: `ahead` the bytes
/// read ahead, `whole` whether they are all of the body, at most `keep`
/// decompressed bytes kept, output bounded by `max_ratio` × the input.
pub fn body_window(
    headers: &HeaderMap,
    ahead: &[u8],
    whole: bool,
    keep: usize,
    max_ratio: u32,
) -> BodyWindow {
    crate::encoded::window(headers, ahead, whole, keep, max_ratio)
}

/// The parameter names of a query, as an event keeps them (never values).
pub fn query_keys(query: &str) -> Option<Box<str>> {
    crate::context::query_keys(query)
}
