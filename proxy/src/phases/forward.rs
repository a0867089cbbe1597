//! The forward phase: send the request upstream through the worker's pooled
//! client and hand back the response head, with headers cleaned both ways.
//!
//! The first body frame (or the first KiB a later phase needs) is read before the
//! upstream is contacted, so a malformed body (bad chunking) is refused with 400
//! and never reaches it; the rest streams.
//! Failures say whose fault they are: the client's body (400), the upstream's
//! connection (502) or its slowness (504).

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT_ENCODING, HOST};
use http::uri::{PathAndQuery, Uri};
use http::{HeaderValue, Request, Response, Version};
use http_body::Body as _;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use palisade_models::{Denial, DenyCode, Phase};

use crate::body::{Meter, RequestBody};
use crate::context::RequestCtx;
use crate::headers::{self, Forwarded};
use crate::routes::RouteTable;
use crate::server::Worker;
use crate::upstream::{UpstreamBody, UpstreamError};

fn denial(code: DenyCode) -> Denial {
    Denial {
        phase: Phase::Forward,
        code,
    }
}

/// Reads the start of the request body before the upstream is contacted: the
/// first frame always (so a malformed body is refused with 400 and never
/// reaches it), and up to `want` bytes when a later phase must see them
/// (signatures, a login's username, an OpenAPI body check). Returns the body
/// to send on, the bytes read ahead, and whether they are the whole body. The
/// read shares the header-read timeout, so a client trickling its body cannot
/// hold the request here.
pub(crate) async fn read_body(
    ctx: &mut RequestCtx,
    body: Incoming,
    w: &Worker,
    want: usize,
) -> Result<(RequestBody, Bytes, bool), Denial> {
    if body.is_end_stream() {
        return Ok((RequestBody::Empty, Bytes::new(), true));
    }
    let mut body = body;
    let read = async {
        let Some(first) = body.frame().await.transpose()? else {
            return Ok(None);
        };
        let first = match first.into_data() {
            Ok(data) if data.len() < want && !body.is_end_stream() => data,
            Ok(data) => {
                let whole = body.is_end_stream();
                return Ok(Some((Frame::data(data), None, whole)));
            }
            Err(trailers) => return Ok(Some((trailers, None, false))),
        };
        let mut ahead = BytesMut::from(first);
        let mut then = None;
        let mut whole = false;
        while ahead.len() < want {
            if body.is_end_stream() {
                whole = true;
                break;
            }
            match body.frame().await.transpose()? {
                None => {
                    whole = true;
                    break;
                }
                Some(f) => match f.into_data() {
                    Ok(d) => ahead.extend_from_slice(&d),
                    Err(trailers) => {
                        then = Some(trailers);
                        whole = true;
                        break;
                    }
                },
            }
        }
        whole |= body.is_end_stream();
        Ok::<_, hyper::Error>(Some((Frame::data(ahead.freeze()), then, whole)))
    };
    let (first, then, whole) =
        match tokio::time::timeout(w.shared.settings.header_read_timeout, read).await {
            Err(_) => return Err(denial(DenyCode::HeaderTimeout)),
            Ok(Err(_)) => return Err(denial(DenyCode::BadRequest)),
            Ok(Ok(None)) => return Ok((RequestBody::Empty, Bytes::new(), true)),
            Ok(Ok(Some(frames))) => frames,
        };
    let ahead = first.data_ref().cloned().unwrap_or_default();
    let meter = Arc::new(Meter::default());
    ctx.rec.set_meter(meter.clone());
    let body = RequestBody::stream(first, then, body, meter, ctx.max_body).ok_or(Denial {
        phase: Phase::Limit,
        code: DenyCode::BodyTooLarge,
    })?;
    Ok((body, ahead, whole))
}

/// Sends the request upstream and returns the response head.
pub(crate) async fn forward(
    ctx: &mut RequestCtx,
    mut parts: http::request::Parts,
    body: RequestBody,
    w: &Worker,
    table: &RouteTable,
) -> Result<Response<UpstreamBody>, Denial> {
    let s = &w.shared.settings;
    let meter = match &body {
        RequestBody::Stream(st) => Some(st.meter.clone()),
        RequestBody::Empty => None,
    };
    let login = ctx.route.and_then(|i| table.get(i).login.clone());
    if login.as_ref().is_some_and(|l| l.reads_body()) {
        // The failure pattern is matched against the body as sent: ask for it
        // uncompressed. Login answers are small.
        parts.headers.remove(ACCEPT_ENCODING);
    }

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
            identity: ctx.identity.as_deref(),
            identity_headers: w.shared.jwt.as_ref().map(|j| j.upstream_headers()),
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
    // select! over a separate timer rather than tokio::time::timeout: the send
    // future is large, and Timeout would move it once more per request. The
    // timer is the connection's, reused (see `ConnInfo::upstream_timer`).
    let mut timer = ctx
        .conn
        .upstream_timer((sent + s.upstream.response_timeout).into());
    let result = tokio::select! {
        biased;
        r = w.upstream.send(Request::from_parts(parts, body)) => Ok(r),
        () = timer.as_mut() => Err(()),
    };
    ctx.conn.keep_upstream_timer(timer);
    ctx.rec.event().upstream_latency_us = Some(sent.elapsed().as_micros() as u64);
    match result {
        Err(_) => Err(denial(DenyCode::UpstreamTimeout)),
        Ok(Ok(mut resp)) => {
            headers::client_response(resp.headers_mut(), &ctx.request_id, s);
            if let Some(l) = login {
                ctx.rec.login(l.judge_head(resp.status(), resp.headers()));
            }
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
                let hint = match e {
                    UpstreamError::HeadTooLarge => "the error says what to change",
                    _ => "check that the service is up and that upstream.url points at it",
                };
                tracing::warn!(
                    error = %e,
                    upstream = %s.upstream.authority,
                    hint,
                    "upstream request failed; answering 502 (logged at most once a second)"
                );
            }
            Err(denial(DenyCode::UpstreamUnavailable))
        }
    }
}
