//! The borrowed view of a request the engine inspects.
//!
//! Must not copy or own any of the request's bytes: the proxy builds one per
//! request from what it already holds.

/// A request as the engine sees it. Everything is borrowed; build it with
/// [`Request::new`] and the chained setters, or as a struct literal.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The raw path, still percent-encoded, without the query.
    pub path: &'a [u8],
    /// The raw query string (after `?`), still percent-encoded.
    pub query: Option<&'a [u8]>,
    /// Request headers as (name, value). Names are matched case-insensitively.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The host the client addressed (HTTP/2's `:authority`), when it is not
    /// in a `Host` header; the engine falls back to that header. Rules that
    /// compare a URL in a value with the request's own host read it.
    pub host: Option<&'a [u8]>,
    /// The media type from Content-Type, if any (parameters may follow).
    pub content_type: Option<&'a str>,
    /// The first bytes of the body; may be truncated. The engine inspects at
    /// most `EngineOptions::body_bytes` of it.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A request with no query, headers or body.
    pub fn new(method: &'a str, path: &'a [u8]) -> Self {
        Request {
            method,
            path,
            query: None,
            headers: &[],
            host: None,
            content_type: None,
            body: &[],
        }
    }

    /// Sets the raw query string.
    #[must_use]
    pub fn query(mut self, query: &'a [u8]) -> Self {
        self.query = Some(query);
        self
    }

    /// Sets the headers.
    #[must_use]
    pub fn headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the host the client addressed (see [`Request::host`]).
    #[must_use]
    pub fn host(mut self, host: &'a [u8]) -> Self {
        self.host = Some(host);
        self
    }

    /// The host the client addressed: [`Request::host`], else the `Host`
    /// header.
    pub(crate) fn own_host(&self) -> Option<&'a [u8]> {
        self.host.or_else(|| {
            self.headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("host"))
                .map(|&(_, value)| value)
        })
    }

    /// Sets the content type and body.
    #[must_use]
    pub fn body(mut self, content_type: &'a str, body: &'a [u8]) -> Self {
        self.content_type = Some(content_type);
        self.body = body;
        self
    }
}
