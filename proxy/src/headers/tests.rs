use super::*;
use crate::settings::tests::settings_with_trusted;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

#[test]
fn hop_index_finds_every_hop_by_hop_name_at_its_place_and_nothing_else() {
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        assert_eq!(hop_index(name), Some(i), "{name}");
    }
    for other in [
        "host",
        "authorization",
        "content-length",
        "x-keep-alive",
        "tes",
    ] {
        assert_eq!(hop_index(&HeaderName::from_static(other)), None, "{other}");
    }
}

#[test]
fn keep_alive_alone_is_removed_without_touching_the_rest() {
    let mut h = map(&[
        ("connection", "keep-alive"),
        ("x-a", "1"),
        ("content-type", "t"),
    ]);
    strip_hop_by_hop(&mut h);
    let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, vec!["content-type", "x-a"]);
    let mut none = map(&[("x-a", "1")]);
    strip_hop_by_hop(&mut none);
    assert_eq!(none.len(), 1);
}

#[test]
fn hop_by_hop_and_connection_listed_headers_go() {
    let mut h = map(&[
        ("connection", "keep-alive, X-Secret-Hop, content-length"),
        ("keep-alive", "timeout=5"),
        ("x-secret-hop", "1"),
        ("te", "trailers"),
        ("upgrade", "websocket"),
        ("proxy-authorization", "Basic Zm9v"),
        ("content-length", "3"),
        ("x-end-to-end", "kept"),
    ]);
    strip_hop_by_hop(&mut h);
    let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, vec!["content-length", "x-end-to-end"]);
}

fn forwarded<'a>(
    trusted: bool,
    rid: &'a HeaderValue,
    peer_value: &'a HeaderValue,
    host: &'a HeaderValue,
) -> Forwarded<'a> {
    Forwarded {
        peer: "10.0.0.5".parse().unwrap(),
        peer_value,
        client: if trusted {
            "198.51.100.7".parse().unwrap()
        } else {
            "10.0.0.5".parse().unwrap()
        },
        peer_trusted: trusted,
        tls: true,
        host: Some(host),
        request_id: rid,
        api_key_id: None,
        identity: None,
        identity_headers: None,
    }
}

#[test]
fn untrusted_clients_cannot_spoof_forwarding_or_identity() {
    let s = settings_with_trusted(&[]);
    let rid = HeaderValue::from_static("rid-1");
    let mut h = map(&[
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "evil"),
        ("x-real-ip", "1.2.3.4"),
        ("forwarded", "for=1.2.3.4"),
        ("x-palisade-client-ip", "1.2.3.4"),
        ("x-palisade-subject", "admin"),
    ]);
    let (peer, host) = (
        ip_value("10.0.0.5".parse().unwrap()),
        HeaderValue::from_static("api.example.com"),
    );
    upstream_request(&mut h, &forwarded(false, &rid, &peer, &host), &s);
    assert_eq!(h["x-forwarded-for"], "10.0.0.5");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "api.example.com");
    assert_eq!(h["x-palisade-client-ip"], "10.0.0.5");
    assert_eq!(h["x-request-id"], "rid-1");
    assert!(h.get("x-real-ip").is_none());
    assert!(h.get("forwarded").is_none());
    assert!(h.get("x-palisade-subject").is_none());
    assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
}

#[test]
fn trusted_proxies_chains_are_extended() {
    let s = settings_with_trusted(&["10.0.0.0/8"]);
    let rid = HeaderValue::from_static("rid-2");
    let mut h = map(&[
        ("x-forwarded-for", "198.51.100.7"),
        ("x-forwarded-for", "10.9.9.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "public.example.com"),
    ]);
    let (peer, host) = (
        ip_value("10.0.0.5".parse().unwrap()),
        HeaderValue::from_static("api.example.com"),
    );
    let mut f = forwarded(true, &rid, &peer, &host);
    f.tls = false;
    upstream_request(&mut h, &f, &s);
    assert_eq!(h["x-forwarded-for"], "198.51.100.7, 10.9.9.9, 10.0.0.5");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "public.example.com");
    assert_eq!(h["x-palisade-client-ip"], "198.51.100.7");
}
