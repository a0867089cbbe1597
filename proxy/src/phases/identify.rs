//! The identify phase: who is the client? The peer address, or, when the peer is
//! a trusted proxy, the first untrusted hop of its `X-Forwarded-For`; and the id
//! of a valid API key and the subject of a valid JWT it presents, so the block
//! phase can block by them. Whether a route requires a credential is the
//! authenticate phase's business.
//!
//! Must never believe a forwarded header from an untrusted peer, and never record
//! a credential, only its id.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::auth::{ApiKeys, Presented};
use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::jwt::{JwtError, JwtVerifier};
use crate::settings::Settings;

pub(crate) const X_FORWARDED_FOR: &str = "x-forwarded-for";

pub(crate) fn identify(
    ctx: &mut RequestCtx,
    headers: &HeaderMap,
    s: &Settings,
    keys: &ApiKeys,
    jwt: Option<&JwtVerifier>,
) -> Flow {
    if ctx.conn.peer_trusted {
        let peer = ctx.conn.peer.ip();
        ctx.rec.event().client_ip = client_ip(peer, headers, s);
    }
    if let Presented::Valid(p) = keys.check(headers) {
        ctx.rec.event().api_key_id = Some(p.key_id.clone());
        ctx.principal = Some(p);
    }
    if let Some(v) = jwt {
        match v.verify_headers(headers) {
            Ok(who) => {
                let ev = ctx.rec.event();
                ev.subject = Some(who.subject.clone());
                ev.scopes = who.scopes_text.clone();
                ev.token_id = who.token_id.clone();
                ctx.identity = Some(who);
            }
            Err(JwtError::Missing) => {}
            Err(e) => ctx.jwt_error = Some(e),
        }
    }
    Flow::Continue
}

/// Walks `X-Forwarded-For` from the right (the hop nearest to us) past trusted
/// proxies; the first untrusted address is the client. A malformed entry stops
/// the walk at the last address we could trust to have written it.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, s: &Settings) -> IpAddr {
    let mut client = peer;
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for hop in text.rsplit(',') {
            let Some(ip) = parse_hop(hop.trim()) else {
                return client;
            };
            client = ip;
            if !s.is_trusted(&ip) {
                return ip;
            }
        }
    }
    client
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::settings_with_trusted;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn walks_past_trusted_hops_only() {
        let s = settings_with_trusted(&["10.0.0.0/8"]);
        let lb: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(
            client_ip(lb, &xff(&["198.51.100.7, 10.1.1.1"]), &s),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // A spoofed leftmost entry is ignored: the first untrusted hop from the
        // right is what our trusted proxy saw.
        assert_eq!(
            client_ip(lb, &xff(&["6.6.6.6", "198.51.100.7"]), &s),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(lb, &xff(&["[2001:db8::1]:443"]), &s),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_ip(lb, &xff(&["198.51.100.7, garbage, 10.1.1.1"]), &s),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(lb, &HeaderMap::new(), &s), lb);
    }
}
