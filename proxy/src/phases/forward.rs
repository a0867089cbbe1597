//! The forward phase: send the request upstream through the worker's pooled
//! client and hand back the response head, with headers cleaned both ways.
//!
//! The first body frame is read before the upstream is contacted, so a malformed
//! body (bad chunking) is refused with 400 and never reaches it; the rest streams.
//! Failures say whose fault they are: the client's body (400), the upstream's
//! connection (502) or its slowness (504).

use std::sync::Arc;
use std::time::Instant;

use http::header::HOST;
use http::uri::{PathAndQuery, Uri};
use http::{HeaderValue, Request, Response, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use palisade_models::{Denial, DenyCode, Phase};

use crate::body::{Meter, RequestBody};
use crate::context::RequestCtx;
use crate::headers::{self, Forwarded};
use crate::server::Worker;
use crate::upstream::UpstreamBody;

fn denial(code: DenyCode) -> Denial {
    Denial {
        phase: Phase::Forward,
        code,
    }
}

pub(crate) async fn forward(
    ctx: &mut RequestCtx,
    req: Request<Incoming>,
    w: &Worker,
) -> Result<Response<UpstreamBody>, Denial> {
    let s = &w.shared.settings;
    let (mut parts, body) = req.into_parts();

    let body = if body.is_end_stream() {
        RequestBody::Empty
    } else {
        let mut body = body;
        match tokio::time::timeout(s.header_read_timeout, body.frame()).await {
            Err(_) => return Err(denial(DenyCode::HeaderTimeout)),
            Ok(Some(Err(_))) => return Err(denial(DenyCode::BadRequest)),
            Ok(None) => RequestBody::Empty,
            Ok(Some(Ok(first))) => {
                let meter = Arc::new(Meter::default());
                ctx.rec.set_meter(meter.clone());
                RequestBody::stream(first, body, meter, ctx.max_body).ok_or(Denial {
                    phase: Phase::Limit,
                    code: DenyCode::BodyTooLarge,
                })?
            }
        }
    };
    let meter = match &body {
        RequestBody::Stream(st) => Some(st.meter.clone()),
        RequestBody::Empty => None,
    };

    let host = parts.headers.get(HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    headers::strip_hop_by_hop(&mut parts.headers);
    let client_ip = ctx.rec.event().client_ip;
    headers::upstream_request(
        &mut parts.headers,
        &Forwarded {
            peer: ctx.conn.peer.ip(),
            peer_value: &ctx.conn.peer_value,
            client: client_ip,
            peer_trusted: ctx.conn.peer_trusted,
            tls: ctx.conn.tls,
            host: host.as_ref(),
            request_id: &ctx.request_id,
            api_key_id: ctx.principal.as_ref().map(|p| &*p.key_id),
        },
        s,
    );
    if !s.upstream.preserve_host {
        parts.headers.insert(HOST, s.upstream.host_header.clone());
    } else if let Some(h) = host
        && !parts.headers.contains_key(HOST)
    {
        // HTTP/2 carries the host as :authority; HTTP/1.1 upstreams need Host.
        parts.headers.insert(HOST, h);
    }
    // Origin form: the connection already goes to the upstream.
    let target = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::from(target);
    parts.version = Version::HTTP_11;

    let sent = Instant::now();
    // select! over a separate Sleep rather than tokio::time::timeout: the send
    // future is large, and Timeout would move it once more per request.
    let result = tokio::select! {
        biased;
        r = w.upstream.send(Request::from_parts(parts, body)) => Ok(r),
        () = tokio::time::sleep(s.upstream.response_timeout) => Err(()),
    };
    ctx.rec.event().upstream_latency_us = Some(sent.elapsed().as_micros() as u64);
    match result {
        Err(_) => Err(denial(DenyCode::UpstreamTimeout)),
        Ok(Ok(mut resp)) => {
            headers::client_response(resp.headers_mut(), &ctx.request_id, s);
            Ok(resp)
        }
        Ok(Err(e)) => {
            if let Some(m) = &meter {
                if m.too_large() {
                    return Err(Denial {
                        phase: Phase::Limit,
                        code: DenyCode::BodyTooLarge,
                    });
                }
                if m.client_failed() {
                    return Err(denial(DenyCode::BadRequest));
                }
            }
            if w.upstream_warnings.allow() {
                tracing::warn!(
                    error = %e,
                    upstream = %s.upstream.authority,
                    "upstream request failed; answering 502. Check that the service is up \
                     and that upstream.url points at it (logged at most once a second)"
                );
            }
            Err(denial(DenyCode::UpstreamUnavailable))
        }
    }
}
